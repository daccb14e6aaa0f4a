"""The SR-GM study's answers, read from the stored rows of its three experiment files.

Run the sweeps first (each resumes where it stopped):

    mmgc sweep tune_configs/table6_ablation_synthetic.yaml      # SGC condensation, selection on validation
    mmgc sweep tune_configs/sr_gm_study_magb.yaml               # the same on magb-toys+synthfeat
    mmgc sweep tune_configs/sr_gm_study_gcn.yaml                # GCN condensation (the paper's backbone)
    mmgc sweep tune_configs/sr_gm_study_test_selected.yaml      # the authors' test-selected protocol
    python benchmarks/sr_gm_study.py                            # this report (+ PNG curves)

It prints, per graph:
(a) every SR-GM form against GCond and GCond-X: test accuracy (mean ± std over condensation seeds),
    the difference and a paired t-test over the shared seeds, and the lam validation chose;
(b) how many points the test-selected protocol adds to each method (the same config selected on\n    validation and on test, paired over the seeds both have);
(c) the synthetic graphs' structure: mean edge weight and share of entries at or above the
    evaluation threshold (a structure-free graph shows density 0), per label;
(d) the per-step gradient diagnostics of the kept SR-GM graphs: per-node conflict fraction and the
    realised damping share ``ratio_x/damping`` at the first and last outer step of each epoch, as
    means over the run's second half, and as curves (``--figures``).
Only the final (best-config, every-seed) rows are used; the search trials that chose lam are not.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from mmgc.graph import CondensedGraph
from mmgc.harness.store import ResultStore
from mmgc.harness.tables.model import best_config_rows, compare

VAL_EXPERIMENTS = ("table6_ablation_synthetic", "sr_gm_study_magb", "sr_gm_study_gcn")
TEST_EXPERIMENT = "sr_gm_study_test_selected"
REFERENCES = ("GCond", "GCond-X")
DIAGNOSTICS = ("conflict_frac/first", "conflict_frac/last", "ratio_x/damping/first", "ratio_x/damping/last")


def graph_name(row: dict) -> str:
    return row["dataset"] + (f" [{row['dataset_variant']}]" if row.get("dataset_variant") else "")


def final_rows(store: ResultStore, experiment: str) -> list[dict]:
    return [r for r in store.rows(experiment) if r["phase"] == "final" and r["status"] == "ok" and r["arch"] == "gcn"]


def mean_std(rows: list[dict], column: str = "test_metric") -> str:
    values = [100 * float(r[column]) for r in rows if r.get(column) is not None]
    if not values:
        return "—"
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.1f}"


def diff_text(rows_a: list[dict], rows_b: list[dict]) -> str:
    c = compare(rows_a, rows_b)
    if c is None:
        return "—"
    p = "n/a" if c.p is None else ("<0.001" if c.p < 0.001 else f"{c.p:.2g}")
    return f"{100 * c.diff:+.1f} (p {p})"


def lam_of(rows: list[dict]) -> str:
    lams = sorted({json.loads(r["method_config"] or "{}").get("lam") for r in rows} - {None})
    return ",".join(f"{v:g}" for v in lams) or "—"


def by_graph_label(rows: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """graph -> label -> the rows of the label's final config with the best mean validation metric (a
    resumed search can leave finals of an earlier best config in the store; they are not mixed in)."""
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        grouped[graph_name(r)][r["method_label"]].append(r)
    return {graph: {label: list(best_config_rows(rs)) for label, rs in labels.items()} for graph, labels in grouped.items()}


def print_comparisons(title: str, groups: dict[str, dict[str, list[dict]]]) -> None:
    print(f"\n## (a) {title}: test % (mean ± std over condensation seeds), difference and paired t-test\n")
    for graph, labels in groups.items():
        refs = [label for label in labels if label.split(" ")[0] in REFERENCES]
        print(f"### {graph}\n")
        print("| label | test | val | lam | " + " | ".join(f"vs {ref}" for ref in refs) + " |")
        print("|---" * (4 + len(refs)) + "|")
        for label, rows in labels.items():
            cells = [diff_text(rows, labels[ref]) if ref != label else "" for ref in refs]
            print(f"| {label} | {mean_std(rows)} | {mean_std(rows, 'val_metric')} | {lam_of(rows)} | " + " | ".join(cells) + " |")
        print()


def config_without_selection(row: dict) -> str:
    """The row's method config without the checkpoint-selection split: what a test-selected cell and
    its validation-selected twin share."""
    config = json.loads(row["method_config"] or "{}")
    config.pop("select_split", None)
    return json.dumps(config, sort_keys=True)


def print_test_selection_gain(val_rows: list[dict], test_rows: list[dict]) -> None:
    print("\n## (b) points added by the test-selected protocol (the same config, selected on validation vs on test;")
    print("paired over the condensation seeds both have)\n")
    print("| graph | test-selected label | lam | val-selected test | test-selected test | gain |")
    print("|---|---|---|---|---|---|")
    twins: dict[tuple, list[dict]] = defaultdict(list)
    for r in val_rows:
        twins[(graph_name(r), config_without_selection(r))].append(r)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in test_rows:
        cells[(graph_name(r), r["method_label"], config_without_selection(r))].append(r)
    for (graph, label, config), rows in sorted(cells.items()):
        seeds = {r["condense_seed"] for r in rows}
        base = [r for r in twins.get((graph, config), []) if r["condense_seed"] in seeds]
        if not base:
            print(f"| {graph} | {label} | {lam_of(rows)} | no validation-selected twin | {mean_std(rows)} | — |")
            continue
        print(f"| {graph} | {label} | {lam_of(rows)} | {mean_std(base)} | {mean_std(rows)} | {diff_text(rows, base)} |")


def print_structure(groups) -> None:
    print("\n## (c) the condensed graphs' structure (mean over seeds)\n")
    print("| graph | label | mean edge weight | share of entries >= threshold |")
    print("|---|---|---|---|")
    for graph, labels in groups.items():
        for label, rows in labels.items():
            per_graph = {r["trial_id"]: r for r in rows}.values()  # one condensed graph per trial
            means = [float(r["adj_mean"]) for r in per_graph if r.get("adj_mean") is not None]
            dens = [float(r["adj_density"]) for r in per_graph if r.get("adj_density") is not None]
            if means:
                print(f"| {graph} | {label} | {statistics.fmean(means):.3f} | {statistics.fmean(dens):.3f} |")


def histories(rows: list[dict]) -> list[list[dict]]:
    out = []
    for path in sorted({r["artifact_path"] for r in rows if r.get("artifact_path")}):
        if Path(path).is_file():
            out.append(CondensedGraph.load(path).info["history"])
    return out


def series(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(h["epoch"], float(h[key])) for h in history if h.get(key) is not None]


def print_diagnostics(groups, labels: tuple[str, ...], figures: Path | None) -> None:
    print("\n## (d) per-step diagnostics of the kept graphs (mean over the run's second half and seeds)\n")
    print("| graph | label | graphs | " + " | ".join(DIAGNOSTICS) + " |")
    print("|---" * (3 + len(DIAGNOSTICS)) + "|")
    curves: dict[tuple[str, str], list[list[dict]]] = {}
    for graph, by_label in groups.items():
        for label in labels:
            hs = histories(by_label.get(label, []))
            if not hs:
                continue
            curves[(graph, label)] = hs
            halves = [max(x["epoch"] for x in h) / 2 for h in hs]  # the second half of each run
            cells = []
            for key in DIAGNOSTICS:
                vals = [v for h, half in zip(hs, halves) for e, v in series(h, key) if e >= half]
                cells.append(f"{statistics.fmean(vals):.2f}" if vals else "—")
            print(f"| {graph} | {label} | {len(hs)} | " + " | ".join(cells) + " |")
    if figures is not None and curves:
        plot_curves(curves, figures / "sr_gm_study_diagnostics.png")


def plot_curves(curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = sorted({g for g, _ in curves})
    fig, axes = plt.subplots(2, len(graphs), figsize=(4.2 * len(graphs), 6.4), squeeze=False, sharex="col")
    for col, graph in enumerate(graphs):
        for (g, label), hs in sorted(curves.items()):
            if g != graph:
                continue
            for row, (key, name) in enumerate((("conflict_frac/last", "conflict fraction (last step)"),
                                                ("ratio_x/damping/last", "damping share (last step)"))):
                ax = axes[row][col]
                for i, h in enumerate(hs):
                    pts = series(h, key)
                    if pts:
                        ax.plot(*zip(*pts), color=f"C{sorted({lb for _, lb in curves}).index(label)}",
                                alpha=0.8, lw=1.2, label=label if i == 0 else None)
                ax.set_ylabel(name)
                if row == 1:
                    ax.set_xlabel("epoch")
                    ax.set_yscale("log")
        axes[0][col].set_title(graph, fontsize=9)
        axes[0][col].legend(fontsize=7, loc="best")
    fig.suptitle("SR-GM study: per-step diagnostics of the kept graphs (one line per condensation seed)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\ncurves: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="results root of the sweeps (default: results)")
    parser.add_argument("--figures", default="benchmarks/figures", help="folder for the PNG ('' for none)")
    args = parser.parse_args()
    store = ResultStore(args.results)
    val_rows = [r for e in VAL_EXPERIMENTS for r in final_rows(store, e)]
    if not val_rows:
        raise SystemExit(f"no final rows of {', '.join(VAL_EXPERIMENTS)} under {args.results}: run the sweeps first")
    for experiment in VAL_EXPERIMENTS:
        groups = by_graph_label(final_rows(store, experiment))
        if groups:
            print_comparisons(f"{experiment}, selection on validation", groups)
    val_groups = by_graph_label(val_rows)
    test_rows = final_rows(store, TEST_EXPERIMENT)
    if test_rows:
        print_test_selection_gain(val_rows, test_rows)
    print_structure(val_groups)
    print_diagnostics(val_groups, ("SR-GM", "SR-GM relative", "SR-GM (authors)", "SR-GM w/o D"),
                      Path(args.figures) if args.figures else None)


if __name__ == "__main__":
    main()
