"""`mmgc condense`, `mmgc evaluate` and `mmgc run` (condense then evaluate).

    mmgc condense --dataset D --method M --ratio R [--set key=value ...] [--option k=v ...] --seed S --out FILE
    mmgc evaluate FILE --dataset D [--arch gcn,sage,...] [--runs 5] [--eval-option key=value ...]
    mmgc run --dataset D --method M --ratio R [the options of both]

Progress bars (rich) go to stderr and only when stderr is a terminal. Bad input (unknown names,
bad values, a missing or unreadable file, a condensed graph that does not fit the dataset) is an
`InputError`: one line on stderr, exit code 2.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from mmgc.datasets import load_dataset
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph
from mmgc.harness.cli.datasets import parse_options
from mmgc.harness.evaluate import EvalConfig, evaluate, evaluate_original, summarize
from mmgc.harness.experiment import MAX_SEED
from mmgc.harness.schema import ORIGINAL, method_config
from mmgc.harness.signals import raise_if_swallowed, take_unreported
from mmgc.harness.trial import TrialSpec, run_trial_detailed
from mmgc.methods.base import Context, build_config, create_method
from mmgc.models.base import get_backbone
from mmgc.presets import find_preset
from mmgc.regularizers import parse_regularizers
from mmgc.runtime import MAX_THREADS, resolve_device, set_threads
from mmgc.tempfiles import atomic_write, remove_stale, unwritable_reason

# ---------------------------------------------------------------------------------------- shared options
DATASET = typer.Option(..., "--dataset", "-d", help="Dataset name (see `mmgc datasets list`).")
ROOT = typer.Option(None, "--root", help="Directory of the published dataset files, where the source reads files.")
OPTION = typer.Option(None, "--option", "-o", help="Dataset option key=value (repeatable).")
METHOD = typer.Option(..., "--method", "-m", help="Condensation method (see `mmgc methods list`).")
RATIO = typer.Option(..., "--ratio", "-r", help="n / N, N = nodes the method may see (inductive: train graph).")
SET = typer.Option(None, "--set", "-s", help="Method config key=value (repeatable; see `mmgc methods info M`).")
SEED = typer.Option(0, "--seed", help="Condensation seed.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
THREADS = typer.Option(None, "--threads", help="torch CPU threads of this process (default: OMP_NUM_THREADS, which "
                       "mmgc sets to 1 when unset; 2 on an idle 2-core machine made n = 300 epochs faster: "
                       "docs/performance.md, 'CPU threads').")
ARCH = typer.Option("gcn", "--arch", "-a", help="Evaluation architectures, comma-separated: gcn,sgc,sage,gat,mlp,mmgcn.")
RUNS = typer.Option(5, "--runs", help="Evaluation seeds per architecture.")
SEED_START = typer.Option(0, "--seed-start", help="First evaluation seed (seeds are seed-start .. seed-start+runs-1).")
THRESHOLD = typer.Option(None, "--edge-threshold", help="Drop synthetic edges below this weight (default: 0.05 "
                         "for datasets under 10k nodes, else 0.01).")
EVAL_OPTION = typer.Option(None, "--eval-option", "-e", help="Evaluation protocol key=value (repeatable): hidden, "
                           "layers, dropout, epochs, lr, lr_drop_epoch, weight_decay, ...")
REGULARIZERS = typer.Option(None, "--regularizers", help="Training-time regularizers, e.g. 'optimag' or "
                            "'optimag:weight=0.1+dagr' (default none).")
WITH_ORIGINAL = typer.Option(False, "--original", help="Also evaluate the architectures on the original training graph.")
ROWS_OUT = typer.Option(None, "--rows-out", help="Write the result rows to this JSON file.")


def _console():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _progress() -> Iterator[Any]:
    """A rich Progress on stderr when it is a terminal, else None."""
    console = _console()
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )
    from rich.table import Column

    # the metrics take what is left of the line; the counts and times are never cut
    metrics = Column(no_wrap=True, overflow="ellipsis", max_width=max(12, console.width - 85))
    with Progress(TextColumn("{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  TextColumn("{task.fields[metrics]}", table_column=metrics),
                  console=console, transient=True) as progress:
        yield progress


_NOT_SHOWN = ("epoch", "step", "seconds", "elapsed")


def _finite_metrics(metrics: dict, limit: int = 3) -> str:
    """Up to ``limit`` defined metrics (finite numbers; losses first) as ``key=value``; NaN (undefined,
    e.g. ``grad_cos`` with one modality) and the step counters the bar already shows are left out."""
    shown = [(k, v) for k, v in metrics.items() if k not in _NOT_SHOWN and not isinstance(v, bool)
             and isinstance(v, (int, float)) and math.isfinite(v)]
    shown.sort(key=lambda kv: not kv[0].startswith("loss"))  # stable: losses first, then the rest in order
    return " ".join(f"{k}={v:.3g}" for k, v in shown[:limit])


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class _RunProgress:
    """Progress of one command on stderr, one bar per stage with its total and ETA: preparing (the
    dataset, the budget) from the first second, then the stages methods announce (`begin_stage`:
    condensation epochs, coreset embedding epochs) and the evaluation seeds. Once a stage's first
    steps show that it will take longer than `LONG_S`, one line estimates its length (also when
    stderr is not a terminal, where no bar is drawn)."""

    LONG_S = 60.0

    def __init__(self, progress: Any, label: str):
        self.progress, self.label = progress, label
        self.task = self.eval_task = self.epoch_task = None
        self.stage, self.total, self.t0, self.estimated = "preparing", None, time.monotonic(), False
        self.runs_finished = 0
        if progress is not None:
            self.task = progress.add_task(f"{label}: preparing", total=None, metrics="")

    def _estimate(self, done: int, total: Optional[int], unit: str) -> None:
        if self.estimated or not total or done < 1:
            return
        per_step = (time.monotonic() - self.t0) / done
        if per_step * total < self.LONG_S:
            return
        self.estimated = True
        line = (f"estimate: {self.label} {self.stage}: {total} {unit} x {per_step:.2g} s = about "
                f"{_duration(per_step * total)} (measured on the first {done})")
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            typer.echo(line, err=True)

    def begin(self, stage: str, total: Optional[int]) -> None:
        self.stage, self.total, self.t0, self.estimated = stage, total, time.monotonic(), False
        if self.progress is not None:
            self.progress.update(self.task, visible=False)
            self.task = self.progress.add_task(f"{self.label}: {stage}", total=total, metrics="")

    def report(self, step: int, metrics: dict) -> None:
        raise_if_swallowed()
        self._estimate(step + 1, self.total, "epochs")
        if self.progress is not None:
            self.progress.update(self.task, completed=step + 1, metrics=_finite_metrics(metrics))

    def eval_event(self, event: str, payload: dict) -> None:
        """The evaluation's events (`mmgc.harness.evaluate`): a bar over the runs, one over epochs."""
        if event == "run_start" and self.stage != "evaluate":
            self.begin("evaluate", payload["total"])
            self.runs_finished = 0
            if self.progress is not None:
                self.eval_task, self.task = self.task, self.progress.add_task("epochs", total=payload["epochs"],
                                                                              metrics="")
        if event == "epoch":
            raise_if_swallowed()
        if event == "run_end":
            self.runs_finished += 1
            self._estimate(self.runs_finished, self.total, "evaluation runs")
        if self.progress is None:
            return
        if event == "run_start":
            self.progress.update(self.eval_task, completed=payload["index"] - 1,
                                 description=f"{self.label}: evaluate {payload['arch']} seed {payload['seed']}")
            self.progress.reset(self.task, total=payload["epochs"], description="epochs")
        elif event == "epoch":
            self.progress.update(self.task, completed=payload["epoch"] + 1)
        elif event == "run_end":
            self.progress.update(self.eval_task, completed=self.runs_finished)


