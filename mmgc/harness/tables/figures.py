"""The paper's figures (PNG, or SVG for the report), laid out by a `Layout`; each returns a `Figure`
that says how many panels and series it drew."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.harness.board import CostCell
from mmgc.harness.statistics import RankSummary, pareto_front, rank_summary
from mmgc.harness.store import format_bytes
from mmgc.harness.tables.curves import CHECKPOINT_KEY, CONFLICT_KEY, DIRICHLET_KEYS, mean_curve, trial_curves
from mmgc.harness.tables.layout import Layout, relabel
from mmgc.harness.tables.model import Stat, best_config_stat
from mmgc.harness.tables.paper import main_cells, original_stat
from mmgc.harness.tables.rows import (
    ALIGNMENTS, FUSED, Results, alignment_of, dataset_group, feature_rank, features_of, format_ratio, is_original,
    method_config,
    sort_key_ratio,
)


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


class MethodColours:
    """One colour per method in every figure: the layout's columns, in the order they first appear
    (main columns first), take matplotlib's ten default colours by their first label, so that a
    column and its namesakes in other parts of the layout (Table 6's ``w/o D`` and the cross-
    architecture rows' ``SR-GM w/o D``) share one; any other name gets a colour of ``tab20b``
    picked by a hash of the name, the same in every figure and run."""

    def __init__(self, layout: Layout):
        from matplotlib import colormaps

        self._default = [colormaps["tab10"](i) for i in range(10)]
        self._other = [colormaps["tab20b"](i) for i in range(20)]
        self._by_name: dict[str, Any] = {}
        keys: list[str] = []
        parts = (layout.main, layout.cross_rows, layout.backbones, layout.ablation, layout.fig1b, layout.fig2,
                 layout.fig3)
        for column in (c for part in parts for c in part):
            key = column.labels[0]
            if key not in keys:
                keys.append(key)
            colour = self._default[keys.index(key)] if keys.index(key) < len(self._default) else self.of(key)
            for name in (column.name, *column.labels):
                self._by_name.setdefault(name, colour)

    def of(self, name: str):
        """The colour of a column name or a stored label."""
        import zlib

        return self._by_name.get(name) or self._other[zlib.crc32(name.encode()) % len(self._other)]


RATIO_LINESTYLES = ("-", "--", ":", "-.")
"""Figure 2 draws a method's ratios in its one colour, one line style each."""


def _no_rows(res: Results, path: Path, name: str, title: str, methods: Sequence[str]) -> Figure:
    """The figure of an experiment without rows of ``methods``: a page that says so."""
    _empty_figure(path, title, f"no final rows of {', '.join(methods)} in {res.experiments or 'the store'}")
    return Figure(name, path, 0, 0, ["no rows"])


def figure2(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    """Metric against condensation epochs, the layout's fig2 methods, one panel per dataset.

    Two sources, per (dataset, method, ratio): when the experiment ran several values of the config's
    epochs key (the layout's ``fig2.key``; a grid), the **test** metric of each final config (mean ±
    std over its rows); otherwise the condensed graph's checkpoint history (the **validation** metric
    at each checkpoint: the condensation never reads test nodes), mean ± std over the trials. The
    peak is starred."""
    methods = [c.name for c in layout.fig2]
    rows = [r for r in relabel(res.rows, layout.fig2) if r["arch"] == arch and features_of(r) == FUSED]
    groups = sorted({(dataset_group(r), alignment_of(r)) for r in rows})
    title = "Figure 2: metric against condensation epochs"
    if not groups:
        return _no_rows(res, path, "Figure 2", title, methods)
    from matplotlib.ticker import MaxNLocator

    plt, fig, axes = _grid(len(groups))
    colours = MethodColours(layout)
    drawn = 0
    notes = []
    metric = _metric_name(rows).replace("test ", "")
    for ax, (group, alignment) in zip(axes, groups):
        sources = set()
        in_group = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment]
        for label in methods:
            ratios = sorted({r["ratio"] for r in in_group if r["label"] == label}, key=sort_key_ratio)
            for ratio in ratios:
                sel = [r for r in in_group if r["label"] == label and r["ratio"] == ratio]
                by_epochs: dict[Any, list] = defaultdict(list)
                for r in sel:
                    by_epochs[method_config(r).get(layout.fig2_key)].append(r)
                if len(by_epochs) > 1 and None not in by_epochs:
                    stats = sorted((int(e), best_config_stat(g)) for e, g in by_epochs.items())
                    steps = [e for e, st in stats if st]
                    mean = [st.mean * 100 for _, st in stats if st]
                    std = [st.std * 100 for _, st in stats if st]
                    source = "test, final rows per epochs"
                else:
                    curves = [s[CHECKPOINT_KEY] for s in trial_curves(res, sel) if CHECKPOINT_KEY in s]
                    source = "validation"
                    if not curves:
                        notes.append(f"{group} {label} r={format_ratio(ratio)}: no checkpoint history")
                        continue
                    steps, mean, std = mean_curve(curves)
                    mean = [v * 100 for v in mean]
                    std = [v * 100 for v in std]
                    source += f" at checkpoints, {len(curves)} run{'s' * (len(curves) > 1)}"
                sources.add(source.split(",")[0].split(" at")[0])
                line, = ax.plot(steps, mean, marker="o", markersize=3, color=colours.of(label),
                                linestyle=RATIO_LINESTYLES[ratios.index(ratio) % len(RATIO_LINESTYLES)],
                                label=f"{label} r={format_ratio(ratio)} ({source})")
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


def figure3(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    """Bars: each single modality and the fused features, per method of the layout's fig3 (mean ± std
    test metric). A panel is a dataset and ratio with at least one single-modality run."""
    methods = [c.name for c in layout.fig3]
    rows = [r for r in relabel(res.rows, layout.fig3) if r["arch"] == arch]
    panels = sorted({(dataset_group(r), r["ratio"]) for r in rows if features_of(r) != FUSED},
                    key=lambda k: (k[0], sort_key_ratio(k[1])))
    title = "Figure 3: single-modality and fused features"
    if not panels:
        return _no_rows(res, path, "Figure 3", title, methods)
    plt, fig, axes = _grid(len(panels))
    colours = MethodColours(layout)
    bars = 0
    width = 0.8 / len(methods)
    for ax, (group, ratio) in zip(axes, panels):
        features = sorted({features_of(r) for r in rows if dataset_group(r) == group and r["ratio"] == ratio} | {FUSED},
                          key=feature_rank)
        for j, label in enumerate(methods):
            means, stds, xs = [], [], []
            for i, feat in enumerate(features):
                stat = best_config_stat([r for r in rows if dataset_group(r) == group and r["ratio"] == ratio
                                         and r["label"] == label and features_of(r) == feat])
                if stat is None:
                    _na_mark(ax, i + (j - (len(methods) - 1) / 2) * width)
                    continue
                xs.append(i + (j - (len(methods) - 1) / 2) * width)
                means.append(stat.mean * 100)
                stds.append(stat.std * 100)
            if xs:
                ax.bar(xs, means, width, yerr=stds, capsize=3, label=label, color=colours.of(label))
                for x, mean, std in zip(xs, means, stds):  # above the whisker, clear of it
                    ax.text(x, mean + std, f"{mean:.1f}", ha="center", va="bottom", fontsize=7)
                bars += len(xs)
        ax.set_xticks(range(len(features)), [f if f == FUSED else f"{f} only" for f in features])
        ax.set_xlim(-0.5, len(features) - 0.5)  # every feature's slot, drawn or n/a
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


def figure4(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    """Heat map of the proposed method's mean test metric over the layout's fig4 config key (rows) x
    ratio (columns), one panel per dataset."""
    proposed, symbol = layout.proposed, layout.fig4_symbol
    rows = [dict(r, _lambda=method_config(r).get(layout.fig4_key)) for r in relabel(res.rows, [layout.proposed_column])
            if r["arch"] == arch and features_of(r) == FUSED]
    rows = [r for r in rows if isinstance(r["_lambda"], (int, float)) and not isinstance(r["_lambda"], bool)]
    groups = sorted({(dataset_group(r), alignment_of(r)) for r in rows})
    title = f"Figure 4: {proposed} test metric over {symbol} and ratio"
    if not groups:
        _empty_figure(path, title, f"no final {proposed} rows with a {symbol} in {res.experiments or 'the store'}")
        return Figure("Figure 4", path, 0, 0, ["no rows"])
    plt, fig, axes = _grid(len(groups), width=5.2, height=4.2)
    filled = 0
    for ax, (group, alignment) in zip(axes, groups):
        sel = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment]
        lambdas = sorted({r["_lambda"] for r in sel})
        ratios = sorted({r["ratio"] for r in sel}, key=sort_key_ratio)
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
        ax.set_ylabel(layout.fig4_axis)
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


def figure5_gaps(res: Results, layout: Layout, arch: str = "gcn") -> dict[str, dict[str, float]]:
    """Mean gap to Original (points) per main column of the layout and alignment, over the (dataset,
    ratio) cells where both the method and Original have rows."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    rows = [r for r in relabel(res.rows, layout.main) if r["arch"] == arch and features_of(r) == FUSED
            and not is_original(r)]
    for alignment in ALIGNMENTS:
        gaps: dict[str, list[float]] = defaultdict(list)
        sel = [r for r in rows if alignment_of(r) == alignment]
        for group in sorted({dataset_group(r) for r in sel}):
            original = original_stat(res, group, alignment, arch)
            if original is None:
                continue
            cells: dict[tuple, list] = defaultdict(list)
            for r in sel:
                if dataset_group(r) == group:
                    cells[(r["ratio"], r["label"])].append(r)
            for (ratio, label), group_rows in cells.items():
                stat = best_config_stat(group_rows)
                if stat is not None:
                    gaps[label].append((original.mean - stat.mean) * 100)
        for label, values in gaps.items():
            out[label][alignment] = statistics.fmean(values)
    return dict(out)


def figure5(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    gaps = figure5_gaps(res, layout, arch)
    title = "Figure 5: gap to Original, aligned vs unaligned features"
    labels = [c.name for c in layout.main if c.name in gaps]
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


def figure1b(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    """Conflict fraction and Dirichlet energy of the feature-gradient field over condensation epochs,
    per method of the layout's fig1b."""
    methods = [c.name for c in layout.fig1b]
    rows = [r for r in relabel(res.rows, layout.fig1b) if r["arch"] == arch]
    title = "Figure 1b (analogue): gradient conflict and Dirichlet energy during condensation"
    groups = sorted({(dataset_group(r), alignment_of(r), r["ratio"]) for r in rows},
                    key=lambda k: (k[0], k[1], sort_key_ratio(k[2])))
    if not groups:
        return _no_rows(res, path, "Figure 1b", title, methods)
    plt = _plt()
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 3.6 * len(groups)), squeeze=False)
    colours = MethodColours(layout)
    drawn = 0
    notes = []
    for (ax_c, ax_e), (group, alignment, ratio) in zip(axes, groups):
        for label in methods:
            sel = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment
                   and r["ratio"] == ratio and r["label"] == label]
            if not sel:
                continue
            curves = trial_curves(res, sel)
            conflict = [s[CONFLICT_KEY] for s in curves if CONFLICT_KEY in s]
            energy_keys = [k for k in DIRICHLET_KEYS if any(k in s for s in curves)]
            color = colours.of(label)
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


