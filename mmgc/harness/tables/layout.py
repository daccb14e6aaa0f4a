"""The paper layout: which stored labels make the columns and rows of each table and figure.

It is data (``tune_configs/paper_layout.yaml``, or the file given to ``mmgc tables --layout``), so
that the tables group rows by their stored label and no method is named in the harness: a new
method, or an ablation of one, gets its columns by editing the layout file only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.errors import InputError
from mmgc.harness.experiment import _Checker, is_label_of, read_yaml

DEFAULT_LAYOUT = Path(__file__).resolve().parents[3] / "tune_configs" / "paper_layout.yaml"
KEYS = ("proposed", "archs", "main", "cross_arch", "backbones", "ablation", "figures", "regularizers")


@dataclass(frozen=True)
class Column:
    """A printed column (or row) of a table: its name and the labels whose rows it takes."""

    name: str
    labels: tuple[str, ...]

    def takes(self, label: str) -> bool:
        """Whether rows of ``label`` (one of ``labels`` or a grid cell of one) belong here."""
        return any(is_label_of(label, own) for own in self.labels)


def column_of(label: str, columns: Sequence[Column]) -> Column | None:
    """The first of ``columns`` that takes rows of ``label``; None when none does."""
    return next((c for c in columns if c.takes(label)), None)


def relabel(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[dict[str, Any]]:
    """The rows some column takes, each with ``label`` set to the name of its column."""
    out = []
    for r in rows:
        column = column_of(r["label"], columns)
        if column is not None:
            out.append(dict(r, label=column.name))
    return out


@dataclass(frozen=True)
class Layout:
    """A parsed layout file (see ``tune_configs/paper_layout.yaml`` for what each part means)."""

    source: str
    proposed: str
    arch_names: Mapping[str, str]          # evaluation architecture -> printed name, in table order
    main: tuple[Column, ...]               # Tables 2 and 5, Figure 5
    cross_condense_arch: str               # Table 3
    cross_archs: tuple[str, ...]
    cross_rows: tuple[Column, ...]
    backbones: tuple[Column, ...]          # Table 4
    ablation_title: str                    # Table 6
    ablation: tuple[Column, ...]
    fig1b: tuple[Column, ...]
    fig2: tuple[Column, ...]
    fig2_key: str
    fig3: tuple[Column, ...]
    fig4_key: str
    fig4_symbol: str
    fig4_axis: str
    regularizer_names: Mapping[str, str]   # registered regularizer -> printed name
    regularizer_columns: tuple[str, ...]

    @property
    def proposed_column(self) -> Column:
        return next(c for c in self.main if c.name == self.proposed)

    def arch_name(self, arch: str) -> str:
        return self.arch_names.get(arch, arch)

    def arch_rank(self, arch: str) -> tuple[int, str]:
        """Sort key: the layout's order, then any other architecture by name."""
        order = list(self.arch_names)
        return (order.index(arch) if arch in order else len(order), arch)


def load_layout(path: str | Path | None = None) -> Layout:
    """The layout in ``path`` (default: the repository's ``tune_configs/paper_layout.yaml``)."""
    return _load(str(Path(path) if path is not None else DEFAULT_LAYOUT), path is None)


@lru_cache(maxsize=8)
def _load(path: str, default: bool) -> Layout:
    if default and not Path(path).is_file():
        raise InputError(f"{path}: the paper layout file is not there (it ships in the repository's tune_configs/); "
                         "pass one with --layout FILE")
    data = read_yaml(Path(path), "layout file", "a paper layout file (see tune_configs/paper_layout.yaml)",
                     f"a paper layout with keys {list(KEYS)}")
    return parse_layout(data, path)


