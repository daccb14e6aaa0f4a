"""The SR-GM paper's tables and figures, rebuilt from the results store (never recomputed).

Every table and figure reads the Parquet results store through DuckDB (`ResultStore`) and, for
curves, the history JSON artifacts that `mmgc.harness.tracking` logs to MLflow (falling back to the
condensed graph file named in the row's ``artifact_path``). Nothing here trains or evaluates.

How rows are selected (the same rules for every table and figure):

- **Experiment**: each table and figure has default experiment names (the YAML ``name`` of its
  ``tune_configs`` file, e.g. ``table2_main`` then ``table2_main_synthetic``: the first one with rows
  is used); ``--experiment E`` (repeatable) replaces them.
- **Phase and status**: reported numbers use ``phase = 'final'`` rows with ``status = 'ok'`` only
  (the search rows of Optuna are for selection, never reported), and only validation-selected ones
  (``selection`` ``val`` or absent; test-selected rows are never ranked with them).
- **Method column**: the label comes from ``method`` and, for SR-GM, from ``method_config`` (JSON):
  ``decouple = false`` -> ``SR-GM w/o D``, ``lambda = 0`` too -> ``SR-GM w/o D+R``, ``lambda = 0``
  with decoupling -> ``SR-GM w/o R``; other methods use their display name (`METHOD_NAMES`).
  When several configs share one label in one cell, the one with the best mean validation metric is
  reported (selection on validation, never on test).
- **Dataset variant**: ``dataset_variant`` is ``key=value`` pairs joined by ``;``. The alignment
  (``alignment=aligned|unaligned``, else the ``encoder``'s: clip and imagebind aligned, t5vit and
  t5dino unaligned, `ENCODER_ALIGNMENT`; absent = aligned) separates Table 2 from Table 5 and the
  two halves of Table 6. The features (``features=...``, else the one modality kept by the
  experiment's ``modalities: [text]`` (variant ``modalities=text``); absent = fused) give Figure 3's
  bars. The grouping key of a row is the dataset name plus the variant without those keys.
- **Architectures**: ``condense_arch`` is the backbone inside condensation, ``arch`` the evaluation
  backbone. Tables 2/5/6 and Figures 2-5 use ``arch = gcn`` (``--arch``); Table 3 uses
  ``condense_arch = gcn`` and one column per ``arch``; Table 4 uses rows with ``arch = condense_arch``.
- **Original**: rows of ``method = 'original'`` in the same experiment, dataset group, alignment and
  evaluation architecture (any ratio).

Numbers are percentages (accuracy or ROC-AUC x 100), mean ± population standard deviation over every
row of the cell (condensation seeds x evaluation seeds), as the leaderboard computes them. A cell
with no rows prints as missing (``—`` in Markdown and LaTeX, empty in CSV), never as zero.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from mmgc.errors import InputError

# ---------------------------------------------------------------------------------------- vocabulary
METHOD_NAMES = {
    "random": "Random", "herding": "Herding", "kcenter": "K-Center", "msgc": "MSGC", "sgdd": "SGDD",
    "gcond": "GCond", "sr_gm": "SR-GM", "original": "Original",
}
MAIN_COLUMNS = ("Random", "Herding", "K-Center", "MSGC", "SGDD", "GCond", "SR-GM")
PROPOSED = "SR-GM"
ABLATION_ROWS = ("SR-GM", "SR-GM w/o D", "SR-GM w/o D+R")
ABLATION_LABELS = {"SR-GM": "SR-GM", "SR-GM w/o D": "w/o D", "SR-GM w/o D+R": "w/o D+R"}
ARCH_NAMES = {"gcn": "GCN", "mlp": "MLP", "mmgcn": "MMGCN", "gat": "GAT", "sage": "SAGE", "sgc": "SGC"}
ARCH_ORDER = ("gcn", "mlp", "mmgcn", "gat", "sage", "sgc")
ALIGNMENTS = ("aligned", "unaligned")
FEATURES = ("text", "image", "fused")

# SR-GM config keys (the method's dataclass fields; `lambda` is a Python keyword, so the field may be
# spelled differently: the first key present is used)
SRGM_LAMBDA_KEYS = ("lam", "lambda_", "lambda", "reg_weight")
SRGM_DECOUPLE_KEY = "decouple"

# history keys (condensed graph info['history']) used by the curves
CHECKPOINT_TEST_KEYS = ("test_metric", "checkpoint_test", "test")
CHECKPOINT_VAL_KEYS = ("val", "val_metric", "checkpoint_val")
CONFLICT_KEYS = ("conflict_frac", "conflict_fraction", "conflict")
DIRICHLET_KEYS = {"dirichlet_G": "E(G)", "dirichlet_Gp": "E(G') decoupled"}

MISSING = {"md": "—", "latex": "--", "csv": ""}
READ_COLUMNS = ("experiment", "phase", "trial_id", "dataset", "dataset_variant", "ratio", "n", "method",
                "method_config", "config_hash", "condense_seed", "condense_arch", "arch", "eval_seed", "metric",
                "val_metric", "test_metric", "status", "mlflow_run_id", "artifact_path", "regularizers")


# ---------------------------------------------------------------------------------------- labels
def method_config(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        config = json.loads(row.get("method_config") or "{}")
    except (TypeError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def srgm_lambda(config: Mapping[str, Any]) -> float | None:
    for key in SRGM_LAMBDA_KEYS:
        if key in config and config[key] is not None:
            return float(config[key])
    return None


def method_label(row: Mapping[str, Any]) -> str:
    """The column label of a row, derived from ``method`` and ``method_config`` (see module doc)."""
    method = str(row.get("method"))
    name = METHOD_NAMES.get(method, method)
    if method == "sr_gm":
        config = method_config(row)
        decouple = bool(config.get(SRGM_DECOUPLE_KEY, True))
        lam = srgm_lambda(config)
        no_r = lam is not None and lam == 0.0
        if not decouple and no_r:
            return "SR-GM w/o D+R"
        if not decouple:
            return "SR-GM w/o D"
        if no_r:
            return "SR-GM w/o R"
    return name


def parse_variant(variant: str | None) -> dict[str, str]:
    """``'alignment=unaligned;features=text'`` -> ``{'alignment': 'unaligned', 'features': 'text'}``."""
    out: dict[str, str] = {}
    for part in (variant or "").split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


# feature encoders and the alignment they give (MM-GRAPH's CLIP and ImageBind embed text and image in
# one joint space; T5 + ViT/DINO are separate encoders)
ENCODER_ALIGNMENT = {"clip": "aligned", "imagebind": "aligned", "t5vit": "unaligned", "t5dino": "unaligned",
                     "synthetic-aligned": "aligned", "synthetic-unaligned": "unaligned"}
# options that make a single-modality variant of a dataset (they do not name another dataset group)
SINGLE_MODALITY_KEYS = ("modality_names", "dims", "signal", "noise", "conflict", "conflict_modality")


def alignment_of(row: Mapping[str, Any]) -> str:
    """``alignment`` of the variant; else the alignment of its ``encoder`` (`ENCODER_ALIGNMENT`);
    else ``aligned`` (every dataset's default variant is aligned)."""
    variant = parse_variant(row.get("dataset_variant"))
    if "alignment" in variant:
        return variant["alignment"]
    return ENCODER_ALIGNMENT.get(variant.get("encoder", ""), "aligned")


def features_of(row: Mapping[str, Any]) -> str:
    """``features`` of the variant; else the one modality kept (``modalities=text``, or a
    single-modality generated variant ``modality_names=text``); else ``fused``."""
    variant = parse_variant(row.get("dataset_variant"))
    if "features" in variant:
        return variant["features"]
    for key in ("modalities", "modality_names"):
        names = [n for n in variant.get(key, "").split(",") if n]
        if len(names) == 1:
            return names[0]
    return "fused"


def dataset_group(row: Mapping[str, Any]) -> str:
    """The dataset name plus the variant keys other than alignment, encoder and features (and, for a
    single-modality variant, the keys that make it single-modality)."""
    variant = parse_variant(row.get("dataset_variant"))
    drop = {"alignment", "encoder", "features", "modalities"}
    if features_of(row) != "fused" and "features" not in variant and "modalities" not in variant:
        drop |= set(SINGLE_MODALITY_KEYS)
    rest = {k: v for k, v in variant.items() if k not in drop}
    return str(row.get("dataset")) + "".join(f" [{k}={v}]" for k, v in sorted(rest.items()))


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio * 100:.4g}%"


