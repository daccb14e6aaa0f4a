"""CPU runtime defaults (passive OpenMP waiting, huge pages) and per-process thread counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from mmgc.runtime import CPU_DEFAULTS, set_threads

PROBE = ("import json, os, mmgc, torch; from mmgc.runtime import defaults_apply; "
         "print(json.dumps({k: os.environ.get(k) for k in %r} | {'applies': defaults_apply()}))" % list(CPU_DEFAULTS))


def _probe(env: dict[str, str], code: str = PROBE) -> dict:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_importing_mmgc_first_sets_the_defaults_and_keeps_a_users_value():
    env = {k: v for k, v in os.environ.items() if k not in CPU_DEFAULTS}
    assert _probe(env) == {**CPU_DEFAULTS, "applies": True}
    assert _probe(dict(env, OMP_WAIT_POLICY="ACTIVE"))["OMP_WAIT_POLICY"] == "ACTIVE"
    # torch loaded first: libgomp has read its environment already, and mmgc says so
    assert _probe(env, "import torch; " + PROBE)["applies"] is False


FAULTS = ("import json, resource, mmgc, torch\n"
          "torch.empty(1 << 18).fill_(1)\n"
          "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
          "for _ in range(40):\n"
          "    torch.empty(1 << 18).fill_(1)  # 1 MiB, freed at once\n"
          "print(json.dumps({'faults': resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))")


def test_the_tuned_allocator_reuses_freed_blocks_instead_of_faulting_in_fresh_pages():
    if not sys.platform.startswith("linux"):
        import pytest

        pytest.skip("glibc's allocator only")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["THP_MEM_ALLOC_ENABLE"] = "0"  # count 4 KiB pages
    tuned = _probe(env, FAULTS)["faults"]
    # glibc as it starts, the threshold held at its initial 128 KiB: every 1 MiB block is fresh pages
    plain = _probe(dict(env, MALLOC_MMAP_THRESHOLD_=str(128 << 10)), FAULTS)["faults"]
    assert plain >= 40 * 200  # about 256 faults per block
    assert tuned * 4 < plain  # measured: about 1,500-1,800 against 10,000 (a few blocks still come fresh)
    assert _probe(env, "import json, os, mmgc; print(json.dumps(os.environ['MALLOC_MMAP_THRESHOLD_']))") == str(32 << 20)


def test_set_threads_rounds_a_cpu_allocation_down_to_at_least_one():
    before = torch.get_num_threads()
    try:
        assert set_threads(0.5) == 1
        assert set_threads(None) == 1
        assert set_threads(2.0) == 2
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------- devices
def test_auto_device_is_cuda_when_available_else_the_cpu(monkeypatch):
    from mmgc.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")


def test_an_explicit_cuda_device_the_machine_lacks_is_bad_input(monkeypatch):
    import pytest

    from mmgc.errors import InputError
    from mmgc.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda", where="--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match="cuda:1: this machine has 1 CUDA device"):
        resolve_device("cuda:1")
    with pytest.raises(InputError, match="expected auto, cpu or cuda"):
        resolve_device("tpu")


def test_a_trial_asking_for_a_missing_cuda_device_fails_instead_of_running_on_the_cpu(monkeypatch):
    import pytest

    from mmgc.errors import InputError
    from mmgc.harness.trial import TrialSpec, run_trial

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec = TrialSpec(dataset="synthetic", method="random", ratio=0.05, device="cuda")
    rows = run_trial(spec)
    assert rows and all(r["status"] == "failed" and "CUDA is not available" in r["error"] for r in rows)
    with pytest.raises(InputError, match="device cuda"):
        run_trial(spec, strict=True)
