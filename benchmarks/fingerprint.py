"""Fingerprint every method's output on fixed seeds, so a refactor can show that it changed no number.

For each case (a method and a small config, on a small synthetic graph, one seed) it records the
config hash, the condensed graph (features, adjacency and labels: exact values and a SHA-256 of their
bytes), the history and ``info`` without timings, and the evaluation rows of one short GCN run (val
and test metric, without timings and provenance). ``--compare A B`` then says, case by case, whether
two fingerprints are bit-identical, equal up to a tolerance (``--atol``: a change of summation order),
or different, and exits 1 on any difference beyond the tolerance.

    python benchmarks/fingerprint.py --out before.json            # on the old tree
    python benchmarks/fingerprint.py --out after.json             # on the new tree
    python benchmarks/fingerprint.py --compare before.json after.json [--atol 1e-5]

Keys a case records on only one side (a column added by the change) are listed, not failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import warnings
from typing import Any

import torch

# keys whose values are wall-clock or provenance, never a result
_VOLATILE = ("seconds", "elapsed", "wall_seconds", "peak_memory_mb", "condense_peak_mb", "created_at", "node",
             "git_commit", "package_version", "trial_id", "artifact_path", "mlflow_run_id", "cpu_seconds",
             "selection_seconds", "seconds_per_epoch", "train_seconds", "condense_seconds", "condense_cpu_seconds",
             "eval_seconds")

GM = dict(epochs=4, outer_loop=3, inner_loop=2, hidden=16, select_every=2, select_epochs=20, select_eval_every=5,
          cycle_epochs=4, structure_epochs=1, batch_per_class=32)
PGE = dict(pge_hidden=8)
CORESET = dict(epochs=20, lr_drop_epoch=10, hidden=16)
DM = dict(epochs=4, hidden=16, embed_dim=16, batch_per_class=32, pge_hidden=8, cycle_epochs=4, structure_epochs=1,
          select_every=2, select_epochs=20, select_eval_every=5)

# (name, method, config, graph); graphs: "ind" (inductive synthetic), "trans" (transductive synthetic)
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("random", "random", {}, "ind"),
    ("herding", "herding", CORESET, "trans"),
    ("kcenter", "kcenter", CORESET, "ind"),
    ("gcond", "gcond", {**GM, **PGE}, "ind"),
    ("gcond-trans", "gcond", {**GM, **PGE}, "trans"),
    ("gcond-gcn", "gcond", {**GM, **PGE, "backbone": "gcn", "pge_init_weight": 0.05}, "trans"),
    ("gcond-x", "gcond", {**GM, "structure": "none"}, "ind"),
    ("gcond-mse", "gcond", {**GM, **PGE, "distance": "mse", "diagnostics_every": 0}, "ind"),
    ("gcond-cos-bias", "gcond", {**GM, **PGE, "distance": "cos", "bias_distance": "cos"}, "trans"),
    ("gcond-dagr", "gcond", {**GM, **PGE, "regularizers": "dagr"}, "ind"),
    ("sr_gm", "sr_gm", {**GM, **PGE, "lam": 10.0}, "ind"),
    ("sr_gm-trans", "sr_gm", {**GM, **PGE, "lam": 10.0, "class_weight": "by_total"}, "trans"),
    ("sr_gm-meta", "sr_gm", {**GM, **PGE, "lam": 10.0, "decouple_target": "meta_gradient"}, "ind"),
    ("sr_gm-target", "sr_gm", {**GM, **PGE, "lam": 10.0, "decouple_target": "target_gradient"}, "ind"),
    ("sr_gm-relative", "sr_gm", {**GM, **PGE, "lam": 0.1, "damping_scale": "relative"}, "ind"),
    ("sr_gm-authors", "sr_gm", {**GM, **PGE, "lam": 100.0, "grad_field": "detached",
                                "laplacian": "normalized_self_loops"}, "ind"),
    ("sr_gm-features-only", "sr_gm", {**GM, **PGE, "lam": 10.0, "damp_structure": False}, "ind"),
    ("sr_gm-total", "sr_gm", {**GM, **PGE, "lam": 10.0, "feature_grad": "total", "diagnostic_steps": "first"}, "ind"),
    ("sr_gm-woD", "sr_gm", {**GM, **PGE, "lam": 10.0, "decouple": False}, "ind"),
    ("msgc", "msgc", {**GM, "num_graphs": 4, "edge_hidden": 16}, "ind"),
    ("msgc-window", "msgc", {**GM, "num_graphs": 4, "edge_hidden": 16, "selection": "loss_window", "window": 2},
     "trans"),
    ("sgdd", "sgdd", {**GM, "generator_hidden": 16, "ot_block_size": 64}, "ind"),
    ("doscond", "doscond", {**{k: v for k, v in GM.items() if k not in ("outer_loop", "inner_loop")}, **PGE}, "trans"),
    ("cgc", "cgc", {"adj_threshold": 0.5}, "trans"),
    ("cgc-x", "cgc", {"structure": "none"}, "ind"),
    ("gcdm", "gcdm", DM, "ind"),
    ("gcdm-x-trans", "gcdm", {**DM, "structure": "none", "kernel": "linear"}, "trans"),
]


def _graph(kind: str):
    from mmgc.datasets import load_dataset

    setting = "inductive" if kind == "ind" else "transductive"
    return load_dataset("synthetic", nodes=360, classes=4, dims=[12, 12], avg_degree=6, setting=setting, seed=0)


def _clean(value: Any) -> Any:
    """``value`` without volatile keys, floats as exact reprs (NaN-safe), ready for JSON."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, torch.Tensor):
        return _clean(value.tolist())
    return value


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint_case(method: str, config: dict[str, Any], graph) -> dict[str, Any]:
    from mmgc.harness.evaluate import EvalConfig, evaluate
    from mmgc.methods.base import Context, config_hash, create_method

    m = create_method(method, dict(config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        condensed = m.condense(graph, 0.1, Context(seed=7))
        rows = evaluate(condensed, graph, ["gcn"], [0], EvalConfig(epochs=60, lr_drop_epoch=30, eval_every=5))
    info = dict(condensed.info)
    history = info.pop("history", [])
    tensors = {k: getattr(condensed, k).detach() for k in ("x", "adj", "y")}
    return {
        "config_hash": config_hash(method, info["config"]),
        "tensors": {k: t.tolist() for k, t in tensors.items()},
        "tensor_sha": {k: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16] for k, t in tensors.items()},
        "history": _clean(history),
        "info": _clean(info),
        "rows": [_clean({k: r.get(k) for k in ("arch", "eval_seed", "val_metric", "test_metric", "status", "n",
                                                 "adj_density", "adj_mean", "config_hash")}) for r in rows],
    }


def run(out: str, only: list[str] | None) -> None:
    torch.set_num_threads(1)
    graphs = {kind: _graph(kind) for kind in ("ind", "trans")}
    result = {}
    for name, method, config, kind in CASES:
        if only and name not in only:
            continue
        result[name] = fingerprint_case(method, config, graphs[kind])
        print(f"{name:22s} {result[name]['config_hash']}  x {result[name]['tensor_sha']['x']}  "
              f"adj {result[name]['tensor_sha']['adj']}", flush=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


def _max_diff(a: Any, b: Any) -> float:
    """The largest absolute difference between two equally shaped nested lists or mappings of numbers
    (inf if the shapes differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return math.inf
        return max((_max_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return math.inf
        return max((_max_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, str) and isinstance(b, str):
        try:
            a, b = float(a), float(b)
        except ValueError:
            return 0.0 if a == b else math.inf
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return 0.0
        return abs(a - b)
    return 0.0 if a == b else math.inf


def _common(a: Any, b: Any) -> tuple[Any, Any, list[str]]:
    """``a`` and ``b`` restricted to the keys both have (recursively in dicts and lists of dicts), and
    the keys only one side has."""
    if isinstance(a, dict) and isinstance(b, dict):
        only = sorted(set(a) ^ set(b))
        pairs = {k: _common(a[k], b[k]) for k in set(a) & set(b)}
        extra = [f"{k}.{e}" for k, (_, _, es) in pairs.items() for e in es]
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}, only + extra
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = [_common(x, y) for x, y in zip(a, b)]
        return [p[0] for p in pairs], [p[1] for p in pairs], sorted({e for p in pairs for e in p[2]})
    return a, b, []


def compare(path_a: str, path_b: str, atol: float) -> int:
    with open(path_a) as f:
        a = json.load(f)
    with open(path_b) as f:
        b = json.load(f)
    worst = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name:22s} only in {'the first' if name in a else 'the second'}")
            continue
        ca, cb, one_sided = _common(a[name], b[name])
        parts = []
        status = "identical"
        for key in ("config_hash", "tensors", "history", "info", "rows"):
            if ca.get(key) == cb.get(key):
                continue
            diff = _max_diff(ca.get(key), cb.get(key)) if key != "config_hash" else math.inf
            parts.append(f"{key} {'differs' if diff == math.inf else f'max |diff| {diff:.2e}'}")
            if diff > atol:
                status = "DIFFERENT"
            elif status == "identical":
                status = f"within {atol:g}"
        if status == "DIFFERENT":
            worst = 1
        note = f"; keys on one side only: {', '.join(one_sided[:6])}" if one_sided else ""
        print(f"{name:22s} {status}{' (' + '; '.join(parts) + ')' if parts else ''}{note}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the fingerprint here (JSON)")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two fingerprint files")
    parser.add_argument("--atol", type=float, default=0.0, help="tolerance for --compare (0: bit-identical)")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare, args.atol))
    if not args.out:
        parser.error("--out or --compare is required")
    run(args.out, args.only.split(",") if args.only else None)


if __name__ == "__main__":
    main()
