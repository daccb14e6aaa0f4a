"""SR-GM against its ablation ``w/o D`` and GCond on synthetic multimodal graphs with modality conflict.

For each dataset (default: the small ``synthetic`` CSBM, 20% of nodes with a conflicting image
modality, in its ``aligned`` and ``unaligned`` variants), each ratio and each condensation seed, this
condenses with

- ``sr_gm``  (decoupling + damping, ``lam`` as given),
- ``w/o D``  (``sr_gm`` with ``decouple=false``: damping only),
- ``gcond``  (= ``sr_gm`` with ``lam=0``, which the tests show is GCond bit for bit),

evaluates each condensed graph with the harness's protocol (GCN, ``--eval-seeds`` runs, mean of
the runs per condensation), prints the table (mean ± std over condensation seeds) and draws the
diagnostic curves per epoch (conflict fraction of the per-node modality gradients, Dirichlet energy
of the feature-gradient field before/after decoupling, intra-modal similarity of the synthetic
features, and ``lam * |dR/dX| / |dL_gm/dX|``), averaged over seeds, as PNG files.

Settings: GCond's defaults except ``backbone=sgc`` (GCond's own choice in its scripts; 2.5x cheaper
than GCN here), ``lr_feat = lr_adj = 1e-2`` and ``epochs=100``: these features have unit-scale noise
(Cora's row-normalised bag of words is ~20x smaller), and on ``synthetic`` aligned at ratio 0.05 (seed
0, 100 epochs, by *validation* accuracy) GCond reached 47.4 / 66.8 / 67.4 % with lr 1e-4 / 1e-3 /
1e-2 (test 39.6 / 68.6 / 67.8; the whole-graph GCN gets 66.0 and a random 5% coreset 43.8). ``--set``
overrides any of them.

Each condensation runs in its own process; records are appended to ``--json`` (a re-run skips what
is there), so the study can be stopped and resumed.

    python benchmarks/bench_sr_gm_synthetic.py                    # 2 datasets x 2 ratios x 3 methods x 3 seeds
    python benchmarks/bench_sr_gm_synthetic.py --lams 1e4,1e5,1e6 --methods sr_gm --seeds 0   # a lambda scan
    python benchmarks/bench_sr_gm_synthetic.py --datasets synthetic-conflict --ratios 0.03 --epochs 40 --seeds 0,1 \
        --methods "gcond,sr_gm,sr_gm authors,sr_gm relative,sr_gm target" --lams 1e2,1e3 \
        --method-lams "sr_gm authors=3000,sr_gm relative=0.1,sr_gm target=1e2" --set diagnostics_every=5  # conflict testbed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

CURVES = ("conflict_frac", "grad_cos", "dirichlet_G", "dirichlet_Gp", "intra_sim", "ratio_x/damping", "loss_gm",
          "adj_mean", "R", "conflict_frac/first", "conflict_frac/last", "ratio_x/damping/first", "ratio_x/damping/last",
          "adj_density", "dead_backbone")


def _authors() -> dict:
    """The `authors` preset (mmgc/presets.yaml) without its epochs and lambda, which the sweep sets."""
    from mmgc.presets import load_preset

    return {k: v for k, v in load_preset("sr_gm", "authors").items() if k not in ("epochs", "lam")}


METHODS = {
    "sr_gm": {},
    "w/o D": {"decouple": False},
    "gcond": {"lam": 0.0},
    "sr_gm meta": {"decouple_target": "meta_gradient"},
    "sr_gm total": {"feature_grad": "total"},
    "sr_gm fixed-A": {"damp_structure": False},
    "w/o D fixed-A": {"decouple": False, "damp_structure": False},
    "sr_gm authors": "authors",  # the SR-GM authors' form (their code's settings), see `_authors`
    "sr_gm relative": {"damping_scale": "relative"},  # lam is R's share of the feature update
    "sr_gm target": {"decouple_target": "target_gradient"},
}


DEFAULTS = {"backbone": "sgc", "lr_feat": "1e-2", "lr_adj": "1e-2"}


def _parse_dataset(spec: str) -> tuple[str, dict]:
    name, *opts = spec.split(":")
    return name, dict(kv.split("=", 1) for kv in opts)


def _run(task: dict) -> dict:
    import torch

    torch.set_num_threads(task["threads"])
    from mmgc.datasets import load_dataset
    from mmgc.harness.evaluate import evaluate
    from mmgc.methods import Context, create_method

    name, options = _parse_dataset(task["dataset"])
    graph = load_dataset(name, **options)
    config = dict(task["config"])
    condensed = create_method("sr_gm", config).condense(graph, task["ratio"], Context(seed=task["seed"]))
    rows = evaluate(condensed, graph, "gcn", task["eval_seeds"])
    tests = [r["test_metric"] * 100 for r in rows]
    vals = [r["val_metric"] * 100 for r in rows]
    info = condensed.info
    history = {k: [h.get(k) for h in info["history"]] for k in CURVES}
    history["val"] = [h.get("val") for h in info["history"]]
    return {
        "key": task["key"], "dataset": task["dataset"], "ratio": task["ratio"], "method": task["method"], "lam": task["lam"],
        "seed": task["seed"], "n": condensed.num_nodes, "test": statistics.mean(tests), "val": statistics.mean(vals),
        "tests": tests, "selected_epoch": info.get("selected_epoch"), "selected_val": info.get("selected_val"),
        "seconds_per_epoch": info["seconds_per_epoch"],
        "cpu_seconds_per_epoch": info["condense_cpu_seconds"] / max(info["epochs_run"], 1), "history": history,
    }


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.mean(values):.1f} ± {statistics.pstdev(values) if len(values) > 1 else 0.0:.1f}"


def _plot(records: list[dict], datasets: list[str], ratios: list[float], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    labels = sorted({r["label"] for r in records})
    colors = {lab: f"C{i}" for i, lab in enumerate(labels)}  # one colour per method in every panel
    panels = [("conflict_frac", "conflict fraction of G_S", False), ("dirichlet_G", "Dirichlet energy of G_S", True),
              ("dirichlet_Gp", "Dirichlet energy of G'_S (decoupled)", True), ("intra_sim", "intra-modal similarity of X_S", False),
              ("ratio_x/damping", "lam |dR/dX| / |dL_gm/dX|", True), ("loss_gm", "matching loss", True)]
    for ratio in ratios:
        fig, axes = plt.subplots(len(panels), len(datasets), figsize=(5.2 * len(datasets), 2.6 * len(panels)),
                                 squeeze=False, sharex=True)
        for col, ds in enumerate(datasets):
            for row, (key, title, log) in enumerate(panels):
                ax = axes[row][col]
                for label in labels:
                    runs = [r for r in records if r["dataset"] == ds and r["ratio"] == ratio and r["label"] == label]
                    series = [np.array([np.nan if v is None else v for v in r["history"][key]], dtype=float) for r in runs
                              if key in r["history"]]
                    if not series or all(np.all(np.isnan(s)) for s in series):
                        continue
                    length = min(len(s) for s in series)
                    mean = np.nanmean(np.stack([s[:length] for s in series]), 0)
                    window = max(1, length // 20)  # the backbone is re-drawn every epoch: smooth the noise
                    smooth = np.convolve(np.nan_to_num(mean, nan=np.nanmean(mean)), np.ones(window) / window, mode="valid")
                    ax.plot(np.arange(window - 1, length), smooth, label=label, lw=1.4, color=colors[label])
                    ax.plot(np.arange(length), mean, color=colors[label], lw=0.5, alpha=0.3)
                if log:
                    ax.set_yscale("log")
                ax.set_title(f"{ds}\n{title}" if row == 0 else title, fontsize=9)
                ax.grid(alpha=0.3)
                if row == len(panels) - 1:
                    ax.set_xlabel("epoch")
            axes[0][col].legend(fontsize=8)
        fig.suptitle(f"SR-GM diagnostics per epoch (mean over seeds; bold: moving average), ratio {ratio:g}")
        fig.tight_layout()
        path = out / f"sr_gm_synthetic_diagnostics_r{ratio:g}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic:alignment=aligned,synthetic:alignment=unaligned",
                        help="comma list of name[:option=value...]")
    parser.add_argument("--ratios", default="0.02,0.05")
    parser.add_argument("--methods", default="sr_gm,w/o D,gcond", help=f"among {list(METHODS)}")
    parser.add_argument("--lams", default="1e3", help="lambda values for the methods that use it")
    parser.add_argument("--method-lams", default="",
                        help="per-method lambda lists overriding --lams, e.g. 'sr_gm authors=3000|300,sr_gm relative=0.1'")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--eval-seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--set", action="append", default=[], help="extra sr_gm config key=value")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", default="results/bench_sr_gm_synthetic.jsonl")
    parser.add_argument("--figures", default="benchmarks/figures")
    args = parser.parse_args(argv)

    datasets = [d for d in args.datasets.split(",") if d]
    ratios = [float(r) for r in args.ratios.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    lams = [float(v) for v in args.lams.split(",")]
    method_lams = {m: [float(v) for v in vs.split("|")] for m, vs in
                   (item.split("=", 1) for item in args.method_lams.split(",") if item)}
    seeds = [int(s) for s in args.seeds.split(",")]
    eval_seeds = [int(s) for s in args.eval_seeds.split(",")]
    extra = dict(DEFAULTS, **dict(kv.split("=", 1) for kv in args.set))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["key"]] = rec
    tasks, wanted = [], []
    for ds in datasets:
        for ratio in ratios:
            for method in methods:
                fixed_zero = METHODS[method] != "authors" and METHODS[method].get("lam", None) == 0.0
                for lam in ([0.0] if fixed_zero else method_lams.get(method, lams)):
                    for seed in seeds:
                        config = dict(epochs=args.epochs, lam=lam, **extra)
                        config.update(_authors() if METHODS[method] == "authors" else METHODS[method])
                        key = json.dumps([ds, ratio, method, lam, seed, sorted(config.items()), eval_seeds])
                        wanted.append(key)
                        if key not in done:
                            tasks.append(dict(key=key, dataset=ds, ratio=ratio, method=method, lam=lam, seed=seed,
                                              config=config, threads=args.threads, eval_seeds=eval_seeds))
    print(f"{len(tasks)} condensations to run ({len(wanted) - len(tasks)} already in {path})", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        for rec in pool.map(_run, tasks):
            done[rec["key"]] = rec
            with path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(f"  {rec['dataset']} r={rec['ratio']} {rec['method']} lam={rec['lam']:g} seed {rec['seed']}: "
                  f"test {rec['test']:.1f} (val {rec['val']:.1f}), {rec['cpu_seconds_per_epoch']:.3f} s/epoch cpu", flush=True)

    records = [done[k] for k in wanted if k in done]
    for r in records:
        several = len(method_lams.get(r["method"], lams)) > 1
        r["label"] = f"{r['method']} lam={r['lam']:g}" if r["method"] != "gcond" and several else r["method"]
    print()
    print(f"GCN test accuracy (%), mean ± std over {len(seeds)} condensation seeds (each the mean of "
          f"{len(eval_seeds)} evaluation runs); {args.epochs} epochs")
    labels = sorted({r["label"] for r in records}, key=lambda s: (not s.startswith("sr_gm"), s))
    header = "| dataset | ratio | n | " + " | ".join(labels) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for ds in datasets:
        for ratio in ratios:
            cell = [r for r in records if r["dataset"] == ds and r["ratio"] == ratio]
            if not cell:
                continue
            row = [_fmt([r["test"] for r in cell if r["label"] == lab]) for lab in labels]
            print(f"| {ds} | {ratio:g} | {cell[0]['n']} | " + " | ".join(row) + " |")
    print()
    print("Validation accuracy (%) of the same runs (what lambda and settings are chosen on)")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for ds in datasets:
        for ratio in ratios:
            cell = [r for r in records if r["dataset"] == ds and r["ratio"] == ratio]
            if cell:
                row = [_fmt([r["val"] for r in cell if r["label"] == lab]) for lab in labels]
                print(f"| {ds} | {ratio:g} | {cell[0]['n']} | " + " | ".join(row) + " |")
    print()
    print("Diagnostics at the last epoch (mean over seeds): conflict fraction / Dirichlet(G) / ratio_x")
    for ds in datasets:
        for ratio in ratios:
            for lab in labels:
                cell = [r for r in records if r["dataset"] == ds and r["ratio"] == ratio and r["label"] == lab]
                if not cell:
                    continue

                def last(key):
                    vals = [next((v for v in reversed(r["history"][key]) if v is not None), None) for r in cell]
                    vals = [v for v in vals if v is not None]
                    return statistics.mean(vals) if vals else float("nan")

                print(f"  {ds} r={ratio:g} {lab}: conflict {last('conflict_frac'):.3f} (step 0 "
                      f"{last('conflict_frac/first'):.3f}, last step {last('conflict_frac/last'):.3f}), "
                      f"dirichlet {last('dirichlet_G'):.3g}, ratio {last('ratio_x/damping'):.3g} (step 0 "
                      f"{last('ratio_x/damping/first'):.3g}, last step {last('ratio_x/damping/last'):.3g}), "
                      f"intra-sim {last('intra_sim'):.3f}, adj mean {last('adj_mean'):.3f}, "
                      f"density {last('adj_density'):.3f}, dead backbone {last('dead_backbone'):.2f}")
    out = Path(args.figures)
    out.mkdir(parents=True, exist_ok=True)
    for p in _plot(records, datasets, ratios, out):
        print(f"figure: {p}")


if __name__ == "__main__":
    sys.exit(main())
