"""scripts/device-check on the CPU (so the GPU check cannot rot) and its off-device tensor audit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("device_check", ROOT / "benchmarks" / "device_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_audit_counts_tensors_created_off_the_device():
    dc = _module()
    audit = dc.DeviceAudit("meta")
    with audit:
        torch.ones(3, device="meta")  # before the window opens: not counted
        window = dc.EpochWindow(audit, epochs=4)
        window.report(0, {})  # epoch 0 ended: epochs 1 and 2 are audited
        torch.ones(3, device="meta") + 1
        torch.ones(4)  # a CPU tensor inside the loop
        torch.zeros(())  # a CPU scalar: counted apart
        torch.ones(2).sum().item()  # one more CPU tensor, a CPU scalar and a host sync
        window.report(1, {})
        window.report(2, {})  # epoch 2 ended: the last epoch (selection) is not audited
        torch.ones(5)
    summary = audit.summary()
    assert summary["foreign"] == 2 and set(summary["foreign_ops"]) == {"aten.ones.default"}
    assert summary["foreign_scalars"] == 2
    assert summary["host_syncs"] == 1
    assert window.audited_epochs == 2


def test_device_check_runs_on_cpu(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [str(ROOT / "scripts" / "device-check"), "--device", "cpu", "--out", str(tmp_path), "--methods",
           "random,gcond", "--datasets", "synthetic:nodes=300,dims=32,32", "no-such-dataset", "--parity-n", "12",
           "--eval-epochs", "20", "--small", "outer_loop=2", "--small", "batch_per_class=32",
           "--small", "select_epochs=10", "--timing-dataset", "synthetic:nodes=300,dims=32,32", "--sizes", "12", "--timing-epochs", "1",
           "--concurrent", "2", "--concurrent-n", "12", "--concurrent-epochs", "2", "--set", "outer_loop=2",
           "--set", "batch_per_class=32"]
    done = subprocess.run(cmd, env=dict(env, PYTHON=sys.executable), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert report["heavy_modules_imported"] == []
    cells = {(c["dataset"], c.get("method")): c for c in report["parity"]}
    gcond = cells[("synthetic:nodes=300,dims=32,32", "gcond")]
    assert gcond["status"] == "ok" and all(gcond["checks"].values())
    assert gcond["checks"]["identical_on_cpu"]  # the same seed on the same device: the same graph
    assert gcond["device"]["audit"]["audited_epochs"] == 2 and gcond["device"]["audit"]["ops"] > 0
    assert cells[("synthetic:nodes=300,dims=32,32", "random")]["status"] == "ok"
    assert cells[("no-such-dataset", None)]["status"] == "skipped"
    assert "no-such-dataset" in cells[("no-such-dataset", None)]["note"]
    timing = {c["method"]: c for c in report["epoch_seconds"]}
    assert set(timing) == {"gcond", "sr_gm"}
    assert all(c["n"] == 12 and c["seconds_per_epoch"] > 0 and c["peak_memory_mb"] > 0 for c in timing.values())
    assert report["concurrency"]["status"] == "ok" and report["concurrency"]["throughput_ratio"] > 0