# ---------------------------------------------------------------------------------------- rank summary
def rank_blocks(res: Results, layout: Layout, arch: str = "gcn") -> dict[tuple, dict[str, float]]:
    """The blocks of the rank summary: (dataset group, alignment, ratio) -> main column -> the test
    mean of its config selected on validation (the cells of Tables 2 and 5)."""
    blocks: dict[tuple, dict[str, float]] = {}
    for alignment in ALIGNMENTS:
        cells, _ = main_cells(res, alignment, layout, arch)
        for (group, ratio), by_column in cells.items():
            stats = {c: best_config_stat(rows) for c, rows in by_column.items()}
            blocks[(group, alignment, ratio)] = {c: s.mean for c, s in stats.items() if s is not None}
    return blocks


def figure_ranks(res: Results, path: Path, layout: Layout, arch: str = "gcn") -> Figure:
    """Critical-difference diagram (Demšar 2006) of the layout's main columns over every (dataset,
    alignment, ratio) cell of Tables 2 and 5: mean ranks on an axis (1 = best, left), a bar joining
    methods whose mean ranks differ by less than Nemenyi's CD, with Friedman's test in the notes
    (`mmgc.harness.statistics.rank_summary`). Methods without a result in every cell are left out."""
    blocks = rank_blocks(res, layout, arch)
    columns = [c.name for c in layout.main]
    methods = [m for m in columns if blocks and all(m in block for block in blocks.values())]
    left_out = sorted({m for block in blocks.values() for m in block} - set(methods), key=columns.index)
    title = "Rank summary across datasets and ratios"
    if len(methods) < 2:
        message = (f"needs 2 or more methods with a result in every (dataset, ratio) cell; found {len(blocks)} "
                   f"cells and {', '.join(methods) or 'no method'} in all of them")
        _empty_figure(path, title, message)
        return Figure("Rank summary", path, 0, 0, [message])
    summary = rank_summary(methods, [[block[m] for m in methods] for block in blocks.values()])
    draw_cd_diagram(summary, path, MethodColours(layout),
                    f"{title}: mean rank over {summary.blocks} (dataset, ratio) cells, 1 = best")
    if summary.statistic is None:
        friedman = "Friedman test: not run (it needs 3 or more methods, 2 or more cells, and some differences)"
    else:
        friedman = (f"Friedman χ² = {summary.statistic:.2f} (df {len(methods) - 1}), p = {summary.p:.3g}, over "
                    f"N = {summary.blocks} cells and k = {len(methods)} methods")
    notes = [friedman, f"Nemenyi critical difference at α = {summary.alpha:g}: CD = {summary.cd:.2f} (a bar joins "
             "methods whose mean ranks differ by less than CD: not significantly different; read it only when "
             "Friedman's test rejects)",
             "mean ranks: " + ", ".join(f"{m} {r:.2f}" for r, m in sorted(zip(summary.mean_ranks, methods)))]
    if left_out:
        notes.append(f"left out (no result in every cell): {', '.join(left_out)}")
    return Figure("Rank summary", path, 1, len(methods), notes)


