"""The training-time regularizers table (`mmgc tables regularizers`), read from the results store.

One row per (dataset group, alignment, evaluation architecture, training graph), the training graph
being the original graph or a condensed one (its label and ratio; a graph is named by the label of
its rows without a regularizer, since each regularizer setting is its own experiment entry over the
same method config); one column per regularizer setting, read from each row's ``regularizers``
column (JSON written by the evaluation protocol: ``[]`` = none; printed with the layout's names),
plus the change of each setting over none in points. When one cell holds several configurations of
the same setting (e.g. several OptiMAG weights), the one with the best mean validation metric is
reported, never selected on test. Every architecture found is
shown (the ``--arch`` option of ``mmgc tables`` does not filter this table). Rows follow the same
selection rules as the other tables (`mmgc.harness.tables`: final phase, status ok).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Mapping, Sequence

from mmgc.harness.tables.layout import Layout
from mmgc.harness.fairness import check_fairness
from mmgc.harness.statistics import DEFAULT_MARGIN
from mmgc.harness.tables.model import Cell, RowTests, Stat, Table, best_config_rows, rank_marks
from mmgc.harness.tables.rows import FUSED, Results, alignment_of, dataset_group, features_of, format_ratio, is_original

NONE = "none"
ORIGINAL_GRAPH = "Original"


def regularizer_label(row: Mapping[str, Any], layout: Layout) -> str:
    """``none``, or the layout's names of the row's regularizers joined by ``+`` (others as registered)."""
    try:
        items = json.loads(row.get("regularizers") or "[]")
    except (TypeError, ValueError):
        items = []
    names = [layout.regularizer_names.get(i.get("name"), str(i.get("name"))) for i in items if isinstance(i, dict)]
    return "+".join(names) or NONE


def graph_names(rows: Sequence[Mapping[str, Any]], layout: Layout) -> dict[tuple, str]:
    """(method, config_hash) -> the label of that graph's rows without a regularizer (when it has
    none, the first of its labels in sorted order)."""
    names: dict[tuple, str] = {}
    for r in sorted(rows, key=lambda r: (regularizer_label(r, layout) != NONE, r["label"])):
        names.setdefault((r.get("method"), r.get("config_hash")), r["label"])
    return names


def regularizers_table(res: Results, layout: Layout, margin: float = DEFAULT_MARGIN) -> Table:
    rows = [r for r in res.rows if features_of(r) == FUSED]
    found = {regularizer_label(r, layout) for r in rows}
    order = [NONE, *layout.regularizer_columns]
    columns = order + sorted(found - set(order))  # the layout's always, then any other regularizer found
    header = ["Dataset", "Alignment", "Arch", "Trained on"]
    for c in columns:
        header.append(c)
        if c != NONE:
            header.append(f"Δ {c}")
    stat_columns = tuple(i for i, h in enumerate(header) if i >= 4 and not h.startswith("Δ"))
    table = Table("Regularizers", f"Training-time regularizers: {' / '.join(order)} (test %)", header,
                  experiments=res.experiments, fill_down=(0, 1), stat_columns=stat_columns)
    if found <= {NONE}:  # nothing to compare: this is not a regularizer experiment
        table.notes.append(f"no row of {', '.join(res.experiments) or 'the store'} trained with a regularizer")
        return table
    names = graph_names(rows, layout)
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        graph = ORIGINAL_GRAPH if is_original(r) else \
            f"{names[(r.get('method'), r.get('config_hash'))]} @ {format_ratio(r.get('ratio'))}"
        cells[(dataset_group(r), alignment_of(r), r["arch"], graph)][regularizer_label(r, layout)].append(r)
    keys = sorted(cells, key=lambda k: (k[0], k[1], layout.arch_rank(k[2]), k[3] != ORIGINAL_GRAPH, k[3]))
    previous: tuple = ()
    for key in keys:
        group, alignment, arch, graph = key
        selected = {c: best_config_rows(cells[key].get(c, []), by=("config_hash", "regularizers")) for c in columns}
        stats = {c: Stat.of(selected[c]) for c in columns}
        marks = rank_marks({c: (s.mean if s else None) for c, s in stats.items()})
        tests = RowTests(selected, margin)
        best = tests.best(stats)
        graph_cell = Cell(text=graph)
        line = [Cell(text=group if previous[:1] != (group,) else ""),
                Cell(text=alignment if previous[:2] != (group, alignment) else ""),
                Cell(text=layout.arch_name(arch)), graph_cell]
        base = stats.get(NONE)
        for c in columns:
            line.append(Cell(stat=stats[c], mark=marks.get(c), test=best.get(c)))
            if c != NONE:
                line.append(Cell(delta=(stats[c].mean - base.mean) * 100, test=tests.pair(c, NONE))
                            if stats[c] and base else Cell())
        table.rows.append(line)
        # the columns differ in their evaluation recipe by design (the regularizer is part of it)
        table.flag(graph_cell, check_fairness({c: picked for c, picked in selected.items() if picked}, recipes=False),
                   f"{group}, {alignment}, {layout.arch_name(arch)}, {graph}")
        previous = key
    metric = sorted({r["metric"] for r in rows if r.get("metric")})
    table.notes.append(
        f"Test {'/'.join(metric) or 'metric'} (%) of each architecture trained on the original or the condensed graph "
        f"with the regularizer of the column, mean ± std over condensation x evaluation seeds; best **bold**, second "
        f"<u>underlined</u> per row; Δ = the column minus none (points); configurations of one setting selected on "
        f"validation; experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.adjust_tests(margin, "On a best value: best vs the runner-up; on Δ: the column vs none. The evaluation "
                       "recipes of the columns differ by their regularizer, by design: only budgets are checked.")
    return table
