"""`mmgc condense`, `mmgc evaluate` and `mmgc run` (condense then evaluate).

    mmgc condense --dataset D --method M --ratio R [--set key=value ...] [--option k=v ...] --seed S --out FILE
    mmgc evaluate FILE --dataset D [--arch gcn,sage,...] [--runs 5] [--eval-option key=value ...]
    mmgc run --dataset D --method M --ratio R [the options of both]

Progress bars (rich) go to stderr and only when stderr is a terminal. Bad input (unknown names,
bad values, a missing or unreadable file, a condensed graph that does not fit the dataset) is an
`InputError`: one line on stderr, exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from mmgc.harness.cli.datasets import parse_options

# ---------------------------------------------------------------------------------------- shared options
DATASET = typer.Option(..., "--dataset", "-d", help="Dataset name (see `mmgc datasets list`).")
ROOT = typer.Option(None, "--root", help="Directory of the published dataset files, where the source reads files.")
OPTION = typer.Option(None, "--option", "-o", help="Dataset option key=value (repeatable).")
METHOD = typer.Option(..., "--method", "-m", help="Condensation method (see `mmgc methods list`).")
RATIO = typer.Option(..., "--ratio", "-r", help="n / N, N = nodes the method may see (inductive: train graph).")
SET = typer.Option(None, "--set", "-s", help="Method config key=value (repeatable; see `mmgc methods info M`).")
SEED = typer.Option(0, "--seed", help="Condensation seed.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
ARCH = typer.Option("gcn", "--arch", "-a", help="Evaluation architectures, comma-separated: gcn,sgc,sage,gat,mlp,mmgcn.")
RUNS = typer.Option(5, "--runs", help="Evaluation seeds per architecture.")
SEED_START = typer.Option(0, "--seed-start", help="First evaluation seed (seeds are seed-start .. seed-start+runs-1).")
THRESHOLD = typer.Option(None, "--edge-threshold", help="Drop synthetic edges below this weight (default: 0.05 "
                         "for datasets under 10k nodes, else 0.01).")
EVAL_OPTION = typer.Option(None, "--eval-option", "-e", help="Evaluation protocol key=value (repeatable): hidden, "
                           "layers, dropout, epochs, lr, lr_drop_epoch, weight_decay, ...")
REGULARIZERS = typer.Option(None, "--regularizers", help="Training-time regularizers, e.g. 'optimag' or "
                            "'optimag:weight=0.1+dagr' (default none).")
ORIGINAL = typer.Option(False, "--original", help="Also evaluate the architectures on the original training graph.")
ROWS_OUT = typer.Option(None, "--rows-out", help="Write the result rows to this JSON file.")


def resolve_device(name: str):
    import torch

    from mmgc.errors import InputError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"--device: expected auto, cpu or cuda[:i], found {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    return device


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        yield progress


class _ProgressReporter:
    """A method's reporter that advances a progress bar by step and shows the latest metrics."""

    def __init__(self, progress: Any, label: str):
        self.progress = progress
        self.task = progress.add_task(label, total=None) if progress is not None else None
        self.label = label

    def report(self, step: int, metrics: dict) -> None:
        if self.progress is None:
            return
        shown = " ".join(f"{k}={v:.3g}" for k, v in list(metrics.items())[:3] if isinstance(v, (int, float)))
        self.progress.update(self.task, completed=step + 1, description=f"{self.label} {shown}")


def _eval_callback(progress: Any):
    if progress is None:
        return None
    runs = progress.add_task("evaluate", total=None)
    epochs = progress.add_task("epochs", total=None)

    def callback(event: str, payload: dict) -> None:
        if event == "run_start":
            progress.update(runs, total=payload["total"], completed=payload["index"] - 1,
                            description=f"evaluate {payload['arch']} seed {payload['seed']}")
            progress.reset(epochs, total=payload["epochs"])
        elif event == "epoch":
            progress.update(epochs, completed=payload["epoch"] + 1)
        elif event == "run_end":
            progress.advance(runs)

    return callback


