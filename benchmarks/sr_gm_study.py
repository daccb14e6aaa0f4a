"""The decisive SR-GM study, read from the stored rows of its sweeps: per budget and graph, each method's
test accuracy, its verdicts against GCond and GCond-X, and what the condensed graphs and the damping did.

Run the sweeps first (each resumes where it stopped), then this report:

    mmgc sweep tune_configs/sr_gm_budget_120.yaml     # SGC condensation, 120 matching steps
    mmgc sweep tune_configs/sr_gm_budget_600.yaml     #   600
    mmgc sweep tune_configs/sr_gm_budget_1200.yaml    #   1,200
    mmgc sweep tune_configs/sr_gm_study_gcn.yaml      # GCN condensation, the authors' lr_model, a live start
    python benchmarks/sr_gm_study.py [--results results] [--margin 1]

Per experiment, one table (one Holm family: every comparison printed in it) with, per graph and
method: the feature steps the run applied, test and validation accuracy (mean ± population std over
condensation x evaluation seeds, and how many of each), the lam validation chose, the condensed
graph's density (share of off-diagonal entries the evaluation keeps), the dead-backbone fraction
(share of outer steps at which the backbone gave every synthetic node the same logits), the damping's
share of the features' gradient (``ratio_x/damping`` = lam |dR/dX_S| / |dL_gm/dX_S|) and of the
generator's (``gradnorm_s/damping / gradnorm_s/loss_gm``), both as means over the diagnosed steps of
the run's second half; and each method's paired comparison with GCond and with GCond-X over the
condensation seeds (`mmgc.harness.statistics`: difference test, equivalence within ±margin, Holm).
Then the budget series: each method's difference to GCond and GCond-X across budgets, and a figure.
With the authors' test-selected rows in the store (``sr_gm_study_test_selected``), also what that
protocol adds over selecting the same configuration on validation. Only final rows (the kept
configuration, every seed) are read; the search trials that chose lam are not.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.graph import CondensedGraph
from mmgc.harness.statistics import (
    DEFAULT_MARGIN_POINTS, Comparison, adjust_family, check_margin, compare, comparison_note, summary_of,
)
from mmgc.harness.store import ResultStore
from mmgc.harness.tables.figures import MethodColours
from mmgc.harness.tables.layout import load_layout
from mmgc.harness.tables.model import best_config_rows

BUDGET_SERIES = ("sr_gm_budget_120", "sr_gm_budget_600", "sr_gm_budget_1200")
GCN_STUDY = "sr_gm_study_gcn"
TEST_SELECTED = "sr_gm_study_test_selected"
REFERENCES = ("GCond", "GCond-X")
"""The study's references, by label; a label's backbone suffix (``GCond GCN``) keeps its reference."""

Rows = list[Mapping[str, Any]]


def graph_name(row: Mapping[str, Any]) -> str:
    variant = f" [{row['dataset_variant']}]" if row.get("dataset_variant") else ""
    return f"{row['dataset']}@{100 * row['ratio']:g}%{variant}"


def final_rows(store: ResultStore, experiment: str) -> Rows:
    return [r for r in store.rows(experiment) if r["phase"] == "final" and r["status"] == "ok"]


def by_graph_label(rows: Rows) -> dict[str, dict[str, Rows]]:
    """graph -> label -> the rows of the label's kept configuration (a resumed search can leave finals
    of an earlier best configuration in the store; they are not mixed in)."""
    grouped: dict[str, dict[str, Rows]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        grouped[graph_name(r)][r["method_label"]].append(r)

    def order(label: str) -> tuple:  # the references first, then by name: the same order whatever the store's
        base = next((ref for ref in REFERENCES if label == ref or label.startswith(f"{ref} ")), None)
        return (REFERENCES.index(base) if base is not None else len(REFERENCES), label)

    return {g: {label: list(best_config_rows(grouped[g][label])) for label in sorted(grouped[g], key=order)}
            for g in sorted(grouped)}


def reference_of(label: str, labels: Sequence[str], reference: str) -> str | None:
    """The reference's label among ``labels`` for ``label``: ``GCond GCN`` for ``SR-GM GCN`` when the
    study has it, else ``GCond``; None for the reference itself."""
    backbone = label.rsplit(" ", 1)[-1]
    for name in (f"{reference} {backbone}", reference):
        if name in labels and name != label:
            return name
    return None


# ---------------------------------------------------------------------------------------- per-row facts
def summary_text(rows: Rows, column: str = "test_metric") -> str:
    s = summary_of(r.get(column) for r in rows)
    return "—" if s is None else f"{100 * s.mean:.1f} ± {100 * s.std:.1f}"


def seeds_text(rows: Rows) -> str:
    return f"{len({r['condense_seed'] for r in rows})}×{len({r['eval_seed'] for r in rows})}"


def per_graph(rows: Rows) -> list[Mapping[str, Any]]:
    """One row per condensed graph (its evaluation seeds share every condensation column)."""
    return list({r["trial_id"]: r for r in rows}.values())


def mean_of(rows: Rows, column: str, digits: int = 2) -> str:
    values = [float(r[column]) for r in per_graph(rows) if r.get(column) is not None]
    return f"{statistics.fmean(values):.{digits}f}" if values else "—"


def steps_text(rows: Rows) -> str:
    values = sorted({int(r["feature_steps"]) for r in rows if r.get("feature_steps") is not None})
    return "—" if not values else (str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}")


def lam_text(rows: Rows) -> str:
    lams = sorted({json.loads(r["method_config"] or "{}").get("lam") for r in rows} - {None})
    return ",".join(f"{v:g}" for v in lams) or "—"


def histories(rows: Rows) -> list[list[dict]]:
    """The per-epoch histories of the kept condensed graphs (``keep_graphs: true``)."""
    paths = sorted({r["artifact_path"] for r in rows if r.get("artifact_path")})
    return [CondensedGraph.load(p).info["history"] for p in paths if Path(p).is_file()]


def second_half(history: list[dict]) -> list[dict]:
    last = max((h["epoch"] for h in history), default=0)
    return [h for h in history if h["epoch"] >= last / 2]


def damping_shares(rows: Rows) -> tuple[str, str]:
    """Mean over the kept graphs' diagnosed epochs in each run's second half of the damping's share of
    the features' gradient and of the generator's; '—' where the method has no damping term."""
    features, generator = [], []
    for history in histories(rows):
        for h in second_half(history):
            if _finite(h.get("ratio_x/damping")):
                features.append(h["ratio_x/damping"])
            damping, matching = h.get("gradnorm_s/damping"), h.get("gradnorm_s/loss_gm")
            if _finite(damping) and _finite(matching) and matching > 0:
                generator.append(damping / matching)
    return tuple(f"{statistics.fmean(v):.3g}" if v else "—" for v in (features, generator))


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


# ---------------------------------------------------------------------------------------- tables
def comparisons_of(groups: dict[str, dict[str, Rows]], margin: float) -> dict[tuple[str, str, str], Comparison]:
    """(graph, label, reference) -> the paired comparison label - reference, Holm-adjusted over all of them."""
    raw: dict[tuple[str, str, str], Comparison] = {}
    for graph, labels in groups.items():
        for label, rows in labels.items():
            for reference in REFERENCES:
                ref = reference_of(label, list(labels), reference)
                if ref is not None and (c := compare(rows, labels[ref], margin)) is not None:
                    raw[(graph, label, reference)] = c
    adjusted = adjust_family(raw.values())
    return {key: adjusted[id(c)] for key, c in raw.items()}


def comparison_text(c: Comparison | None) -> str:
    return "" if c is None else f"{100 * c.diff:+.1f} {c.verdict_text()} ({c.evidence()})"


def print_experiment(experiment: str, groups: dict[str, dict[str, Rows]], margin: float
                     ) -> dict[tuple[str, str, str], Comparison]:
    tests = comparisons_of(groups, margin)
    print(f"\n## {experiment}\n")
    header = ["graph", "method", "feature steps", "test %", "val %", "seeds (cond×eval)", "lam", "density",
              "dead backbone", "damping share X", "damping share S", *(f"vs {ref}" for ref in REFERENCES)]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for graph, labels in groups.items():
        for label, rows in labels.items():
            share_x, share_s = damping_shares(rows)
            cells = [graph, label, steps_text(rows), summary_text(rows), summary_text(rows, "val_metric"),
                     seeds_text(rows), lam_text(rows), mean_of(rows, "adj_density"), mean_of(rows, "dead_backbone"),
                     share_x, share_s, *(comparison_text(tests.get((graph, label, ref))) for ref in REFERENCES)]
            print("| " + " | ".join(cells) + " |")
    family = sum(c.tested for c in tests.values())
    print(f"\n{comparison_note(margin, family)}")
    return tests


def print_budget_series(series: dict[int, dict[tuple[str, str, str], Comparison]]) -> None:
    """Each method's difference to each reference, budget by budget (verdicts as in the budget's table)."""
    if len(series) < 2:
        return
    budgets = sorted(series)
    keys = sorted({key for tests in series.values() for key in tests})
    print("\n## The budget series: difference to the reference (points), verdict, and the condensation seeds an "
          "equivalence would need, by matching steps\n")
    print("| graph | method | reference | " + " | ".join(f"{b} steps" for b in budgets) + " |")
    print("|---" * (3 + len(budgets)) + "|")
    for graph, label, reference in keys:
        cells = []
        for b in budgets:
            c = series[b].get((graph, label, reference))
            needed = None if c is None else c.seeds_for_equivalence()
            cells.append("—" if c is None else f"{100 * c.diff:+.1f} {c.verdict_text()}"
                         + ("" if needed is None else f" ({c.pairs} seeds; {needed} needed)"))
        print(f"| {graph} | {label} | {reference} | " + " | ".join(cells) + " |")
    print("\nseeds needed: condensation seeds with which TOST within the margin would have 80% power if the true "
          "difference were 0, at the spread of this comparison's paired differences (normal approximation, "
          "alpha 0.05 before Holm; `Comparison.seeds_for_equivalence`).")


def plot_budget_series(points: dict[str, dict[str, list[tuple[int, Rows]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = sorted(points)
    colours = MethodColours(load_layout())  # the colours of the report and the paper figures
    fig, axes = plt.subplots(1, len(graphs), figsize=(5.2 * len(graphs), 4.0), squeeze=False)
    for ax, graph in zip(axes[0], graphs):
        for label, budget_rows in sorted(points[graph].items()):
            stats = [(b, summary_of(r.get("test_metric") for r in rows)) for b, rows in sorted(budget_rows)]
            stats = [(b, s) for b, s in stats if s is not None]
            if not stats:
                continue
            budgets = [b for b, _ in stats]
            means = [100 * s.mean for _, s in stats]
            stds = [100 * s.std for _, s in stats]
            ax.errorbar(budgets, means, yerr=stds, marker="o", capsize=3, lw=1.4, color=colours.of(label),
                        label=label)
        ax.set_xscale("log")
        ax.set_xticks(sorted({b for rows in points[graph].values() for b, _ in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("matching (outer) steps")
        ax.set_ylabel("test accuracy % (mean ± std)")
        ax.set_title(graph, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("SR-GM study: test accuracy by condensation budget (equal feature steps within a budget)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nfigure: {path}")


def config_without_selection(row: Mapping[str, Any]) -> str:
    """The row's method config without the checkpoint-selection split: what a test-selected cell and
    its validation-selected twin share."""
    config = json.loads(row["method_config"] or "{}")
    config.pop("select_split", None)
    return json.dumps(config, sort_keys=True)


def print_test_selection_gain(val_rows: Rows, test_rows: Rows, margin: float) -> None:
    """What the authors' test-selected protocol adds: the same configuration selected on test against
    selected on validation, paired over the condensation seeds both have."""
    twins: dict[tuple, Rows] = defaultdict(list)
    for r in val_rows:
        twins[(graph_name(r), config_without_selection(r))].append(r)
    cells: dict[tuple, Rows] = defaultdict(list)
    for r in test_rows:
        cells[(graph_name(r), r["method_label"], config_without_selection(r))].append(r)
    raw = {key: compare(rows, twins[(key[0], key[2])], margin)
           for key, rows in cells.items() if twins.get((key[0], key[2]))}
    tests = adjust_family(c for c in raw.values() if c is not None)
    if not raw:
        return
    print("\n## Points added by the test-selected protocol "
          "(the same configuration selected on test vs on validation)\n")
    print("| graph | label | lam | validation-selected test % | test-selected test % | gain |")
    print("|---|---|---|---|---|---|")
    for (graph, label, config), c in sorted(raw.items()):
        rows = cells[(graph, label, config)]
        print(f"| {graph} | {label} | {lam_text(rows)} | {summary_text(twins[(graph, config)])} | "
              f"{summary_text(rows)} | "
              f"{comparison_text(tests.get(id(c)) if c is not None else None)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="results root of the sweeps (default: results)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN_POINTS,
                        help=f"equivalence margin in points of accuracy (default {DEFAULT_MARGIN_POINTS:g})")
    parser.add_argument("--figures", default="benchmarks/figures", help="folder for the PNG ('' for none)")
    args = parser.parse_args()
    margin = check_margin(args.margin)
    store = ResultStore(args.results)
    experiments = [e for e in (*BUDGET_SERIES, GCN_STUDY) if final_rows(store, e)]
    if not experiments:
        names = ", ".join((*BUDGET_SERIES, GCN_STUDY))
        raise SystemExit(f"no final rows of {names} under {args.results}: run the sweeps first")
    series: dict[int, dict] = {}
    points: dict[str, dict[str, list[tuple[int, Rows]]]] = defaultdict(lambda: defaultdict(list))
    for experiment in experiments:
        groups = by_graph_label(final_rows(store, experiment))
        tests = print_experiment(experiment, groups, margin)
        if experiment in BUDGET_SERIES:
            budget = max(int(r["outer_steps"]) for labels in groups.values() for rows in labels.values() for r in rows)
            series[budget] = tests
            for graph, labels in groups.items():
                for label, rows in labels.items():
                    points[graph][label].append((budget, rows))
    print_budget_series(series)
    if args.figures and len(series) >= 2:
        plot_budget_series(points, Path(args.figures) / "sr_gm_budget_series.png")
    test_rows = final_rows(store, TEST_SELECTED)
    if test_rows:
        print_test_selection_gain([r for e in experiments for r in final_rows(store, e)], test_rows, margin)


if __name__ == "__main__":
    main()
