"""Timing helpers shared by the benchmarks: exclusive CPU seconds of wrapped callables, and this
machine's float32 matrix-product rate (the ceiling a step's FLOPs are measured against)."""

from __future__ import annotations

import functools
import time


class PartTimer:
    """Exclusive CPU seconds of wrapped callables (a call inside another counts only for the inner one)."""

    def __init__(self):
        self.stack: list[list] = []
        self.totals: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.process_time()
            self.stack.append([label, 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                _, inner = self.stack.pop()
                spent = time.process_time() - start
                self.totals[label] = self.totals.get(label, 0.0) + spent - inner
                if self.stack:
                    self.stack[-1][1] += spent

        setattr(owner, name, timed)


def matmul_rates(torch) -> dict[str, float]:
    """GFLOP/s of float32 matrix products on this machine at the benchmark's thread count: a large
    square product (near the cores' peak) and one block of the fused PGE kernel (2,048 pairs x 128 x
    128, the shape its products run at)."""
    rates = {}
    for name, (m, k, n) in {"square 2048^3": (2048, 2048, 2048), "PGE block 2048x128x128": (2048, 128, 128)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        reps = max(3, int(2e9 / (2 * m * k * n)))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, (time.perf_counter() - start) / reps)
        rates[name] = 2 * m * k * n / best / 1e9
    return rates
