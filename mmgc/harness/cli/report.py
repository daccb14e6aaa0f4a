"""`mmgc report`: a self-contained HTML page of an experiment (or of the whole results root)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mmgc.harness.report import build_report
from mmgc.harness.statistics import DEFAULT_MARGIN_POINTS, check_margin


def report_command(
    results: str = typer.Option("results", "--results", "-r", help="Results root (the sweep's)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e",
                                             help="One experiment; default: every experiment under the root."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The HTML file to write (default: "
                                       "RESULTS/reports/EXPERIMENT.html, or RESULTS/reports/index.html)."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Tracking URI holding the curves "
                                             "(default: sqlite under RESULTS)."),
    arch: str = typer.Option("gcn", "--arch", help="Evaluation architecture of Tables 2/5/6 and the figures."),
    margin: float = typer.Option(DEFAULT_MARGIN_POINTS, "--margin", help="Equivalence margin of the comparisons, in "
                                 "points (1 = ±1 point = ±0.01 of the metric)."),
) -> None:
    """Write one HTML file (leaderboard, paper tables, figures, rank summary, cost, provenance) that
    opens from disk, offline."""
    path = build_report(results, experiment, out, mlflow_uri, arch, check_margin(margin))
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
