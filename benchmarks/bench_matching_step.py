"""Milliseconds per matching step, the engine's per-class loop against its batched path, side by side.

Cells (``--cells``):

- ``lastfm-5``: the quickstart's GCond on ``lastfm-2k`` at 5% (71 synthetic nodes, 12 classes, 128 + 128
  dims; 20 epochs x 6 outer steps, lr_feat 0.05, lr_adj 0.01, 1 structure epoch of every 4, no
  diagnostics);
- ``conflict-3``: the same budget on the conflict testbed ``synthetic-conflict`` at 3% (54 nodes);
- ``n300``: n = 300 synthetic nodes of the Ele-fashion-shaped preset at scale 0.05 (d = 1,024), one
  structure and one feature epoch after a warm-up (the paper-sized epoch).

For each cell, method (``--methods``) and path (``--paths``: ``loop``, the reference that computes
every class's gradients one by one, and ``batched``, the default) the run condenses in this process
with the checkpoint selection reduced to the last epoch; the step time is an epoch's wall (and CPU)
seconds over its outer steps, taken from the run's history (epochs after the first, selection not
included), and every (cell, method, path) runs once per round, ``--rounds`` rounds interleaved,
reporting the median. The FLOPs of the matrix products of two epochs, one of each phase
(`torch.utils.flop_counter`), give the FLOP per step and the rate the step reaches, against this
machine's float32 product rate.

    python benchmarks/bench_matching_step.py                       # both paths, the quickstart cells
    python benchmarks/bench_matching_step.py --cells n300 --rounds 1
    python benchmarks/bench_matching_step.py --threads 2 --paths batched
    python benchmarks/bench_matching_step.py --profile --rounds 0   # where a step's time goes, per path

``--profile`` also runs each (cell, method, path) once under ``torch.profiler`` (epochs after the first)
and prints how many operator calls a step makes (nested calls included) and how the operators' own CPU
time splits into matrix products, gather/scatter and index work, and other operators (elementwise,
reductions, copies, autograd nodes). Recording every call costs the profiler several microseconds a
call, so the profiled step is slower than the timed one: read the calls and the shares, and set the
calls against the unprofiled milliseconds per step (the mean time a call can take).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

from timing import matmul_rates

QUICKSTART = dict(epochs=20, outer_loop=6, structure_epochs=1, cycle_epochs=4, lr_feat=0.05, lr_adj=0.01,
                  select_every=0, select_epochs=1, diagnostics_every=0)
CELLS = {
    "lastfm-5": ("lastfm-2k", {"width": 128}, 0.05, QUICKSTART),
    "conflict-3": ("synthetic-conflict", {}, 0.03, QUICKSTART),
    "n300": ("synth-ele-fashion", {"scale": 0.05}, None, dict(epochs=3, outer_loop=20, select_every=0,
                                                              select_epochs=1, structure_epochs=1, cycle_epochs=2,
                                                              diagnostics_every=0)),
}
METHOD_EXTRA = {"sr_gm": {"lam": 10.0}}


def step_times(history: list[dict], outer_loop: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds per outer step over the epochs after the first."""
    epochs = history[1:] or history
    return (1000 * statistics.median(h["seconds"] for h in epochs) / outer_loop,
            1000 * statistics.median(h["cpu_seconds"] for h in epochs) / outer_loop)


PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_sparse_mm", "aten::_sparse_addmm",
            "aten::addmv", "aten::mv", "aten::dot")
INDEXING = ("aten::index", "aten::index_select", "aten::index_add_", "aten::index_put_", "aten::_index_put_impl_",
            "aten::gather", "aten::scatter_add_", "aten::scatter_", "aten::scatter_reduce", "aten::sort",
            "aten::argsort", "aten::unique", "aten::_unique2", "aten::searchsorted", "aten::nonzero",
            "aten::masked_select", "aten::cumsum", "aten::bincount", "aten::randperm", "aten::multinomial")


def step_breakdown(events, steps: int) -> dict[str, float]:
    """Operator calls per step and the shares of the operators' own CPU time by kind, from a profile's
    per-operator averages."""
    parts = {"products": 0.0, "gather/scatter/index": 0.0, "other operators": 0.0}
    calls = 0
    for event in events:
        kind = ("products" if event.key in PRODUCTS else
                "gather/scatter/index" if event.key in INDEXING else "other operators")
        parts[kind] += event.self_cpu_time_total
        calls += event.count
    total = sum(parts.values()) or 1.0
    return {"calls per step": calls / steps, **{kind: part / total for kind, part in parts.items()}}