def _load_graph(dataset: str, root: Optional[str], option: Optional[list[str]]):
    return load_dataset(dataset, root=root, **parse_options(option))


def _condense(graph, method: str, ratio: float, values: dict, seed: int, device, progress) -> Any:
    instance = create_method(method, values)
    ctx = Context(device=device, seed=seed, reporter=_RunProgress(progress, f"{method} on {graph.name}"))
    return instance.condense_measured(graph, ratio, ctx)


def _method_values(method: str, preset: Optional[str], set_: Optional[list[str]], dataset: str) -> dict[str, Any]:
    """The method's config values: the preset's (`mmgc.presets`), then ``--set`` over them; checked
    against the method's config now, before any work starts."""

    values = parse_options(set_)
    if preset is not None:
        found = find_preset(method, preset)
        if not found.published_for(dataset):
            typer.echo(f"warning: preset {method}:{preset} was published for {', '.join(found.datasets)}, "
                       f"not {dataset}", err=True)
        values = {**found.settings, **values}
    method_config(method, values)
    return values


def _check_numbers(ratio: Optional[float] = None, seed: Optional[int] = None, seed_start: Optional[int] = None,
                   threads: Optional[int] = None, runs: int = 1) -> None:

    if ratio is not None and not 0 < ratio <= 1:
        raise InputError(f"--ratio: expected n / N in (0, 1], found {ratio}")
    for option, value in (("--seed", seed), ("--seed-start", seed_start)):
        if value is not None and value < 0:
            raise InputError(f"{option}: expected an integer >= 0, found {value}")
    if seed is not None and seed > MAX_SEED:
        raise InputError(f"--seed: expected an integer <= {MAX_SEED}, found {seed}")
    if seed_start is not None and seed_start + max(runs, 1) - 1 > MAX_SEED:
        raise InputError(f"--seed-start: expected the evaluation seeds seed-start .. seed-start + runs - 1 to be "
                         f"<= {MAX_SEED}, found {seed_start} .. {seed_start + runs - 1}")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise InputError(f"--threads: expected an integer in [1, {MAX_THREADS}], found {threads}")


