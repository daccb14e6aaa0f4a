"""The cell and table model of the paper tables, their statistics (mean ± std, selection of one
config per cell on validation, the paired test behind a mark or a Δ) and the Markdown, LaTeX and CSV
renderers."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mmgc.errors import InputError
from mmgc.harness.fairness import DIFFERS, UNKNOWN, Fairness
from mmgc.harness.statistics import (
    Comparison, adjust_family, best_vs_runner_up, compare, comparison_note, dense_ranks, summary_of,
)

MISSING = {"md": "—", "latex": "--", "csv": ""}


@dataclass(frozen=True)
class Stat:
    """Mean and population std of a metric over rows (`mmgc.harness.statistics.summary_of`, in
    metric units; tables print x100), with the rows' mean validation metric and their config hash."""

    mean: float
    std: float
    count: int
    val_mean: float | None = None
    config_hash: str | None = None

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]], column: str = "test_metric") -> "Stat | None":
        summary = summary_of(r.get(column) for r in rows)
        if summary is None:
            return None
        val = summary_of(r.get("val_metric") for r in rows)
        hashes = {r.get("config_hash") for r in rows}
        return cls(summary.mean, summary.std, summary.count, val.mean if val else None,
                   hashes.pop() if len(hashes) == 1 else None)


def best_config_rows(rows: Sequence[Mapping[str, Any]], by: Sequence[str] = ("config_hash",)) -> list[Mapping[str, Any]]:
    """The rows of the config (rows sharing the columns ``by``) with the best mean validation metric
    among ``rows`` (one label, one cell)."""
    by_config: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_config[tuple(r.get(c) for c in by)].append(r)
    scored = [(s, group) for group in by_config.values() if (s := Stat.of(group)) is not None]
    if not scored:
        return []
    return max(scored, key=lambda sg: (sg[0].val_mean if sg[0].val_mean is not None else -math.inf))[1]


def best_config_stat(rows: Sequence[Mapping[str, Any]]) -> Stat | None:
    """The stat of the config with the best mean validation metric among ``rows`` (one label, one cell)."""
    return Stat.of(best_config_rows(rows))


def rank_marks(values: Mapping[str, float | None]) -> dict[str, str]:
    """``best`` for the highest mean (rank 1 of `dense_ranks`), ``second`` for the next distinct one."""
    return {key: {1: "best", 2: "second"}[rank] for key, rank in dense_ranks(values).items() if rank <= 2}


class RowTests:
    """The comparisons of one table row's cells (``selected``: key -> the rows of its selected
    config), each pair computed once, so that a pair behind both a "best" mark and a Δ is one
    comparison of the table's family."""

    def __init__(self, selected: Mapping[Any, Sequence[Mapping[str, Any]]], margin: float):
        self.selected, self.margin = selected, margin
        self._done: dict[tuple, Comparison | None] = {}

    def pair(self, a: Any, b: Any) -> Comparison | None:
        """`compare` of ``a`` minus ``b``."""
        if (a, b) not in self._done:
            self._done[(a, b)] = compare(self.selected[a], self.selected[b], self.margin)
        return self._done[(a, b)]

    def best(self, stats: Mapping[Any, Stat | None]) -> dict[Any, Comparison]:
        """Each best cell against the runner-up (`best_vs_runner_up`)."""
        found = best_vs_runner_up({k: (s.mean if s else None) for k, s in stats.items()}, self.pair)
        return {key: test for key, (_, test) in found.items()}


@dataclass
class Cell:
    """One printed cell: a stat (mean ± std), a signed delta, plain text, or missing."""

    stat: Stat | None = None
    delta: float | None = None  # percentage points
    text: str | None = None
    mark: str | None = None  # 'best' | 'second'
    missing: bool = False
    test: Comparison | None = None  # the paired comparison behind a Δ or a 'best' mark
    flag: str = ""  # the fairness mark of the comparisons on its row (`Table.flag`)

    def render(self, fmt: str) -> str:
        flag = {"csv": "", "latex": self.flag.replace(DIFFERS, "$^\\dagger$").replace(UNKNOWN, "$^\\ddagger$")}
        return self.render_value(fmt) + flag.get(fmt, self.flag) + self.render_test(fmt)

    def render_test(self, fmt: str) -> str:
        """The verdict of the cell's comparison and the p-values behind it (nothing in CSV)."""
        if self.test is None or fmt == "csv":
            return ""
        text = f" {self.test.verdict_text()} ({self.test.evidence()})"
        return text.replace("±", "$\\pm$").replace("<", "$<$") if fmt == "latex" else text

    def render_value(self, fmt: str) -> str:
        """The cell without the mark of its paired test."""
        if self.text is not None:
            return self.text
        if self.stat is not None:
            mean, std = self.stat.mean * 100, self.stat.std * 100
            if fmt == "csv":
                return f"{mean:.2f}"
            body = f"{mean:.2f} ± {std:.2f}" if fmt == "md" else f"{mean:.2f} $\\pm$ {std:.2f}"
            if self.mark == "best":
                return f"**{body}**" if fmt == "md" else f"\\textbf{{{body}}}"
            if self.mark == "second":
                return f"<u>{body}</u>" if fmt == "md" else f"\\underline{{{body}}}"
            return body
        if self.delta is not None:
            if fmt == "csv":
                return f"{self.delta:+.2f}"
            arrow = "↑" if self.delta >= 0 else "↓"
            if fmt == "latex":
                arrow = "$\\uparrow$" if self.delta >= 0 else "$\\downarrow$"
            return f"{arrow}{abs(self.delta):.2f}"
        return MISSING[fmt]


