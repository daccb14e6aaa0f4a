"""The `mmgc` command line: sub-commands grouped by noun, each in its own module.

Modules import torch and friends inside their commands, so `mmgc --help` answers quickly. Bad input
(`InputError`) prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import sys

import typer

from mmgc.errors import InputError
from mmgc.harness.cli import datasets, tables
from mmgc.harness.cli.plugins import plugin_app

app = typer.Typer(
    name="mmgc",
    help="Multimodal graph condensation: condense, evaluate, sweep and tabulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(plugin_app("method", "mmgc.methods.base:METHOD_REGISTRY",
                         help="Condensation methods (built-in and entry points)."), name="methods")
__import__("mmgc.harness.cli.run", fromlist=["register"]).register(app)  # mmgc condense, evaluate, run
__import__("mmgc.harness.cli.sweep", fromlist=["register"]).register(app)  # mmgc sweep, mmgc leaderboard
app.add_typer(plugin_app("regularizer", "mmgc.regularizers.base:REGULARIZER_REGISTRY",
                         help="Training-time regularizers (OptiMAG, DAGR, entry points)."), name="regularizers")
app.command("tables")(tables.tables_command)
app.add_typer(tables.runs_app, name="runs")


def main() -> None:
    try:
        app(standalone_mode=False)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        usage_errors = (click.ClickException, getattr(getattr(typer, "_click", None), "ClickException", click.ClickException))
        if isinstance(exc, usage_errors):  # typer >= 0.2x vendors its own click as typer._click
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