def draw_cd_diagram(summary: RankSummary, path: Path, colours: MethodColours, title: str) -> None:
    """Demšar's critical-difference diagram: the rank axis on top (1 at the left), the CD as a scale
    bar above it, each method hung from its mean rank to its name (the better half to the left, the
    rest to the right) in its colour, and a thick bar under the axis per clique (`RankSummary.cliques`)."""
    plt = _plt()
    k = len(summary.methods)
    order = sorted(range(k), key=lambda i: summary.mean_ranks[i])
    cliques = summary.cliques()
    half = math.ceil(k / 2)
    clique_space = 0.12 * len(cliques)
    depth = 0.35 + clique_space + 0.22 * half
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * k + 2.5), 1.3 + 1.4 * depth))
    ax.set_xlim(0.5 - 0.9, k + 0.5 + 0.9)
    ax.set_ylim(-depth - 0.1, 0.75)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.07, color="black", linewidth=1)
        ax.text(r, 0.11, str(r), ha="center", va="bottom", fontsize=9)
    ax.hlines(0.5, 1, 1 + summary.cd, color="black", linewidth=1.5)
    ax.vlines([1, 1 + summary.cd], 0.46, 0.54, color="black", linewidth=1.5)
    ax.text(1 + summary.cd / 2, 0.57, f"CD = {summary.cd:.2f}", ha="center", va="bottom", fontsize=9)
    for j, members in enumerate(cliques):
        ranks = [summary.mean_ranks[summary.methods.index(m)] for m in members]
        ax.hlines(-0.1 - 0.12 * j, min(ranks) - 0.04, max(ranks) + 0.04, color="0.2", linewidth=4)
    for position, i in enumerate(order):
        name, rank = summary.methods[i], summary.mean_ranks[i]
        left = position < half
        row = position if left else k - 1 - position
        y = -(0.3 + clique_space + 0.22 * row)
        end = 0.5 - 0.3 if left else k + 0.5 + 0.3
        colour = colours.of(name)
        ax.plot([rank, rank, end], [0, y, y], color=colour, linewidth=1.4)
        ax.plot([rank], [0], marker="o", markersize=5, color=colour)
        ax.text(end + (-0.05 if left else 0.05), y, f"{name} ({rank:.2f})", ha="right" if left else "left",
                va="center", fontsize=9, color=colour)
    ax.set_title(title, fontsize=10)
    _save(fig, path)