def check_write_target(path: Optional[os.PathLike | str], option: str) -> Optional[Path]:
    """Check, before any work starts, that ``path`` can be written as a file: not a directory, its
    folder a directory (or creatable) where a probe file can be written (`mmgc.tempfiles`). A
    temporary file a killed writer left beside it is removed."""

    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{option} {path}: is a directory; expected a file name")
    reason = unwritable_reason(target.parent)
    if reason is not None:
        raise InputError(f"{option} {path}: {reason}; expected a file in a folder this user can write")
    remove_stale(target.parent, target.name)
    return target


def check_distinct(files: dict[str, Optional[os.PathLike | str]]) -> None:
    """Refuse a command whose files (by the option or role that names them; None: not given) include
    one file twice: writing one would replace what the other reads or writes."""
    seen: dict[str, str] = {}
    for role, path in files.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise InputError(f"{role} {path}: the same file as {seen[key]}; expected another file")
        seen[key] = f"{role} {path}"


def interruptible(command):
    """Ctrl-C, SIGINT or SIGTERM in ``command``: one line on stderr, exit code 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as exc:
            take_unreported()
            name = getattr(exc, "signal_name", "SIGINT")
            typer.echo(f"interrupted by {name}: mmgc {command.__name__.removesuffix('_command')} stopped before "
                       "the end; a file it had not finished is not written", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _eval_config(edge_threshold: Optional[float], eval_option: Optional[list[str]]):

    values: dict[str, Any] = dict(parse_options(eval_option))
    if edge_threshold is not None:
        values["edge_threshold"] = edge_threshold
    return build_config(EvalConfig, values, where="evaluation option")


def _check_eval_args(arch: str, runs: int, edge_threshold, eval_option, regularizers) -> tuple[list[str], Any]:
    """The architectures and the protocol config, checked before anything expensive runs."""

    if runs < 1:
        raise InputError(f"--runs: expected at least 1 evaluation seed, found {runs}")
    archs = [a.strip() for a in arch.split(",") if a.strip()]
    if not archs:
        raise InputError("--arch: expected at least one architecture, e.g. gcn")
    for name in archs:
        get_backbone(name)
    if regularizers:
        parse_regularizers(regularizers)
    return archs, _eval_config(edge_threshold, eval_option)


def _evaluate(condensed, graph, arch: str, runs: int, seed_start: int, edge_threshold, eval_option, regularizers,
              original: bool, device, row_defaults: dict) -> list[dict]:
    archs, config = _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)
    seeds = list(range(seed_start, seed_start + runs))
    rows: list[dict] = []
    with _progress() as progress:
        if original:
            rows += evaluate_original(graph, archs, seeds, config, device=device, regularizers=regularizers,
                                      row_defaults=row_defaults,
                                      callback=_RunProgress(progress, f"original {graph.name}").eval_event)
        if condensed is not None:
            label = f"{(condensed.info or {}).get('method', 'condensed')} on {graph.name}"
            rows += evaluate(condensed, graph, archs, seeds, config, device=device, regularizers=regularizers,
                             row_defaults=row_defaults, callback=_RunProgress(progress, label).eval_event)
    return rows


def _percent(value: Any) -> str:
    return "" if value is None or value != value else f"{100 * value:.2f}"


def print_rows(rows: list[dict]) -> None:
    """The result rows, then mean ± std per (method, ratio, arch), as rich tables on stdout."""
    from rich.console import Console
    from rich.table import Table


    console = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and files: no truncation
    if not rows:
        return
    metric = rows[0].get("metric") or "metric"
    table = Table("method", "ratio", "n", "arch", "seed", "val %", "test %", "best epoch", "edge thr.", "seconds",
                  "status", title=f"{rows[0].get('dataset')}: result rows ({metric} in %)")
    for r in rows:
        table.add_row(str(r.get("method")), f"{r.get('ratio'):.4g}" if r.get("ratio") is not None else "",
                      str(r.get("n")), str(r.get("arch")), str(r.get("eval_seed")), _percent(r.get("val_metric")),
                      _percent(r.get("test_metric")), str(r.get("best_epoch")),
                      "" if r.get("edge_threshold") is None else f"{r['edge_threshold']:g}",
                      f"{r.get('eval_seconds') or 0:.1f}", str(r.get("status")))
    console.print(table)
    summary = Table("method", "ratio", "arch", "runs", "test % (mean ± std)", "val % (mean ± std)",
                    title=f"{metric} in %, mean ± std over evaluation seeds")
    for s in summarize(rows):
        test = f"{100 * s['test_mean']:.2f} ± {100 * s['test_std']:.2f}" if s["runs"] else "failed"
        val = f"{100 * s['val_mean']:.2f} ± {100 * s['val_std']:.2f}" if s["runs"] else ""
        summary.add_row(str(s["method"]), f"{s['ratio']:.4g}" if s["ratio"] is not None else "", str(s["arch"]),
                        f"{s['runs']}" + (f" ({s['failed']} failed)" if s["failed"] else ""), test, val)
    console.print(summary)


def _write_rows(rows: list[dict], path: Optional[str]) -> None:
    """The rows as JSON, atomically: a temporary file renamed into place, removed on every failure."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "w") as handle:
        handle.write(json.dumps(rows, indent=1, default=str))
    typer.echo(f"wrote {len(rows)} rows to {target}", err=True)


