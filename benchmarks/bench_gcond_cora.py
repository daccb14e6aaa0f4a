"""GCond on real Cora against the GCond paper (Table 2), with seconds per epoch and peak memory.

For every ratio (1.3%, 2.6%, 5.2% of Cora's 2,708 nodes: 35, 70 and 140 synthetic nodes, GCond's
r = 0.25 / 0.5 / 1 of the 140 train nodes) and condensation seed, this condenses Cora with ``gcond``
configured as the official Cora command (``--sgc=1 --nlayers=2 --lr_feat=1e-4 --lr_adj=1e-4
--epoch=600``, inner loop 15) and evaluates the condensed graph with the harness's protocol (GCN, 2
layers, 256 hidden, 600 epochs, best validation epoch, edges below 0.05 dropped), one evaluation
seed per condensation seed. Beside it: the *same* condensed features evaluated with no edges
("GCond feats, A=0"), and GCond-X proper (``structure=none``), plus the whole-graph GCN.

Each condensation runs in its own process (so its peak RSS is its own), with ``--threads`` torch
threads; results are appended to ``--json`` as they finish and a re-run skips finished cells.

    python benchmarks/bench_gcond_cora.py                       # the full table (hours on 2 cores)
    python benchmarks/bench_gcond_cora.py --ratios 0.026 --seeds 0 --epochs 200   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

PAPER_GCOND = {0.013: (79.8, 1.3), 0.026: (80.1, 0.6), 0.052: (79.3, 0.3)}
PAPER_GCOND_X = {0.013: (75.9, 1.2), 0.026: (75.7, 0.9), 0.052: (76.0, 0.9)}
PAPER_WHOLE = (81.2, 0.2)
# the official Cora command (scripts/run_main.sh) as mmgc config
CORA_GCOND = dict(backbone="sgc", layers=2, lr_feat=1e-4, lr_adj=1e-4, epochs=600, outer_loop=20, inner_loop=15)


def _condense_and_evaluate(task: dict) -> dict:
    import resource

    import torch

    torch.set_num_threads(task["threads"])
    from mmgc.datasets import load_dataset
    from mmgc.graph import CondensedGraph
    from mmgc.harness.evaluate import evaluate
    from mmgc.methods import Context, create_method

    graph = load_dataset("cora")
    config = dict(CORA_GCOND, epochs=task["epochs"], **task["overrides"])
    method = create_method("gcond", config)
    cpu = time.process_time()
    condensed = method.condense_measured(graph, task["ratio"], Context(seed=task["seed"]))
    cpu = time.process_time() - cpu
    info = condensed.info
    out = {
        "key": task["key"], "variant": task["variant"], "ratio": task["ratio"], "seed": task["seed"], "n": condensed.num_nodes,
        "seconds_per_epoch": info["seconds_per_epoch"],
        "cpu_seconds_per_epoch": info["condense_cpu_seconds"] / max(info["epochs_run"], 1),
        "wall_seconds": info["wall_seconds"], "selection_seconds": info.get("selection_seconds"),
        "selected_epoch": info.get("selected_epoch"), "selected_val": info.get("selected_val"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "adj_density": float((condensed.adj >= 0.05).float().mean()),
        "condense_process_cpu_s": cpu,
    }
    rows = evaluate(condensed, graph, task["eval_arch"], [task["seed"]])
    out["test"] = rows[0]["test_metric"] * 100
    out["val"] = rows[0]["val_metric"] * 100
    if task["variant"] == "gcond":
        no_edges = CondensedGraph(x=condensed.x, adj=torch.zeros_like(condensed.adj), y=condensed.y,
                                  modalities=condensed.modalities, info=dict(info))
        rows = evaluate(no_edges, graph, task["eval_arch"], [task["seed"]])
        out["test_no_edges"] = rows[0]["test_metric"] * 100
    return out


def _whole(seeds: list[int], arch: str, threads: int) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    from mmgc.datasets import load_dataset
    from mmgc.harness.evaluate import evaluate_original

    rows = evaluate_original(load_dataset("cora"), arch, seeds)
    return [r["test_metric"] * 100 for r in rows]


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {std:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", default="0.013,0.026,0.052")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--variants", default="gcond,gcond_x", help="gcond (PGE) and/or gcond_x (structure=none)")
    parser.add_argument("--eval-arch", default="gcn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="condensations run in parallel")
    parser.add_argument("--set", action="append", default=[], help="extra gcond config key=value (all variants)")
    parser.add_argument("--json", default="results/bench_gcond_cora.json")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-graph GCN row")
    args = parser.parse_args(argv)

    ratios = [float(r) for r in args.ratios.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    extra = dict(kv.split("=", 1) for kv in args.set)
    path = Path(args.json)
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["key"]] = rec
    tasks = []
    for ratio in ratios:
        for variant in variants:
            for seed in seeds:
                overrides = dict(extra)
                if variant == "gcond_x":
                    overrides["structure"] = "none"
                key = json.dumps([variant, ratio, seed, args.epochs, sorted(overrides.items())])
                if key not in done:
                    tasks.append(dict(key=key, variant=variant, ratio=ratio, seed=seed, epochs=args.epochs,
                                      overrides=overrides, threads=args.threads, eval_arch=args.eval_arch))
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"{len(tasks)} condensations to run ({len(done)} already in {path})", flush=True)
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        for rec in pool.map(_condense_and_evaluate, tasks):
            done[rec["key"]] = rec
            with path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(f"  {rec['variant']:8s} ratio {rec['ratio']:.3f} seed {rec['seed']}: test {rec['test']:.1f}"
                  + (f" (A=0: {rec['test_no_edges']:.1f})" if "test_no_edges" in rec else "")
                  + f", {rec['seconds_per_epoch']:.3f} s/epoch wall, {rec['cpu_seconds_per_epoch']:.3f} s/epoch cpu,"
                  f" selected epoch {rec['selected_epoch']}, peak {rec['peak_rss_mb']:.0f} MB", flush=True)

    whole = [] if args.no_whole else _whole(seeds, args.eval_arch, args.threads)
    current = [r for r in done.values() if r["seed"] in seeds and r["ratio"] in ratios
               and json.loads(r["key"])[3] == args.epochs and dict(json.loads(r["key"])[4]).items() >= extra.items()]
    print()
    print(f"Cora, GCN evaluation, {len(seeds)} seeds, {args.epochs} condensation epochs "
          f"(ours: mean ± population std; paper: GCond Table 2)")
    header = ("| ratio | n | GCond (ours) | GCond (paper) | GCond feats, A=0 (ours) | GCond-X (ours) | GCond-X (paper) "
              "| s/epoch wall | s/epoch cpu | peak RSS MB |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for ratio in ratios:
        g = [r for r in current if r["ratio"] == ratio and r["variant"] == "gcond"]
        x = [r for r in current if r["ratio"] == ratio and r["variant"] == "gcond_x"]
        n = (g or x)[0]["n"] if (g or x) else "-"
        pg, px = PAPER_GCOND.get(ratio), PAPER_GCOND_X.get(ratio)
        spe = statistics.mean(r["seconds_per_epoch"] for r in g) if g else float("nan")
        cpe = statistics.mean(r["cpu_seconds_per_epoch"] for r in g) if g else float("nan")
        peak = max(r["peak_rss_mb"] for r in g) if g else float("nan")
        print(f"| {ratio * 100:.1f}% | {n} | {_fmt([r['test'] for r in g])} | "
              f"{'%.1f ± %.1f' % pg if pg else '-'} | {_fmt([r['test_no_edges'] for r in g])} | "
              f"{_fmt([r['test'] for r in x])} | {'%.1f ± %.1f' % px if px else '-'} | {spe:.3f} | {cpe:.3f} | {peak:.0f} |")
    if whole:
        print(f"| whole | 2708 | {_fmt(whole)} | {PAPER_WHOLE[0]} ± {PAPER_WHOLE[1]} | | | | | | |")


if __name__ == "__main__":
    sys.exit(main())
