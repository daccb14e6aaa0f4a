"""Sweeps on Ray Tune: complete rows, failures recorded, resume after SIGKILL, Ctrl-C, fractional GPU
packing on a declared GPU, impossible requests refused, the CLI, and (slow) a two-node cluster.

One local Ray (2 CPUs, one *declared* GPU on this CPU machine) is shared by the whole module; the
sweeps that must be killed run in a subprocess that joins it with ``--address``."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

import sweep_fakes
from mmgc.harness.store import ResultStore, trial_key
from mmgc.harness.sweep import SweepError, check_resources, make_plan, run_sweep

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.fixture(scope="module")
def ray_address():
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        started = True
    ray.cloudpickle.register_pickle_by_value(sweep_fakes)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


def experiment_file(tmp_path, name="fake", n_trials=3, seeds=(0, 1), ratios=(0.01, 0.02), resources=None,
                    methods=None) -> Path:
    data = {
        "name": name, "results": str(tmp_path / "results"),
        "datasets": [{"name": "synthetic", "ratios": list(ratios)}],
        "methods": methods or [
            {"name": "dummy", "search": "declared", "n_trials": n_trials},
            {"name": "dummy", "label": "dummy-fixed", "fixed": {"lr": 0.05}},
        ],
        "seeds": {"condense": list(seeds), "eval": [0, 1]},
        "evaluation": {"archs": ["gcn", "mlp"]},
        "resources": resources or {"cpu": 1, "gpu": 0.25},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def wait_idle(timeout: float = 60.0) -> None:
    """Until every CPU of the shared cluster is free again (a killed driver's trials are gone)."""
    import ray

    deadline = time.time() + timeout
    while time.time() < deadline:
        if ray.available_resources().get("CPU", 0) >= ray.cluster_resources().get("CPU", 0):
            return
        time.sleep(0.2)
    raise AssertionError("the cluster did not become idle")


def assert_complete_once(results: Path, experiment: str, cells_searched: int, n_trials: int, finals: int) -> None:
    """Every planned trial has exactly one ok trial; search trials per searched cell == n_trials."""
    rows = ResultStore(str(results)).rows(experiment)
    ok = [r for r in rows if r["status"] == "ok"]
    trials_per_key = {}
    for r in ok:
        trials_per_key.setdefault(trial_key(r), set()).add(r["trial_id"])
    duplicates = {k: v for k, v in trials_per_key.items() if len(v) > 1}
    assert not duplicates, duplicates
    search = Counter((r["dataset"], r["ratio"], r["method_label"]) for r in ok if r["phase"] == "search"
                     and r["arch"] == "gcn" and r["eval_seed"] == 0)
    assert len(search) == cells_searched and set(search.values()) == {n_trials}, search
    final_keys = {k for k in trials_per_key if k[1] == "final"}
    assert len(final_keys) == finals
    plan = make_plan(__import__("mmgc.harness.experiment", fromlist=["x"]).load_experiment(
        results.parent / f"{experiment}.yaml"), str(results))
    assert plan.remaining == 0


# ---------------------------------------------------------------------------------------- no Ray
def test_check_resources_without_ray():
    nodes = [{"CPU": 2.0, "GPU": 1.0}, {"CPU": 1.0}]
    request, capacity = check_resources(0.5, 0.25, nodes, {"CPU": 3.0, "GPU": 1.0})
    assert request == {"cpu": 0.5, "gpu": 0.25} and capacity == 4
    request, capacity = check_resources(1, 0.25, [{"CPU": 4.0}], {"CPU": 4.0})  # no GPU: ask none
    assert request == {"cpu": 1.0, "gpu": 0.0} and capacity == 4
    with pytest.raises(SweepError, match="asks for 2 GPU but the cluster declares 1"):
        check_resources(1, 2, nodes, {"CPU": 3.0, "GPU": 1.0})
    with pytest.raises(SweepError, match="no node has that much"):
        check_resources(4, 0.25, nodes, {"CPU": 3.0, "GPU": 1.0})


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    from rich.console import Console

    console = Console(record=True, width=200)
    report = run_sweep(experiment_file(tmp_path), dry_run=True, console=console)
    text = console.export_text()
    assert "4 cells" in text and "3 to run / 3" in text and "2 to run / 2" in text
    assert "14 in all, 0 already in the store, 14 to run" in text and "gpu=0.25" in text
    assert report.total == 14 and report.ran == 0
    assert not (tmp_path / "results").exists()


def test_run_trial_real_method_rows_are_complete():
    from mmgc.harness.schema import RESULT_COLUMNS
    from mmgc.harness.trial import TrialSpec, run_trial

    spec = TrialSpec(dataset="synthetic", method="random", ratio=0.01, eval_seeds=(0, 1), archs=("gcn", "mlp"),
                     eval_options={"epochs": 3}, experiment="e", phase="final")
    rows = run_trial(spec)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    optional = {"error", "mlflow_run_id", "artifact_path", "condense_arch", "git_commit"}
    for r in rows:
        assert set(r) == set(RESULT_COLUMNS)
        missing = [c for c in RESULT_COLUMNS if r[c] is None and c not in optional]
        assert not missing, missing
        assert r["n"] == 18 and r["method_label"] == "random" and r["setting"] == "inductive"
        assert r["trial_id"] == spec.trial_id and r["experiment"] == "e" and r["phase"] == "final"
    unknown = run_trial(TrialSpec(dataset="synthetic", method="random", ratio=0.01, archs=("nope",)))
    assert [r["status"] for r in unknown] == ["failed"] and "nope" in unknown[0]["error"]
    failed = run_trial(TrialSpec(dataset="synthetic", method="random", ratio=1e-6))
    assert [r["status"] for r in failed] == ["failed"] and "ratio" in failed[0]["error"]


# ---------------------------------------------------------------------------------------- with Ray
def test_tiny_sweep_rows_complete_and_best_config_rerun(tmp_path, ray_address):
    path = experiment_file(tmp_path)
    report = run_sweep(path, trial_fn=sweep_fakes.quick_trial, progress=False)
    assert report.complete and report.ok == 14 and report.failed == 0
    assert_complete_once(tmp_path / "results", "fake", cells_searched=2, n_trials=3, finals=8)
    rows = ResultStore(str(tmp_path / "results")).rows("fake")
    assert len(rows) == 14 * 4  # 2 archs x 2 eval seeds per trial
    for cell_ratio in (0.01, 0.02):
        search = [r for r in rows if r["phase"] == "search" and r["ratio"] == cell_ratio]
        best = max(search, key=lambda r: (r["val_metric"], r["config_hash"]))
        finals = {r["config_hash"] for r in rows if r["phase"] == "final" and r["ratio"] == cell_ratio
                  and r["method_label"] == "dummy"}
        assert finals == {best["config_hash"]}
        assert {r["condense_seed"] for r in search} == {0}
    # a second run finds everything done and runs nothing
    again = run_sweep(path, trial_fn=sweep_fakes.quick_trial, progress=False)
    assert again.ran == 0 and again.skipped == 14 and again.complete


def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, ray_address):
    path = experiment_file(tmp_path, n_trials=2)
    report = run_sweep(path, trial_fn=sweep_fakes.flaky_trial, progress=False)
    rows = ResultStore(str(tmp_path / "results")).rows("fake")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all(r["ratio"] == 0.02 and "boom" in r["error"] for r in failed)
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["ratio"] for r in ok} == {0.01} and len({r["trial_id"] for r in ok}) == 2 + 2 + 2
    # ratio 0.02: 2 search trials failed (no final: nothing to re-run) + 2 fixed finals failed
    assert report.failed == 4 and report.missing == 0 and report.complete