def _edge_count(condensed, threshold: float) -> tuple[int, int]:
    """(undirected edges of weight >= ``threshold``, node pairs) of a condensed graph."""
    import torch

    n = condensed.num_nodes
    upper = torch.triu(condensed.adj.detach().float(), diagonal=1)
    return int((upper >= threshold).sum()) if threshold > 0 else int((upper > 0).sum()), n * (n - 1) // 2


def _summary_line(condensed, out: Optional[Path], threshold: float) -> str:
    """One line on the condensed graph; a complete graph (every pair an edge) or an empty one says so,
    and a complete one also prints a warning: message passing then averages every node together."""
    info = condensed.info
    edges, pairs = _edge_count(condensed, threshold)
    shape = " (complete: every pair)" if pairs and edges == pairs else " (empty)" if edges == 0 else ""
    where = f" -> {out}" if out else ""
    of = f" of {info['visible_nodes']:,}" if info.get("visible_nodes") else ""
    line = (f"{info.get('method')}: {condensed.num_nodes} nodes (ratio {info.get('ratio'):.4g}{of}), "
            f"{edges:,} edges of weight >= {threshold:g}{shape}, "
            f"{info.get('wall_seconds', 0):.1f}s{where}")
    if shape.startswith(" (complete"):
        line += (f"\nwarning: the condensed graph is complete: all {pairs:,} node pairs have an edge of weight >= "
                 f"{threshold:g}, so every GNN layer averages all its nodes together")
    return line


# ---------------------------------------------------------------------------------------- commands
PRESET = typer.Option(None, "--preset", "-p", help="A named preset of the method's config (see `mmgc methods "
                      "info M`); --set values win over it.")


@interruptible
def condense_command(
    dataset: str = DATASET,
    method: str = METHOD,
    ratio: float = RATIO,
    out: Path = typer.Option(..., "--out", help="File to write the condensed graph to."),
    preset: Optional[str] = PRESET,
    set_: Optional[list[str]] = SET,
    seed: int = SEED,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
    threads: Optional[int] = THREADS,
) -> None:
    """Condense a dataset with a method and write the condensed graph (features, adjacency, labels, info)."""

    _check_numbers(ratio=ratio, seed=seed, threads=threads)
    values = _method_values(method, preset, set_, dataset)  # unknown names and bad values fail first
    check_write_target(out, "--out")
    dev = resolve_device(device, "--device")
    set_threads(threads)
    graph = _load_graph(dataset, root, option)
    with _progress() as progress:
        condensed = _condense(graph, method, ratio, values, seed, dev, progress)
    path = condensed.save(out)
    typer.echo(_summary_line(condensed, path, EvalConfig().threshold_for(graph)))


