"""The `mmgc` command line: sub-commands grouped by noun, each in its own module.

Every module imports what it uses at its top (only Ray, MLflow, Optuna and POT load on first use), so
starting the command line imports torch (a second or two). Bad input
(`InputError`, and click's usage errors) prints one line on stderr and exits with code 2; Ctrl-C,
SIGINT and SIGTERM exit with 130 (`mmgc.harness.signals`); a sweep with failed trials exits with 1.
"""

from __future__ import annotations

import sys

import typer

from mmgc.errors import InputError
from mmgc.harness.cli import datasets, report, run, sweep, tables
from mmgc.harness.cli.plugins import plugin_app
from mmgc.harness.signals import interrupts_raise, take_unreported

app = typer.Typer(
    name="mmgc",
    help="Multimodal graph condensation: condense, evaluate, sweep and tabulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(plugin_app("method", "mmgc.methods.base:METHOD_REGISTRY",
                         help="Condensation methods (built-in and entry points).",
                         presets="mmgc.presets:list_presets"), name="methods")
run.register(app)  # mmgc condense, evaluate, run
sweep.register(app)  # mmgc sweep, mmgc leaderboard
app.add_typer(plugin_app("regularizer", "mmgc.regularizers.base:REGULARIZER_REGISTRY",
                         help="Training-time regularizers (OptiMAG, DAGR, entry points)."), name="regularizers")
app.command("tables")(tables.tables_command)
report.register(app)  # mmgc report
app.add_typer(tables.runs_app, name="runs")


def _usage_line(exc) -> str:
    """A click usage error as one line: the command, what was wrong, where to look."""
    where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "mmgc"
    message = " ".join(exc.format_message().split()).rstrip(".")
    return f"error: {where}: {message} (see `{where} --help`)"


def main() -> None:
    """The ``mmgc`` entry point. Exit codes: 0 done, 1 some trial failed, 2 bad input (one line on
    stderr), 130 interrupted (Ctrl-C, SIGINT or SIGTERM)."""
    try:
        with interrupts_raise():
            code = app(standalone_mode=False)
        unreported = take_unreported()  # a signal before the command began (typer turns it into 130)
        if code == 130 and unreported:
            typer.echo(f"interrupted by {unreported} before the command started; nothing was done", err=True)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(f"interrupted by {take_unreported() or 'SIGINT'}", err=True)
        _exit_now(130)
    except Exception as exc:  # click's usage errors
        import click

        usage_errors = (click.ClickException, getattr(getattr(typer, "_click", None), "ClickException", click.ClickException))
        if not isinstance(exc, usage_errors):  # typer >= 0.2x vendors its own click as typer._click
            raise
        if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "ctx"):
            exc.show()  # `mmgc` or a group without a command: its help
        else:
            typer.echo(_usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    if code == 130:
        _exit_now(130)
    sys.exit(code if isinstance(code, int) else 0)


def _exit_now(code: int) -> None:
    """Exit at once after an interrupt, once the command has cleaned up and said so: the libraries'
    interpreter teardown (torch, Ray, MLflow) has nothing left to save, and waiting on it can hang."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