class ProfiledEpochs:
    """A condensation reporter that runs ``torch.profiler`` between the reports of two epochs."""

    def __init__(self, torch, first: int, last: int):
        self.torch, self.first, self.last = torch, first, last
        self.profiler = None
        self.started, self.events, self.wall_ms = 0.0, [], 0.0

    def report(self, step: int, metrics) -> None:
        if step == self.first:
            self.profiler = self.torch.profiler.profile(activities=[self.torch.profiler.ProfilerActivity.CPU])
            self.profiler.start()
            self.started = time.perf_counter()
        elif step == self.last:
            self.profiler.stop()
            self.wall_ms = 1000 * (time.perf_counter() - self.started)
            self.events = self.profiler.key_averages()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="lastfm-5,conflict-3")
    p.add_argument("--methods", default="gcond,sr_gm")
    p.add_argument("--paths", default="loop,batched")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--profile", action="store_true", help="also print where a step's time goes (torch.profiler)")
    args = p.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method
    from mmgc.runtime import set_threads

    warnings.simplefilter("ignore")
    set_threads(args.threads)
    cells = [c for c in args.cells.split(",") if c]
    methods = [m for m in args.methods.split(",") if m]
    paths = [q for q in args.paths.split(",") if q]
    graphs = {c: load_dataset(CELLS[c][0], **CELLS[c][1]) for c in cells}

    def prepared(cell: str, method: str, path: str, **overrides):
        """The cell's method on the given gradient path, and the ratio to condense at."""
        _, _, ratio, config = CELLS[cell]
        if ratio is None:  # n300: the ratio that gives 300 synthetic nodes
            ratio = 300 / graphs[cell].visible_graph().num_nodes + 1e-9
        m = create_method(method, dict(config, **METHOD_EXTRA.get(method, {}), **overrides))
        m.gradient_path = path
        return m, ratio

    def run(cell: str, method: str, path: str):
        m, ratio = prepared(cell, method, path)
        return m.condense(graphs[cell], ratio, Context(seed=0)), m.config.outer_loop

    def flop_per_step(cell: str, method: str) -> float:
        """FLOPs of the matrix products of two epochs (one of each phase), per step."""
        two, ratio = prepared(cell, method, "batched", epochs=2, structure_epochs=1, cycle_epochs=2)
        counter = FlopCounterMode(display=False)
        with counter:
            two.condense(graphs[cell], ratio, Context(seed=0))
        return counter.get_total_flops() / (2 * two.config.outer_loop)

    def profile_step(cell: str, method: str, path: str) -> tuple[dict[str, float], float]:
        """One condensation, profiled from the end of its first epoch to the end of its second-to-last
        (set-up, the first epoch and the final selection left out)."""
        m, ratio = prepared(cell, method, path)
        window = ProfiledEpochs(torch, first=0, last=m.config.epochs - 2)
        m.condense(graphs[cell], ratio, Context(seed=0, reporter=window))
        steps = (window.last - window.first) * m.config.outer_loop
        return step_breakdown(window.events, steps), window.wall_ms / steps

    figures = []
    if args.rounds:  # --rounds 0: the profile alone
        samples: dict[tuple, list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for cell in cells:
                for method in methods:
                    for path in paths:
                        condensed, outer = run(cell, method, path)
                        times = step_times(condensed.info["history"], outer)
                        samples.setdefault((cell, method, path), []).append(times)
            print(f"round {round_ + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)
        flop = {(cell, method): flop_per_step(cell, method) for cell in cells for method in methods}
        rate = matmul_rates(torch)["PGE block 2048x128x128"]

        print(f"\nthreads {args.threads}; float32 product rate {rate:.0f} GFLOP/s (2,048 x 128 x 128); "
              f"medians of {args.rounds} interleaved rounds\n")
        print("| cell | method | path | ms/step (wall) | ms/step (CPU) | FLOP/step | rate reached | loop / batched |")
        print("|---|---|---|---|---|---|---|---|")
        for cell in cells:
            for method in methods:
                medians = {q: (statistics.median(s[0] for s in samples[(cell, method, q)]),
                               statistics.median(s[1] for s in samples[(cell, method, q)])) for q in paths}
                for path in paths:
                    wall, cpu = medians[path]
                    gflops = flop[(cell, method)] / 1e9
                    reached = gflops / (wall / 1000)
                    speedup = f"{medians['loop'][0] / wall:.2f}x" if "loop" in medians else "— (loop not run)"
                    print(f"| {cell} | {method} | {path} | {wall:.1f} | {cpu:.1f} | {gflops:.2f} G | "
                          f"{reached:.1f} GFLOP/s ({100 * reached / rate:.0f}%) | {speedup} |")
                    figures.append(dict(cell=cell, method=method, path=path, ms_per_step_wall=wall, ms_per_step_cpu=cpu,
                                        gflop_per_step=gflops, rate_gflops=reached, machine_gflops=rate))
    profiles = []
    if args.profile:
        print("\nwhere a step's time goes (torch.profiler, epochs after the first): operator calls per step "
              "(nested included) and the shares of the operators' own CPU time\n")
        print("| cell | method | path | calls per step | products | gather/scatter/index | other operators | "
              "profiled ms/step |")
        print("|---|---|---|---|---|---|---|---|")
        for cell in cells:
            for method in methods:
                for path in paths:
                    parts, wall = profile_step(cell, method, path)
                    shares = " | ".join(f"{100 * parts[kind]:.0f}%" for kind in list(parts)[1:])
                    print(f"| {cell} | {method} | {path} | {parts['calls per step']:,.0f} | {shares} | {wall:.1f} |")
                    profiles.append(dict(cell=cell, method=method, path=path, profiled_ms_per_step=wall, **parts))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rounds": args.rounds, "figures": figures, "profiles": profiles},
                      f, indent=1)


if __name__ == "__main__":
    main()
