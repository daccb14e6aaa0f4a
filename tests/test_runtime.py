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


def test_set_threads_rounds_a_cpu_allocation_down_to_at_least_one():
    before = torch.get_num_threads()
    try:
        assert set_threads(0.5) == 1
        assert set_threads(None) == 1
        assert set_threads(2.0) == 2
    finally:
        torch.set_num_threads(before)