# ---------------------------------------------------------------------------------------- statistics
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


def best_config_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows of the config with the best mean validation metric among ``rows`` (one label, one cell)."""
    by_config: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_config[r.get("config_hash")].append(r)
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


# ---------------------------------------------------------------------------------------- the table model
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


# ---------------------------------------------------------------------------------------- reading
@dataclass
class Results:
    """Final ok rows of one or more experiments, read once from the store."""

    rows: list[dict[str, Any]]
    experiments: list[str]
    results_root: str
    mlflow_uri: str | None = None


def load_results(results_root: str, experiments: Sequence[str], mlflow_uri: str | None = None,
                 phase: str = "final") -> Results:
    """The ``phase`` rows with status ok of every experiment in ``experiments`` (read through the
    store's DuckDB view, pruned to each experiment's folder); each row gets its derived ``label``.

    Rows whose protocol selects on test (``selection = 'test'``) are left out: every table ranks and
    compares, and test-selected numbers are never ranked with validation-selected ones (the
    leaderboard and the report show them, marked)."""
    from mmgc.harness.store import ResultStore

    store = ResultStore(results_root)
    if store.local and not Path(store.root).is_dir():
        raise InputError(f"{results_root}: results root not found (expected the folder a sweep wrote; see --results)")
    cols = ", ".join(READ_COLUMNS)
    found: list[dict[str, Any]] = []
    used: list[str] = []
    for experiment in experiments:
        cursor = store.connect(experiment).execute(f"SELECT {cols} FROM results WHERE experiment = ? AND phase = ? AND status = 'ok' "
                                                   "AND coalesce(selection, 'val') = 'val'",
                             [experiment, phase])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        if rows:
            found.extend(rows)
            used.append(experiment)
    for r in found:
        r["label"] = method_label(r)
    return Results(found, used, results_root, mlflow_uri)


def available_experiments(results_root: str) -> list[str]:
    """The experiment names that have final ok rows under ``results_root``."""
    from mmgc.harness.store import ResultStore

    con = ResultStore(results_root).connect()
    return [r[0] for r in con.execute("SELECT DISTINCT experiment FROM results WHERE phase = 'final' AND "
                                      "status = 'ok' ORDER BY 1").fetchall()]


def _first_with_rows(results_root: str, candidates: Sequence[str], mlflow_uri: str | None) -> Results:
    for experiment in candidates:
        res = load_results(results_root, [experiment], mlflow_uri)
        if res.rows:
            return res
    return Results([], [], results_root, mlflow_uri)


def _sort_key_ratio(value: Any) -> float:
    return float(value) if value is not None else math.inf


# ---------------------------------------------------------------------------------------- tables 2 and 5
def _original_stat(res: Results, group: str, alignment: str, arch: str) -> Stat | None:
    rows = [r for r in res.rows if r["method"] == "original" and dataset_group(r) == group
            and alignment_of(r) == alignment and r["arch"] == arch and features_of(r) == "fused"]
    return best_config_stat(rows)


def main_table(res: Results, name: str, title: str, alignment: str, arch: str = "gcn") -> Table:
    """Tables 2 and 5: datasets x ratios, methods as columns, Δ of SR-GM over the best other method."""
    rows = [r for r in res.rows if r["arch"] == arch and alignment_of(r) == alignment and features_of(r) == "fused"
            and r["method"] != "original"]
    labels_found = {r["label"] for r in rows}
    extra = sorted(l for l in labels_found if l not in MAIN_COLUMNS and not l.startswith("SR-GM"))
    columns = [c for c in MAIN_COLUMNS if c != PROPOSED] + extra + [PROPOSED]
    table = Table(name, title, ["Dataset", "Ratio (r)", *columns, "Δ (points)", "Original"], experiments=res.experiments,
                  fill_down=(0, len(columns) + 3), stat_columns=tuple(range(2, len(columns) + 2)) + (len(columns) + 3,))
    cells: dict[tuple[str, float], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(dataset_group(r), r["ratio"])][r["label"]].append(r)
    groups = sorted({g for g, _ in cells})
    for group in groups:
        ratios = sorted({ratio for g, ratio in cells if g == group}, key=_sort_key_ratio)
        original = _original_stat(res, group, alignment, arch)
        for i, ratio in enumerate(ratios):
            selected = {c: best_config_rows(cells[(group, ratio)].get(c, [])) for c in columns}
            stats = {c: Stat.of(selected[c]) for c in columns}
            marks = rank_marks({c: (s.mean if s else None) for c, s in stats.items()})
            tests = best_tests(stats, selected, marks)
            line = [Cell(text=group if i == 0 else ""), Cell(text=format_ratio(ratio))]
            line += [Cell(stat=stats[c], mark=marks.get(c), test=tests.get(c)) for c in columns]
            others = {c: s.mean for c, s in stats.items() if c != PROPOSED and s is not None}
            proposed = stats.get(PROPOSED)
            if proposed and others:
                rival = max(others, key=others.get)
                line.append(Cell(delta=(proposed.mean - others[rival]) * 100,
                                 test=compare(selected[PROPOSED], selected[rival])))
            else:
                line.append(Cell())
            line.append(Cell(stat=original) if i == 0 else Cell(text=""))
            table.rows.append(line)
    metric = sorted({r["metric"] for r in rows if r.get("metric")})
    table.notes.append(f"Test {'/'.join(metric) or 'metric'} (%) of a {ARCH_NAMES.get(arch, arch)} trained on the "
                       f"condensed graph, mean ± std over condensation x evaluation seeds; best **bold**, second "
                       f"<u>underlined</u>; Δ = SR-GM minus the best other method (points); "
                       f"experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.notes.append(NOISE_NOTE + " On a best value: best vs second; on Δ: SR-GM vs the best other method.")
    return table


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


# ---------------------------------------------------------------------------------------- table 3
def cross_arch_table(res: Results, condense_arch: str = "gcn") -> Table:
    rows = [r for r in res.rows if r["method"] != "original" and (r.get("condense_arch") or condense_arch) == condense_arch
            and features_of(r) == "fused"]
    archs_found = {r["arch"] for r in rows}
    archs = [a for a in ARCH_ORDER if a in archs_found or a in ("gcn", "mlp", "mmgcn", "gat", "sage")]
    archs += sorted(a for a in archs_found if a not in archs)
    header = ["Dataset", "Ratio (r)", "Method", *[ARCH_NAMES.get(a, a) for a in archs], "Avg."]
    table = Table("Table 3", f"Cross-architecture generalisation: condensed with {ARCH_NAMES.get(condense_arch, condense_arch)}, "
                  "evaluated with each architecture (test %)", header, experiments=res.experiments)
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        group = dataset_group(r) + ("" if alignment_of(r) == "aligned" else " (unaligned)")
        cells[(group, r["ratio"], r["label"])][r["arch"]].append(r)
    cells = {k: v for k, v in cells.items() if len(v) > 1}  # methods evaluated with one backbone only: not here
    table.fill_down = (0, 1)
    table.stat_columns = tuple(range(3, 3 + len(archs)))
    order = {l: i for i, l in enumerate((*MAIN_COLUMNS, *ABLATION_ROWS))}
    previous = None
    for key in sorted(cells, key=lambda k: (k[0], _sort_key_ratio(k[1]), order.get(k[2], 99), k[2])):
        group, ratio, label = key
        stats = [best_config_stat(cells[key].get(a, [])) for a in archs]
        avg = statistics.fmean(s.mean for s in stats) if all(stats) else None
        new_group, first = previous is None or group != previous[0], (group, ratio) != previous
        previous = (group, ratio)
        line = [Cell(text=group if new_group else ""), Cell(text=format_ratio(ratio) if first else ""), Cell(text=label)]
        line += [Cell(stat=s) for s in stats]
        line.append(Cell(text=f"{avg * 100:.2f}") if avg is not None else Cell())
        table.rows.append(line)
    table.notes.append("Avg. = mean of the architectures' means (missing when any architecture is missing); "
                       f"experiment(s): {', '.join(res.experiments) or 'none found'}.")
    return table


# ---------------------------------------------------------------------------------------- table 4
def backbone_table(res: Results, methods: Sequence[str] = ("SR-GM", "GCond")) -> Table:
    rows = [r for r in res.rows if r.get("condense_arch") == r["arch"] or r["method"] == "original"]
    rows = [r for r in rows if features_of(r) == "fused" and alignment_of(r) == "aligned"]
    groups = sorted({dataset_group(r) for r in rows})
    header = (["Dataset"] if len(groups) > 1 else []) + ["Backbone", "Ratio (r)", *methods, "Original"]
    title = "Same backbone for condensation and evaluation (test %)" + (f" on {groups[0]}" if len(groups) == 1 else "")
    lead = 1 if len(groups) > 1 else 0
    table = Table("Table 4", title, header, experiments=res.experiments,
                  fill_down=(*range(lead + 1), lead + 2 + len(methods)),
                  stat_columns=(*range(lead + 2, lead + 2 + len(methods)), lead + 2 + len(methods)))
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["method"] != "original":
            cells[(dataset_group(r), r["condense_arch"], r["ratio"])][r["label"]].append(r)
    arch_rank = {a: i for i, a in enumerate(ARCH_ORDER)}
    previous = None
    for key in sorted(cells, key=lambda k: (k[0], arch_rank.get(k[1], 99), str(k[1]), _sort_key_ratio(k[2]))):
        group, backbone, ratio = key
        selected = {m: best_config_rows(cells[key].get(m, [])) for m in methods}
        stats = {m: Stat.of(selected[m]) for m in methods}
        marks = rank_marks({m: (s.mean if s else None) for m, s in stats.items()})
        tests = best_tests(stats, selected, marks)
        first = (group, backbone) != previous
        previous = (group, backbone)
        original = best_config_stat([r for r in rows if r["method"] == "original" and dataset_group(r) == group
                                     and r["arch"] == backbone])
        line = ([Cell(text=group if first else "")] if len(groups) > 1 else [])
        line += [Cell(text=ARCH_NAMES.get(backbone, backbone) if first else ""), Cell(text=format_ratio(ratio))]
        line += [Cell(stat=stats[m], mark=marks.get(m) if marks.get(m) == "best" else None, test=tests.get(m))
                 for m in methods]
        line.append(Cell(stat=original) if first else Cell(text=""))
        table.rows.append(line)
    table.notes.append("Rows with condense_arch = arch; Original trains the same backbone on the full graph; best "
                       f"**bold**; experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.notes.append(NOISE_NOTE + " On a best value: best vs the other method.")
    return table


# ---------------------------------------------------------------------------------------- table 6
def ablation_table(res: Results, arch: str = "gcn") -> Table:
    rows = [r for r in res.rows if r["arch"] == arch and r["label"] in ABLATION_ROWS and features_of(r) == "fused"]
    header = ["Dataset", "Ratio (r)", "Method", "Aligned", "Unaligned", "Aligned increments", "Unaligned increments"]
    table = Table("Table 6", "SR-GM ablation: D = gradient decoupling, R = structural regularisation (test %)",
                  header, experiments=res.experiments, fill_down=(0, 1), stat_columns=(3, 4))
    cells: dict[tuple, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(dataset_group(r), r["ratio"])][(r["label"], alignment_of(r))].append(r)
    for key in sorted(cells, key=lambda k: (k[0], _sort_key_ratio(k[1]))):
        group, ratio = key
        selected = {(l, a): best_config_rows(cells[key].get((l, a), [])) for l in ABLATION_ROWS for a in ALIGNMENTS}
        stats = {k: Stat.of(v) for k, v in selected.items()}
        for i, label in enumerate(ABLATION_ROWS):
            line = [Cell(text=group if i == 0 else ""), Cell(text=format_ratio(ratio) if i == 0 else ""),
                    Cell(text=ABLATION_LABELS[label])]
            line += [Cell(stat=stats[(label, a)]) for a in ALIGNMENTS]
            for a in ALIGNMENTS:
                if i == 0:
                    line.append(Cell(text="-"))
                    continue
                upper, lower = stats[(ABLATION_ROWS[i - 1], a)], stats[(label, a)]
                if upper is None or lower is None:
                    line.append(Cell())
                else:
                    delta = (upper.mean - lower.mean) * 100
                    line.append(Cell(text=f"Δ{i}: {delta:+.2f}",
                                     test=compare(selected[(ABLATION_ROWS[i - 1], a)], selected[(label, a)])))
            table.rows.append(line)
    table.notes.append("Δ1 = SR-GM − (SR-GM w/o D); Δ2 = (SR-GM w/o D) − (SR-GM w/o D+R), in points of the means; "
                       f"experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.notes.append(NOISE_NOTE)
    return table


def ablation_deltas(table: Table) -> list[dict[str, Any]]:
    """The Δ cells of a Table 6 as numbers (for checks): dataset, ratio, which, alignment, value."""
    out = []
    group = ratio = None
    for row in table.rows:
        if row[0].text:
            group = row[0].text
        if row[1].text:
            ratio = row[1].text
        for offset, alignment in ((5, "aligned"), (6, "unaligned")):
            text = row[offset].text or ""
            if text.startswith("Δ"):
                which, value = text.split(":")
                out.append({"dataset": group, "ratio": ratio, "which": which, "alignment": alignment,
                            "value": float(value)})
    return out


# ---------------------------------------------------------------------------------------- curves
def history_of(res: Results, row: Mapping[str, Any]) -> Any | None:
    """The condensation history of a row's trial: MLflow's history artifact, else the condensed file."""
    from mmgc.harness import tracking

    run_id = row.get("mlflow_run_id")
    uri = res.mlflow_uri or tracking.default_uri(res.results_root)
    if run_id:
        found_uri, run = tracking.find_run(run_id, [uri])
        if run is not None:
            history = tracking.load_history(found_uri, run_id)
            if history is not None:
                return history
    path = row.get("artifact_path")
    if path and Path(path).is_file():
        from mmgc.graph import CondensedGraph

        return CondensedGraph.load(path).info.get("history")
    return None


def _pick_key(series: Mapping[str, Any], preferred: Sequence[str]) -> str | None:
    """The first of ``preferred`` (exact history keys) that ``series`` has."""
    return next((key for key in preferred if key in series), None)


def trial_curves(res: Results, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, list[tuple[int, float]]]]:
    """One history (as series) per distinct trial among ``rows``."""
    from mmgc.harness.tracking import history_series

    seen: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        seen.setdefault(str(r.get("trial_id")), r)
    out = []
    for r in seen.values():
        history = history_of(res, r)
        if history is not None:
            out.append(history_series(history))
    return out


def mean_curve(curves: Sequence[Sequence[tuple[int, float]]]) -> tuple[list[int], list[float], list[float]]:
    by_step: dict[int, list[float]] = defaultdict(list)
    for curve in curves:
        for step, value in curve:
            by_step[step].append(value)
    steps = sorted(by_step)
    return (steps, [statistics.fmean(by_step[s]) for s in steps],
            [statistics.pstdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps])


# ---------------------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _empty_figure(path: Path, title: str, message: str) -> Path:
    import textwrap

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(message, 70), ha="center", va="center", fontsize=9)
    ax.set_title(textwrap.fill(title, 60), fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _save(fig, path: Path) -> None:
    """Save with the bounding box grown to hold legends and titles placed outside the axes."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)


