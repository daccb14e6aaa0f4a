"""The layer rules of docs/design.md, checked on the imports of the source (every import statement,
also those inside functions): each layer imports only the layers below it, and nothing below the
harness imports Ray, MLflow, Optuna or DuckDB."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmgc"

# a module's layer: the first part of its name under mmgc (a module or a subpackage)
LAYERS = {
    "foundation": {"errors", "tempfiles", "runtime", "plugins", "provenance", "adjacency", "graph"},
    "models": {"models", "regularizers", "datasets"},
    "methods": {"methods", "presets"},
    "harness": {"harness"},
}
ORDER = ["foundation", "models", "methods", "harness"]
HARNESS_ONLY = {"ray", "mlflow", "optuna", "duckdb"}
# reads the Ray node id when Ray is already loaded, never imports it (see its guard)
GUARDED_RAY = {"provenance"}


def layer_of(part: str) -> str | None:
    for layer, parts in LAYERS.items():
        if part in parts:
            return layer
    return None


def imports() -> list[tuple[str, str]]:
    """``(importing module's first part under mmgc, imported module)`` for every import statement."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(part, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((part, node.module))
    return found


def test_every_module_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert {p for p in parts if layer_of(p) is None} == {"__init__"}


def test_each_layer_imports_only_layers_below_it():
    upward = []
    for part, module in imports():
        names = module.split(".")
        if names[0] != "mmgc" or len(names) < 2:
            continue
        own, other = layer_of(part), layer_of(names[1])
        if part == "__init__" or other is None:
            continue
        if ORDER.index(other) > ORDER.index(own):
            upward.append(f"mmgc.{part} imports {module}")
    assert not upward, upward


def test_the_layers_below_the_harness_never_import_its_services():
    found = [f"mmgc.{part} imports {module}" for part, module in imports()
             if module.split(".")[0] in HARNESS_ONLY and layer_of(part) != "harness"
             and not (module == "ray" and part in GUARDED_RAY)]
    assert not found, found
