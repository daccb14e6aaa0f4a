r"""Scale: every method and the evaluation on a Goodreads-NC-sized graph, in bounded memory (issue 8).

The graph is ``synth-goodreads-nc`` (aligned, inductive: 685,294 nodes, ~7.2M edges, 512+512 = 1,024
float32 dims, 2.8 GB of features), at ``--scales`` (default ``0.1 1``: a graph 10x smaller, then the
full size). Every step runs in a **fresh subprocess** (``--step``), so each step's peak resident
memory (``ru_maxrss``, a process-wide high-water mark) is its own:

- ``generate``: `load_dataset` from scratch (labels, O(E) SBM edges, edge normalisation, float32
  features in chunks), then a copy cached in ``--cache`` (``torch.save``; outside the repository) so
  later steps do not regenerate it;
- ``load``: the cached graph (``torch.load(mmap=True)``: features memory-mapped) plus the
  preprocessing every method shares: the train-induced (visible) graph, its GCN-normalised
  adjacency, the per-class neighbour sampler of gradient matching and the mini-batch
  `NeighborSampler` of "Original";
- one step per method (``random herding kcenter gcond sr_gm msgc sgdd``) condensing at ``--ratio``
  (default 0.0005 = 0.05% of the visible train graph: 203 synthetic nodes at full size, 20 at x0.1).
  Gradient matching runs ``--epochs`` outer epochs of ``--outer-loop`` matching steps (each: 11
  classes x ``batch_per_class`` 256 seeds with GCond's [10, 5] fan-outs) and the inductive default
  ``inner_loop`` 5; checkpoint selection is reduced to the one compulsory run at the last epoch
  (``select_every=0``) with ``select_epochs=--select-epochs`` and one validation
  (``select_eval_every=select_epochs``); ``diagnostics_every=0``. Time per outer epoch is the
  method's own ``seconds_per_epoch`` (wall time of the epochs, selection excluded). Herding and
  K-Center train their embedding GCN for ``--embed-steps`` steps (mini-batch above 200k visible
  nodes, full-batch below, the method's defaults) and embed every visible node;
- ``eval``: the protocol's GCN trained on one condensed graph (GCond's, saved by its step) for
  ``--eval-epochs`` epochs, validated every ``--eval-epochs // 2`` on the ~68k-node val graph, then
  predicting the ~203k-node test graph (sparse full-batch inference: O(E + N * hidden) memory);
- ``original``: "Original", the same GCN trained on the visible train graph with neighbour-sampled
  mini-batches (1,024 seeds, fan-outs [15, 10]) for ``--original-steps`` steps, validated once at the
  end; forced onto the mini-batch path at every scale (``full_batch_max_nodes=1``) so the two
  scales are comparable.

Each row reports wall seconds, CPU seconds (user + sys of the subprocess: on a shared machine the
ratio shows contention), peak RSS, and for gradient matching seconds and CPU seconds per outer
epoch; with two scales a last table gives, per method, time per outer epoch at the largest scale /
at the smallest (the goal for gradient matching: close to 1, the real gradient's cost does not grow
with the graph). ``--json PATH`` writes every row.

Example (the issue-8 figures)::

    nice -n 2 python benchmarks/bench_scale.py --scales 0.1 1 --epochs 2 --outer-loop 3 --select-epochs 5 \
        --embed-steps 10 --eval-epochs 10 --original-steps 10 --parallel 4 --json /tmp/bench_scale.json
    # the synthetic side held equal (n = 203 at x0.1), to separate it from the real side
    nice -n 2 python benchmarks/bench_scale.py --scales 0.1 --ratio 0.005 --methods gcond msgc sgdd \
        --skip load original eval --reuse-cache --parallel 3 --epochs 2 --outer-loop 3 --select-epochs 5

Torch runs one thread per process by default (``--threads``): on the oversubscribed shared cores
this was much faster than two (see ``bench_msgc_sgdd.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATASET = "synth-goodreads-nc"
GM_METHODS = ("gcond", "sr_gm", "msgc", "sgdd")
CORESETS = ("random", "herding", "kcenter")
METHODS = CORESETS + GM_METHODS


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cache_path(args: argparse.Namespace, scale: float) -> Path:
    return Path(args.cache) / f"{DATASET}_aligned_x{scale:g}.pt"


def condensed_path(args: argparse.Namespace, scale: float, method: str) -> Path:
    return Path(args.cache) / f"condensed_{method}_x{scale:g}.pt"


def load_cached(args: argparse.Namespace, scale: float):
    import torch

    return torch.load(cache_path(args, scale), mmap=True, weights_only=False)


# ------------------------------------------------------------------------------------------ steps
def step_generate(args: argparse.Namespace, scale: float) -> dict[str, Any]:
    import torch
    from mmgc.datasets import load_dataset

    t = time.perf_counter()
    graph = load_dataset(DATASET, alignment="aligned", scale=scale)
    seconds = time.perf_counter() - t
    path = cache_path(args, scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(graph, path)
    return {"seconds": seconds, "nodes": graph.num_nodes, "edges": graph.num_edges, "dims": graph.feature_dim,
            "train": int(graph.train_mask.sum()), "val": int(graph.val_mask.sum()), "test": int(graph.test_mask.sum())}


def step_load(args: argparse.Namespace, scale: float) -> dict[str, Any]:
    from mmgc.methods.gradient_matching import GCOND_FANOUTS, ClassNeighborSampler
    from mmgc.models.training import NeighborSampler, graph_adjacency

    t = time.perf_counter()
    graph = load_cached(args, scale)
    t_read = time.perf_counter() - t
    visible = graph.visible_graph()
    adj = graph_adjacency(visible)
    adj.gcn()  # the normalised operand a full-batch GCN would use
    ClassNeighborSampler(visible, graph.num_classes, 256, GCOND_FANOUTS[2], visible.x.device)
    NeighborSampler(visible.edge_index, visible.num_nodes, visible.edge_weight)
    return {"seconds": time.perf_counter() - t, "read_seconds": t_read, "visible_nodes": visible.num_nodes,
            "visible_edges": visible.num_edges}


def method_config(args: argparse.Namespace, name: str) -> dict[str, Any]:
    if name in GM_METHODS:
        return {"epochs": args.epochs, "outer_loop": args.outer_loop, "select_every": 0,
                "select_epochs": args.select_epochs, "select_eval_every": args.select_epochs,
                "diagnostics_every": 0}
    if name in ("herding", "kcenter"):
        return {"epochs": args.embed_steps, "eval_every": args.embed_steps, "lr_drop_epoch": None}
    return {}


def step_method(args: argparse.Namespace, scale: float, name: str) -> dict[str, Any]:
    from mmgc.methods import Context, create_method

    graph = load_cached(args, scale)
    rss_data = _rss_mb()
    t, c = time.perf_counter(), _cpu_s()
    condensed = create_method(name, method_config(args, name)).condense(graph, args.ratio, Context(seed=0))
    out: dict[str, Any] = {"seconds": time.perf_counter() - t, "cpu_seconds": _cpu_s() - c,
                           "n": condensed.num_nodes, "rss_after_data_mb": rss_data}
    info = condensed.info
    if name in GM_METHODS:
        out["s_per_epoch"] = info["seconds_per_epoch"]
        out["cpu_s_per_epoch"] = info["condense_cpu_seconds"] / max(info["epochs_run"], 1)
        out["epoch_seconds"] = [round(r["seconds"], 2) for r in info["history"]]
        out["selection_seconds"] = info.get("selection_seconds")
    condensed.save(condensed_path(args, scale, name))
    return out


def step_eval(args: argparse.Namespace, scale: float) -> dict[str, Any]:
    from mmgc.graph import CondensedGraph
    from mmgc.harness.evaluate import EvalConfig, evaluate

    graph = load_cached(args, scale)
    source = next((m for m in ("gcond",) + METHODS if condensed_path(args, scale, m).exists()), None)
    if source is None:
        raise RuntimeError("no condensed graph to evaluate: run a method step first")
    condensed = CondensedGraph.load(condensed_path(args, scale, source))
    config = EvalConfig(epochs=args.eval_epochs, eval_every=max(1, args.eval_epochs // 2), lr_drop_epoch=None)
    t, c = time.perf_counter(), _cpu_s()
    row = evaluate(condensed, graph, "gcn", [0], config)[0]
    return {"seconds": time.perf_counter() - t, "cpu_seconds": _cpu_s() - c, "condensed": source,
            "n": condensed.num_nodes, "test_nodes": int(graph.test_mask.sum()), "test_metric": row["test_metric"]}


def step_original(args: argparse.Namespace, scale: float) -> dict[str, Any]:
    from mmgc.harness.evaluate import EvalConfig, evaluate_original

    graph = load_cached(args, scale)
    config = EvalConfig(epochs=args.original_steps, sampled_eval_every=args.original_steps, lr_drop_epoch=None,
                        full_batch_max_nodes=1)
    t, c = time.perf_counter(), _cpu_s()
    row = evaluate_original(graph, "gcn", [0], config)[0]
    return {"seconds": time.perf_counter() - t, "cpu_seconds": _cpu_s() - c, "steps": args.original_steps,
            "test_metric": row["test_metric"]}


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    scale, step = args.worker_scale, args.step
    t, c = time.perf_counter(), _cpu_s()
    if step == "generate":
        out = step_generate(args, scale)
    elif step == "load":
        out = step_load(args, scale)
    elif step == "eval":
        out = step_eval(args, scale)
    elif step == "original":
        out = step_original(args, scale)
    else:
        out = step_method(args, scale, step)
    out.setdefault("seconds", time.perf_counter() - t)
    out.setdefault("cpu_seconds", _cpu_s() - c)
    out.update(step=step, scale=scale, process_seconds=time.perf_counter() - t, process_cpu_seconds=_cpu_s() - c,
               peak_rss_mb=_rss_mb(), ray_or_mlflow_imported=[m for m in ("ray", "mlflow") if m in sys.modules])
    print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------------ driver
def run_step(args: argparse.Namespace, scale: float, step: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--step", step, "--worker-scale", str(scale)] + passthrough(args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.step_timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"step": step, "scale": scale, "failed": True, "error": " | ".join(tail),
                "seconds": time.perf_counter() - t}
    return json.loads(lines[-1][len("RESULT "):])


def passthrough(args: argparse.Namespace) -> list[str]:
    return ["--cache", args.cache, "--ratio", str(args.ratio), "--epochs", str(args.epochs),
            "--outer-loop", str(args.outer_loop), "--select-epochs", str(args.select_epochs),
            "--embed-steps", str(args.embed_steps), "--eval-epochs", str(args.eval_epochs),
            "--original-steps", str(args.original_steps), "--threads", str(args.threads)]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[dict[str, Any]], limit_mb: float) -> str:
    lines = ["| scale | step | wall s | CPU s | s / outer epoch | CPU s / outer epoch | peak RSS MiB | < limit | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['scale']:g} | {r['step']} | {fmt(r.get('seconds'))} | - | - | - | - | - | "
                         f"FAILED: {r['error'][:160]} |")
            continue
        note = []
        if r["step"] == "generate":
            note.append(f"{r['nodes']:,} nodes, {r['edges']:,} directed edges, {r['dims']} dims")
        if r["step"] == "load":
            note.append(f"read {r['read_seconds']:.1f} s; visible {r['visible_nodes']:,} nodes")
        if "n" in r:
            note.append(f"n={r['n']}")
        if r["step"] == "eval":
            note.append(f"{r['condensed']} graph, {r['test_nodes']:,} test nodes, test {r['test_metric']:.3f}")
        if r["step"] == "original":
            note.append(f"{r['steps']} steps, test {r['test_metric']:.3f}")
        if r.get("selection_seconds") is not None:
            note.append(f"selection {r['selection_seconds']:.1f} s")
        ok = "yes" if r["peak_rss_mb"] < limit_mb else "NO"
        lines.append(f"| {r['scale']:g} | {r['step']} | {fmt(r['seconds'])} | {fmt(r['cpu_seconds'])} | "
                     f"{fmt(r.get('s_per_epoch'), 2)} | {fmt(r.get('cpu_s_per_epoch'), 2)} | {r['peak_rss_mb']:.0f} | "
                     f"{ok} | {'; '.join(note)} |")
    return "\n".join(lines)


def ratio_table(rows: list[dict[str, Any]], scales: list[float]) -> str:
    lo, hi = min(scales), max(scales)
    by = {(r["scale"], r["step"]): r for r in rows if not r.get("failed")}
    lines = [f"| method | s / outer epoch x{lo:g} | x{hi:g} | ratio (wall) | CPU s / epoch x{lo:g} | x{hi:g} | ratio (CPU) |",
             "|---|---|---|---|---|---|---|"]
    for m in GM_METHODS:
        a, b = by.get((lo, m)), by.get((hi, m))
        if not a or not b:
            continue
        lines.append(f"| {m} | {a['s_per_epoch']:.2f} | {b['s_per_epoch']:.2f} | {b['s_per_epoch'] / a['s_per_epoch']:.2f} | "
                     f"{a['cpu_s_per_epoch']:.2f} | {b['cpu_s_per_epoch']:.2f} | "
                     f"{b['cpu_s_per_epoch'] / a['cpu_s_per_epoch']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--skip", nargs="*", default=[], help="steps to leave out (generate, load, eval, original, a method)")
    p.add_argument("--reuse-cache", action="store_true", help="skip 'generate' where the cached graph exists")
    p.add_argument("--cache", default="/tmp/mmgc_bench_scale")
    p.add_argument("--ratio", type=float, default=0.0005)
    p.add_argument("--epochs", type=int, default=2, help="outer epochs of gradient matching")
    p.add_argument("--outer-loop", type=int, default=5, help="matching steps per outer epoch")
    p.add_argument("--select-epochs", type=int, default=10, help="training epochs of the last-epoch selection")
    p.add_argument("--embed-steps", type=int, default=20, help="training steps of the coresets' embedding GCN")
    p.add_argument("--eval-epochs", type=int, default=20, help="protocol GCN epochs on the condensed graph")
    p.add_argument("--original-steps", type=int, default=20, help="mini-batch steps of 'Original'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parallel", type=int, default=1, help="steps run at once (each in its own subprocess)")
    p.add_argument("--limit-gib", type=float, default=16.0)
    p.add_argument("--step-timeout", type=float, default=3600)
    p.add_argument("--json", default=None)
    p.add_argument("--step", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-scale", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.step:
        worker(args)
        return
    rows: list[dict[str, Any]] = []
    print(f"# settings: {json.dumps({k: v for k, v in vars(args).items() if k not in ('step', 'worker_scale')})}",
          flush=True)
    scales = sorted(args.scales)

    def wanted(step: str, scale: float) -> bool:
        if step in args.skip:
            return False
        return not (step == "generate" and args.reuse_cache and cache_path(args, scale).exists())

    # three waves, each run with up to --parallel subprocesses at once (every step is its own process,
    # so its peak RSS and CPU time are its own either way): the graphs; every step that only reads a
    # cached graph; the evaluation of a condensed graph (it reads the one a method step saved)
    waves = [[(s, "generate") for s in scales],
             [(s, step) for s in reversed(scales) for step in ["load"] + list(args.methods) + ["original"]],
             [(s, "eval") for s in scales]]
    results: dict[tuple[float, str], dict[str, Any]] = {}
    from concurrent.futures import ThreadPoolExecutor

    for wave in waves:
        todo = [(s, step) for s, step in wave if wanted(step, s)]
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            for (s, step), row in zip(todo, pool.map(lambda job: run_step(args, job[0], job[1]), todo)):
                results[(s, step)] = row
                print(json.dumps(row), flush=True)
    order = ["generate", "load"] + list(args.methods) + ["eval", "original"]
    rows = [results[(s, step)] for s in scales for step in order if (s, step) in results]
    print()
    print(table(rows, args.limit_gib * 1024))
    if len(set(args.scales)) > 1:
        print()
        print(ratio_table(rows, args.scales))
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": {k: v for k, v in vars(args).items()
                                                            if k not in ('step', 'worker_scale')}, "rows": rows},
                                              indent=1))


if __name__ == "__main__":
    main()
