"""MSGC and SGDD beside GCond and SR-GM: accuracy, seconds per outer epoch and peak memory.

Two suites, each printing a Markdown table (test metric mean +- std over condensation seeds, the
protocol's GCN evaluated once per condensed graph with the condensation seed as evaluation seed):

- ``cora``: real Cora (``planetoid``), ratio 0.026 of the 2,708 nodes = 70 synthetic nodes (GCond's
  "2.6%"), 5 seeds by default;
- ``synthetic``: a synthetic multimodal preset (default ``synth-ele-fashion`` shrunk by ``--scale``)
  in its ``aligned`` and ``unaligned`` variants at two ratios.

Every method runs on the same engine settings (``--epochs``, ``--outer-loop``, ``--backbone``, ...:
official values by default except the number of epochs, which the shared 2-core machines force down;
the exact settings are printed with the table). Evaluation uses `mmgc.harness.evaluate.evaluate`
(the one protocol: 2-layer GCN, 256 hidden, 600 epochs, best validation epoch, test reported).

Cost: ``--cost`` runs each method for ``--cost-epochs`` epochs in a *fresh subprocess* per method
(CPU peak memory is a process-wide high-water mark, so methods must not share a process) and prints
seconds per outer epoch (without checkpoint selection) and peak resident memory, each beside GCond's
as a ratio.

Examples (what the issue-5 note reports)::

    OMP_NUM_THREADS=1 nice python benchmarks/bench_msgc_sgdd.py --suite cora --seeds 0 1 2 3 4 --epochs 20
    OMP_NUM_THREADS=1 nice python benchmarks/bench_msgc_sgdd.py --suite synthetic --seeds 0 1 --epochs 10
    OMP_NUM_THREADS=1 nice python benchmarks/bench_msgc_sgdd.py --suite cora --cost --cost-epochs 4

On shared, oversubscribed cores, one torch thread per process (``--threads 1``, the default) was
10-30x faster than torch's default two threads.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import warnings
from typing import Any

import torch

METHODS = ("gcond", "sr_gm", "msgc", "sgdd")


def engine_settings(args: argparse.Namespace, setting: str) -> dict[str, Any]:
    inner = args.inner_loop if args.inner_loop is not None else (15 if setting == "transductive" else 5)
    return {
        "epochs": args.epochs, "outer_loop": args.outer_loop, "inner_loop": inner, "backbone": args.backbone,
        "select_every": args.select_every, "diagnostics_every": 0,
        "structure_epochs": args.structure_epochs, "cycle_epochs": args.cycle_epochs,
    }


def method_settings(name: str, args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if name == "sr_gm" and args.lam is not None:
        extra["lam"] = args.lam
    if name == "msgc":
        extra["num_graphs"] = args.num_graphs
    return extra


def load(name: str, options: dict[str, Any]):
    from mmgc.datasets import load_dataset

    return load_dataset(name, **options)


def cells(args: argparse.Namespace) -> list[tuple[str, str, dict[str, Any], float]]:
    """(label, dataset, options, ratio) of the suite."""
    if args.suite == "cora":
        return [("cora", "cora", {}, r) for r in (args.ratios or [0.026])]
    out = []
    for alignment in ("aligned", "unaligned"):
        opts = {"alignment": alignment, "scale": args.scale}
        for r in args.ratios or [0.01, 0.02]:
            out.append((f"{args.preset}[{alignment}, x{args.scale:g}]", args.preset, opts, r))
    return out


def run_accuracy(args: argparse.Namespace) -> list[dict[str, Any]]:
    from mmgc.harness.evaluate import evaluate
    from mmgc.methods import Context, create_method

    rows = []
    graphs: dict[str, Any] = {}
    # seeds outermost: a run cut short still has every cell and every method
    for seed in args.seeds:
        for label, dataset, options, ratio in cells(args):
            if label not in graphs:
                graphs[label] = load(dataset, options)
            graph = graphs[label]
            if args.original and seed == args.seeds[0]:  # the whole training graph, once per cell
                from mmgc.harness.evaluate import evaluate_original

                for r in evaluate_original(graph, "gcn", list(args.seeds)):
                    rows.append({"dataset": label, "ratio": ratio, "n": condensed_size(graph, ratio),
                                 "method": "whole", "seed": r.get("eval_seed", r.get("seed")),
                                 "test": float(r["test_metric"]), "val": float(r["val_metric"])})
                    print(json.dumps(rows[-1]), flush=True)
            for name in args.methods:
                config = dict(engine_settings(args, graph.setting), **method_settings(name, args))
                start = time.perf_counter()
                condensed = create_method(name, config).condense(graph, ratio, Context(seed=seed))
                result = evaluate(condensed, graph, "gcn", [seed])[0]
                info = condensed.info
                rows.append({
                    "dataset": label, "ratio": ratio, "n": condensed.num_nodes, "method": name, "seed": seed,
                    "test": float(result["test_metric"]), "val": float(result["val_metric"]),
                    "metric": result.get("metric", graph.metric),
                    "s_per_epoch": info.get("seconds_per_epoch"), "wall_s": round(time.perf_counter() - start, 1),
                    "selected_epoch": info.get("selected_epoch"),
                    "sgdd_ot_last": next((r.get("sgdd_ot_raw") for r in reversed(info["history"])
                                          if "sgdd_ot_raw" in r), None),
                })
                print(json.dumps(rows[-1]), flush=True)
                if args.x_only:  # the same condensed features with no edges (as GCond-X), beside it
                    from mmgc.graph import CondensedGraph

                    bare = CondensedGraph(x=condensed.x, adj=torch.zeros_like(condensed.adj), y=condensed.y,
                                          modalities=condensed.modalities, info=condensed.info)
                    result = evaluate(bare, graph, "gcn", [seed])[0]
                    rows.append(dict(rows[-1], method=f"{name}-X", test=float(result["test_metric"]),
                                     val=float(result["val_metric"])))
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def condensed_size(graph, ratio: float) -> int:
    from mmgc.methods.budget import plan_budget

    return int(plan_budget(graph, ratio)[1].sum())


def table(rows: list[dict[str, Any]]) -> str:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["ratio"], row["n"]), []).append(row)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| dataset | ratio (n) | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for (dataset, ratio, n), group in groups.items():
        cells_ = []
        for m in methods:
            vals = [100 * r["test"] for r in group if r["method"] == m]
            if vals:
                mean = sum(vals) / len(vals)
                std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
                cells_.append(f"{mean:.1f} ± {std:.1f} ({len(vals)})")
            else:
                cells_.append("-")
        lines.append(f"| {dataset} | {ratio:g} ({n}) | " + " | ".join(cells_) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ cost
def cost_worker(args: argparse.Namespace) -> None:
    """One method, one cell, a fresh process: print seconds per epoch and peak memory as JSON."""
    from mmgc.methods import Context, create_method

    label, dataset, options, ratio = cells(args)[0]
    graph = load(dataset, options)
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = args.cost_worker
    config = dict(engine_settings(args, graph.setting), **method_settings(name, args))
    config.update(epochs=args.cost_epochs, select_every=0, select_epochs=1)
    condensed = create_method(name, config).condense(graph, ratio, Context(seed=0))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = [r["seconds"] for r in condensed.info["history"]]
    print(json.dumps({"method": name, "dataset": label, "n": condensed.num_nodes, "s_per_epoch": sum(seconds) / len(seconds),
                      "epoch_seconds": seconds, "peak_rss_mb": peak_mb, "rss_after_data_mb": base_mb}))


def run_cost(args: argparse.Namespace) -> str:
    results = {}
    for name in args.methods:
        cmd = [sys.executable, __file__, "--cost-worker", name] + _passthrough(args)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        results[name] = json.loads(out)
        print(out, flush=True)
    ref = results.get("gcond")
    lines = ["| method | s / outer epoch | x GCond | peak RSS MB | x GCond | condensation MB (peak - after data) |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        extra = r["peak_rss_mb"] - r["rss_after_data_mb"]
        t_ratio = r["s_per_epoch"] / ref["s_per_epoch"] if ref else float("nan")
        m_ratio = r["peak_rss_mb"] / ref["peak_rss_mb"] if ref else float("nan")
        lines.append(f"| {name} | {r['s_per_epoch']:.2f} | {t_ratio:.2f} | {r['peak_rss_mb']:.0f} | {m_ratio:.2f} | {extra:.0f} |")
    return "\n".join(lines)


def _passthrough(args: argparse.Namespace) -> list[str]:
    out = ["--suite", args.suite, "--epochs", str(args.epochs), "--structure-epochs", str(args.structure_epochs),
           "--cycle-epochs", str(args.cycle_epochs), "--outer-loop", str(args.outer_loop),
           "--backbone", args.backbone, "--select-every", str(args.select_every), "--cost-epochs", str(args.cost_epochs),
           "--preset", args.preset, "--scale", str(args.scale), "--num-graphs", str(args.num_graphs),
           "--threads", str(args.threads)]
    if args.inner_loop is not None:
        out += ["--inner-loop", str(args.inner_loop)]
    if args.lam is not None:
        out += ["--lam", str(args.lam)]
    if args.ratios:
        out += ["--ratios"] + [str(r) for r in args.ratios[:1]]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=("cora", "synthetic"), default="cora")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--ratios", nargs="+", type=float, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--outer-loop", type=int, default=20)
    p.add_argument("--inner-loop", type=int, default=None, help="default: 15 transductive (GCond's Cora), 5 inductive")
    p.add_argument("--backbone", default="sgc", help="condensation backbone (official Cora runs: sgc)")
    p.add_argument("--select-every", type=int, default=10)
    p.add_argument("--structure-epochs", type=int, default=10,
                   help="structure epochs per cycle (official 10 of 50; scale both down for short runs)")
    p.add_argument("--cycle-epochs", type=int, default=50)
    p.add_argument("--original", action="store_true", help="also train on the whole training graph")
    p.add_argument("--lam", type=float, default=None, help="SR-GM lambda (default: its config default)")
    p.add_argument("--num-graphs", type=int, default=16, help="MSGC's B")
    p.add_argument("--preset", default="synth-ele-fashion")
    p.add_argument("--scale", type=float, default=0.03)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cost", action="store_true", help="measure seconds per epoch and peak memory instead")
    p.add_argument("--cost-epochs", type=int, default=4)
    p.add_argument("--cost-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--x-only", action=argparse.BooleanOptionalAction, default=True,
                   help="also evaluate each condensed graph's features with no edges (METHOD-X)")
    p.add_argument("--from-log", default=None, help="print the table of the JSON rows in this log and exit")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.cost_worker:
        cost_worker(args)
        return
    if args.from_log:  # rebuild the table from the JSON lines a (possibly interrupted) run printed
        with open(args.from_log) as fh:
            rows = [json.loads(line) for line in fh if line.startswith("{")]
        print(table(rows))
        return
    print(f"# settings: {vars(args)}", flush=True)
    if args.cost:
        print(run_cost(args))
        return
    rows = run_accuracy(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
