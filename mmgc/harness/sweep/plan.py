"""Sweep planning: the cells of an experiment, each cell's Optuna study restored from the results
store, and the trials still to run (`make_plan`, `describe_plan`)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

from mmgc.harness.experiment import Cell, Experiment
from mmgc.harness.schema import method_config
from mmgc.harness.store import ResultStore, trial_key, wide_console
from mmgc.harness.trial import TrialSpec, objective
from mmgc.methods.base import config_hash

SEARCH, FINAL = "search", "final"


def _optuna_distribution(dim: Any):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dim.kind == "loguniform":
        return FloatDistribution(float(dim.low), float(dim.high), log=True)
    if dim.kind == "uniform":
        return FloatDistribution(float(dim.low), float(dim.high))
    if dim.kind == "int":
        return IntDistribution(int(dim.low), int(dim.high))
    return CategoricalDistribution(list(dim.choices))


def choice_combinations(search: Mapping[str, Any]) -> int | None:
    """How many configs an all-`choice` search space has (None when a dimension is continuous).

    Such a space is enumerated without repeats (`CellState.ask`): TPE and random sampling draw the same value again
    (with 3 trials over 3 choices, often all three), which both wastes trials and leaves the choice
    untested."""
    if not search or any(dim.kind != "choice" for dim in search.values()):
        return None
    return math.prod(len(dim.choices) for dim in search.values())


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


@dataclass
class CellState:
    """One cell's search and final state (lives in the driver)."""

    cell: Cell
    experiment: Experiment
    results: str
    n_trials: int
    study: Any = None
    combinations: list[dict[str, Any]] | None = None  # an all-choice space: its combinations, in seeded order
    distributions: dict[str, Any] = field(default_factory=dict)
    search_done: int = 0          # search trials told (ok or failed), this run and restored
    search_asked: int = 0         # search trials handed out this run (or restored)
    search_results: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)  # (objective, hash, values)
    finals_queued: list[TrialSpec] = field(default_factory=list)
    finals_planned: bool = False
    done_keys: set = field(default_factory=set)

    @property
    def searched(self) -> bool:
        return bool(self.cell.method.search)

    @property
    def search_left(self) -> int:
        return max(0, self.n_trials - self.search_asked) if self.searched else 0

    def base_spec(self, **values: Any) -> TrialSpec:
        exp, cell = self.experiment, self.cell
        d, m = cell.dataset, cell.method
        artifacts = None
        if exp.keep_graphs and "://" not in self.results:
            artifacts = os.path.join(self.results, "artifacts", f"experiment={exp.name}")
        spec = dict(
            dataset=d.name, dataset_options=dict(d.options), dataset_root=d.root, dataset_variant=d.variant,
            dataset_modalities=d.modalities,
            ratio=cell.ratio, method=m.name, method_label=m.label, eval_seeds=exp.eval_seeds, archs=m.archs,
            eval_options=dict(exp.eval_options, **({} if m.regularizers is None else {"regularizers": m.regularizers})),
            experiment=exp.name, time_budget_s=exp.time_budget_s,
            threads=max(1, int(exp.cpu)), artifact_dir=artifacts, mlflow_uri=exp.mlflow_uri,
        )
        spec.update(values)
        return TrialSpec(**spec)

    def key(self, phase: str, config_hash: str, seed: int | None) -> tuple:
        d, m = self.cell.dataset, self.cell.method
        return trial_key({"experiment": self.experiment.name, "phase": phase, "dataset": d.name,
                          "dataset_variant": d.variant, "ratio": self.cell.ratio, "method": m.name,
                          "method_label": m.label, "config_hash": config_hash, "condense_seed": seed})

    # -- search ------------------------------------------------------------------------------------
    def make_study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.distributions = {k: _optuna_distribution(v) for k, v in self.cell.method.search.items()}
        seed = (self.experiment.search_seed * 1_000_003 + _stable_int(self.cell.name)) % 2**31
        if choice_combinations(self.cell.method.search) is not None:
            # every combination once, in a seeded order (`ask` enqueues the next untried one; Optuna's
            # brute-force and grid samplers call `study.stop()`, which raises outside `optimize`)
            combos = [dict(zip(self.distributions, values))
                      for values in itertools.product(*(d.choices for d in self.cell.method.search.values()))]
            random.Random(seed).shuffle(combos)
            self.combinations = combos
        if self.experiment.sampler == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                                 n_startup_trials=max(1, min(10, self.n_trials // 3)))
        self.study = optuna.create_study(direction="maximize", sampler=sampler, study_name=self.cell.name)

    def restore(self, rows_by_trial: Mapping[str, list[dict[str, Any]]]) -> None:
        """Add the stored search trials of this cell to its study (params from their configs)."""
        import optuna

        for trial_id, rows in sorted(rows_by_trial.items(), key=lambda kv: (kv[1][0]["created_at"] or "", kv[0])):
            value = objective(rows)
            if value is None:  # a failed trial (only seen when counting failures): budget spent, no value
                self.search_done += 1
                self.search_asked += 1
                continue
            config = json.loads(rows[0]["method_config"] or "{}")
            params = {k: config.get(k) for k in self.distributions}
            try:
                frozen = optuna.trial.create_trial(params=params, distributions=self.distributions, value=value)
                self.study.add_trial(frozen)
            except (ValueError, TypeError):
                continue  # outside the current search space: not part of this study
            self.search_results.append((value, rows[0]["config_hash"], config))
            self.search_done += 1
            self.search_asked += 1

    def ask(self) -> tuple[Any, TrialSpec, str]:
        """A new search trial: (optuna trial, spec with the full config, config hash)."""
        if self.combinations:
            tried = {tuple(sorted(t.params.items())) for t in self.study.trials}  # told, restored and running
            untried = [c for c in self.combinations if tuple(sorted(c.items())) not in tried]
            if untried:
                self.study.enqueue_trial(untried[0])
        trial = self.study.ask(self.distributions)
        values = {**self.cell.method.fixed, **trial.params}
        config = method_config(self.cell.method.name, values)
        chash = config_hash(self.cell.method.name, config)
        spec = self.base_spec(config=config, phase=SEARCH, condense_seed=self.experiment.condense_seeds[0],
                              config_hash=chash)
        self.search_asked += 1
        return trial, spec, chash

    def tell(self, trial: Any, value: float | None, config_hash: str, values: dict[str, Any]) -> None:
        import optuna

        if value is None or value != value:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)
            self.search_results.append((value, config_hash, values))
        self.search_done += 1

    def best_values(self) -> dict[str, Any] | None:
        if not self.search_results:
            return None
        value, chash, config = max(self.search_results, key=lambda r: (r[0], r[1]))
        return config

    # -- final -------------------------------------------------------------------------------------
    def plan_finals(self) -> None:
        """Queue the final trials (best or fixed config x condensation seeds) not already done."""
        if self.finals_planned:
            return
        self.finals_planned = True
        m = self.cell.method
        if self.searched:
            values = self.best_values()
            if values is None:
                return  # every search trial failed: nothing to re-run
            values = {k: values[k] for k in values}  # the full config of the best trial
        else:
            values = dict(m.fixed)
        config = method_config(m.name, values)
        chash = config_hash(m.name, config)
        seeds = [None] if m.is_original else list(self.experiment.condense_seeds)
        for seed in seeds:
            if self.key(FINAL, chash, seed) in self.done_keys:
                continue
            self.finals_queued.append(self.base_spec(config=config, phase=FINAL, condense_seed=seed, config_hash=chash))


@dataclass
class SweepPlan:
    experiment: Experiment
    results: str
    cells: list[CellState]
    skipped: int = 0

    @property
    def total(self) -> int:
        """Trials of the whole sweep (search trials + finals), done or not."""
        return sum((c.n_trials if c.searched else 0) + (1 if c.cell.method.is_original else len(self.experiment.condense_seeds))
                   for c in self.cells)

    @property
    def remaining(self) -> int:
        return sum(c.search_left + (len(c.finals_queued) if c.finals_planned else
                                    (1 if c.cell.method.is_original else len(self.experiment.condense_seeds)))
                   for c in self.cells)


def make_plan(experiment: Experiment, results: str | None = None, store: ResultStore | None = None,
              count_failed: bool = False) -> SweepPlan:
    """The trials of ``experiment`` that are not in the store yet (and each cell's restored study).

    A trial is done when its key has an ok row; ``count_failed`` also counts trials that only
    failed (to tell "ran and failed" from "never ran" in the report; a resume re-runs them)."""
    root = results or experiment.results
    store = store or ResultStore(root)
    done = store.completed(experiment.name, include_failed=count_failed)
    done_keys = set(done)
    search_rows: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for rows in done.values():
        for r in rows:
            if r["phase"] == SEARCH:
                cell_key = (r["dataset"], r["dataset_variant"] or "", round(float(r["ratio"]), 12),
                            r["method_label"] or r["method"])
                search_rows[cell_key][r["trial_id"]].append(r)
    cells = []
    for cell in experiment.cells():
        combinations = choice_combinations(cell.method.search)
        n_trials = cell.method.n_trials if combinations is None else min(cell.method.n_trials, combinations)
        state = CellState(cell=cell, experiment=experiment, results=store.root, n_trials=n_trials, done_keys=done_keys)
        if state.searched:
            state.make_study()
            key = (cell.dataset.name, cell.dataset.variant, round(float(cell.ratio), 12), cell.method.label)
            state.restore(search_rows.get(key, {}))
            if state.search_left == 0:
                state.plan_finals()
        else:
            state.plan_finals()
        cells.append(state)
    plan = SweepPlan(experiment, store.root, cells)
    plan.skipped = plan.total - plan.remaining
    return plan


def describe_plan(plan: SweepPlan, console=None) -> None:
    """The trial plan as a table: cells, trials to run (and already done), resources."""
    from rich.table import Table


    console = console or wide_console()
    exp = plan.experiment
    table = Table("dataset", "ratio", "method", "search", "search trials", "final seeds", "archs",
                  title=f"sweep {exp.name}: {len(plan.cells)} cells")
    for c in plan.cells:
        d, m = c.cell.dataset, c.cell.method
        space = ", ".join(f"{k}:{v.kind}" for k, v in m.search.items()) or "fixed"
        n_final = 1 if m.is_original else len(exp.condense_seeds)
        final_left = len(c.finals_queued) if c.finals_planned else n_final
        search = f"{c.search_left} to run / {c.n_trials}" if c.searched else "-"
        table.add_row(d.name + (f" [{d.variant}]" if d.variant else ""), f"{c.cell.ratio:g}", m.label, space, search,
                      f"{final_left} to run / {n_final}", ",".join(m.archs))
    console.print(table)
    console.print(f"trials: {plan.total} in all, {plan.skipped} already in the store, {plan.remaining} to run; "
                  f"each asks cpu={exp.cpu:g}, gpu={exp.gpu:g} when the cluster has GPUs (else none); "
                  f"condensation seeds {list(exp.condense_seeds)}, evaluation seeds {list(exp.eval_seeds)}; "
                  f"results under {plan.results}")
