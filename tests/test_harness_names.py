"""Shared harness code names no method: labels and layouts are data (the experiment files and
``tune_configs/paper_layout.yaml``), so a new method needs no edit of ``mmgc/harness``."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "mmgc" / "harness"


def forbidden_names() -> set[str]:
    """Every registered method and regularizer name, and every label and printed name of the paper layout."""
    from mmgc.harness import tables
    from mmgc.methods.base import list_methods
    from mmgc.regularizers import list_regularizers

    layout = tables.load_layout()
    columns = (*layout.main, *layout.cross_rows, *layout.backbones, *layout.ablation, *layout.fig1b, *layout.fig2,
               *layout.fig3)
    return ({*list_methods(), *list_regularizers(), layout.proposed, *layout.regularizer_names.values()}
            | {c.name for c in columns} | {label for c in columns for label in c.labels})


def _allowed(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """The one definition of the whole-graph entry's name (``ORIGINAL = "original"``), and Optuna's
    sampler named ``random`` (a comparison or choice that mentions the sampler)."""
    parent = parents.get(node)
    if isinstance(parent, ast.Assign) and [ast.unparse(t) for t in parent.targets] == ["ORIGINAL"]:
        return True
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Compare) and "sampler" in ast.unparse(parent):
            return True
        parent = parents.get(parent)
    return False


def literals_naming_a_method(names: set[str], root: Path = HARNESS) -> list[str]:
    """``file:line: 'literal'`` of every string literal under ``root`` that is one of ``names``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names \
                    and not _allowed(node, parents):
                found.append(f"{path.relative_to(root.parent.parent)}:{node.lineno}: {node.value!r}")
    return found


def test_no_method_or_regularizer_name_is_a_literal_in_harness_code():
    names = forbidden_names()
    assert {"gcond", "sr_gm", "random", "optimag", "dagr", "SR-GM", "GCond", "SR-GM w/o D"} <= names
    assert literals_naming_a_method(names) == []


def test_the_check_finds_a_literal(tmp_path):
    """The scan itself: a method name as a literal is found, in a comparison, a mapping or an f-string part."""
    package = tmp_path / "mmgc" / "harness"
    package.mkdir(parents=True)
    (package / "bad.py").write_text('ORIGINAL = "original"\n'
                                    'if sampler == "random": pass\n'
                                    'if method == "sr_gm": pass\n'
                                    'NAMES = {"dagr": "DAGR"}\n'
                                    'x = f"{y} SR-GM"\n'
                                    'rows = [r for r in rows if r["label"] == "SR-GM w/o D"]\n')
    found = literals_naming_a_method(forbidden_names(), package)
    assert [f.split(": ", 1)[1] for f in found] == ["'sr_gm'", "'dagr'", "'DAGR'", "'SR-GM w/o D'"]


def test_the_tables_package_has_no_import_cycle():
    """Its modules import each other in one direction only (the package's ``__init__`` re-exports)."""
    package = HARNESS / "tables"
    edges: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        edges[path.stem] = {node.module.rsplit(".", 1)[1] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                            and node.module and node.module.startswith("mmgc.harness.tables.")}
        assert not any(isinstance(node, ast.ImportFrom) and node.module == "mmgc.harness.tables"
                       for node in ast.walk(tree)), f"{path.name} imports the package itself"
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for target in edges.get(module, ()):
                visit(target, (*path, module))
            done.add(module)

    for module in edges:
        visit(module, ())
    assert {"rows", "layout", "model", "paper", "curves", "figures", "regularizers", "registry"} <= set(edges)
