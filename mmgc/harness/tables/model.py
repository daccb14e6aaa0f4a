"""The cell and table model of the paper tables, their statistics (mean ± std, selection of one
config per cell on validation, the paired test behind a mark or a Δ) and the Markdown, LaTeX and CSV
renderers."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mmgc.errors import InputError

MISSING = {"md": "—", "latex": "--", "csv": ""}


@dataclass(frozen=True)
class Stat:
    """Mean and population std of a metric over rows (in metric units; tables print x100)."""

    mean: float
    std: float
    count: int
    val_mean: float | None = None
    config_hash: str | None = None

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]], column: str = "test_metric") -> "Stat | None":
        values = [float(r[column]) for r in rows if r.get(column) is not None and math.isfinite(float(r[column]))]
        if not values:
            return None
        vals = [float(r["val_metric"]) for r in rows if r.get("val_metric") is not None]
        hashes = {r.get("config_hash") for r in rows}
        return cls(statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0, len(values),
                   statistics.fmean(vals) if vals else None, hashes.pop() if len(hashes) == 1 else None)


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


# A difference is "within noise" unless a two-sided paired t-test over the condensation seeds both
# sides share rejects "no difference" at this level.
NOISE_ALPHA = 0.05
NOISE_NOTE = ("≈ = within noise: a two-sided paired t-test over the condensation seeds both sides share (each "
              "seed: the mean over its evaluation seeds; on the original graph, the evaluation seeds) gives "
              f"p ≥ {NOISE_ALPHA:g}, or fewer than 2 seeds are shared; p is that test's.")


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of two cells, ``a - b``, over the condensation seeds both have.

    The unit is the condensation seed: each seed's rows (its evaluation seeds) are averaged first,
    because evaluation seeds retrain on the same condensed graph and are not independent replicates
    (rows of the original graph, which has no condensation seed, pair on the evaluation seed).
    A paired t-test rather than a bootstrap interval or the Wilcoxon signed-rank test: sweeps have 2-5
    seeds, where a bootstrap interval under-covers and Wilcoxon cannot reach p < 0.05 at all."""

    diff: float          # mean paired difference, in metric units
    p: float | None      # two-sided p-value; None when fewer than 2 seeds are shared
    pairs: int

    @property
    def within_noise(self) -> bool:
        return self.p is None or self.p >= NOISE_ALPHA

    def render(self, fmt: str) -> str:
        if fmt == "csv":
            return ""
        approx = "≈" if fmt != "latex" else "$\\approx$"
        if self.p is None:
            return f" {approx} ({self.pairs} seed{'s' * (self.pairs != 1)})"
        p = "p<0.001" if self.p < 0.001 else f"p={self.p:.2g}"
        if fmt == "latex":
            p = f"${p}$"
        return f" {approx + ' ' if self.within_noise else ''}({p})"


def compare(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]],
            column: str = "test_metric") -> Comparison | None:
    """`Comparison` of ``rows_a`` minus ``rows_b`` (the rows of one selected config each); None if either is empty."""
    # the replicate: the condensation seed; rows of the original graph (no condensation) pair on the evaluation seed
    unit = "condense_seed" if any(r.get("condense_seed") is not None for r in (*rows_a, *rows_b)) else "eval_seed"

    def per_seed(rows):
        by_seed: dict[Any, list[float]] = defaultdict(list)
        for r in rows:
            if r.get(column) is not None and math.isfinite(float(r[column])):
                by_seed[r.get(unit)].append(float(r[column]))
        return {seed: statistics.fmean(v) for seed, v in by_seed.items()}

    a, b = per_seed(rows_a), per_seed(rows_b)
    if not a or not b:
        return None
    shared = sorted(set(a) & set(b), key=str)
    diffs = [a[s] - b[s] for s in shared]
    if len(diffs) < 2:
        return Comparison(statistics.fmean(a.values()) - statistics.fmean(b.values()), None, len(diffs))
    if max(diffs) - min(diffs) <= 1e-12:  # no spread: the t statistic is 0/0 or infinite
        return Comparison(diffs[0], 1.0 if abs(diffs[0]) <= 1e-12 else 0.0, len(diffs))
    from scipy import stats

    return Comparison(statistics.fmean(diffs), float(stats.ttest_rel([a[s] for s in shared],
                                                                       [b[s] for s in shared]).pvalue), len(diffs))


def rank_marks(values: Mapping[str, float | None]) -> dict[str, str]:
    """``best`` for the highest mean, ``second`` for the next distinct one (ties share the mark)."""
    present = sorted({round(v, 12) for v in values.values() if v is not None}, reverse=True)
    marks: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if present and round(value, 12) == present[0]:
            marks[key] = "best"
        elif len(present) > 1 and round(value, 12) == present[1]:
            marks[key] = "second"
    return marks


def best_tests(stats: Mapping[str, Stat | None], selected: Mapping[str, Sequence[Mapping[str, Any]]],
               marks: Mapping[str, str]) -> dict[str, Comparison]:
    """The paired test of each 'best' cell against the best of the rest (the runner-up)."""
    out: dict[str, Comparison] = {}
    for key in (k for k, m in marks.items() if m == "best"):
        rest = {k: s.mean for k, s in stats.items() if s is not None and k != key}
        if rest:
            runner_up = max(rest, key=rest.get)
            test = compare(selected[key], selected[runner_up])
            if test is not None:
                out[key] = test
    return out


@dataclass
class Cell:
    """One printed cell: a stat (mean ± std), a signed delta, plain text, or missing."""

    stat: Stat | None = None
    delta: float | None = None  # percentage points
    text: str | None = None
    mark: str | None = None  # 'best' | 'second'
    missing: bool = False
    test: Comparison | None = None  # the paired test behind a Δ or a 'best' mark

    def render(self, fmt: str) -> str:
        return self.render_value(fmt) + (self.test.render(fmt) if self.test is not None else "")

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
    experiments: list[str] = field(default_factory=list)
    fill_down: tuple[int, ...] = ()   # columns printed once per group; CSV repeats them on every row
    stat_columns: tuple[int, ...] = ()  # columns of mean ± std (CSV gives each a `std` column)

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
        lines += [""] + [f"{n}" for n in self.notes]
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
