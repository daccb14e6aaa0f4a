"""`mmgc tables NAME|all` (paper tables and figures from the results store) and `mmgc runs show RUN_ID`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mmgc.errors import InputError
from mmgc.harness import tables, tracking
from mmgc.harness.statistics import DEFAULT_MARGIN_POINTS, check_margin
from mmgc.tempfiles import unwritable_reason

runs_app = typer.Typer(help="MLflow runs of trials and sweeps.", no_args_is_help=True)


def tables_command(
    name: str = typer.Argument(..., help="table2 ... table6, fig1b, fig2 ... fig5, ranks, regularizers, or all"),
    experiment: Optional[List[str]] = typer.Option(
        None, "--experiment", "-e", help="experiment name(s) to read (repeatable); default: each table's own"),
    fmt: str = typer.Option("md", "--format", "-f", help="md, latex or csv"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write tables and PNG figures here "
                                       "(default: figures go to RESULTS/tables, tables only print)"),
    results: str = typer.Option("results", "--results", "-r", help="results root (the sweep's)"),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="tracking URI (default: sqlite under RESULTS)"),
    arch: str = typer.Option("gcn", "--arch", help="evaluation architecture of Tables 2/5/6 and the figures"),
    layout: Optional[Path] = typer.Option(None, "--layout", help="paper layout file: which labels make which "
                                          "columns (default: tune_configs/paper_layout.yaml)"),
    margin: float = typer.Option(DEFAULT_MARGIN_POINTS, "--margin", help="equivalence margin of the comparisons, in "
                                 "points (1 = ±1 point = ±0.01 of the metric)"),
) -> None:
    """Rebuild a paper table or figure (or all) from the results store; never recomputes.

    Each "best" (against the runner-up) and each Δ reads better, worse, equivalent within ±--margin
    points or inconclusive: a two-sided paired t-test and two one-sided ones (TOST) over the
    condensation seeds both sides share, Holm-adjusted within the table. A row marked † compares
    unequal feature budgets or evaluation recipes, ‡ rows that did not record them."""
    if fmt not in ("md", "latex", "csv"):
        raise InputError(f"--format: expected md, latex or csv, found {fmt!r}")
    margin_units = check_margin(margin)
    spec = tables.load_layout(layout)
    names = list(tables.ARTIFACTS) if name == "all" else [name]
    for n in names:
        if n not in tables.ARTIFACTS:
            raise InputError(f"unknown table or figure {n!r}; expected one of {list(tables.ARTIFACTS)} or all")
    figure_dir = out or Path(results) / "tables"
    if out is not None or any(tables.ARTIFACTS[n].kind == "figure" for n in names):
        reason = unwritable_reason(figure_dir)
        if reason is not None:
            raise InputError(f"--out {figure_dir}: {reason}; expected a folder this user can write")
    skipped = []
    for n in names:
        wanted = experiment or tables.ARTIFACTS[n].experiments
        if not tables.resolve_results(n, results, experiment, mlflow_uri).rows:  # nothing to draw: write nothing
            skipped.append(f"{n}: no final rows for experiment(s) {', '.join(wanted)} under {results}")
            continue
        built = tables.build(n, results, experiment, figure_dir, mlflow_uri, arch, spec, margin_units)
        if isinstance(built, tables.Table) and not built.rows:  # rows, but none this table compares
            skipped.append(f"{n}: none of the final rows of {', '.join(built.experiments)} is one it tabulates")
            continue
        if isinstance(built, tables.Table):
            typer.echo(built.render(fmt))
            if out is not None:
                written = tables.write_table(built, out, n, [fmt])
                typer.echo(f"[{n} written to {written[0]}]\n")
        else:
            notes = f" ({'; '.join(built.notes)})" if built.notes else ""
            typer.echo(f"{built.name}: {built.path} ({built.panels} panel(s), {built.series} series/bars){notes}\n")
    if skipped:
        if len(skipped) == len(names):
            there = ", ".join(tables.available_experiments(results)) or "none"
            hint = "" if experiment else f"; experiments there: {there} (pass them with --experiment)"
            raise InputError("; ".join(skipped) + hint)
        for line in skipped:
            typer.echo(f"skipped {line}", err=True)


@runs_app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="an MLflow run id (the result rows' mlflow_run_id)"),
    results: str = typer.Option("results", "--results", "-r", help="results root holding mlflow.db"),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="tracking URI (default: sqlite under RESULTS)"),
) -> None:
    """Print a trial's config, metrics and artifact paths."""

    uri = mlflow_uri or tracking.default_uri(results)
    found_uri, run = tracking.find_run(run_id, [uri])
    if run is None:
        raise InputError(f"run {run_id!r} not found in the MLflow store {uri}")
    c = tracking.client(found_uri)
    info = run.info
    typer.echo(f"run {info.run_id}  ({info.run_name})  status {info.status}")
    typer.echo(f"store {found_uri}  experiment id {info.experiment_id}")
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.") or k == tracking.TAG_PARENT}
    if tags:
        typer.echo("\ntags:")
        for k in sorted(tags):
            typer.echo(f"  {k} = {tags[k]}")
    typer.echo("\nconfig (params):")
    for k in sorted(run.data.params):
        typer.echo(f"  {k} = {run.data.params[k]}")
    final = {k: v for k, v in run.data.metrics.items() if not k.startswith(tracking.HISTORY_PREFIX)}
    curves = sorted(k for k in run.data.metrics if k.startswith(tracking.HISTORY_PREFIX))
    typer.echo("\nmetrics:")
    for k in sorted(final):
        typer.echo(f"  {k} = {final[k]:.6g}")
    if curves:
        typer.echo("\nper-epoch curves (points, last value):")
        for k in curves:
            history = c.get_metric_history(info.run_id, k)
            typer.echo(f"  {k}: {len(history)} points, last {run.data.metrics[k]:.6g}")
    typer.echo("\nartifacts:")
    artifacts = tracking.run_artifacts(found_uri, info.run_id)
    for rel, full in artifacts:
        typer.echo(f"  {rel}: {full}")
    if not artifacts:
        typer.echo("  (none)")