# ---------------------------------------------------------------------------------------- cost
COST_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""The cost figure's marker of each ratio of a dataset, in ratio order."""


def cost_figure(costs: Sequence[CostCell], path: Path, layout: Layout) -> Figure:
    """Test accuracy against condensation wall seconds and against the bytes of the graph evaluated
    (log x axes), one row of two panels per (dataset and variant, architecture), over the
    validation-selected cells in ``costs``; colour: method (`MethodColours`), marker: ratio. The
    Pareto front of each panel (no other point cheaper and at least as accurate) is ringed and joined.
    Original, which condenses nothing, is a dashed line in the seconds panel and a star at the full
    graph's bytes in the other."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator

    costs = [c for c in costs if c.cell.selection == "val" and c.cell.test is not None]
    panels = sorted({(c.cell.dataset, c.cell.variant, str(c.cell.arch)) for c in costs})
    title = "Accuracy against condensation cost"
    if not panels:
        _empty_figure(path, title, "no validation-selected cell with a result")
        return Figure("Cost", path, 0, 0, ["no rows"])
    plt = _plt()
    colours = MethodColours(layout)
    ratios = sorted({c.cell.ratio for c in costs if not c.cell.is_original}, key=sort_key_ratio)
    methods = sorted({c.cell.method for c in costs if not c.cell.is_original})
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.8 * len(panels)), squeeze=False)
    drawn, notes = 0, []
    axis_formats = (("condensation wall seconds (log)", lambda c: c.condense_seconds, lambda v, _: f"{v:g} s"),
                    ("bytes of the graph evaluated (log)", lambda c: c.condensed_bytes, lambda v, _: format_bytes(v)))
    for row, (dataset, variant, arch) in zip(axes, panels):
        here = [c for c in costs if (c.cell.dataset, c.cell.variant, str(c.cell.arch)) == (dataset, variant, arch)]
        for ax, (axis, cost_of, label_of) in zip(row, axis_formats):
            points = {}
            for c in here:
                accuracy = c.cell.test.mean * 100
                if c.cell.is_original and cost_of(c) is None:
                    ax.axhline(accuracy, color="0.3", linestyle="--", linewidth=1)
                    continue
                if cost_of(c) is None or cost_of(c) <= 0:
                    notes.append(f"{dataset} {c.cell.method} r={format_ratio(c.cell.ratio)}: no {axis.split(' (')[0]}")
                    continue
                points[id(c)] = (cost_of(c), accuracy)
                original = c.cell.is_original
                ax.errorbar([cost_of(c)], [accuracy], yerr=[c.cell.test.std * 100],
                            fmt="*" if original else COST_MARKERS[ratios.index(c.cell.ratio) % len(COST_MARKERS)],
                            color="0.3" if original else colours.of(c.cell.method), markersize=11 if original else 7,
                            capsize=2, elinewidth=0.8)
                drawn += 1
            front = sorted(points[key] for key in pareto_front(points))
            if front:
                ax.step([x for x, _ in front], [y for _, y in front], where="post", color="black", linewidth=0.8,
                        alpha=0.6)
                ax.scatter([x for x, _ in front], [y for _, y in front], s=170, facecolors="none",
                           edgecolors="black", linewidths=1.0, zorder=3)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_locator(LogLocator(subs="auto"))
            ax.xaxis.set_major_formatter(FuncFormatter(label_of))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.set_xlabel(axis)
            ax.set_ylabel(_metric_name([r for c in here for r in c.cell.rows]))
            ax.grid(alpha=0.3, which="major")
            ax.set_title(f"{dataset}" + (f" [{variant}]" if variant else "") + f", {arch}", fontsize=10)
    legend = [Line2D([], [], marker="o", linestyle="none", color=colours.of(m), label=m) for m in methods]
    legend += [Line2D([], [], marker=COST_MARKERS[i % len(COST_MARKERS)], linestyle="none", color="0.45",
                      label=f"r = {format_ratio(r)}") for i, r in enumerate(ratios)]
    legend += [Line2D([], [], marker="*", markersize=11, linestyle="--", color="0.3", label="Original"),
               Line2D([], [], marker="o", markersize=12, linestyle="-", color="black", markerfacecolor="none",
                      linewidth=0.8, label="Pareto front")]
    fig.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    fig.suptitle(f"{title}: test metric (mean ± std over condensation x evaluation seeds) of validation-selected "
                 "cells; ringed: the Pareto front", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return Figure("Cost", path, 2 * len(panels), drawn, notes)