@dataclass
class Table:
    name: str
    title: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)  # the fairness marks' (`flag`), printed after the notes
    experiments: list[str] = field(default_factory=list)
    fill_down: tuple[int, ...] = ()   # columns printed once per group; CSV repeats them on every row
    stat_columns: tuple[int, ...] = ()  # columns of mean ± std (CSV gives each a `std` column)

    def flag(self, cell: Cell, fairness: Fairness, where: str) -> None:
        """Mark ``cell`` with the fairness check of the rows it compares and say what in a note."""
        if fairness.mark:  # a cell flagged twice (two checks on one row) shows the graver mark
            cell.flag = " " + (DIFFERS if DIFFERS in (cell.flag.strip(), fairness.mark) else fairness.mark)
            self.footnotes.append(f"{fairness.mark} {where}: {fairness.note()}.")

    def adjust_tests(self, margin: float, compared: str) -> None:
        """Holm-adjust the table's comparisons as one family (`adjust_family`) and say how they were
        made in a note; ``compared`` says what each comparison compares."""
        cells = [c for row in self.rows for c in row if c.test is not None]
        adjusted = adjust_family(c.test for c in cells)
        for c in cells:
            c.test = adjusted[id(c.test)]
        if cells:
            family = next((c.test.family for c in cells if c.test.tested), 0)
            self.notes.append(comparison_note(margin, family) + " " + compared)

    def render(self, fmt: str) -> str:
        if fmt == "md":
            return self.to_markdown()
        if fmt == "latex":
            return self.to_latex()
        if fmt == "csv":
            return self.to_csv()
        raise InputError(f"--format: expected md, latex or csv, found {fmt!r}")

    def to_markdown(self) -> str:
        lines = [f"**{self.name}: {self.title}**", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(c.render("md").replace("|", "\\|") for c in row) + " |")
        if not self.rows:
            lines.append("| " + " | ".join(MISSING["md"] for _ in self.header) + " |")
        lines += [""] + [f"{n}" for n in self.notes + self.footnotes]
        return "\n".join(lines).rstrip() + "\n"

    def to_latex(self) -> str:
        def esc(text: str) -> str:
            text = text.replace("%", "\\%").replace("_", "\\_").replace("&", "\\&").replace("#", "\\#")
            for k in ("1", "2"):
                text = text.replace(f"Δ{k}", f"$\\Delta_{k}$")
            return text.replace("Δ", "$\\Delta$").replace("—", "--").replace("−", "-")
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{esc(self.title)}}}",
                 f"\\label{{tab:{self.name.lower().replace(' ', '')}}}",
                 "\\begin{tabular}{" + "l" * 2 + "c" * (len(self.header) - 2) + "}", "\\toprule",
                 " & ".join(esc(h) for h in self.header) + " \\\\", "\\midrule"]
        for row in self.rows:
            lines.append(" & ".join(esc(c.render("latex")) if c.stat is None and c.delta is None else c.render("latex")
                                    for c in row) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """Numbers in percent; each mean ± std cell becomes two columns (``X`` and ``X std``)."""
        import csv
        import io

        stat_columns = set(self.stat_columns) | {i for row in self.rows for i, c in enumerate(row) if c.stat is not None}
        header: list[str] = []
        for i, h in enumerate(self.header):
            header.append(h)
            if i in stat_columns:
                header.append(f"{h} std")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        previous: list[Cell] = []
        for row in self.rows:
            out: list[str] = []
            row = [previous[i] if i in self.fill_down and previous and c.text == "" else c for i, c in enumerate(row)]
            previous = row
            for i, c in enumerate(row):
                out.append(c.render("csv"))
                if i in stat_columns:
                    out.append(f"{c.stat.std * 100:.2f}" if c.stat is not None else MISSING["csv"])
            writer.writerow(out)
        return buffer.getvalue()


def write_table(table: Table, out_dir: str | Path, name: str, formats: Iterable[str] = ("md", "latex", "csv")) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{name}.{ {'md': 'md', 'latex': 'tex', 'csv': 'csv'}[fmt] }"
        path.write_text(table.render(fmt))
        written.append(path)
    return written
