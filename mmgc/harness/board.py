"""The leaderboard's cells, computed once for `mmgc leaderboard` (and its ``--cost`` view) and the report.

A cell is (experiment, dataset and variant, selection, ratio, method label, evaluation architecture)
over the ok rows of the phases read: its test and validation `Summary` (`mmgc.harness.statistics`),
the condensation and evaluation seeds behind them, and failed rows. Within each *rank group* (the
cell without its method: the cells that compete) the cells are ranked by test mean
(`dense_ranks`), each best cell is compared with the runner-up (`best_vs_runner_up`, Holm-adjusted
within its *table*: experiment, dataset and variant, selection, metric, as `mmgc leaderboard` prints
one table each) and the group's rows are checked for fairness (`check_fairness`). Test-selected rows
(``selection = 'test'``) form groups and tables of their own: they are never ranked with
validation-selected ones.

The cost view (`cost_cells`) adds what a cell cost: condensation wall and CPU seconds and bytes (per
condensed graph, i.e. per trial, averaged over trials), training seconds on the condensed graph
(per row) against those on the original graph (the Original cell of the same experiment, dataset
and variant, selection and architecture), and the break-even number of trainings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence

from mmgc.harness.experiment import ORIGINAL
from mmgc.harness.fairness import Fairness, check_fairness
from mmgc.harness.statistics import (
    Comparison, Summary, adjust_family, best_vs_runner_up, compare, dense_ranks, summary_of,
)

BOARD_COLUMNS = ("experiment", "dataset", "variant", "selection", "ratio", "method", "label", "arch", "metric", "n",
                 "status", "trial_id", "condense_seed", "eval_seed", "test_metric", "val_metric", "feature_steps",
                 "eval_recipe", "condense_seconds", "condense_cpu_seconds", "condensed_bytes", "original_bytes",
                 "train_seconds")
"""What the board reads of each row (``variant``, ``selection``, ``label``: the stored columns with
their defaults filled in, as `mmgc.harness.store.ResultStore.board_rows` returns them)."""


@dataclass
class BoardCell:
    """One leaderboard cell and what a reader needs to trust it."""

    experiment: str
    dataset: str
    variant: str
    selection: str
    ratio: float | None
    method: str               # the stored label (the method name for rows written before labels)
    arch: str | None
    metric: str | None = None
    n: int | None = None
    rows: list[Mapping[str, Any]] = field(default_factory=list)  # the ok rows
    failed: int = 0
    rank: int | None = None
    comparison: Comparison | None = None   # a best cell against the runner-up of its rank group
    runner_up: str | None = None
    fairness: Fairness = Fairness()        # the check of its rank group

    @cached_property
    def test(self) -> Summary | None:
        """The summary of the test metric (read once the cell has all its rows)."""
        return summary_of(r["test_metric"] for r in self.rows)

    @cached_property
    def val(self) -> Summary | None:
        return summary_of(r["val_metric"] for r in self.rows)

    @property
    def runs(self) -> int:
        return len(self.rows)

    @property
    def condense_seeds(self) -> list[int]:
        return sorted({r["condense_seed"] for r in self.rows if r["condense_seed"] is not None})

    @property
    def eval_seeds(self) -> list[int]:
        return sorted({r["eval_seed"] for r in self.rows if r["eval_seed"] is not None})

    @property
    def is_original(self) -> bool:
        return bool(self.rows) and all(r["method"] == ORIGINAL for r in self.rows)

    @property
    def rank_group(self) -> tuple:
        return (self.experiment, self.dataset, self.variant, self.selection, self.ratio, self.arch)

    @property
    def table(self) -> tuple:
        return (self.experiment, self.dataset, self.variant, self.selection, self.metric)

    def seeds_text(self) -> str:
        """``3×2``: condensation seeds x evaluation seeds behind the mean (``-`` where none is recorded)."""
        return f"{len(self.condense_seeds) or '-'}×{len(self.eval_seeds) or '-'}"


def board_cells(rows: Iterable[Mapping[str, Any]], margin: float) -> list[BoardCell]:
    """The cells of ``rows`` (dicts with `BOARD_COLUMNS`), ranked, compared (equivalence margin
    ``margin`` in metric units) and checked, in the order of their keys."""
    cells: dict[tuple, BoardCell] = {}
    for r in rows:
        key = (r["experiment"], r["dataset"], r["variant"], r["selection"], r["ratio"], r["label"], r["arch"])
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = BoardCell(*key)
        cell.metric = cell.metric or r["metric"]
        if r["n"] is not None:
            cell.n = max(cell.n or 0, r["n"])
        if r["status"] == "ok":
            cell.rows.append(r)
        else:
            cell.failed += 1
    out = sorted(cells.values(), key=_order)
    groups: dict[tuple, list[BoardCell]] = defaultdict(list)
    for cell in out:
        groups[cell.rank_group].append(cell)
    families: dict[tuple, list[BoardCell]] = defaultdict(list)
    for members in groups.values():
        means = {id(c): (c.test.mean if c.test else None) for c in members}
        ranks = dense_ranks(means)
        for c in members:
            c.rank = ranks.get(id(c))
        if len(members) > 1:
            fairness = check_fairness({c.method: c.rows for c in members})
            rows = {id(c): c.rows for c in members}
            tests = best_vs_runner_up(means, lambda a, b: compare(rows[a], rows[b], margin))
            by_id = {id(c): c for c in members}
            for c in members:
                c.fairness = fairness
                if id(c) in tests:
                    runner_up, c.comparison = tests[id(c)]
                    c.runner_up = by_id[runner_up].method
                    families[c.table].append(c)
    for family in families.values():
        adjusted = adjust_family(c.comparison for c in family)
        for c in family:
            c.comparison = adjusted[id(c.comparison)]
    return out


def _order(cell: BoardCell) -> tuple:
    return (cell.experiment, cell.dataset, cell.variant, cell.selection != "val", cell.selection,
            cell.ratio if cell.ratio is not None else float("inf"), cell.method, str(cell.arch))


# ---------------------------------------------------------------------------------------- cost
@dataclass(frozen=True)
class CostCell:
    """What a cell cost (seconds, bytes) and what it saves (training seconds, break-even)."""

    cell: BoardCell
    condense_seconds: float | None       # wall seconds per condensation (mean over trials)
    condense_cpu_seconds: float | None
    condensed_bytes: float | None        # the graph as evaluated (mean over trials)
    original_bytes: float | None         # the graph the method could see
    train_seconds: float | None          # training one evaluation model on the cell's graph (mean over rows)
    train_seconds_original: float | None  # the same on the original graph (its Original cell)

    @property
    def compression(self) -> float | None:
        """How many times smaller the condensed graph is than the original."""
        if self.condensed_bytes and self.original_bytes:
            return self.original_bytes / self.condensed_bytes
        return None

    @property
    def saved_seconds(self) -> float | None:
        """Training seconds saved per training on the condensed graph instead of the original."""
        if self.train_seconds is None or self.train_seconds_original is None or self.cell.is_original:
            return None
        return self.train_seconds_original - self.train_seconds

    @property
    def break_even(self) -> float | None:
        """Trainings on the condensed graph that repay its condensation: condense seconds / saved
        seconds per training; None where that is undefined (`break_even_text` says which)."""
        saved = self.saved_seconds
        if saved is None or saved <= 0 or self.condense_seconds is None:
            return None
        return self.condense_seconds / saved

    def break_even_text(self) -> str:
        """The break-even as a number of trainings; ``never`` where training on the condensed graph is
        no faster; ``—`` where a side is missing (no Original cell, no condensation: Original itself)."""
        if self.break_even is not None:
            return f"{self.break_even:.3g}"
        if self.saved_seconds is not None and self.saved_seconds <= 0 and self.condense_seconds is not None:
            return "never"
        return "—"


def cost_cells(cells: Sequence[BoardCell]) -> list[CostCell]:
    """The cost of each cell, its training time set against its Original cell's."""
    original: dict[tuple, float | None] = {}
    for c in cells:
        if c.is_original:
            original[(c.experiment, c.dataset, c.variant, c.selection, c.arch)] = _mean(c.rows, "train_seconds")
    out = []
    for c in cells:
        per_trial = list({r["trial_id"]: r for r in c.rows}.values())  # one condensation per trial
        out.append(CostCell(c, None if c.is_original else _mean(per_trial, "condense_seconds"),
                            None if c.is_original else _mean(per_trial, "condense_cpu_seconds"),
                            _mean(per_trial, "condensed_bytes"), _mean(per_trial, "original_bytes"),
                            _mean(c.rows, "train_seconds"),
                            original.get((c.experiment, c.dataset, c.variant, c.selection, c.arch))))
    return out


def _mean(rows: Sequence[Mapping[str, Any]], column: str) -> float | None:
    summary = summary_of(r[column] for r in rows)
    return summary.mean if summary is not None else None
