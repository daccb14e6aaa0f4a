"""`mmgc datasets ...`: list the dataset sources and summarise one dataset."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="Datasets: real (MM-GRAPH, MAGB, Planetoid) and generated.", no_args_is_help=True)


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``key=value`` pairs from the command line; a pair without ``=`` is an error."""
    from mmgc.errors import InputError

    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option/--set: expected key=value, found {pair!r}")
        options[key.strip()] = value.strip()
    return options


@app.command("list")
def list_command() -> None:
    """List every dataset name with its source."""
    from rich.console import Console
    from rich.table import Table

    from mmgc.datasets import list_datasets

    table = Table("dataset", "source", "description")
    for spec in list_datasets():
        table.add_row(spec.name, spec.source, spec.description)
    Console().print(table)


@app.command("info")
def info_command(
    name: str,
    root: Optional[str] = typer.Option(None, "--root", help="Directory of the published dataset files."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Dataset option key=value."),
) -> None:
    """Nodes, edges, classes, modalities, setting, metric, split sizes, homophily, provenance."""
    from rich.console import Console
    from rich.table import Table

    from mmgc.datasets import load_dataset

    graph = load_dataset(name, root=root, **parse_options(option))
    table = Table("field", "value", title=graph.name)
    for key, value in graph.summary().items():
        table.add_row(key, str(value))
    Console().print(table)
