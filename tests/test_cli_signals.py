"""Exit codes through the real entry point, in a subprocess: Ctrl-C (SIGINT) and SIGTERM stop `mmgc run`,
`condense` and `evaluate` with one line and exit code 130, leaving no file half-written; SIGINT works
even when the shell started the command with SIGINT ignored (a background job). (`mmgc sweep`'s
interrupts are in test_sweep.py, beside its Ray cluster.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MMGC = str(Path(sys.executable).parent / "mmgc")
SMALL = ["--dataset", "synthetic", "-o", "nodes=300"]
LONG_GCOND = ["--method", "gcond", "--ratio", "0.05", "-s", "epochs=100000", "-s", "hidden=16", "-s", "outer_loop=1",
              "-s", "select_every=0"]


def handles(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has installed a handler for ``signum`` (Linux: the SigCgt mask)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(mask >> (signum - 1) & 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process ``pid`` has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def working(pid: int) -> bool:
    """Whether the command body runs: the CLI imports torch only inside a command."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def interrupt(args: list[str], signum: int, cwd: Path, settle: float = 0.5,
              ignore_sigint: bool = False) -> tuple[int, str]:
    """Start ``mmgc ARGS``, wait until its command runs with its handlers in place, plus ``settle``
    seconds, send ``signum``; returns (exit code, stderr)."""
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    proc = subprocess.Popen([MMGC, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec)
    try:
        deadline = time.time() + 120
        while not (handles(proc.pid, signal.SIGTERM) and working(proc.pid)):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the command never started"
            time.sleep(0.05)
        time.sleep(settle)
        assert proc.poll() is None, proc.communicate()  # still working: the signal lands mid-way
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=180)
        return proc.returncode, err
    finally:
        if proc.poll() is None:  # a failed wait must not leave a 100,000-epoch run behind
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("command, signum, ignore_sigint", [
    ("run", signal.SIGINT, False),
    ("run", signal.SIGTERM, False),
    ("condense", signal.SIGINT, True),
    ("evaluate", signal.SIGTERM, False),
])
def test_interrupted_commands_exit_130_with_one_line_and_no_half_file(tmp_path, command, signum, ignore_sigint):
    if command == "evaluate":
        from mmgc.datasets import load_dataset
        from mmgc.methods import Context, create_method

        graph = load_dataset("synthetic", nodes=300)
        create_method("random").condense(graph, 0.05, Context()).save(tmp_path / "given.pt")
        args = ["evaluate", "given.pt", *SMALL, "--runs", "5", "-e", "epochs=100000", "--rows-out", "rows.json"]
    elif command == "condense":
        args = ["condense", *SMALL, *LONG_GCOND, "--out", "graph.pt"]
    else:
        args = ["run", *SMALL, *LONG_GCOND, "--out", "graph.pt", "--rows-out", "rows.json"]
    before = {p.name for p in tmp_path.iterdir()}
    code, err = interrupt(args, signum, tmp_path, ignore_sigint=ignore_sigint)
    name = signal.Signals(signum).name
    assert code == 130, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"interrupted by {name}: mmgc {command} stopped"), err
    assert "Traceback" not in err
    assert {p.name for p in tmp_path.iterdir()} == before  # no rows, no graph, no .tmp


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one, on purpose
def test_a_signal_swallowed_by_a_finalizer_still_stops_the_command_at_the_next_report():
    """A handler that runs inside ``__del__`` raises there, and Python only prints "Exception
    ignored": the next progress report raises the interruption again."""
    from mmgc.harness.cli.run import _RunProgress
    from mmgc.harness.signals import Interrupted, interrupts_raise, take_unreported

    class RaisesOnCollection:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)

    progress = _RunProgress(None, "test")
    try:
        with interrupts_raise():
            RaisesOnCollection()  # collected at once: the Interrupted is swallowed
            with pytest.raises(Interrupted, match="SIGTERM"):
                progress.report(0, {})
    finally:
        take_unreported()


def test_ctrl_c_interrupts_a_long_sql_query(tmp_path):
    """DuckDB holds a signal until its call returns: the query runs beside the main thread, which
    interrupts it on Ctrl-C; the command exits 130 at once, without a traceback."""
    (tmp_path / "results").mkdir()
    query = "SELECT max(hash(x)) FROM range(100000000000000) t(x)"  # hours
    proc = subprocess.Popen([MMGC, "leaderboard", "--results", "results", "--sql", query], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not handles(proc.pid, signal.SIGTERM):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the command never started"
            time.sleep(0.05)
        while cpu_seconds(proc.pid) < 3:  # past the start (about 1 CPU-second): the query runs
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the query never ran"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted by SIGINT: mmgc leaderboard stopped"), err
    assert "Traceback" not in err