def _load_graph(dataset: str, root: Optional[str], option: Optional[list[str]]):
    from mmgc.datasets import load_dataset

    return load_dataset(dataset, root=root, **parse_options(option))


def _condense(graph, method: str, ratio: float, values: dict, seed: int, device, progress) -> Any:
    from mmgc.methods.base import Context, create_method

    instance = create_method(method, values)
    ctx = Context(device=device, seed=seed, reporter=_ProgressReporter(progress, f"condense {method}"))
    return instance.condense(graph, ratio, ctx)


def _eval_config(edge_threshold: Optional[float], eval_option: Optional[list[str]]):
    from mmgc.harness.evaluate import EvalConfig
    from mmgc.methods.base import build_config

    values: dict[str, Any] = dict(parse_options(eval_option))
    if edge_threshold is not None:
        values["edge_threshold"] = edge_threshold
    return build_config(EvalConfig, values, where="evaluation option")


def _check_eval_args(arch: str, runs: int, edge_threshold, eval_option, regularizers) -> tuple[list[str], Any]:
    """The architectures and the protocol config, checked before anything expensive runs."""
    from mmgc.errors import InputError
    from mmgc.models.base import get_backbone

    if runs < 1:
        raise InputError(f"--runs: expected at least 1 evaluation seed, found {runs}")
    archs = [a.strip() for a in arch.split(",") if a.strip()]
    if not archs:
        raise InputError("--arch: expected at least one architecture, e.g. gcn")
    for name in archs:
        get_backbone(name)
    if regularizers:
        from mmgc.regularizers import parse_regularizers

        parse_regularizers(regularizers)
    return archs, _eval_config(edge_threshold, eval_option)


def _evaluate(condensed, graph, arch: str, runs: int, seed_start: int, edge_threshold, eval_option, regularizers,
              original: bool, device, row_defaults: dict) -> list[dict]:
    from mmgc.harness.evaluate import evaluate, evaluate_original

    archs, config = _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)
    seeds = list(range(seed_start, seed_start + runs))
    rows: list[dict] = []
    with _progress() as progress:
        callback = _eval_callback(progress)
        if original:
            rows += evaluate_original(graph, archs, seeds, config, device=device, regularizers=regularizers,
                                      row_defaults=row_defaults, callback=callback)
        if condensed is not None:
            rows += evaluate(condensed, graph, archs, seeds, config, device=device, regularizers=regularizers,
                             row_defaults=row_defaults, callback=callback)
    return rows


def _percent(value: Any) -> str:
    return "" if value is None or value != value else f"{100 * value:.2f}"


def print_rows(rows: list[dict]) -> None:
    """The result rows, then mean ± std per (method, ratio, arch), as rich tables on stdout."""
    from rich.console import Console
    from rich.table import Table

    from mmgc.harness.evaluate import summarize

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
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(rows, indent=1, default=str))
    os.replace(tmp, target)
    typer.echo(f"wrote {len(rows)} rows to {target}", err=True)


def _summary_line(condensed, out: Optional[Path]) -> str:
    info = condensed.info
    where = f" -> {out}" if out else ""
    return (f"{info.get('method')}: {condensed.num_nodes} nodes ({info.get('ratio'):.4g} of {info.get('visible_nodes', '?')}), "
            f"{int((condensed.adj > 0).sum()) // 2} edges, {info.get('wall_seconds', 0):.1f}s{where}")


# ---------------------------------------------------------------------------------------- commands
def condense_command(
    dataset: str = DATASET,
    method: str = METHOD,
    ratio: float = RATIO,
    out: Path = typer.Option(..., "--out", help="File to write the condensed graph to."),
    set_: Optional[list[str]] = SET,
    seed: int = SEED,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
) -> None:
    """Condense a dataset with a method and write the condensed graph (features, adjacency, labels, info)."""
    from mmgc.methods.base import get_method

    get_method(method)  # unknown names fail before the dataset loads
    dev = resolve_device(device)
    graph = _load_graph(dataset, root, option)
    with _progress() as progress:
        condensed = _condense(graph, method, ratio, parse_options(set_), seed, dev, progress)
    path = condensed.save(out)
    typer.echo(_summary_line(condensed, path))