def _na_mark(ax, x: float) -> None:
    """An ``n/a`` label for a missing bar, inside the axes just above the baseline (clear of the tick labels)."""
    ax.text(x, 0.03, "n/a", ha="center", va="bottom", fontsize=7, color="0.35", transform=ax.get_xaxis_transform())


def _grid(count: int, width: float = 4.8, height: float = 3.6):
    plt = _plt()
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(width * cols, 7.0), height * rows), squeeze=False)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat)


def _metric_name(rows: Sequence[Mapping[str, Any]]) -> str:
    metrics = sorted({r["metric"] for r in rows if r.get("metric")})
    return {"accuracy": "test accuracy (%)", "roc_auc": "test ROC-AUC (%)"}.get(metrics[0], "test metric (%)") \
        if len(metrics) == 1 else "test metric (%)"


@dataclass
class Figure:
    name: str
    path: Path
    panels: int
    series: int
    notes: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)


def figure2(res: Results, path: Path, arch: str = "gcn", methods: Sequence[str] = ("GCond", "SR-GM")) -> Figure:
    """Metric against condensation epochs, SR-GM vs GCond, one panel per dataset.

    Two sources, per (dataset, method, ratio): when the experiment ran several values of the config's
    ``epochs`` (a grid), the **test** metric of each final config (mean ± std over its rows); otherwise
    the condensed graph's checkpoint history (the **validation** metric at each checkpoint: the
    condensation never reads test nodes), mean ± std over the trials. The peak is starred."""
    rows = [r for r in res.rows if r["label"] in methods and r["arch"] == arch and features_of(r) == "fused"]
    groups = sorted({(dataset_group(r), alignment_of(r)) for r in rows})
    title = "Figure 2: metric against condensation epochs"
    if not groups:
        _empty_figure(path, title, f"no final rows of {', '.join(methods)} in {res.experiments or 'the store'}")
        return Figure("Figure 2", path, 0, 0, ["no rows"])
    from matplotlib.ticker import MaxNLocator

    plt, fig, axes = _grid(len(groups))
    drawn = 0
    notes = []
    metric = _metric_name(rows).replace("test ", "")
    for ax, (group, alignment) in zip(axes, groups):
        sources = set()
        in_group = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment]
        for label in methods:
            for ratio in sorted({r["ratio"] for r in in_group if r["label"] == label}, key=_sort_key_ratio):
                sel = [r for r in in_group if r["label"] == label and r["ratio"] == ratio]
                by_epochs: dict[Any, list] = defaultdict(list)
                for r in sel:
                    by_epochs[method_config(r).get("epochs")].append(r)
                if len(by_epochs) > 1 and None not in by_epochs:
                    stats = sorted((int(e), best_config_stat(g)) for e, g in by_epochs.items())
                    steps = [e for e, st in stats if st]
                    mean = [st.mean * 100 for _, st in stats if st]
                    std = [st.std * 100 for _, st in stats if st]
                    source = "test, final rows per epochs"
                else:
                    curves = []
                    for series in trial_curves(res, sel):
                        key = _pick_key(series, CHECKPOINT_TEST_KEYS) or _pick_key(series, CHECKPOINT_VAL_KEYS)
                        if key:
                            curves.append(series[key])
                            source = "test" if key in CHECKPOINT_TEST_KEYS else "validation"
                    if not curves:
                        notes.append(f"{group} {label} r={format_ratio(ratio)}: no checkpoint history")
                        continue
                    steps, mean, std = mean_curve(curves)
                    mean = [v * 100 for v in mean]
                    std = [v * 100 for v in std]
                    source += f" at checkpoints, {len(curves)} run{'s' * (len(curves) > 1)}"
                sources.add(source.split(",")[0].split(" at")[0])
                line, = ax.plot(steps, mean, marker="o", markersize=3, label=f"{label} r={format_ratio(ratio)} ({source})")
                ax.fill_between(steps, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)],
                                alpha=0.15, color=line.get_color())
                peak = max(range(len(mean)), key=lambda i: mean[i])
                ax.plot([steps[peak]], [mean[peak]], marker="*", markersize=12, color=line.get_color())
                drawn += 1
        ax.set_title(group + ("" if alignment == "aligned" else " (unaligned)"), fontsize=10)
        ax.set_xlabel("condensation epochs")
        ax.set_ylabel(f"{' / '.join(sorted(sources)) or 'test'} {metric}")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, frameon=False)
        else:
            ax.text(0.5, 0.5, "no checkpoint history recorded", ha="center", va="center", transform=ax.transAxes)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    fig.suptitle(title + " (line: mean; band: ± std over runs, where there are several; ★ = peak)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Figure 2", path, len(groups), drawn, notes)


