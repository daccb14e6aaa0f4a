"""`mmgc methods ...` and `mmgc regularizers ...`: the registered plug-ins of one kind (`mmgc.plugins`)."""

from __future__ import annotations

import importlib

import typer


def _load(target: str):
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def plugin_app(kind: str, registry: str, help: str, presets: str | None = None) -> typer.Typer:
    """A ``list`` / ``info`` command group over one plug-in registry.

    Args:
        kind: what one plug-in is called (``method``, ``regularizer``), for headings and help.
        registry: ``"module:attribute"`` of the `PluginRegistry`, imported when a command runs (so
            ``mmgc --help`` does not import torch).
        help: the group's help line.
        presets: ``"module:function"`` returning a plug-in's named presets (`mmgc.presets.list_presets`),
            listed by ``info``; None when this kind has none.
    """
    app = typer.Typer(help=help, no_args_is_help=True)

    def load():
        return _load(registry)

    @app.command("list", help=f"List every registered {kind} and where it comes from.")
    def list_command() -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(kind, "source")
        for name, source in load().names().items():
            table.add_row(escape(name), escape(source))
        Console().print(table)

    @app.command("info", help=f"Show a {kind}'s config (defaults) and search space.")
    def info_command(name: str) -> None:
        import dataclasses

        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        cls = load().get(name)
        summary = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        # docstrings, defaults and descriptions are text, not rich markup: ``counts[c]`` must print as is
        table = Table("key", "default", "search space", title=escape(f"{name}: {summary}"))
        for f in dataclasses.fields(cls.Config):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            dim = cls.search_space.get(f.name)
            if dim is None:
                space = ""
            elif dim.kind == "choice":
                space = f"{dim.kind} {list(dim.choices)}"
            else:
                space = f"{dim.kind} [{dim.low}, {dim.high}]"
            table.add_row(escape(f.name), escape(repr(default)), escape(space))
        console = Console()
        console.print(table)
        found = _load(presets)(name) if presets else []
        if found:
            listing = Table("preset", "published for", "settings", "description",
                            title=f"{name} presets (--preset NAME, or preset: NAME in an experiment file)")
            for p in found:
                listing.add_row(*(escape(text) for text in (
                    p.name, ", ".join(p.datasets) or "any", ", ".join(f"{k}={v}" for k, v in p.settings.items()),
                    p.description)))
            console.print(listing)

    return app
