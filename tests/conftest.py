"""Shared test fixtures: the path of the read-only shared data, and small graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def make_tiny_graph(n: int = 40, d_text: int = 6, d_image: int = 4, classes: int = 3, setting: str = "transductive",
                    seed: int = 0):
    """A small two-modality graph with clear class signal, for unit tests."""
    from mmgc.graph import MultimodalGraph

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = torch.randn(classes, d_text + d_image, generator=g) * 2
    x = centers[y] + torch.randn(n, d_text + d_image, generator=g)
    src = torch.randint(0, n, (4 * n,), generator=g)
    dst = torch.where(torch.rand(4 * n, generator=g) < 0.8, src, torch.randint(0, n, (4 * n,), generator=g))
    same = y[src] == y[dst]
    dst = torch.where(same, (src + classes) % n, dst)
    perm = torch.randperm(n, generator=g)
    train, val, test = (torch.zeros(n, dtype=torch.bool) for _ in range(3))
    train[perm[: n // 2]] = True
    val[perm[n // 2: 3 * n // 4]] = True
    test[perm[3 * n // 4:]] = True
    return MultimodalGraph(
        x=x, edge_index=torch.stack([src, dst]), y=y, train_mask=train, val_mask=val, test_mask=test,
        modalities={"text": (0, d_text), "image": (d_text, d_text + d_image)}, setting=setting,
        info={"name": "tiny", "provenance": "synthetic"},
    )


@pytest.fixture
def tiny_graph():
    return make_tiny_graph()


GCOND_FAST = dict(epochs=4, outer_loop=3, inner_loop=2, hidden=16, select_every=2, select_epochs=20,
                  select_eval_every=5, pge_hidden=8, cycle_epochs=4, structure_epochs=1)
"""A GCond / SR-GM config that condenses a tiny graph in a fraction of a second: 1 structure epoch of 4."""

STRUCTURE_FAST = {"epochs": 2, "outer_loop": 2, "select_every": 0, "select_epochs": 20, "select_eval_every": 5,
                  "structure_epochs": 1, "cycle_epochs": 2, "batch_per_class": 32, "hidden": 32, "diagnostics_every": 0}
"""The engine's settings of a short MSGC or SGDD run: one structure and one feature epoch."""


@pytest.fixture(scope="module")
def default_graph():
    """The ``synthetic`` dataset at its defaults (loaded once per test module)."""
    from mmgc.datasets import load_dataset

    return load_dataset("synthetic")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in-process with ``argv = mmgc ARGS``: (exit code, stdout, stderr)."""
    import sys

    from mmgc.harness.cli import main

    monkeypatch.setattr(sys, "argv", ["mmgc", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err
