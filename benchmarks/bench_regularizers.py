"""Training-time regularizers (OptiMAG, DAGR) beside the plain backbone: accuracy and cost per epoch.

For each dataset, each architecture and each regularizer setting (none / OptiMAG / DAGR by default):

1. **Original graph**: the evaluation protocol's "Original" column (`evaluate_original`) over the
   evaluation seeds, with the regularizers passed through ``regularizers=`` exactly as a sweep does.
2. **Condensed graph** (``--condense METHOD``, e.g. ``sr_gm``): one condensation per dataset and
   ratio, then `evaluate` on it with each regularizer setting over the same seeds.
3. **Cost per epoch**: seconds per training epoch (forward, task loss, regularizer loss, backward,
   Adam step; no validation) on the same graphs, and the ratio to the plain backbone's.

It prints Markdown tables (mean ± population std of the test metric, validation beside it) and, with
``--out FILE``, writes every row and timing as JSON.

Example (what the note's tables come from; ``nice`` because the machine is shared)::

    nice python benchmarks/bench_regularizers.py --seeds 0,1,2,3,4 \\
        --dataset synth-ele-fashion:alignment=aligned,scale=0.03 \\
        --dataset synth-ele-fashion:alignment=unaligned,scale=0.03 \\
        --dataset magb-toys+synthfeat --out results/bench_regularizers.json

Dataset specs are ``name[:key=value,...]`` (options of `mmgc.datasets.load_dataset`; lists such as
``dims`` are written ``128/128``); regularizer settings are separated by ``;`` and each is what
`mmgc.regularizers.parse_regularizers` reads (``none``, ``optimag:weight=0.1``, ``optimag+dagr``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmgc.datasets import load_dataset  # noqa: E402
from mmgc.harness.evaluate import EvalConfig, evaluate, evaluate_original  # noqa: E402
from mmgc.models import build_backbone  # noqa: E402
from mmgc.models.training import TrainConfig, graph_adjacency, seed_all, train_node_classifier  # noqa: E402
from mmgc.regularizers import parse_regularizers, regularizer_loss  # noqa: E402

DEFAULT_DATASETS = (
    "synth-ele-fashion:alignment=aligned,scale=0.03",
    "synth-ele-fashion:alignment=unaligned,scale=0.03",
    "magb-toys+synthfeat",
)
SHARED_MAGB = ROOT.parent / "shared" / "data" / "magb"


def parse_dataset(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (i.strip() for i in rest.split(","))):
        key, _, value = item.partition("=")
        options[key] = value.split("/") if "/" in value else value
    return name, options


def load(spec: str):
    name, options = parse_dataset(spec)
    root = None
    if name.startswith("magb-"):
        root = os.environ.get("MMGC_MAGB_ROOT", str(SHARED_MAGB))
    return load_dataset(name, root=root, **options)


def label(setting: str) -> str:
    return setting if setting and setting != "none" else "none"


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    m = statistics.fmean(values)
    s = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{100 * m:.2f} ± {100 * s:.2f}"


def _setting_of(described: str) -> str:
    """The --regs setting a row was run with, recovered from its ``regularizers`` JSON column."""
    items = json.loads(described or "[]")
    if not items:
        return "none"
    return "+".join(_spec_of(item) for item in items)


def _setting_of_label(setting: str) -> str:
    from mmgc.regularizers import describe_regularizers

    return _setting_of(describe_regularizers(parse_regularizers(None if setting == "none" else setting)))


def _spec_of(item: dict) -> str:
    """``name[:k=v,...]`` listing only the config values that differ from the defaults."""
    from mmgc.regularizers import get_regularizer

    cls = get_regularizer(item["name"])
    defaults = cls.Config()
    changed = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
               for k, v in item["config"].items() if getattr(defaults, k) != v]
    return item["name"] + (":" + ",".join(changed) if changed else "")


def seconds_per_epoch(graph, arch: str, setting: str, epochs: int, hidden: int, device: str) -> float:
    """Seconds per training epoch on the graph the method may see (no validation inside)."""
    visible = graph.visible_graph()
    train = visible.train_mask.nonzero()[:, 0].to(device)
    x, adj = visible.x.to(device), graph_adjacency(visible).to(device)
    seed_all(0)
    model = build_backbone(arch, graph.feature_dim, hidden, graph.num_classes, 2, 0.0, graph.modalities).to(device)
    regs = parse_regularizers(None if setting == "none" else setting)
    extra = regularizer_loss(regs, seed=0) if regs else None
    config = TrainConfig(epochs=epochs, eval_every=10**9, lr_drop_epoch=None)
    train_node_classifier(model, x, adj, visible.y[train.cpu()].to(device), lambda m: 0.0,  # warm-up
                          TrainConfig(epochs=2, eval_every=10**9, lr_drop_epoch=None), train_index=train, extra_loss=extra)
    start = time.perf_counter()
    train_node_classifier(model, x, adj, visible.y[train.cpu()].to(device), lambda m: 0.0, config,
                          train_index=train, extra_loss=extra)
    return (time.perf_counter() - start) / epochs


def condensed_seconds_per_epoch(condensed, graph, arch: str, setting: str, epochs: int, hidden: int, device: str) -> float:
    from mmgc.adjacency import Adjacency
    from mmgc.models.protocol import threshold_edges

    x = condensed.x.float().to(device)
    adj = Adjacency.from_dense(threshold_edges(condensed.adj.float(), EvalConfig().threshold_for(graph)).to(device))
    seed_all(0)
    model = build_backbone(arch, graph.feature_dim, hidden, graph.num_classes, 2, 0.0, graph.modalities).to(device)
    regs = parse_regularizers(None if setting == "none" else setting)
    extra = regularizer_loss(regs, seed=0) if regs else None
    config = TrainConfig(epochs=epochs, eval_every=10**9, lr_drop_epoch=None)
    y = condensed.y.to(device)
    start = time.perf_counter()
    train_node_classifier(model, x, adj, y, lambda m: 0.0, config, extra_loss=extra)
    return (time.perf_counter() - start) / epochs


def timing_only(args, datasets: list[str], archs: list[str], settings: list[str], hidden: int) -> int:
    """Seconds per epoch of each setting, measured in interleaved rounds; prints the median and the
    ratio to the plain backbone (the first setting)."""
    labels = [label(s) for s in settings]
    results: dict[tuple, list[float]] = {}
    for spec in datasets:
        graph = load(spec)
        for arch in archs:
            for _ in range(args.timing_rounds):
                for setting in settings:
                    sec = seconds_per_epoch(graph, arch, setting, args.timing_epochs, hidden, args.device)
                    results.setdefault((spec, arch, label(setting)), []).append(sec)
            print(f"  {spec} {arch}: " + ", ".join(
                f"{lab} {1000 * statistics.median(results[(spec, arch, lab)]):.1f} ms" for lab in labels), flush=True)
    print(f"\n### Cost per training epoch (ms), original graph: median of {args.timing_rounds} interleaved rounds of "
          f"{args.timing_epochs} epochs (no validation); ratio to the plain backbone\n")
    print("| dataset | arch | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for spec in datasets:
        for arch in archs:
            base = statistics.median(results[(spec, arch, labels[0])])
            cells = []
            for lab in labels:
                sec = statistics.median(results[(spec, arch, lab)])
                cells.append(f"{1000 * sec:.1f}" if lab == labels[0] else f"{1000 * sec:.1f} (x{sec / base:.1f})")
            print(f"| {spec} | {arch} | " + " | ".join(cells) + " |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "timing": [
            {"dataset": k[0], "arch": k[1], "regularizers": k[2], "seconds_per_epoch": v} for k, v in results.items()]},
            indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", help="dataset spec name[:k=v,...] (repeatable)")
    p.add_argument("--archs", default="gcn,mmgcn")
    p.add_argument("--regs", default="none;optimag;dagr", help="regularizer settings separated by ';'")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=600, help="evaluation epochs (protocol: 600, lr drop at half)")
    p.add_argument("--eval-every", type=int, default=1, help="validate every this many epochs (protocol: 1)")
    p.add_argument("--timing-epochs", type=int, default=20)
    p.add_argument("--skip-original", action="store_true")
    p.add_argument("--timing-only", action="store_true",
                   help="only the cost table: the settings timed in turn, --timing-rounds times (median), so that "
                        "a changing machine load affects them alike")
    p.add_argument("--timing-rounds", type=int, default=3)
    p.add_argument("--condense", default=None, help="also condense with this method (e.g. sr_gm) and evaluate on it")
    p.add_argument("--ratio", type=float, default=None, help="condensation ratio (default: 0.01 inductive / 0.005)")
    p.add_argument("--condense-set", action="append", default=[], help="method config key=value (repeatable)")
    p.add_argument("--condense-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="write rows and timings as JSON here")
    p.add_argument("--resume", action="store_true", help="reuse the results already in --out (same settings)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    datasets = args.dataset or list(DEFAULT_DATASETS)
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    settings = [s.strip() for s in args.regs.split(";") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    eval_config = EvalConfig(epochs=args.epochs, lr_drop_epoch=args.epochs // 2, eval_every=args.eval_every)
    hidden = eval_config.hidden
    out: dict[str, Any] = {"args": vars(args), "original": [], "condensed": [], "timing": [], "condense": []}
    acc: dict[tuple, list[float]] = {}
    val: dict[tuple, list[float]] = {}
    timing: dict[tuple, float] = {}

    done: set[tuple] = set()
    if args.resume and args.out and Path(args.out).exists():
        from mmgc.regularizers import describe_regularizers

        previous = json.loads(Path(args.out).read_text())
        canonical = {_setting_of(describe_regularizers(parse_regularizers(None if s == "none" else s))): label(s)
                     for s in settings}
        for t in previous.get("timing", []):
            rows = [r for r in previous["original"] + previous["condensed"]
                    if (r["bench_dataset"], r["bench_graph"], r["arch"]) == (t["dataset"], t["graph"], t["arch"])
                    and _setting_of(r["regularizers"]) == _setting_of_label(t["regularizers"])]
            if not rows or _setting_of_label(t["regularizers"]) not in canonical:
                continue
            key = (t["dataset"], t["graph"], t["arch"], canonical[_setting_of_label(t["regularizers"])])
            t = dict(t, regularizers=key[3])
            done.add(key)
            timing[key] = t["seconds_per_epoch"]
            acc[key] = [r["test_metric"] for r in rows if r["status"] == "ok"]
            val[key] = [r["val_metric"] for r in rows if r["status"] == "ok"]
            out["timing"].append(t)
            out["original" if key[1] == "original" else "condensed"].extend(rows)
        out["condense"] = previous.get("condense", [])
        print(f"resuming: {len(done)} (dataset, graph, arch, regularizers) cells reused from {args.out}", flush=True)

    def save() -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(out, indent=1, default=str))

    if args.timing_only:
        return timing_only(args, datasets, archs, settings, hidden)

    for spec in datasets:
        graph = load(spec)
        print(f"# {spec}: {graph.num_nodes} nodes, {graph.num_edges} edges, {graph.num_classes} classes, "
              f"{graph.setting}, homophily {graph.edge_homophily():.3f}", flush=True)
        graphs = []
        if not args.skip_original:
            graphs.append(("original", None))
        if args.condense:
            from mmgc.methods.base import Context, create_method

            values = dict(kv.split("=", 1) for kv in args.condense_set)
            ratio = args.ratio if args.ratio is not None else (0.01 if graph.setting == "inductive" else 0.005)
            start = time.perf_counter()
            condensed = create_method(args.condense, values).condense(graph, ratio, Context(seed=args.condense_seed))
            seconds = time.perf_counter() - start
            print(f"  condensed with {args.condense} at ratio {ratio}: n = {condensed.num_nodes} in {seconds:.0f} s",
                  flush=True)
            out["condense"].append({"dataset": spec, "method": args.condense, "ratio": ratio, "n": condensed.num_nodes,
                                    "seconds": seconds, "config": values})
            graphs.append((f"{args.condense}@{ratio:g}", condensed))
        for where, condensed in graphs:
            for arch in archs:
                for setting in settings:
                    regs = None if setting == "none" else setting
                    key = (spec, where, arch, label(setting))
                    if key in done:
                        print(f"  {where:>14} {arch:>6} {label(setting):>24}: test {mean_std(acc[key])}  (reused)",
                              flush=True)
                        continue
                    start = time.perf_counter()
                    if condensed is None:
                        rows = evaluate_original(graph, arch, seeds, eval_config, device=args.device, regularizers=regs)
                    else:
                        rows = evaluate(condensed, graph, arch, seeds, eval_config, device=args.device, regularizers=regs)
                    acc[key] = [r["test_metric"] for r in rows if r["status"] == "ok"]
                    val[key] = [r["val_metric"] for r in rows if r["status"] == "ok"]
                    if condensed is None:
                        sec = seconds_per_epoch(graph, arch, setting, args.timing_epochs, hidden, args.device)
                    else:
                        sec = condensed_seconds_per_epoch(condensed, graph, arch, setting, args.timing_epochs, hidden,
                                                          args.device)
                    timing[key] = sec
                    out["original" if condensed is None else "condensed"].extend(
                        dict(r, bench_dataset=spec, bench_graph=where) for r in rows)
                    out["timing"].append({"dataset": spec, "graph": where, "arch": arch, "regularizers": label(setting),
                                          "seconds_per_epoch": sec})
                    print(f"  {where:>14} {arch:>6} {label(setting):>24}: test {mean_std(acc[key])}  "
                          f"val {mean_std(val[key])}  {1000 * sec:.1f} ms/epoch  ({time.perf_counter() - start:.0f} s)",
                          flush=True)
                    save()

    # ------------------------------------------------------------------ tables
    labels = [label(s) for s in settings]
    wheres = sorted({k[1] for k in acc}, key=lambda w: (w != "original", w))
    for where in wheres:
        print(f"\n### Test accuracy (%), trained on the {where} graph, mean ± std over seeds {seeds}\n")
        print("| dataset | arch | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for spec in datasets:
            for arch in archs:
                cells = []
                base = acc.get((spec, where, arch, labels[0]))
                for lab in labels:
                    values = acc.get((spec, where, arch, lab), [])
                    cell = mean_std(values)
                    if base and values and lab != labels[0]:
                        cell += f" ({100 * (statistics.fmean(values) - statistics.fmean(base)):+.2f})"
                    cells.append(cell)
                print(f"| {spec} | {arch} | " + " | ".join(cells) + " |")
        print(f"\n### Validation accuracy (%), {where} graph\n")
        print("| dataset | arch | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for spec in datasets:
            for arch in archs:
                print(f"| {spec} | {arch} | " + " | ".join(mean_std(val.get((spec, where, arch, lab), []))
                                                          for lab in labels) + " |")
        print(f"\n### Cost per training epoch (ms), {where} graph ({args.timing_epochs} epochs, no validation; "
              f"ratio to the plain backbone)\n")
        print("| dataset | arch | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for spec in datasets:
            for arch in archs:
                base = timing.get((spec, where, arch, labels[0]))
                cells = []
                for lab in labels:
                    sec = timing.get((spec, where, arch, lab))
                    if sec is None:
                        cells.append("—")
                    elif base and lab != labels[0]:
                        cells.append(f"{1000 * sec:.1f} (x{sec / base:.1f})")
                    else:
                        cells.append(f"{1000 * sec:.1f}")
                print(f"| {spec} | {arch} | " + " | ".join(cells) + " |")
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