@interruptible
def evaluate_command(
    file: Path = typer.Argument(..., help="A condensed graph written by `mmgc condense` (or any method's save())."),
    dataset: str = DATASET,
    arch: str = ARCH,
    runs: int = RUNS,
    seed_start: int = SEED_START,
    edge_threshold: Optional[float] = THRESHOLD,
    eval_option: Optional[list[str]] = EVAL_OPTION,
    regularizers: Optional[str] = REGULARIZERS,
    original: bool = WITH_ORIGINAL,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
    rows_out: Optional[str] = ROWS_OUT,
    threads: Optional[int] = THREADS,
) -> None:
    """Evaluate a condensed graph under the protocol: train each architecture on it, pick the epoch on
    the original validation nodes, report the original test nodes."""

    _check_numbers(seed_start=seed_start, threads=threads, runs=runs)
    set_threads(threads)
    _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)
    check_write_target(rows_out, "--rows-out")
    check_distinct({"the condensed graph": file, "--rows-out": rows_out})
    condensed = CondensedGraph.load(file)
    dev = resolve_device(device, "--device")
    graph = _load_graph(dataset, root, option)
    source = (condensed.info or {}).get("dataset")
    if source is not None and source != graph.name:
        typer.echo(f"warning: {file} was condensed from {source!r}; evaluating against {graph.name!r}", err=True)
    rows = _evaluate(condensed, graph, arch, runs, seed_start, edge_threshold, eval_option, regularizers, original,
                     dev, {"phase": "single", "artifact_path": str(file)})
    print_rows(rows)
    _write_rows(rows, rows_out)


@interruptible
def run_command(
    dataset: str = DATASET,
    method: str = METHOD,
    ratio: float = RATIO,
    preset: Optional[str] = PRESET,
    set_: Optional[list[str]] = SET,
    seed: int = SEED,
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the condensed graph to this file."),
    arch: str = ARCH,
    runs: int = RUNS,
    seed_start: int = SEED_START,
    edge_threshold: Optional[float] = THRESHOLD,
    eval_option: Optional[list[str]] = EVAL_OPTION,
    regularizers: Optional[str] = REGULARIZERS,
    original: bool = WITH_ORIGINAL,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
    rows_out: Optional[str] = ROWS_OUT,
    threads: Optional[int] = THREADS,
) -> None:
    """Condense, then evaluate: print the result rows and their mean ± std per architecture.

    Runs the same `run_trial` as every sweep trial (``--original`` adds the whole-graph trial)."""
    _check_numbers(ratio=ratio, seed=seed, seed_start=seed_start, threads=threads, runs=runs)
    values = _method_values(method, preset, set_, dataset)
    archs, _ = _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)  # fail before condensing
    check_write_target(out, "--out")
    check_write_target(rows_out, "--rows-out")
    check_distinct({"--out": out, "--rows-out": rows_out})
    resolve_device(device, "--device")
    eval_options: dict[str, Any] = dict(parse_options(eval_option))
    if edge_threshold is not None:
        eval_options["edge_threshold"] = edge_threshold
    if regularizers:
        eval_options["regularizers"] = regularizers
    common = dict(dataset=dataset, dataset_root=root, dataset_options=parse_options(option), ratio=ratio,
                  archs=tuple(archs), eval_seeds=tuple(range(seed_start, seed_start + runs)),
                  eval_options=eval_options, device=device, threads=threads)
    specs = [TrialSpec(method=ORIGINAL, **common)] if original else []
    specs.append(TrialSpec(method=method, config=values, condense_seed=seed,
                           artifact_path=str(out) if out else None, **common))
    rows: list[dict] = []
    with _progress() as progress:
        for spec in specs:
            trial_rows, condensed = run_trial_detailed(
                spec, reporter=_RunProgress(progress, f"{spec.method} on {dataset}"), strict=True)
            if condensed is not None:
                threshold = next((r["edge_threshold"] for r in trial_rows if r.get("edge_threshold") is not None), 0.0)
                typer.echo(_summary_line(condensed, out, threshold), err=True)
            rows += trial_rows
    print_rows(rows)
    _write_rows(rows, rows_out)
    if any(r.get("status") != "ok" for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``condense``, ``evaluate`` and ``run`` to the top-level app."""
    app.command("condense")(condense_command)
    app.command("evaluate")(evaluate_command)
    app.command("run")(run_command)
