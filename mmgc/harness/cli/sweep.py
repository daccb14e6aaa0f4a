"""`mmgc sweep FILE` and `mmgc leaderboard`: run an experiment on Ray Tune, read the results store."""

from __future__ import annotations

import shlex
from typing import Optional

import typer

from mmgc.errors import InputError
from mmgc.harness.cli.run import interruptible
from mmgc.harness.experiment import load_experiment
from mmgc.harness.report import report_after_sweep
from mmgc.harness.statistics import DEFAULT_MARGIN_POINTS, check_margin
from mmgc.harness.store import ResultStore, print_leaderboard, wide_console
from mmgc.harness.sweep import run_sweep
from mmgc.harness.tracking import resolve_uri, tracking_hook


def sweep_command(
    file: str = typer.Argument(..., help="Experiment file (tune_configs/*.yaml)."),
    results: Optional[str] = typer.Option(None, "--results", help="Results root (overrides the file's `results`)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (e.g. 10.0.0.1:6379 or auto); "
                                          "default: a local Ray on this machine's CPUs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the trial plan (cells, trials, resources) and exit."),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", help="CPUs of the local Ray (default: all)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Live progress display."),
    leaderboard: bool = typer.Option(True, "--leaderboard/--no-leaderboard", help="Print the leaderboard at the end."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not track the sweep in MLflow."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (default: the file's "
                                             "`mlflow_uri`, else sqlite:///RESULTS/mlflow.db)."),
    html_report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report "
                                     "(RESULTS/reports/EXPERIMENT.html, see `mmgc report`) at the end."),
) -> None:
    """Run or resume an experiment: Optuna search per cell, then its best config over the seeds.

    Finished trials are never repeated; Ctrl-C, SIGINT or SIGTERM stop cleanly and print how to resume
    (exit 130); failed trials exit 1."""

    experiment = load_experiment(file)
    console = wide_console()
    parts = ["mmgc", "sweep", file] + (["--results", results] if results else []) + (
        ["--address", address] if address else []) + (["--no-mlflow"] if no_mlflow else []) + (
        ["--mlflow-uri", mlflow_uri] if mlflow_uri else [])

    report = run_sweep(experiment, results=results, address=address, dry_run=dry_run, num_cpus=num_cpus,
                       progress=progress, console=console, tracking=tracking_hook(no_mlflow, mlflow_uri),
                       resume_hint=" ".join(shlex.quote(p) for p in parts))
    if dry_run:
        return
    console.print(f"sweep {report.experiment}: {report.ran} trials run ({report.ok} ok, {report.failed} failed), "
                  f"{report.skipped} already in the store, {report.missing} missing, {report.seconds:,.1f}s")
    if leaderboard:
        print_leaderboard(ResultStore(report.results), experiment=report.experiment, console=console)
    if html_report and not report.interrupted:

        uri = resolve_uri(report.results, mlflow_uri or getattr(experiment, "mlflow_uri", None), enabled=not no_mlflow)
        for line in report_after_sweep(report.results, report.experiment, uri):
            console.print(line, markup=False, highlight=False)
    if report.interrupted:
        raise typer.Exit(130)
    if report.failed or report.missing:  # trials failed, or could not run (every search trial of a cell failed)
        raise typer.Exit(1)


@interruptible
def leaderboard_command(
    results: str = typer.Option("results", "--results", help="Results root."),
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d"),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Method name or label."),
    phase: str = typer.Option("final", "--phase", help="final (with single runs), search, or all."),
    sql: Optional[str] = typer.Option(None, "--sql", help="One read-only query (SELECT ...) over the view "
                                      "`results` instead; numbers printed to 6 significant digits."),
    compact: bool = typer.Option(False, "--compact", help="First merge each folder's trial files into one "
                                 "(sweeps do this when they start and end; useful while one runs)."),
    margin: float = typer.Option(DEFAULT_MARGIN_POINTS, "--margin", help="Equivalence margin of the comparisons, in "
                                 "points (1 = ±1 point = ±0.01 of the metric): a best cell is equivalent to the "
                                 "runner-up when two one-sided paired t-tests put their difference within it."),
    cost: bool = typer.Option(False, "--cost", help="The cost view instead: per cell the condensation's wall and CPU "
                              "seconds and the condensed graph's bytes (per graph, mean over its trials) against the "
                              "original graph's (x smaller), the seconds to train one evaluation model on the "
                              "condensed graph against the original (the Original row of the same dataset and "
                              "arch), and the break-even: how many trainings on the condensed graph repay its "
                              "condensation = condense s / (train s original - train s condensed); 'never' where "
                              "training on the condensed graph is not faster, '—' where a side is missing (no "
                              "Original rows, no training time, or the Original row itself)."),
) -> None:
    """Mean ± std (in %) of the test and validation metric per cell, from the results store.

    DuckDB reads every trial file under the results root. Per ratio and architecture the best cell is
    compared with the runner-up: a two-sided paired t-test (better / worse) and two one-sided ones
    (equivalent within ±--margin points), over the condensation seeds both share, Holm-adjusted
    within each printed table; otherwise inconclusive. A ratio marked † compares unequal feature
    budgets or evaluation recipes, ‡ rows that did not record them (the footnotes say which).
    --sql runs one read-only query on the view `results`; --cost prints the cost view."""
    from pathlib import Path


    phases = {"final": ("final", "single"), "search": ("search",), "all": ("search", "final", "single")}
    if phase not in phases:
        raise InputError(f"--phase: expected one of {list(phases)}, found {phase!r}")
    if sql and cost:
        raise InputError("--cost: expected either --sql or --cost, found both")
    margin_units = check_margin(margin)
    store = ResultStore(results)
    if store.local and not Path(store.root).is_dir():
        raise InputError(f"--results {results}: no such directory; expected the results root of a sweep")
    console = wide_console()
    if compact:
        store.check_writable()
        store.compact(experiment)
    if sql:
        from rich.markup import escape
        from rich.table import Table

        names, rows = store.sql(sql, experiment)
        table = Table(*(escape(str(n)) for n in names))
        for row in rows:
            table.add_row(*(escape(_sql_cell(v)) for v in row))
        console.print(table)
        return
    print_leaderboard(store, experiment, dataset, method, phases[phase], console=console, margin=margin_units,
                      cost=cost)


def _sql_cell(value: object) -> str:
    """A --sql value as printed: floats to 6 significant digits, NULL as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
    app.command("leaderboard")(leaderboard_command)
