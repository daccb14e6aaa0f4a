"""Memory and time of GCond's structure generator (PGE) at large synthetic graphs: ours against the
official evaluation over all n^2 concatenated pairs (computed, not run: it would not fit).

One forward and one backward of ``PGE(d, hidden=128, layers=3)`` on ``n`` synthetic nodes, as one
outer step of GCond does, in a fresh process; prints the seconds and the peak RSS growth over the
process's baseline, beside the memory the official implementation needs just to hold its input
(``n^2 x 2d`` float32) and its first hidden layer (``n^2 x h``).

    python benchmarks/bench_pge_scale.py                  # n = 2000, d = 2048
    python benchmarks/bench_pge_scale.py --n 500 --d 1024
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--chunk-pairs", type=int, default=1 << 17)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from mmgc.methods.structure import PGE

    torch.manual_seed(0)
    pge = PGE(args.d, hidden=args.hidden, layers=3, chunk_pairs=args.chunk_pairs)
    x = torch.randn(args.n, args.d, requires_grad=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    adj = pge(x)
    forward = time.perf_counter() - wall
    adj.pow(2).sum().backward()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n2 = args.n * args.n
    official_gb = (n2 * 2 * args.d + n2 * args.hidden) * 4 / 2**30
    print(f"PGE n={args.n} d={args.d} h={args.hidden} chunk_pairs={args.chunk_pairs}, {args.threads} thread(s)")
    print(f"  forward {forward:.1f} s, forward+backward {wall:.1f} s wall / {cpu:.1f} s cpu")
    print(f"  peak RSS growth {peak - base:.0f} MB (process peak {peak:.0f} MB); adjacency {n2 * 4 / 2**20:.0f} MB")
    print(f"  official all-pairs input + first hidden layer alone: {official_gb:.1f} GB")
    assert torch.isfinite(x.grad).all()


if __name__ == "__main__":
    sys.exit(main())
