"""The artifact registry: every table and figure by its CLI name, its default experiments, and how
to build it from the rows it reads and a `Layout`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from mmgc.errors import InputError
from mmgc.harness.statistics import DEFAULT_MARGIN
from mmgc.harness.tables.figures import Figure, figure1b, figure2, figure3, figure4, figure5, figure_ranks
from mmgc.harness.tables.layout import Layout, load_layout
from mmgc.harness.tables.model import Table
from mmgc.harness.tables.paper import ablation_table, backbone_table, cross_arch_table, main_table
from mmgc.harness.tables.regularizers import regularizers_table
from mmgc.harness.tables.rows import Results, first_with_rows, load_results


@dataclass(frozen=True)
class Artifact:
    """A table or figure: its CLI name, default experiments, and how to build it.

    ``build(res, layout=..., arch=..., margin=...)`` for a table (``margin``: the equivalence margin of
    its comparisons, metric units), ``build(res, path, layout=..., arch=...)`` for a figure."""

    name: str
    kind: str  # 'table' | 'figure'
    experiments: tuple[str, ...]
    build: Callable[..., Any]
    description: str


def _syn(*names: str) -> tuple[str, ...]:
    return tuple(n for name in names for n in (name, f"{name}_synthetic"))


def _figure(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    return lambda res, path, layout, arch="gcn", **_: draw(res, path, layout, arch)


ARTIFACTS: dict[str, Artifact] = {
    "table2": Artifact("table2", "table", _syn("table2_main"),
                       lambda res, layout, arch="gcn", margin=DEFAULT_MARGIN, **_: main_table(
                           res, "Table 2", "Main results, aligned features (test %)", "aligned", layout, arch, margin),
                       "datasets x ratios, the layout's main columns, Δ of the proposed method, Original (aligned features)"),
    "table3": Artifact("table3", "table", _syn("table3_cross_arch"),
                       lambda res, layout, **_: cross_arch_table(res, layout),
                       "condensed with the layout's condense_arch, evaluated with each architecture, average"),
    "table4": Artifact("table4", "table", _syn("table4_backbones"),
                       lambda res, layout, margin=DEFAULT_MARGIN, **_: backbone_table(res, layout, margin),
                       "same backbone for condensation and evaluation: the layout's backbone columns vs Original"),
    "table5": Artifact("table5", "table", _syn("table5_unaligned"),
                       lambda res, layout, arch="gcn", margin=DEFAULT_MARGIN, **_: main_table(
                           res, "Table 5", "Main results, unaligned features (test %)", "unaligned", layout, arch,
                           margin),
                       "as Table 2 on unaligned features"),
    "table6": Artifact("table6", "table", _syn("table6_ablation"),
                       lambda res, layout, arch="gcn", margin=DEFAULT_MARGIN, **_: ablation_table(
                           res, layout, arch, margin),
                       "the layout's ablation rows with Δ1/Δ2, aligned and unaligned side by side"),
    "fig1b": Artifact("fig1b", "figure", _syn("fig2_convergence", "table6_ablation"), _figure(figure1b),
                      "conflict fraction and Dirichlet energy over condensation epochs"),
    "fig2": Artifact("fig2", "figure", _syn("fig2_convergence"), _figure(figure2),
                     "metric at condensation checkpoints, the layout's fig2 methods"),
    "fig3": Artifact("fig3", "figure", _syn("fig3_modalities"), _figure(figure3),
                     "text-only / image-only / fused features, the layout's fig3 methods"),
    "fig4": Artifact("fig4", "figure", _syn("fig4_lambda_ratio"), _figure(figure4),
                     "heat map of the proposed method over the layout's fig4 key x ratio"),
    "fig5": Artifact("fig5", "figure", _syn("table2_main", "table5_unaligned"), _figure(figure5),
                     "gap to Original per method, aligned vs unaligned"),
    "ranks": Artifact("ranks", "figure", _syn("table2_main", "table5_unaligned"), _figure(figure_ranks),
                      "critical-difference diagram of the main columns' mean ranks over the (dataset, ratio) cells, "
                      "with Friedman's test"),
    "regularizers": Artifact("regularizers", "table", ("regularizers", "regularizers_synthetic"),
                             lambda res, layout, margin=DEFAULT_MARGIN, **_: regularizers_table(res, layout, margin),
                             "none / each regularizer per dataset, architecture and training graph (original or condensed)"),
}

# Figure 5 and the rank summary combine the aligned and the unaligned experiments; every other
# artifact reads the first of its default experiments that has rows.
COMBINE_DEFAULTS = {name: (_syn("table2_main"), _syn("table5_unaligned")) for name in ("fig5", "ranks")}


def resolve_results(name: str, results_root: str, experiments: Sequence[str] | None,
                    mlflow_uri: str | None = None) -> Results:
    """The rows an artifact reads: the given experiments (all of them), or its defaults."""
    if experiments:
        return load_results(results_root, list(experiments), mlflow_uri)
    if name in COMBINE_DEFAULTS:
        parts = [first_with_rows(results_root, group, mlflow_uri) for group in COMBINE_DEFAULTS[name]]
        return Results([r for p in parts for r in p.rows], [e for p in parts for e in p.experiments],
                       results_root, mlflow_uri)
    return first_with_rows(results_root, ARTIFACTS[name].experiments, mlflow_uri)


def build(name: str, results_root: str, experiments: Sequence[str] | None = None, out_dir: str | Path | None = None,
          mlflow_uri: str | None = None, arch: str = "gcn", layout: Layout | None = None,
          margin: float = DEFAULT_MARGIN) -> Table | Figure:
    """Build one table (returned) or figure (written as ``<out_dir>/<name>.png``), laid out by
    ``layout`` (default: `load_layout`'s); ``margin``: the tables' equivalence margin (metric units)."""
    if name not in ARTIFACTS:
        raise InputError(f"unknown table or figure {name!r}; expected one of {list(ARTIFACTS)} or 'all'")
    layout = layout if layout is not None else load_layout()
    artifact = ARTIFACTS[name]
    res = resolve_results(name, results_root, experiments, mlflow_uri)
    if artifact.kind == "table":
        built = artifact.build(res, layout=layout, arch=arch, margin=margin)
    else:
        out = Path(out_dir or Path(results_root) / "tables")
        out.mkdir(parents=True, exist_ok=True)
        built = artifact.build(res, out / f"{name}.png", layout=layout, arch=arch)
    built.experiments = list(res.experiments)
    return built