def figure3(res: Results, path: Path, arch: str = "gcn", methods: Sequence[str] = ("GCond", "SR-GM")) -> Figure:
    """Bars: text-only, image-only and fused features, per method (mean ± std test metric)."""
    plt = _plt()
    rows = [r for r in res.rows if r["label"] in methods and r["arch"] == arch]
    panels = sorted({(dataset_group(r), r["ratio"]) for r in rows}, key=lambda k: (k[0], _sort_key_ratio(k[1])))
    title = "Figure 3: text-only, image-only and fused features"
    if not panels:
        _empty_figure(path, title, f"no final rows of {', '.join(methods)} in {res.experiments or 'the store'}")
        return Figure("Figure 3", path, 0, 0, ["no rows"])
    plt, fig, axes = _grid(len(panels))
    bars = 0
    width = 0.8 / len(methods)
    for ax, (group, ratio) in zip(axes, panels):
        for j, label in enumerate(methods):
            means, stds, xs = [], [], []
            for i, feat in enumerate(FEATURES):
                stat = best_config_stat([r for r in rows if dataset_group(r) == group and r["ratio"] == ratio
                                         and r["label"] == label and features_of(r) == feat])
                if stat is None:
                    _na_mark(ax, i + (j - (len(methods) - 1) / 2) * width)
                    continue
                xs.append(i + (j - (len(methods) - 1) / 2) * width)
                means.append(stat.mean * 100)
                stds.append(stat.std * 100)
            if xs:
                ax.bar(xs, means, width, yerr=stds, capsize=3, label=label)
                for x, mean, std in zip(xs, means, stds):  # above the whisker, clear of it
                    ax.text(x, mean + std, f"{mean:.1f}", ha="center", va="bottom", fontsize=7)
                bars += len(xs)
        ax.set_xticks(range(len(FEATURES)), ["text only", "image only", "fused"])
        ax.set_xlim(-0.5, len(FEATURES) - 0.5)  # every feature's slot, drawn or n/a
        ax.set_ylim(0, ax.get_ylim()[1] * 1.1)  # room for the labels above the whiskers
        ax.set_xlabel("input features")
        ax.set_ylabel(_metric_name(rows))
        ax.set_title(f"{group}, r = {format_ratio(ratio)}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title + " (bar: mean; whisker: ± std; n/a: not run)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Figure 3", path, len(panels), bars)


def figure4(res: Results, path: Path, arch: str = "gcn") -> Figure:
    """Heat map of SR-GM's mean test metric over lambda (rows) x ratio (columns), one panel per dataset."""
    rows = [r for r in res.rows if r["method"] == "sr_gm" and r["label"] in ("SR-GM", "SR-GM w/o R")
            and r["arch"] == arch and features_of(r) == "fused"]
    rows = [dict(r, _lambda=srgm_lambda(method_config(r))) for r in rows]
    rows = [r for r in rows if r["_lambda"] is not None]
    groups = sorted({(dataset_group(r), alignment_of(r)) for r in rows})
    title = "Figure 4: SR-GM test metric over λ and ratio"
    if not groups:
        _empty_figure(path, title, f"no final SR-GM rows with a λ in {res.experiments or 'the store'}")
        return Figure("Figure 4", path, 0, 0, ["no rows"])
    plt, fig, axes = _grid(len(groups), width=5.2, height=4.2)
    filled = 0
    for ax, (group, alignment) in zip(axes, groups):
        sel = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment]
        lambdas = sorted({r["_lambda"] for r in sel})
        ratios = sorted({r["ratio"] for r in sel}, key=_sort_key_ratio)
        grid = [[math.nan] * len(ratios) for _ in lambdas]
        for i, lam in enumerate(lambdas):
            for j, ratio in enumerate(ratios):
                stat = Stat.of([r for r in sel if r["_lambda"] == lam and r["ratio"] == ratio])
                if stat is not None:
                    grid[i][j] = stat.mean * 100
                    filled += 1
        import numpy as np

        data = np.ma.masked_invalid(np.array(grid, dtype=float))
        vmin, vmax = _colour_range(data.compressed())
        image = ax.imshow(data, cmap="Blues", aspect="auto", origin="lower", vmin=vmin, vmax=vmax)
        for i in range(len(lambdas)):
            for j in range(len(ratios)):
                value = grid[i][j]
                dark = not math.isnan(value) and (value - vmin) / (vmax - vmin) > 0.6
                ax.text(j, i, "n/a" if math.isnan(value) else f"{value:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_xticks(range(len(ratios)), [format_ratio(r) for r in ratios])
        ax.set_yticks(range(len(lambdas)), [f"{l:g}" for l in lambdas])
        ax.set_xlabel("condensation ratio r")
        ax.set_ylabel("regularisation weight λ")
        ax.set_title(group + ("" if alignment == "aligned" else " (unaligned)"), fontsize=10)
        fig.colorbar(image, ax=ax, label=_metric_name(sel))
    fig.suptitle(title + f" (darker = higher; the colour scale spans at least {FIG4_MIN_SPAN:g} points)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Figure 4", path, len(groups), filled)


# Figure 4's colour scale spans at least this many points, so that a gap within seed noise does not
# show as white against navy.
FIG4_MIN_SPAN = 5.0


def _colour_range(values) -> tuple[float, float]:
    """``(vmin, vmax)`` of a heat map: the values' range, widened about its middle to `FIG4_MIN_SPAN`."""
    if len(values) == 0:
        return 0.0, 1.0
    low, high = float(min(values)), float(max(values))
    if high - low < FIG4_MIN_SPAN:
        middle = (low + high) / 2
        low, high = middle - FIG4_MIN_SPAN / 2, middle + FIG4_MIN_SPAN / 2
    return low, high


def figure5_gaps(res: Results, arch: str = "gcn") -> dict[str, dict[str, float]]:
    """Mean gap to Original (points) per method label and alignment, over the (dataset, ratio) cells
    where both the method and Original have rows."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    rows = [r for r in res.rows if r["arch"] == arch and features_of(r) == "fused"]
    for alignment in ALIGNMENTS:
        gaps: dict[str, list[float]] = defaultdict(list)
        sel = [r for r in rows if alignment_of(r) == alignment]
        for group in sorted({dataset_group(r) for r in sel}):
            original = _original_stat(res, group, alignment, arch)
            if original is None:
                continue
            cells: dict[tuple, list] = defaultdict(list)
            for r in sel:
                if dataset_group(r) == group and r["method"] != "original" and r["label"] in MAIN_COLUMNS:
                    cells[(r["ratio"], r["label"])].append(r)
            for (ratio, label), group_rows in cells.items():
                stat = best_config_stat(group_rows)
                if stat is not None:
                    gaps[label].append((original.mean - stat.mean) * 100)
        for label, values in gaps.items():
            out[label][alignment] = statistics.fmean(values)
    return dict(out)


def figure5(res: Results, path: Path, arch: str = "gcn") -> Figure:
    gaps = figure5_gaps(res, arch)
    title = "Figure 5: gap to Original, aligned vs unaligned features"
    labels = [l for l in MAIN_COLUMNS if l in gaps] + sorted(l for l in gaps if l not in MAIN_COLUMNS)
    if not labels:
        _empty_figure(path, title, f"no method with an Original to compare in {res.experiments or 'the store'}")
        return Figure("Figure 5", path, 0, 0, ["no rows"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(labels) + 3), 4.2))
    width = 0.38
    bars = 0
    for k, alignment in enumerate(ALIGNMENTS):
        xs = [i + (k - 0.5) * width for i, l in enumerate(labels) if alignment in gaps[l]]
        ys = [gaps[l][alignment] for l in labels if alignment in gaps[l]]
        if xs:
            container = ax.bar(xs, ys, width, label=alignment)
            ax.bar_label(container, fmt="%.1f", fontsize=7, padding=2)
            bars += len(xs)
        for i, l in enumerate(labels):
            if alignment not in gaps[l]:
                _na_mark(ax, i + (k - 0.5) * width)
    ax.axhline(0, color="black", linewidth=0.8)
    values = [v for g in gaps.values() for v in g.values()]
    low, high = min(0.0, *values), max(0.0, *values)
    pad = 0.15 * (high - low or 1.0)  # room for the bar labels on either side of the bars
    ax.set_ylim(low - pad, high + pad)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("method")
    ax.set_ylabel("Original − method, test metric (points)")
    ax.set_title(title + "\n(mean over datasets and ratios; lower is better)", fontsize=10)
    ax.legend(title="features", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Figure 5", path, 1, bars)


def figure1b(res: Results, path: Path, arch: str = "gcn",
             methods: Sequence[str] = ("GCond", "SR-GM", "SR-GM w/o D", "SR-GM w/o D+R")) -> Figure:
    """Conflict fraction and Dirichlet energy of the feature-gradient field over condensation epochs."""
    rows = [r for r in res.rows if r["label"] in methods and r["arch"] == arch]
    title = "Figure 1b (analogue): gradient conflict and Dirichlet energy during condensation"
    groups = sorted({(dataset_group(r), alignment_of(r), r["ratio"]) for r in rows},
                    key=lambda k: (k[0], k[1], _sort_key_ratio(k[2])))
    if not groups:
        _empty_figure(path, title, f"no final rows of {', '.join(methods)} in {res.experiments or 'the store'}")
        return Figure("Figure 1b", path, 0, 0, ["no rows"])
    plt = _plt()
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 3.6 * len(groups)), squeeze=False)
    drawn = 0
    notes = []
    for (ax_c, ax_e), (group, alignment, ratio) in zip(axes, groups):
        for label in methods:
            sel = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment
                   and r["ratio"] == ratio and r["label"] == label]
            if not sel:
                continue
            curves = trial_curves(res, sel)
            conflict = [s[k] for s in curves if (k := _pick_key(s, CONFLICT_KEYS))]
            energy_keys = [k for k in DIRICHLET_KEYS if any(k in s for s in curves)]
            color = f"C{methods.index(label)}"
            if conflict:
                steps, mean, _ = mean_curve(conflict)
                ax_c.plot(steps, mean, label=f"{label} ({len(conflict)} run{'s' * (len(conflict) > 1)})", color=color,
                          marker=FIG1B_MARKERS[methods.index(label) % len(FIG1B_MARKERS)], markersize=4)
                drawn += 1
            for k in energy_keys:
                steps, mean, _ = mean_curve([s[k] for s in curves if k in s])
                first = k == energy_keys[0]
                # the dashed curve is drawn over the solid one, thinner, with hollow markers: where the two
                # energies coincide (no decoupling) both stay visible
                ax_e.plot(steps, mean, label=f"{label}: {DIRICHLET_KEYS[k]}", color=color,
                          linestyle="-" if first else "--", linewidth=2.2 if first else 1.2, zorder=2 if first else 3,
                          marker="o" if first else "s", markersize=4, markerfacecolor=color if first else "none")
                drawn += 1
            if not conflict and not energy_keys:
                notes.append(f"{group} {label}: no diagnostics in its history")
        where = group + ("" if alignment == "aligned" else " (unaligned)") + f", r = {format_ratio(ratio)}"
        ax_c.set_title(f"{where}: conflicting nodes", fontsize=10)
        ax_c.set_xlabel("condensation epoch")
        ax_c.set_ylabel("conflicting nodes (fraction)")
        ax_e.set_title(f"{where}: Dirichlet energy", fontsize=10)
        ax_e.set_xlabel("condensation epoch")
        ax_e.set_ylabel("tr(GᵀLG) of the gradients, log scale")
        ax_e.set_yscale("log")
        for ax in (ax_c, ax_e):
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
            else:
                ax.text(0.5, 0.5, "no diagnostics recorded", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Figure 1b", path, 2 * len(groups), drawn, notes)


FIG1B_MARKERS = ("o", "s", "^", "D", "v", "P")


# ---------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Artifact:
    """A table or figure: its CLI name, default experiments, and how to build it."""

    name: str
    kind: str  # 'table' | 'figure'
    experiments: tuple[str, ...]
    build: Callable[..., Any]
    description: str


def _syn(*names: str) -> tuple[str, ...]:
    return tuple(n for name in names for n in (name, f"{name}_synthetic"))


ARTIFACTS: dict[str, Artifact] = {
    "table2": Artifact("table2", "table", _syn("table2_main"),
                       lambda res, arch="gcn", **_: main_table(res, "Table 2", "Main results, aligned features (test %)",
                                                               "aligned", arch),
                       "datasets x ratios, every method, Δ of SR-GM, Original (aligned features)"),
    "table3": Artifact("table3", "table", _syn("table3_cross_arch"), lambda res, **_: cross_arch_table(res),
                       "condensed with GCN, evaluated with GCN, MLP, MMGCN, GAT, SAGE, average"),
    "table4": Artifact("table4", "table", _syn("table4_backbones"), lambda res, **_: backbone_table(res),
                       "same backbone for condensation and evaluation: SR-GM vs GCond vs Original"),
    "table5": Artifact("table5", "table", _syn("table5_unaligned"),
                       lambda res, arch="gcn", **_: main_table(res, "Table 5", "Main results, unaligned features (test %)",
                                                               "unaligned", arch),
                       "as Table 2 on unaligned features"),
    "table6": Artifact("table6", "table", _syn("table6_ablation"), lambda res, arch="gcn", **_: ablation_table(res, arch),
                       "SR-GM, w/o D, w/o D+R with Δ1/Δ2, aligned and unaligned side by side"),
    "fig1b": Artifact("fig1b", "figure", _syn("fig2_convergence", "table6_ablation"),
                      lambda res, path, arch="gcn", **_: figure1b(res, path, arch),
                      "conflict fraction and Dirichlet energy over condensation epochs"),
    "fig2": Artifact("fig2", "figure", _syn("fig2_convergence"), lambda res, path, arch="gcn", **_: figure2(res, path, arch),
                     "test metric at condensation checkpoints, SR-GM vs GCond"),
    "fig3": Artifact("fig3", "figure", _syn("fig3_modalities"), lambda res, path, arch="gcn", **_: figure3(res, path, arch),
                     "text-only / image-only / fused features, GCond vs SR-GM"),
    "fig4": Artifact("fig4", "figure", _syn("fig4_lambda_ratio"), lambda res, path, arch="gcn", **_: figure4(res, path, arch),
                     "heat map of SR-GM over λ x ratio"),
    "fig5": Artifact("fig5", "figure", _syn("table2_main", "table5_unaligned"),
                     lambda res, path, arch="gcn", **_: figure5(res, path, arch),
                     "gap to Original per method, aligned vs unaligned"),
    "regularizers": Artifact("regularizers", "table", ("regularizers", "regularizers_synthetic"),
                             lambda res, **_: _regularizers_table(res),
                             "none / OptiMAG / DAGR per dataset, architecture and training graph (original or condensed)"),
}


def _regularizers_table(res: Results) -> Table:
    from mmgc.harness.regularizer_tables import regularizers_table

    return regularizers_table(res)


# Figure 5 combines the aligned and the unaligned experiments; every other artifact reads the first
# of its default experiments that has rows.
COMBINE_DEFAULTS = {"fig5": (("table2_main", "table2_main_synthetic"), ("table5_unaligned", "table5_unaligned_synthetic"))}


def resolve_results(name: str, results_root: str, experiments: Sequence[str] | None,
                    mlflow_uri: str | None = None) -> Results:
    """The rows an artifact reads: the given experiments (all of them), or its defaults."""
    if experiments:
        return load_results(results_root, list(experiments), mlflow_uri)
    if name in COMBINE_DEFAULTS:
        parts = [_first_with_rows(results_root, group, mlflow_uri) for group in COMBINE_DEFAULTS[name]]
        return Results([r for p in parts for r in p.rows], [e for p in parts for e in p.experiments],
                       results_root, mlflow_uri)
    return _first_with_rows(results_root, ARTIFACTS[name].experiments, mlflow_uri)


def build(name: str, results_root: str, experiments: Sequence[str] | None = None, out_dir: str | Path | None = None,
          mlflow_uri: str | None = None, arch: str = "gcn") -> Table | Figure:
    """Build one table (returned) or figure (written as ``<out_dir>/<name>.png``)."""
    if name not in ARTIFACTS:
        raise InputError(f"unknown table or figure {name!r}; expected one of {list(ARTIFACTS)} or 'all'")
    artifact = ARTIFACTS[name]
    res = resolve_results(name, results_root, experiments, mlflow_uri)
    if artifact.kind == "table":
        built = artifact.build(res, arch=arch)
    else:
        out = Path(out_dir or Path(results_root) / "tables")
        out.mkdir(parents=True, exist_ok=True)
        built = artifact.build(res, out / f"{name}.png", arch=arch)
    built.experiments = list(res.experiments)
    return built


def write_table(table: Table, out_dir: str | Path, name: str, formats: Iterable[str] = ("md", "latex", "csv")) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{name}.{ {'md': 'md', 'latex': 'tex', 'csv': 'csv'}[fmt] }"
        path.write_text(table.render(fmt))
        written.append(path)
    return written