def test_a_worker_that_dies_becomes_failed_rows(tmp_path, ray_address):
    path = experiment_file(tmp_path, n_trials=2, seeds=(0,))
    report = run_sweep(path, trial_fn=sweep_fakes.crashing_trial, progress=False)
    rows = ResultStore(str(tmp_path / "results")).rows("fake")
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["ratio"] for r in failed} == {0.02} and all("worker process died" in r["error"] for r in failed)
    assert report.failed == 3 and report.ok == 2 + 1 + 1 and report.missing == 0


def test_sigkill_midway_then_resume_has_no_duplicate_and_no_missing_row(tmp_path, ray_address):
    path = experiment_file(tmp_path)
    results = tmp_path / "results"
    env = dict(os.environ, MMGC_FAKE_SLEEP="0.4")
    proc = subprocess.Popen([sys.executable, str(HERE / "sweep_fakes.py"), str(path), "--address", ray_address],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while len(ResultStore(str(results)).files("fake")) < 4:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no trial finished in time"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    written = len(ResultStore(str(results)).files("fake"))
    assert 4 <= written < 14, written
    wait_idle()
    report = run_sweep(path, trial_fn=sweep_fakes.quick_trial, progress=False)
    assert report.skipped >= 4 and report.complete
    assert_complete_once(results, "fake", cells_searched=2, n_trials=3, finals=8)
    assert not list(results.rglob("*.tmp"))


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, ray_address):
    path = experiment_file(tmp_path)
    results = tmp_path / "results"
    env = dict(os.environ, MMGC_FAKE_SLEEP="1.5")
    proc = subprocess.Popen([sys.executable, str(HERE / "sweep_fakes.py"), str(path), "--address", ray_address],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not ResultStore(str(results)).files("fake"):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    text = out.decode()
    assert proc.returncode == 130, text[-3000:]
    assert "interrupted" in text and "To resume: python tests/sweep_fakes.py" in text, text[-3000:]
    assert "REPORT" in text and "interrupted=True" in text
    assert "Tuner.restore" not in text
    assert not list(results.rglob("*.tmp"))
    wait_idle()


def test_fractional_gpu_trials_pack_four_at_a_time_and_fall_back_to_cpu(tmp_path, ray_address):
    import ray

    if ray.cluster_resources().get("GPU", 0) != 1:
        pytest.skip("needs the module's Ray with one declared GPU")
    path = experiment_file(tmp_path, name="pack", seeds=tuple(range(8)), ratios=(0.01,),
                           methods=[{"name": "dummy"}], resources={"cpu": 0.5, "gpu": 0.25})
    log = tmp_path / "log.jsonl"
    trial = functools.partial(sweep_fakes.sleepy_trial, sleep=4.0, log=str(log))
    report = run_sweep(path, trial_fn=trial, progress=False)
    assert report.complete and report.ok == 8
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    events = sorted([(e["start"], 1) for e in entries] + [(e["end"], -1) for e in entries])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 4
    assert {e["device"] for e in entries} == {"cpu"}  # the declared GPU is not real: CPU inside
    assert all(e["cuda_visible"] not in (None, "") for e in entries)  # Ray did assign it


def test_more_gpu_than_the_cluster_declares_is_refused_up_front(tmp_path, ray_address):
    import ray

    if ray.cluster_resources().get("GPU", 0) != 1:
        pytest.skip("needs the module's Ray with one declared GPU")
    path = experiment_file(tmp_path, name="greedy", resources={"cpu": 1, "gpu": 2})
    with pytest.raises(SweepError, match="asks for 2 GPU but the cluster declares 1"):
        run_sweep(path, trial_fn=sweep_fakes.quick_trial, progress=False)
    assert not ResultStore(str(tmp_path / "results")).files()


def test_cli_sweep_dry_run_and_leaderboard(tmp_path, ray_address):
    from typer.testing import CliRunner

    from mmgc.harness.cli import app

    path = experiment_file(tmp_path)
    run_sweep(path, trial_fn=sweep_fakes.quick_trial, progress=False)
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "14 already in the store, 0 to run" in " ".join(result.output.split())
    result = runner.invoke(app, ["leaderboard", "--results", str(tmp_path / "results"), "--experiment", "fake"])
    assert result.exit_code == 0 and "dummy-fixed" in result.output and "±" in result.output
    result = runner.invoke(app, ["leaderboard", "--results", str(tmp_path / "results"),
                                 "--sql", "SELECT phase, count(*) AS n FROM results GROUP BY 1 ORDER BY 1"])
    assert result.exit_code == 0 and "search" in result.output and "final" in result.output


def test_real_trials_through_ray(tmp_path, ray_address):
    """The real run_trial on Ray: one coreset method and the Original column, tiny budgets."""
    data = {"name": "real", "results": str(tmp_path / "results"),
            "datasets": [{"name": "synthetic", "ratios": [0.01]}],
            "methods": [{"name": "original"}, {"name": "random"}],
            "seeds": {"condense": [0], "eval": [0]}, "evaluation": {"archs": ["gcn"], "options": {"epochs": 3}},
            "resources": {"cpu": 1}}
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(data))
    report = run_sweep(path, progress=False)
    assert report.complete and report.ok == 2, report
    rows = ResultStore(str(tmp_path / "results")).rows("real")
    assert {(r["method"], r["ratio"], r["status"]) for r in rows} == {("original", 1.0, "ok"), ("random", 0.01, "ok")}
    assert all(r["node"] and r["device"] == "cpu" for r in rows)


