"""The documentation stays true to the code: the README is a front page, every page of the site is in
its navigation, and the tables the pages copy from the code (the engine's hooks, the result row) are
the code's. A table that drifted is rewritten by ``python -m tests.test_docs --write``.

The site itself is built by ``mkdocs build --strict`` in ``.ci/run`` (broken links, docstrings the API
reference cannot read)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 250

# generated blocks: name -> (page, generator name)
BLOCKS = {
    "hooks-table": ("methods/gradient-matching.md", "hooks_table"),
    "schema-table": ("design.md", "schema_table"),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def hooks_table() -> str:
    """`HOOKS` of the gradient-matching engine as a Markdown table, in the dict's order."""
    from mmgc.methods.gradient_matching.engine import HOOKS

    lines = ["| hook | what it decides |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(what)} |" for name, what in HOOKS.items()]
    return "\n".join(lines) + "\n"


def schema_columns() -> list[tuple[str, str, str, str]]:
    """``(group, column, type, comment)`` for every column of `RESULT_COLUMNS`, read from the source of
    `mmgc/harness/schema.py` (the comments are the meaning of each column)."""
    from mmgc.harness.schema import RESULT_COLUMNS

    found, group = [], ""
    for line in (ROOT / "mmgc" / "harness" / "schema.py").read_text().splitlines():
        heading = re.fullmatch(r"\s*#\s*(.+)", line)
        if heading and '"' not in line:
            group = heading.group(1).strip()
            continue
        column = re.fullmatch(r'\s*"(\w+)":\s*"(\w+)",\s*(?:#\s*(.*))?', line)
        if column:
            found.append((group, column.group(1), column.group(2), (column.group(3) or "").strip()))
    assert [(name, kind) for _, name, kind, _ in found] == list(RESULT_COLUMNS.items()), \
        "schema.py: a column the line reader missed (one column per line, as `\"name\": \"type\",  # meaning`)"
    return found


def schema_table() -> str:
    """The result row as a Markdown table, grouped as `mmgc/harness/schema.py` groups it."""
    lines, group = ["| column | type | meaning |", "|---|---|---|"], None
    for heading, name, kind, comment in schema_columns():
        if heading != group:
            lines.append(f"| **{heading}** | | |")
            group = heading
        lines.append(f"| `{name}` | {kind} | {_cell(comment)} |")
    return "\n".join(lines) + "\n"


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name}\b[^>]*-->\n)(.*?)(<!-- /{name} -->)", re.S)


def generated(name: str) -> tuple[str, str]:
    """``(in the page, from the code)`` for one generated block."""
    page, generator = BLOCKS[name]
    text = (DOCS / page).read_text()
    match = _block(name).search(text)
    assert match, f"docs/{page}: no <!-- {name} --> ... <!-- /{name} --> block"
    return match.group(2), globals()[generator]()


def write() -> None:
    """Rewrite every generated block from the code."""
    for name, (page, generator) in BLOCKS.items():
        path = DOCS / page
        table = globals()[generator]()
        path.write_text(_block(name).sub(lambda m: m.group(1) + table + m.group(3), path.read_text(), count=1))
        print(f"docs/{page}: {name} written")


def nav_pages() -> list[str]:
    """Every page named in mkdocs.yml's ``nav``, relative to docs/."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages: list[str] = []

    def walk(node):
        if isinstance(node, str):
            pages.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return [p for p in pages if not re.match(r"https?://", p)]


# ---------------------------------------------------------------------------------------- tests
def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the front page keeps to {README_MAX_LINES}"


def test_readme_keeps_the_test_command_and_the_quickstart_results_block():
    text = README.read_text()
    assert "python -m pytest" in text  # .ci/run runs this command
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()
    assert text.count("<!-- quickstart-results -->") == 1 and text.count("<!-- /quickstart-results -->") == 1


def test_readme_links_to_docs_pages_that_exist():
    for target in re.findall(r"\]\((docs/[^)#\s]+)", README.read_text()):
        assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    listed = nav_pages()
    missing = [p for p in listed if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml nav names pages that do not exist: {missing}"
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    orphans = sorted(set(pages) - set(listed))
    assert not orphans, f"pages not in mkdocs.yml's nav: {orphans}"


def test_every_engine_hook_is_in_the_methods_page():
    from mmgc.methods.gradient_matching.engine import HOOKS

    page, expected = generated("hooks-table")
    for name in HOOKS:
        assert f"`{name}`" in page, f"hook {name} is not in docs/methods/gradient-matching.md"
    assert page == expected, "the hook table drifted from HOOKS: run `python -m tests.test_docs --write`"


def test_the_design_page_has_the_result_row_as_schema_py_defines_it():
    page, expected = generated("schema-table")
    assert page == expected, "the row schema drifted from mmgc/harness/schema.py: run `python -m tests.test_docs --write`"


def test_every_result_page_names_its_date_commit_and_command():
    pages = [p for p in (DOCS / "results").glob("*.md") if p.name != "index.md"]
    assert pages
    index = (DOCS / "results" / "index.md").read_text()
    for page in pages:
        text = page.read_text()
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), f"{page.name}: no date (YYYY-MM-DD)"
        assert re.search(r"commit `?[0-9a-f]{7,}", text), f"{page.name}: no commit"
        assert "```" in text, f"{page.name}: no command block"
        assert page.name in index, f"{page.name} is not listed in docs/results/index.md"


def test_no_page_points_to_a_design_document_outside_the_project():
    for path in [*ROOT.joinpath("mmgc").rglob("*.py"), *DOCS.rglob("*.md"), README]:
        assert "DESIGN.md" not in path.read_text(), f"{path.relative_to(ROOT)} mentions DESIGN.md"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.exit("usage: python -m tests.test_docs --write   (rewrites the generated tables of the docs)")
