"""Whole-graph accuracy of Last.fm-2K per modality: text only, audio only, fused, for each variant.

What it answers: how much each real modality carries about the genre label, whether fusing them
helps, and how much of the leaky MiniLM text's accuracy is the label's own tags (compare
``text=minilm-leaky`` with the default ``text=wordllama``, which leaves the genre tags out).

Protocol: `evaluate_original` (the "Original" column of every table: GCN/MLP, 2 layers, 256 hidden,
best validation epoch, test accuracy) on the dataset's default split, mean and population std
over the evaluation seeds. Prints a markdown table and, with ``--json``, writes the rows.

    python benchmarks/bench_lastfm_modalities.py                    # 4 variants x 3 views x GCN, MLP
    python benchmarks/bench_lastfm_modalities.py --seeds 0 --epochs 200 --variants text=wordllama
"""

from __future__ import annotations

import argparse
import json
import time

VARIANTS = ("text=wordllama", "text=wordllama;audio=whisper", "text=minilm-leaky", "text=minilm-leaky;audio=whisper")
VIEWS = (("text",), ("audio",), ("text", "audio"))


def _options(variant: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in variant.split(";") if part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS).replace(";", "+"),
                        help="comma-separated variants, options joined by '+' (default: the four text x audio)")
    parser.add_argument("--archs", default="gcn,mlp")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()

    import torch

    from mmgc.datasets import load_dataset
    from mmgc.harness.evaluate import EvalConfig, evaluate_original, summarize
    from mmgc.harness.trial import select_modalities

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    archs = args.archs.split(",")
    config = EvalConfig(epochs=args.epochs)
    lines = ["| variant | arch | text | audio | fused |", "|---|---|---|---|---|"]
    rows_out = []
    start = time.perf_counter()
    for variant in args.variants.split(","):
        variant = variant.replace("+", ";")
        graph = load_dataset("lastfm-2k", **_options(variant))
        cells: dict[str, dict[str, str]] = {arch: {} for arch in archs}
        for view in VIEWS:
            sub = select_modalities(graph, list(view)) if len(view) < len(graph.modalities) else graph
            rows = evaluate_original(sub, archs, seeds, config)
            for summary in summarize(rows, keys=("arch",)):
                cell = f"{100 * summary['test_mean']:.1f} ± {100 * summary['test_std']:.1f}"
                cells[summary["arch"]]["+".join(view)] = cell
                rows_out.append({"variant": variant, "view": "+".join(view), **summary})
        for arch in archs:
            c = cells[arch]
            lines.append(f"| {variant} | {arch} | {c['text']} | {c['audio']} | {c['text+audio']} |")
    print(f"lastfm-2k whole-graph test accuracy (%), mean ± std over seeds {seeds}, {args.epochs} epochs, "
          f"best validation epoch; {graph.info['labelled']} labelled nodes, {graph.num_classes} classes, "
          f"largest class {max(graph.info['class_sizes'].values()) / graph.info['labelled']:.1%}")
    print("\n".join(lines))
    print(f"wall {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows_out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