def parse_layout(data: Any, source: str = "<layout>") -> Layout:
    """Check a layout as a whole; every problem is one `InputError` line naming the file and the key."""
    chk = _Checker(source)
    top = chk.mapping(data, "", KEYS, KEYS)
    proposed = chk.string(top["proposed"], "proposed")
    archs = _names(chk, top["archs"], "archs")
    main = chk.mapping(top["main"], "main", ["columns"], ["columns"])
    cross = chk.mapping(top["cross_arch"], "cross_arch", ["condense_arch", "archs", "rows"],
                        ["condense_arch", "archs", "rows"])
    backbones = chk.mapping(top["backbones"], "backbones", ["columns"], ["columns"])
    ablation = chk.mapping(top["ablation"], "ablation", ["title", "rows"], ["title", "rows"])
    figures = chk.mapping(top["figures"], "figures", ["fig1b", "fig2", "fig3", "fig4"], ["fig1b", "fig2", "fig3", "fig4"])
    fig1b = chk.mapping(figures["fig1b"], "figures.fig1b", ["methods"], ["methods"])
    fig2 = chk.mapping(figures["fig2"], "figures.fig2", ["methods", "key"], ["methods", "key"])
    fig3 = chk.mapping(figures["fig3"], "figures.fig3", ["methods"], ["methods"])
    fig4 = chk.mapping(figures["fig4"], "figures.fig4", ["key", "symbol", "axis"], ["key", "symbol", "axis"])
    regs = chk.mapping(top["regularizers"], "regularizers", ["names", "columns"], ["names", "columns"])
    layout = Layout(
        source=source, proposed=proposed, arch_names=archs,
        main=_columns(chk, main["columns"], "main.columns"),
        cross_condense_arch=chk.string(cross["condense_arch"], "cross_arch.condense_arch"),
        cross_archs=_strings(chk, cross["archs"], "cross_arch.archs"),
        cross_rows=_columns(chk, cross["rows"], "cross_arch.rows"),
        backbones=_columns(chk, backbones["columns"], "backbones.columns"),
        ablation_title=chk.string(ablation["title"], "ablation.title"),
        ablation=_columns(chk, ablation["rows"], "ablation.rows"),
        fig1b=_columns(chk, fig1b["methods"], "figures.fig1b.methods"),
        fig2=_columns(chk, fig2["methods"], "figures.fig2.methods"),
        fig2_key=chk.string(fig2["key"], "figures.fig2.key"),
        fig3=_columns(chk, fig3["methods"], "figures.fig3.methods"),
        fig4_key=chk.string(fig4["key"], "figures.fig4.key"),
        fig4_symbol=chk.string(fig4["symbol"], "figures.fig4.symbol"),
        fig4_axis=chk.string(fig4["axis"], "figures.fig4.axis"),
        regularizer_names=_names(chk, regs["names"], "regularizers.names"),
        regularizer_columns=_strings(chk, regs["columns"], "regularizers.columns"),
    )
    if not any(c.name == proposed for c in layout.main):
        chk.fail("proposed", f"the name of one of main.columns {[c.name for c in layout.main]}", proposed)
    return layout


def _strings(chk: _Checker, value: Any, where: str) -> tuple[str, ...]:
    items = tuple(chk.string(v, f"{where}[{i}]") for i, v in enumerate(chk.seq(value, where)))
    chk.unique(items, where)
    return items


def _names(chk: _Checker, value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        chk.fail(where, "a non-empty mapping name -> printed name", value)
    return {chk.string(k, f"{where} key"): chk.string(v, f"{where}.{k}") for k, v in value.items()}


def _columns(chk: _Checker, value: Any, where: str) -> tuple[Column, ...]:
    """A list of labels or ``{name: PRINTED, labels: [LABEL, ...]}``."""
    out = []
    for i, item in enumerate(chk.seq(value, where)):
        if isinstance(item, str):
            out.append(Column(chk.string(item, f"{where}[{i}]"), (item,)))
            continue
        m = chk.mapping(item, f"{where}[{i}]", ["name", "labels"], ["name", "labels"])
        out.append(Column(chk.string(m["name"], f"{where}[{i}].name"), _strings(chk, m["labels"], f"{where}[{i}].labels")))
    chk.unique([c.name for c in out], f"{where} (two columns have the same name)")
    return tuple(out)
