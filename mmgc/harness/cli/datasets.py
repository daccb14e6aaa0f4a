"""`mmgc datasets ...`: list the dataset sources, show a dataset's options, summarise one dataset."""

from __future__ import annotations

from typing import Optional

import typer

from mmgc.datasets import get_dataset_spec, list_datasets, load_dataset
from mmgc.datasets._common import lookup_order
from mmgc.errors import InputError

app = typer.Typer(help="Datasets: real (MM-GRAPH, MAGB, Planetoid, Last.fm-2K) and generated.", no_args_is_help=True)

def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``key=value`` pairs from the command line; a pair without ``=`` is an error."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option/--set: expected key=value, found {pair!r}")
        options[key.strip()] = value.strip()
    return options


def _format(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command("list")
def list_command() -> None:
    """List every dataset name with its source, what it is, and where its files are looked for."""
    from rich.console import Console
    from rich.table import Table


    table = Table("dataset", "source", "description", "data")
    for spec in list_datasets():
        table.add_row(spec.name, spec.source, spec.description, lookup_order(spec.source))
    Console().print(table)


@app.command("options")
def options_command(name: str) -> None:
    """The options a dataset accepts (``-o key=value``), with their types and defaults."""
    import dataclasses
    from typing import get_type_hints

    from rich.console import Console
    from rich.table import Table


    spec = get_dataset_spec(name)
    hints = get_type_hints(spec.options)
    table = Table("option", "type", "default", title=f"{name} ({spec.source})")
    for f in dataclasses.fields(spec.options):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind = str(hints[f.name]).replace("typing.", "")
        table.add_row(f.name, kind, _format(default) if default is not None else "None")
    Console().print(table)


@app.command("info")
def info_command(
    name: str,
    root: Optional[str] = typer.Option(None, "--root", help="Directory of the published dataset files."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Dataset option key=value (see `mmgc datasets options NAME`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Nodes, edges, classes, modalities, setting, metric, split sizes, homophily, provenance."""
    graph = load_dataset(name, root=root, **parse_options(option))
    summary = graph.summary()
    if as_json:
        import json

        typer.echo(json.dumps(summary, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("field", "value", title=graph.name)
    for key, value in summary.items():
        table.add_row(key, escape(_format(value)))
    Console().print(table)
