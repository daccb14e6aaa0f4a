"""The paper's figures (PNG, or SVG for the report), laid out by a `Layout`; each returns a `Figure`
that says how many panels and series it drew."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.harness.tables.curves import CHECKPOINT_KEY, CONFLICT_KEY, DIRICHLET_KEYS, mean_curve, trial_curves
from mmgc.harness.tables.layout import Layout, relabel
from mmgc.harness.tables.model import Stat, best_config_stat
from mmgc.harness.tables.paper import original_stat
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
    drawn = 0
    notes = []
    metric = _metric_name(rows).replace("test ", "")
    for ax, (group, alignment) in zip(axes, groups):
        sources = set()
        in_group = [r for r in rows if dataset_group(r) == group and alignment_of(r) == alignment]
        for label in methods:
            for ratio in sorted({r["ratio"] for r in in_group if r["label"] == label}, key=sort_key_ratio):
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
                ax.bar(xs, means, width, yerr=stds, capsize=3, label=label)
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