def evaluate_command(
    file: Path = typer.Argument(..., help="A condensed graph written by `mmgc condense` (or any method's save())."),
    dataset: str = DATASET,
    arch: str = ARCH,
    runs: int = RUNS,
    seed_start: int = SEED_START,
    edge_threshold: Optional[float] = THRESHOLD,
    eval_option: Optional[list[str]] = EVAL_OPTION,
    regularizers: Optional[str] = REGULARIZERS,
    original: bool = ORIGINAL,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
    rows_out: Optional[str] = ROWS_OUT,
) -> None:
    """Evaluate a condensed graph under the protocol: train each architecture on it, pick the epoch on
    the original validation nodes, report the original test nodes."""
    from mmgc.graph import CondensedGraph

    _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)
    condensed = CondensedGraph.load(file)
    dev = resolve_device(device)
    graph = _load_graph(dataset, root, option)
    source = (condensed.info or {}).get("dataset")
    if source is not None and source != graph.name:
        typer.echo(f"warning: {file} was condensed from {source!r}; evaluating against {graph.name!r}", err=True)
    rows = _evaluate(condensed, graph, arch, runs, seed_start, edge_threshold, eval_option, regularizers, original,
                     dev, {"phase": "single", "artifact_path": str(file)})
    print_rows(rows)
    _write_rows(rows, rows_out)


def run_command(
    dataset: str = DATASET,
    method: str = METHOD,
    ratio: float = RATIO,
    set_: Optional[list[str]] = SET,
    seed: int = SEED,
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the condensed graph to this file."),
    arch: str = ARCH,
    runs: int = RUNS,
    seed_start: int = SEED_START,
    edge_threshold: Optional[float] = THRESHOLD,
    eval_option: Optional[list[str]] = EVAL_OPTION,
    regularizers: Optional[str] = REGULARIZERS,
    original: bool = ORIGINAL,
    root: Optional[str] = ROOT,
    option: Optional[list[str]] = OPTION,
    device: str = DEVICE,
    rows_out: Optional[str] = ROWS_OUT,
) -> None:
    """Condense, then evaluate: print the result rows and their mean ± std per architecture.

    Runs the same `run_trial` as every sweep trial (``--original`` adds the whole-graph trial)."""
    from mmgc.harness.trial import TrialSpec, run_trial_detailed
    from mmgc.methods.base import get_method

    get_method(method)
    archs, _ = _check_eval_args(arch, runs, edge_threshold, eval_option, regularizers)  # fail before condensing
    resolve_device(device)
    eval_options: dict[str, Any] = dict(parse_options(eval_option))
    if edge_threshold is not None:
        eval_options["edge_threshold"] = edge_threshold
    if regularizers:
        eval_options["regularizers"] = regularizers
    common = dict(dataset=dataset, dataset_root=root, dataset_options=parse_options(option), ratio=ratio,
                  archs=tuple(archs), eval_seeds=tuple(range(seed_start, seed_start + runs)),
                  eval_options=eval_options, device=device)
    specs = [TrialSpec(method="original", **common)] if original else []
    specs.append(TrialSpec(method=method, config=parse_options(set_), condense_seed=seed,
                           artifact_path=str(out) if out else None, **common))
    rows: list[dict] = []
    with _progress() as progress:
        for spec in specs:
            trial_rows, condensed = run_trial_detailed(
                spec, reporter=_ProgressReporter(progress, f"{spec.method} on {dataset}"), strict=True)
            if condensed is not None:
                typer.echo(_summary_line(condensed, out), err=True)
            rows += trial_rows
    print_rows(rows)
    _write_rows(rows, rows_out)


def register(app: typer.Typer) -> None:
    """Add ``condense``, ``evaluate`` and ``run`` to the top-level app."""
    app.command("condense")(condense_command)
    app.command("evaluate")(evaluate_command)
    app.command("run")(run_command)
