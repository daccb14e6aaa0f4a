"""`mmgc methods ...`: the registered condensation methods."""

from __future__ import annotations

import typer

app = typer.Typer(help="Condensation methods (built-in and entry points).", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List every registered method and where it comes from."""
    from rich.console import Console
    from rich.table import Table

    from mmgc.methods.base import list_methods

    table = Table("method", "source")
    for name, source in list_methods().items():
        table.add_row(name, source)
    Console().print(table)


@app.command("info")
def info_command(name: str) -> None:
    """Show a method's config (defaults) and search space."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from mmgc.methods.base import get_method

    cls = get_method(name)
    table = Table("key", "default", "search space", title=f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
    for f in dataclasses.fields(cls.Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        dim = cls.search_space.get(f.name)
        space = "" if dim is None else (f"{dim.kind} {list(dim.choices)}" if dim.kind == "choice" else f"{dim.kind} [{dim.low}, {dim.high}]")
        table.add_row(f.name, repr(default), space)
    Console().print(table)
