"""The training-time regularizers table (`mmgc tables regularizers`), read from the results store.

One row per (dataset group, alignment, evaluation architecture, training graph), the training graph
being the original graph (``method = 'original'``) or a condensed one (its method label and ratio);
one column per regularizer setting, read from each row's ``regularizers`` column (JSON written by the
evaluation protocol: ``[]`` = none), plus the change of each setting over none in points. When one
cell holds several configurations of the same setting (e.g. several OptiMAG weights), the one with
the best mean validation metric is reported, never selected on test. Every architecture found is
shown (the ``--arch`` option of ``mmgc tables`` does not filter this table). Rows follow the same
selection rules as the other tables (`mmgc.harness.tables`: final phase, status ok).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any, Mapping, Sequence

from mmgc.harness.tables import (
    ARCH_NAMES, ARCH_ORDER, NOISE_NOTE, Cell, Results, Stat, Table, alignment_of, best_tests, compare, dataset_group,
    features_of, format_ratio, rank_marks,
)

REGULARIZER_NAMES = {"optimag": "OptiMAG", "dagr": "DAGR"}
NONE = "none"


def regularizer_label(row: Mapping[str, Any]) -> str:
    """``none``, ``OptiMAG``, ``DAGR`` or ``OptiMAG+DAGR`` (other names as registered)."""
    try:
        items = json.loads(row.get("regularizers") or "[]")
    except (TypeError, ValueError):
        items = []
    names = [REGULARIZER_NAMES.get(i.get("name"), str(i.get("name"))) for i in items if isinstance(i, dict)]
    return "+".join(names) or NONE


def _graph_label(row: Mapping[str, Any]) -> str:
    if row.get("method") == "original":
        return "Original"
    return f"{row['label']} @ {format_ratio(row.get('ratio'))}"


def _best_by_validation(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows of the (method config, regularizer config) with the best mean validation metric."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r.get("config_hash"), r.get("regularizers"))].append(r)
    scored = [(s, g) for g in groups.values() if (s := Stat.of(g)) is not None]
    if not scored:
        return []
    return max(scored, key=lambda sg: sg[0].val_mean if sg[0].val_mean is not None else -math.inf)[1]


def regularizers_table(res: Results) -> Table:
    rows = [r for r in res.rows if features_of(r) == "fused"]
    found = {regularizer_label(r) for r in rows}
    order = [NONE, "OptiMAG", "DAGR"]
    columns = order + sorted(found - set(order))  # the built-ins always, then any other regularizer found
    header = ["Dataset", "Alignment", "Arch", "Trained on"]
    for c in columns:
        header.append(c)
        if c != NONE:
            header.append(f"Δ {c}")
    stat_columns = tuple(i for i, h in enumerate(header) if i >= 4 and not h.startswith("Δ"))
    table = Table("Regularizers", "Training-time regularizers: none / OptiMAG / DAGR (test %)", header,
                  experiments=res.experiments, fill_down=(0, 1), stat_columns=stat_columns)
    if found <= {NONE}:  # nothing to compare: this is not a regularizer experiment
        table.notes.append(f"no row of {', '.join(res.experiments) or 'the store'} trained with a regularizer")
        return table
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(dataset_group(r), alignment_of(r), r["arch"], _graph_label(r))][regularizer_label(r)].append(r)

    def arch_key(arch: str) -> tuple:
        return (ARCH_ORDER.index(arch) if arch in ARCH_ORDER else len(ARCH_ORDER), arch)

    keys = sorted(cells, key=lambda k: (k[0], k[1], arch_key(k[2]), k[3] != "Original", k[3]))
    previous: tuple = ()
    for key in keys:
        group, alignment, arch, graph = key
        selected = {c: _best_by_validation(cells[key].get(c, [])) for c in columns}
        stats = {c: Stat.of(selected[c]) for c in columns}
        marks = rank_marks({c: (s.mean if s else None) for c, s in stats.items()})
        tests = best_tests(stats, selected, marks)
        line = [Cell(text=group if previous[:1] != (group,) else ""),
                Cell(text=alignment if previous[:2] != (group, alignment) else ""),
                Cell(text=ARCH_NAMES.get(arch, arch)), Cell(text=graph)]
        base = stats.get(NONE)
        for c in columns:
            line.append(Cell(stat=stats[c], mark=marks.get(c), test=tests.get(c)))
            if c != NONE:
                line.append(Cell(delta=(stats[c].mean - base.mean) * 100, test=compare(selected[c], selected[NONE]))
                            if stats[c] and base else Cell())
        table.rows.append(line)
        previous = key
    metric = sorted({r["metric"] for r in rows if r.get("metric")})
    table.notes.append(
        f"Test {'/'.join(metric) or 'metric'} (%) of each architecture trained on the original or the condensed graph "
        f"with the regularizer of the column, mean ± std over condensation x evaluation seeds; best **bold**, second "
        f"<u>underlined</u> per row; Δ = the column minus none (points); configurations of one setting selected on "
        f"validation; experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.notes.append(NOISE_NOTE + " On a best value: best vs the runner-up; on Δ: the column vs none.")
    return table
