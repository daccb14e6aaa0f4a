"""The paper's Tables 2 to 6, laid out by a `Layout` (which stored labels make which columns)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Mapping, Sequence

from mmgc.harness.fairness import check_fairness
from mmgc.harness.statistics import DEFAULT_MARGIN
from mmgc.harness.tables.layout import Column, Layout, column_of
from mmgc.harness.tables.model import Cell, RowTests, Stat, Table, best_config_rows, best_config_stat, rank_marks
from mmgc.harness.tables.rows import (
    ALIGNMENTS, FUSED, Results, alignment_of, dataset_group, features_of, format_ratio, is_original,
    sort_key_ratio,
)


def by_column(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> tuple[dict[str, list], list[str]]:
    """``rows`` grouped by the column that takes their label, and the labels no column takes."""
    out: dict[str, list] = defaultdict(list)
    left: set[str] = set()
    for r in rows:
        column = column_of(r["label"], columns)
        if column is None:
            left.add(r["label"])
        else:
            out[column.name].append(r)
    return out, sorted(left)


# ---------------------------------------------------------------------------------------- tables 2 and 5
def original_stat(res: Results, group: str, alignment: str, arch: str) -> Stat | None:
    rows = [r for r in res.rows if is_original(r) and dataset_group(r) == group
            and alignment_of(r) == alignment and r["arch"] == arch and features_of(r) == FUSED]
    return best_config_stat(rows)


def main_cells(res: Results, alignment: str, layout: Layout, arch: str = "gcn"
               ) -> tuple[dict[tuple, dict[str, list]], list[str]]:
    """The rows of Tables 2 and 5 by (dataset group, ratio) and main column, and the labels no main
    column takes."""
    rows = [r for r in res.rows if r["arch"] == arch and alignment_of(r) == alignment and features_of(r) == FUSED
            and not is_original(r)]
    cells: dict[tuple[str, float], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    grouped, left = by_column(rows, layout.main)
    for column, column_rows in grouped.items():
        for r in column_rows:
            cells[(dataset_group(r), r["ratio"])][column].append(r)
    return cells, left


def main_table(res: Results, name: str, title: str, alignment: str, layout: Layout, arch: str = "gcn",
               margin: float = DEFAULT_MARGIN) -> Table:
    """Tables 2 and 5: datasets x ratios, the layout's main columns, Δ of the proposed method over the best other."""
    columns = [c.name for c in layout.main]
    proposed = layout.proposed
    table = Table(name, title, ["Dataset", "Ratio (r)", *columns, "Δ (points)", "Original"],
                  experiments=res.experiments, fill_down=(0, len(columns) + 3),
                  stat_columns=tuple(range(2, len(columns) + 2)) + (len(columns) + 3,))
    cells, left = main_cells(res, alignment, layout, arch)
    groups = sorted({g for g, _ in cells})
    for group in groups:
        ratios = sorted({ratio for g, ratio in cells if g == group}, key=sort_key_ratio)
        original = original_stat(res, group, alignment, arch)
        for i, ratio in enumerate(ratios):
            selected = {c: best_config_rows(cells[(group, ratio)].get(c, [])) for c in columns}
            stats = {c: Stat.of(selected[c]) for c in columns}
            marks = rank_marks({c: (s.mean if s else None) for c, s in stats.items()})
            tests = RowTests(selected, margin)
            best = tests.best(stats)
            ratio_cell = Cell(text=format_ratio(ratio))
            line = [Cell(text=group if i == 0 else ""), ratio_cell]
            line += [Cell(stat=stats[c], mark=marks.get(c), test=best.get(c)) for c in columns]
            others = {c: s.mean for c, s in stats.items() if c != proposed and s is not None}
            mine = stats.get(proposed)
            if mine and others:
                rival = max(others, key=others.get)
                line.append(Cell(delta=(mine.mean - others[rival]) * 100, test=tests.pair(proposed, rival)))
            else:
                line.append(Cell())
            line.append(Cell(stat=original) if i == 0 else Cell(text=""))
            table.rows.append(line)
            table.flag(ratio_cell, check_fairness({c: picked for c, picked in selected.items() if picked}),
                       f"{group} at {format_ratio(ratio)}")
    metric = sorted({r["metric"] for by_column in cells.values() for rows in by_column.values() for r in rows
                     if r.get("metric")})
    table.notes.append(f"Test {'/'.join(metric) or 'metric'} (%) of a {layout.arch_name(arch)} trained on the "
                       f"condensed graph, mean ± std over condensation x evaluation seeds; best **bold**, second "
                       f"<u>underlined</u>; Δ = {proposed} minus the best other method (points); "
                       f"experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.adjust_tests(margin, f"On a best value: best vs the runner-up; on Δ: {proposed} vs the best other method.")
    if left:  # named, so that a method missing from the table is found in the layout
        table.notes.append(f"Not tabulated (no column of the layout's main.columns takes them): {', '.join(left)}.")
    return table


# ---------------------------------------------------------------------------------------- table 3
def cross_arch_table(res: Results, layout: Layout) -> Table:
    condense_arch = layout.cross_condense_arch
    rows = [r for r in res.rows if not is_original(r) and (r.get("condense_arch") or condense_arch) == condense_arch
            and features_of(r) == FUSED]
    archs = sorted({r["arch"] for r in rows} | set(layout.cross_archs), key=layout.arch_rank)
    header = ["Dataset", "Ratio (r)", "Method", *[layout.arch_name(a) for a in archs], "Avg."]
    table = Table("Table 3", f"Cross-architecture generalisation: condensed with {layout.arch_name(condense_arch)}, "
                  "evaluated with each architecture (test %)", header, experiments=res.experiments)
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    grouped, _ = by_column(rows, layout.cross_rows)
    for column, column_rows in grouped.items():
        for r in column_rows:
            group = dataset_group(r) + ("" if alignment_of(r) == "aligned" else " (unaligned)")
            cells[(group, r["ratio"], column)][r["arch"]].append(r)
    cells = {k: v for k, v in cells.items() if len(v) > 1}  # methods evaluated with one backbone only: not here
    table.fill_down = (0, 1)
    table.stat_columns = tuple(range(3, 3 + len(archs)))
    order = {c.name: i for i, c in enumerate(layout.cross_rows)}
    previous = None
    for key in sorted(cells, key=lambda k: (k[0], sort_key_ratio(k[1]), order[k[2]])):
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
def backbone_table(res: Results, layout: Layout, margin: float = DEFAULT_MARGIN) -> Table:
    methods = [c.name for c in layout.backbones]
    rows = [r for r in res.rows if r.get("condense_arch") == r["arch"] or is_original(r)]
    rows = [r for r in rows if features_of(r) == FUSED and alignment_of(r) == "aligned"]
    groups = sorted({dataset_group(r) for r in rows})
    header = (["Dataset"] if len(groups) > 1 else []) + ["Backbone", "Ratio (r)", *methods, "Original"]
    title = "Same backbone for condensation and evaluation (test %)" + (f" on {groups[0]}" if len(groups) == 1 else "")
    lead = 1 if len(groups) > 1 else 0
    table = Table("Table 4", title, header, experiments=res.experiments,
                  fill_down=(*range(lead + 1), lead + 2 + len(methods)),
                  stat_columns=(*range(lead + 2, lead + 2 + len(methods)), lead + 2 + len(methods)))
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    grouped, _ = by_column([r for r in rows if not is_original(r)], layout.backbones)
    for column, column_rows in grouped.items():
        for r in column_rows:
            cells[(dataset_group(r), r["condense_arch"], r["ratio"])][column].append(r)
    previous = None
    for key in sorted(cells, key=lambda k: (k[0], layout.arch_rank(str(k[1])), sort_key_ratio(k[2]))):
        group, backbone, ratio = key
        selected = {m: best_config_rows(cells[key].get(m, [])) for m in methods}
        stats = {m: Stat.of(selected[m]) for m in methods}
        marks = rank_marks({m: (s.mean if s else None) for m, s in stats.items()})
        tests = RowTests(selected, margin).best(stats)
        first = (group, backbone) != previous
        previous = (group, backbone)
        original = best_config_stat([r for r in rows if is_original(r) and dataset_group(r) == group
                                     and r["arch"] == backbone])
        ratio_cell = Cell(text=format_ratio(ratio))
        line = ([Cell(text=group if first else "")] if len(groups) > 1 else [])
        line += [Cell(text=layout.arch_name(backbone) if first else ""), ratio_cell]
        line += [Cell(stat=stats[m], mark=marks.get(m) if marks.get(m) == "best" else None, test=tests.get(m))
                 for m in methods]
        line.append(Cell(stat=original) if first else Cell(text=""))
        table.rows.append(line)
        table.flag(ratio_cell, check_fairness({m: picked for m, picked in selected.items() if picked}),
                   f"{group}, {layout.arch_name(backbone)} at {format_ratio(ratio)}")
    table.notes.append("Rows with condense_arch = arch; Original trains the same backbone on the full graph; best "
                       f"**bold**; experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.adjust_tests(margin, "On a best value: best vs the other method.")
    return table


# ---------------------------------------------------------------------------------------- table 6
def ablation_table(res: Results, layout: Layout, arch: str = "gcn", margin: float = DEFAULT_MARGIN) -> Table:
    """The layout's ablation rows, top to bottom, aligned and unaligned side by side; Δk = row k-1 minus row k.
    Only datasets and ratios with rows of at least two of the steps are listed."""
    steps = [c.name for c in layout.ablation]
    rows = [r for r in res.rows if r["arch"] == arch and features_of(r) == FUSED]
    header = ["Dataset", "Ratio (r)", "Method", "Aligned", "Unaligned", "Aligned increments", "Unaligned increments"]
    table = Table("Table 6", layout.ablation_title, header, experiments=res.experiments, fill_down=(0, 1),
                  stat_columns=(3, 4))
    cells: dict[tuple, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    grouped, _ = by_column(rows, layout.ablation)
    for step, step_rows in grouped.items():
        for r in step_rows:
            cells[(dataset_group(r), r["ratio"])][(step, alignment_of(r))].append(r)
    # an ablation compares: a dataset and ratio with rows of one step only (e.g. the proposed method in
    # a main-table experiment) is not a row of this table
    compared = [k for k in cells if len({step for step, _ in cells[k]}) >= 2]
    for key in sorted(compared, key=lambda k: (k[0], sort_key_ratio(k[1]))):
        group, ratio = key
        selected = {(s, a): best_config_rows(cells[key].get((s, a), [])) for s in steps for a in ALIGNMENTS}
        stats = {k: Stat.of(v) for k, v in selected.items()}
        tests = RowTests(selected, margin)
        for i, step in enumerate(steps):
            ratio_cell = Cell(text=format_ratio(ratio) if i == 0 else "")
            if i == 0:
                for a in ALIGNMENTS:
                    table.flag(ratio_cell, check_fairness({s: selected[(s, a)] for s in steps if selected[(s, a)]}),
                               f"{group} at {format_ratio(ratio)}, {a}")
            line = [Cell(text=group if i == 0 else ""), ratio_cell, Cell(text=step)]
            line += [Cell(stat=stats[(step, a)]) for a in ALIGNMENTS]
            for a in ALIGNMENTS:
                if i == 0:
                    line.append(Cell(text="-"))
                    continue
                upper, lower = stats[(steps[i - 1], a)], stats[(step, a)]
                if upper is None or lower is None:
                    line.append(Cell())
                else:
                    delta = (upper.mean - lower.mean) * 100
                    line.append(Cell(text=f"Δ{i}: {delta:+.2f}", test=tests.pair((steps[i - 1], a), (step, a))))
            table.rows.append(line)
    named = [c.labels[0] if " " not in c.labels[0] else f"({c.labels[0]})" for c in layout.ablation]
    table.notes.append("; ".join(f"Δ{i} = {upper} − {lower}" for i, (upper, lower) in enumerate(zip(named, named[1:]), 1))
                       + f", in points of the means; experiment(s): {', '.join(res.experiments) or 'none found'}.")
    table.adjust_tests(margin, "On Δk: row k-1 vs row k.")
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