# ---------------------------------------------------------------------------------------- two nodes
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_node_cluster_trials_land_on_both_nodes(tmp_path):
    """`ray start --head` + a second `ray start --address` with its own resources, a sweep joining
    with --address, trials on both nodes; both nodes stopped by their pids."""
    import tempfile

    from ray.util import get_node_ip_address

    ray_bin = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    address = f"{get_node_ip_address()}:{port}"
    # its own temp dir (so `ray start` leaves no /tmp/ray/ray_current_cluster behind for other
    # programs' ray.init() to find) and no token auth between the two local nodes
    temp_dir = tempfile.mkdtemp(prefix="mmgc-ray-", dir="/tmp")
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    common = ["--block", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    head = subprocess.Popen([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=1", "--num-gpus=0",
                             "--include-dashboard=false", *common], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    try:
        time.sleep(8)
        worker = subprocess.Popen([ray_bin, "start", f"--address={address}", "--num-cpus=1",
                                   "--resources={\"second_node\": 1}", *common], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(8)
        path = experiment_file(tmp_path, name="cluster", seeds=tuple(range(6)), ratios=(0.01,),
                               methods=[{"name": "dummy"}], resources={"cpu": 1})
        env["MMGC_FAKE_SLEEP"] = "2"
        out = subprocess.run([sys.executable, str(HERE / "sweep_fakes.py"), str(path), "--address", address],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        rows = ResultStore(str(tmp_path / "results")).rows("cluster")
        nodes = {r["node"] for r in rows}
        assert len(nodes) == 2, nodes
        assert "2 at a time" in out.stdout
    finally:
        for proc in (worker, head):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)
