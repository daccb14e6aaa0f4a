"""Time and peak memory of the synthetic generator at scale.

Default: 1,000,000 nodes x 1024 dims (512 text + 512 image), 10,000,000 sampled edges (average
degree 20), aligned with 20% conflict -- the size the foundation issue asks for (under a minute,
bounded memory). Prints one JSON line: wall seconds of `generate` (edges, features, validation and
normalisation of the `MultimodalGraph` included), the process's peak RSS, and the size of the
feature matrix it must hold, so the overhead beyond the output is visible. ``cpu_seconds`` (user +
system time of the process during `generate`) and ``cpu_share`` (cpu_seconds / wall / threads) show
whether the machine was shared: on a busy machine wall time overstates the generator's cost.

    python benchmarks/bench_synthetic_generator.py                      # the 1M-node figure
    python benchmarks/bench_synthetic_generator.py --nodes 100000 --alignment unaligned
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, default=1024, help="total feature columns (split in two modalities)")
    parser.add_argument("--edges", type=int, default=10_000_000, help="endpoint pairs sampled (before dedup)")
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--alignment", choices=["aligned", "unaligned"], default="aligned")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    from mmgc.datasets.synthetic import SyntheticOptions, generate

    if args.threads:
        torch.set_num_threads(args.threads)
    half = args.dims // 2
    opts = SyntheticOptions(
        nodes=args.nodes, classes=args.classes, dims=(half, args.dims - half), alignment=args.alignment,
        avg_degree=2 * args.edges / args.nodes, signal=(1.5, 1.5),
    )
    base_rss = rss_mib()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    graph = generate(opts, "bench")
    seconds = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    x_mib = graph.x.numel() * graph.x.element_size() / 2**20
    e_mib = graph.edge_index.numel() * 8 / 2**20
    print(json.dumps({
        "nodes": graph.num_nodes, "dims": graph.feature_dim, "edges_sampled": args.edges,
        "undirected_edges": graph.num_edges, "edge_homophily": round(graph.edge_homophily(), 4),
        "alignment": args.alignment, "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2), "cpu_share": round(cpu / seconds / torch.get_num_threads(), 2),
        "load_avg_1min": __import__("os").getloadavg()[0], "peak_rss_mib": round(peak),
        "rss_before_mib": round(base_rss), "features_mib": round(x_mib), "edge_index_mib": round(e_mib),
        "overhead_over_output_mib": round(peak - base_rss - x_mib - e_mib),
        "torch_threads": torch.get_num_threads(), "cpu_count": __import__("os").cpu_count(),
        "python": sys.version.split()[0], "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
