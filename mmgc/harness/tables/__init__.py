"""The SR-GM paper's tables and figures, rebuilt from the results store (never recomputed).

Every table and figure reads the Parquet results store through DuckDB (`ResultStore`) and, for
curves, the history JSON artifacts that `mmgc.harness.tracking` logs to MLflow (falling back to the
condensed graph file named in the row's ``artifact_path``). Nothing here trains or evaluates.

The modules, along their jobs: `rows` (store reading and the row vocabulary), `layout` (the paper
layout file), `model` (cells, tables, their statistics and renderers), `paper` (Tables 2-6),
`curves` (condensation histories), `figures`, `regularizers` (the regularizers table) and
`registry` (every artifact by its CLI name).

How rows are selected (the same rules for every table and figure):

- **Experiment**: each table and figure has default experiment names (the YAML ``name`` of its
  ``tune_configs`` file, e.g. ``table2_main`` then ``table2_main_synthetic``: the first one with rows
  is used); ``--experiment E`` (repeatable) replaces them.
- **Phase and status**: reported numbers use ``phase = 'final'`` rows with ``status = 'ok'`` only
  (the search rows of Optuna are for selection, never reported), and only validation-selected ones
  (``selection`` ``val`` or absent; test-selected rows are never ranked with them).
- **Method column**: the row's stored label (``method_label``: the experiment entry's ``label``; the
  method name for rows written before labels were stored). The paper layout
  (``tune_configs/paper_layout.yaml``, or ``--layout FILE``; `mmgc.harness.tables.layout`) says which
  labels make which columns and rows; a label also takes its entry's grid cells (``SR-GM[lam=10.0]``).
  When several configs share one column in one cell, the one with the best mean validation metric
  is reported (selection on validation, never on test).
- **Dataset variant**: ``dataset_variant`` is ``key=value`` pairs joined by ``;``. The alignment
  (``alignment=aligned|unaligned``, else the ``encoder``'s: clip and imagebind aligned, t5vit and
  t5dino unaligned, `ENCODER_ALIGNMENT`; absent = aligned) separates Table 2 from Table 5 and the
  two halves of Table 6. The features (``features=...``, else the one modality kept by the
  experiment's ``modalities: [text]`` (variant ``modalities=text``); absent = fused) give Figure 3's
  bars. The grouping key of a row is the dataset name plus the variant without those keys.
- **Architectures**: ``condense_arch`` is the backbone inside condensation, ``arch`` the evaluation
  backbone. Tables 2/5/6 and Figures 2-5 use ``arch = gcn`` (``--arch``); Table 3 uses the layout's
  ``condense_arch`` and one column per ``arch``; Table 4 uses rows with ``arch = condense_arch``.
- **Original**: rows of the experiment's whole-graph entry in the same experiment, dataset group,
  alignment and evaluation architecture (any ratio).

Numbers are percentages (accuracy or ROC-AUC x 100), mean ± population standard deviation over every
row of the cell (condensation seeds x evaluation seeds), the one summary of
`mmgc.harness.statistics` that the leaderboard also prints. A cell with no rows prints as missing
(``—`` in Markdown and LaTeX, empty in CSV), never as zero.

Comparisons (a "best" against the runner-up, each Δ) read *better*, *worse*, *equivalent within ±m*
or *inconclusive* (`mmgc.harness.statistics`: paired t-test and TOST over the condensation seeds,
Holm-adjusted within each table; ``--margin``); a row whose compared rows differ in feature budget or
evaluation recipe is marked ``†`` (``‡``: not recorded) with a footnote (`mmgc.harness.fairness`).
"""

from mmgc.harness.tables.curves import history_of, mean_curve, trial_curves
from mmgc.harness.tables.figures import FIG4_MIN_SPAN, Figure, MethodColours, cost_figure, figure5_gaps, rank_blocks
from mmgc.harness.tables.layout import DEFAULT_LAYOUT, Column, Layout, load_layout, parse_layout
from mmgc.harness.tables.model import (
    MISSING, Cell, Stat, Table, best_config_rows, best_config_stat, rank_marks, write_table,
)
from mmgc.harness.tables.paper import ablation_deltas, ablation_table, backbone_table, cross_arch_table, main_table
from mmgc.harness.tables.registry import ARTIFACTS, Artifact, build, resolve_results
from mmgc.harness.tables.regularizers import regularizers_table
from mmgc.harness.tables.rows import (
    Results, alignment_of, available_experiments, dataset_group, features_of, format_ratio, load_results,
    parse_variant, row_label,
)

__all__ = [
    "ARTIFACTS", "Artifact", "Cell", "Column", "DEFAULT_LAYOUT", "FIG4_MIN_SPAN", "Figure", "Layout", "MISSING",
    "MethodColours", "Results", "Stat", "Table", "ablation_deltas", "ablation_table", "alignment_of",
    "available_experiments", "backbone_table", "best_config_rows", "best_config_stat", "build", "cost_figure",
    "cross_arch_table", "dataset_group", "features_of", "figure5_gaps", "format_ratio", "history_of", "load_layout",
    "load_results", "main_table", "mean_curve", "parse_layout", "parse_variant", "rank_blocks", "rank_marks",
    "regularizers_table", "resolve_results", "row_label", "trial_curves", "write_table",
]
