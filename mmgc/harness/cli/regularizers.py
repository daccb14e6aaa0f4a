"""`mmgc regularizers ...`: the registered training-time regularizers (OptiMAG, DAGR, entry points)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Training-time regularizers (built-in and entry points).", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List every registered regularizer and where it comes from."""
    from rich.console import Console
    from rich.table import Table

    from mmgc.regularizers.base import list_regularizers

    table = Table("regularizer", "source")
    for name, source in list_regularizers().items():
        table.add_row(name, source)
    Console().print(table)


@app.command("info")
def info_command(name: str) -> None:
    """Show a regularizer's config (defaults) and search space."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from mmgc.regularizers.base import get_regularizer

    cls = get_regularizer(name)
    table = Table("key", "default", "search space", title=f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
    for f in dataclasses.fields(cls.Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        dim = cls.search_space.get(f.name)
        space = "" if dim is None else (f"{dim.kind} {list(dim.choices)}" if dim.kind == "choice" else f"{dim.kind} [{dim.low}, {dim.high}]")
        table.add_row(f.name, repr(default), space)
    Console().print(table)
