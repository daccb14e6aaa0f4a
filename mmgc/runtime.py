"""CPU runtime settings: one torch thread unless asked, the OpenMP wait policy, huge pages for large tensors.

**OpenMP wait policy.** torch runs the parallel regions of its CPU kernels (and MKL's) on OpenMP
threads (libgomp). By default libgomp lets a thread that has finished its share of a region *spin*
(busy-wait) for the next one before it sleeps. Gradient matching runs many thousands of small
kernels per epoch; on a machine whose cores are shared with other processes a spinning thread takes
the core from the thread that has work, and every region then waits for a thread the scheduler has
parked: a condensation epoch at two threads cost many times the CPU of one thread
(`benchmarks/bench_threads.py` prints both policies side by side). With the passive policy idle
threads sleep at once.

Passive waiting removes the spinning, not the waiting: every parallel region still waits for all
its threads, and on cores shared with more runnable processes than cores (load average above the
core count) a thread the scheduler has parked makes every region wait for a time slice: two threads
then took many times the wall time of one (docs/performance.md, "CPU threads"). So a process uses **one** thread unless told otherwise (``OMP_NUM_THREADS=1``
is the default): more threads are a deliberate choice, for a machine whose cores are its own.

**Huge pages.** The structure generator's pairwise layers make tensors of tens of MB every step.
glibc serves each from fresh ``mmap`` pages, so every element is first a page fault;
``THP_MEM_ALLOC_ENABLE=1`` makes torch align such allocations to 2 MiB and ask for transparent huge
pages (a fault per 2 MiB instead of per 4 KiB), which made the generator's forward and backward
much faster here (`benchmarks/bench_condense_n300.py`).

**The allocator.** glibc also serves every block above its mmap threshold (128 KiB at first; it
rises to the largest block freed, up to 32 MiB) from fresh pages and gives freed memory back at
once, so the cache-sized blocks of the generator's fused kernel (`mmgc.methods.structure`) would each
be a round of page faults and zeroing. `tune_allocator` fixes the threshold at 32 MiB (glibc's
maximum) and keeps up to 512 MiB of freed memory for reuse (``M_TRIM_THRESHOLD``), through
``mallopt`` in this process and the ``MALLOC_*_`` variables for its children; a value already in the
environment is kept, and nothing is done off glibc.

The OpenMP and huge-page settings are read once, when torch loads or first allocates, so they have to be in the environment
before the first ``import torch``: `apply_cpu_defaults` runs when ``mmgc`` is imported (and is
inherited by every process started from it: Ray workers, benchmark subprocesses). A value already in
the environment is kept (``OMP_NUM_THREADS=2`` two threads, ``OMP_WAIT_POLICY=ACTIVE`` spinning,
``THP_MEM_ALLOC_ENABLE=0`` plain pages), and a process that imported torch before mmgc keeps what it started with;
`defaults_apply` says which.

**Devices** are resolved by `resolve_device`, the one rule of the command line and of every trial:
``auto`` is CUDA when this process can use a GPU and the CPU otherwise (the device chosen is written
in every result row); an explicit ``cuda[:i]`` that this machine cannot provide is an input error,
never a silent fall-back to the CPU.

**Thread counts** are set deliberately, never left to whatever the machine has: a sweep trial uses
its CPU allocation (``resources.cpu``, `mmgc.harness.trial.TrialSpec.threads`: Ray gives each trial
cores of its own), a benchmark its ``--threads`` flag, through `set_threads`; anything else one.
"""

from __future__ import annotations

import os
import sys

from mmgc.errors import InputError

MAX_THREADS = 1024
"""The most CPU threads a process (``--threads``) or a sweep trial (``resources.cpu``) may ask for:
more is no machine's core count, and torch takes the count as a 32-bit integer."""
CPU_DEFAULTS = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "THP_MEM_ALLOC_ENABLE": "1"}
# glibc's allocator (see the module docstring): mallopt parameter number and value, by variable name
MALLOC_DEFAULTS = {"MALLOC_MMAP_THRESHOLD_": (-3, 32 << 20), "MALLOC_TRIM_THRESHOLD_": (-1, 512 << 20)}
# whether torch was already loaded when mmgc set its defaults (then they did not take effect)
_TORCH_LOADED_FIRST: bool | None = None


def apply_cpu_defaults() -> None:
    """Put `CPU_DEFAULTS` in the environment where no value is set (see the module docstring)."""
    global _TORCH_LOADED_FIRST
    if _TORCH_LOADED_FIRST is None:
        _TORCH_LOADED_FIRST = "torch" in sys.modules
    for name, value in CPU_DEFAULTS.items():
        os.environ.setdefault(name, value)
    tune_allocator()


def tune_allocator() -> dict[str, str]:
    """Apply `MALLOC_DEFAULTS` (see the module docstring) where the environment sets no value; returns
    the settings in force by variable name (``unset``: not glibc, or left as glibc starts)."""
    import ctypes
    import platform

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    libc = ctypes.CDLL(None) if glibc else None
    for name, (param, value) in MALLOC_DEFAULTS.items():
        if libc is None or name in os.environ:
            continue  # glibc read an inherited value when this process started
        if hasattr(libc, "mallopt") and libc.mallopt(param, value) == 1:
            os.environ[name] = str(value)
    return {name: os.environ.get(name, "unset") for name in MALLOC_DEFAULTS}


def cpu_settings() -> dict[str, str]:
    """The settings of `CPU_DEFAULTS` and `MALLOC_DEFAULTS` in this process's environment."""
    return {name: os.environ.get(name, "unset") for name in (*CPU_DEFAULTS, *MALLOC_DEFAULTS)}


def defaults_apply() -> bool:
    """False when torch was loaded before mmgc set its defaults, so they did not take effect."""
    return not _TORCH_LOADED_FIRST


def set_threads(threads: int | float | None) -> int:
    """Cap torch's CPU threads at ``threads`` (a fractional CPU allocation rounds down, at least 1;
    None leaves the current count); returns the count in force."""
    import torch

    if threads is not None:
        count = max(1, int(threads))
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    return torch.get_num_threads()


def resolve_device(requested: str = "auto", where: str = "device"):
    """The torch device for ``requested``: ``auto`` (CUDA when available, else the CPU), ``cpu`` or
    ``cuda[:i]``. Raises `InputError` (naming ``where``) for a name torch does not know and for a CUDA
    device this machine does not have."""
    import torch


    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"{where}: expected auto, cpu or cuda[:i], found {requested!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{where} {requested}: CUDA is not available on this machine (auto uses the CPU)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{where} {requested}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
