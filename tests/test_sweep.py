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


def wait_idle(timeout: float = 300.0) -> None:
    """Until every CPU of the shared cluster is free again (a killed driver's trials are gone);
    polled, so a fast machine does not wait and a loaded one has minutes."""
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
    optional = {"error", "mlflow_run_id", "artifact_path", "condense_arch", "git_commit", "selected_epoch", "dead_backbone"}
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
    # from the 4th trial file on, the killed sweep's trials hold: it is killed half-way on any machine
    env = dict(os.environ, MMGC_FAKE_SLEEP="0.4", MMGC_FAKE_HOLD_AFTER="4")
    proc = subprocess.Popen([sys.executable, str(HERE / "sweep_fakes.py"), str(path), "--address", ray_address],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_trials(proc, results, "fake", count=4, timeout=600)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    written = len(ResultStore(str(results)).files("fake"))
    assert 4 <= written < 14, written
    wait_idle(timeout=600)
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


# ---------------------------------------------------------------------------------------- the CLI's exit codes
MMGC = str(Path(sys.executable).parent / "mmgc")


def cli_experiment(tmp_path, name="cli", seeds=30, ratios=(0.05,)) -> Path:
    """Real `random` trials on a 200-node graph (about a second each), for the CLI through Ray."""
    data = {"name": name, "results": str(tmp_path / "results"),
            "datasets": [{"name": "synthetic", "options": {"nodes": 200}, "ratios": list(ratios)}],
            "methods": [{"name": "random"}], "seeds": {"condense": list(range(seeds)), "eval": [0]},
            "evaluation": {"archs": ["gcn"], "options": {"epochs": 20}}, "resources": {"cpu": 1, "gpu": 0}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_sweep(args, env=None, ignore_sigint=False):
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen([MMGC, "sweep", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=preexec)


def wait_for_trials(proc, results: Path, experiment: str, count: int = 1, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while len(ResultStore(str(results)).files(experiment)) < count:
        if proc.poll() is not None:
            out = proc.communicate()[0]
            raise AssertionError((out.decode() if isinstance(out, bytes) else out)[-3000:])
        assert time.time() < deadline, "no trial finished in time"
        time.sleep(0.05)


@pytest.mark.parametrize("signum, extra, ignore_sigint", [
    (signal.SIGINT, ["--no-progress"], True),  # a background job: its shell ignores SIGINT for it
    (signal.SIGTERM, [], False),
])
def test_cli_sweep_interrupted_exits_130_and_prints_the_resume_command(tmp_path, ray_address, signum, extra,
                                                                       ignore_sigint):
    path = cli_experiment(tmp_path)
    proc = start_sweep([str(path), "--address", ray_address, "--no-mlflow", *extra], ignore_sigint=ignore_sigint)
    wait_for_trials(proc, tmp_path / "results", "cli")
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert f"To resume: mmgc sweep {path} --address {ray_address} --no-mlflow\n" in out, out[-3000:]  # one line
    assert "sweep cli interrupted" in " ".join(out.split())
    assert "Traceback" not in out and "core dumped" not in out and "SIGABRT" not in out
    assert not list((tmp_path / "results").rglob("*.tmp"))
    wait_idle()


def test_cli_sweep_with_a_failed_trial_exits_1(tmp_path, ray_address):
    path = cli_experiment(tmp_path, name="fails", seeds=1, ratios=(0.05, 0.001))  # 0.001: too small, fails
    proc = start_sweep([str(path), "--address", ray_address, "--no-mlflow"])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out[-3000:]
    text = " ".join(out.split())
    assert "2 trials run (1 ok, 1 failed)" in text and "smallest valid ratio" in text


@pytest.mark.slow
def test_sigkill_then_resume_closes_mlflow_runs_and_stops_the_ray_it_left(tmp_path):
    """A sweep on its own local Ray, killed with SIGKILL: the resumed sweep marks the killed sweep's
    MLflow runs KILLED and stops what remains of the Ray processes the killed driver started."""
    import psutil

    from mmgc.harness import tracking

    def running(processes) -> list[int]:
        """The recorded processes (same pid and start time) still running; zombies are gone."""
        alive = []
        for pid, created, _name in processes:
            try:
                proc = psutil.Process(int(pid))
                if abs(proc.create_time() - float(created)) < 1e-3 and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(int(pid))
            except psutil.Error:
                continue
        return alive

    path = cli_experiment(tmp_path, name="killed", seeds=12)
    sessions = tmp_path / "sessions"
    env = dict(os.environ, MMGC_RAY_SESSIONS=str(sessions))
    proc = start_sweep([str(path), "--num-cpus", "2", "--no-progress"], env=env)
    wait_for_trials(proc, tmp_path / "results", "killed", count=2, timeout=900)
    record = json.loads((sessions / f"{proc.pid}.json").read_text())
    assert record["children"]  # GCS, raylet, agents, workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    uri = tracking.default_uri(tmp_path / "results")
    c = tracking.client(uri)
    experiment_id = c.get_experiment_by_name("killed").experiment_id
    assert c.search_runs([experiment_id], "attributes.status = 'RUNNING'")  # the killed sweep's parent run
    resumed = start_sweep([str(path), "--num-cpus", "2", "--no-progress"], env=env)
    out, _ = resumed.communicate(timeout=1800)
    assert resumed.returncode == 0, out[-3000:]
    assert "MLflow runs a killed sweep had left RUNNING (now KILLED)" in out
    assert not c.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    killed = c.search_runs([experiment_id], "attributes.status = 'KILLED'")
    assert any(r.data.tags.get(tracking.TAG_KIND) == "sweep" for r in killed)
    assert not list(sessions.glob("*.json"))  # both drivers' records are gone
    deadline = time.time() + 120  # stopped with SIGTERM then SIGKILL: their exit may lag on a loaded machine
    while running(record["children"]) and time.time() < deadline:
        time.sleep(0.5)
    assert running(record["children"]) == []  # none of the killed driver's processes is alive
    assert len(ResultStore(str(tmp_path / "results")).completed("killed")) == 12  # every trial once


def test_orphaned_ray_processes_are_stopped_only_when_their_driver_is_gone(tmp_path):
    """`stop_orphaned_ray`: the recorded processes of a dead driver are stopped (matched by pid and
    start time); a live driver's are left alone; a record of a pid reused by another process is inert."""
    import psutil

    from mmgc.harness.sweep.ray_processes import _process_key, release_ray_processes, stop_orphaned_ray

    orphan = subprocess.Popen(["sleep", "60"])
    kept = subprocess.Popen(["sleep", "60"])
    try:
        dead_driver = [999999999, 1.0, "python"]  # no such process
        (tmp_path / "1.json").write_text(json.dumps({"driver": dead_driver, "children": [_process_key(psutil.Process(orphan.pid))]}))
        me = psutil.Process()
        (tmp_path / "2.json").write_text(json.dumps({"driver": _process_key(me), "children": [_process_key(psutil.Process(kept.pid))]}))
        stale = [kept.pid, psutil.Process(kept.pid).create_time() - 100, "sleep"]  # same pid, other start time
        (tmp_path / "3.json").write_text(json.dumps({"driver": dead_driver, "children": [stale]}))
        assert stop_orphaned_ray(tmp_path) == [orphan.pid]
        assert orphan.wait(timeout=10) is not None and kept.poll() is None
        assert sorted(p.name for p in tmp_path.iterdir()) == ["2.json"]
        release_ray_processes(tmp_path / "2.json")  # this driver's own record, after ray.shutdown()
        assert kept.wait(timeout=10) is not None and not list(tmp_path.iterdir())
    finally:
        for p in (orphan, kept):
            if p.poll() is None:
                p.kill()


def test_an_all_choice_search_tries_every_value_once(tmp_path):
    """TPE drew the same value of a 3-way choice in all 3 trials; an all-choice space is enumerated
    without repeats, and its trials are capped at the number of combinations."""
    from mmgc.harness.experiment import parse_experiment

    exp = parse_experiment({
        "name": "choices", "results": str(tmp_path),
        "datasets": [{"name": "synthetic", "ratios": [0.01]}],
        "methods": [{"name": "sr_gm", "search": {"lam": {"choice": [10.0, 100.0, 1000.0]}}, "n_trials": 5},
                    {"name": "gcond", "search": {"lr_feat": {"loguniform": [1e-4, 1e-1]}}, "n_trials": 4}]})
    plan = make_plan(exp, str(tmp_path))
    by_method = {c.cell.method.name: c for c in plan.cells}
    choice, continuous = by_method["sr_gm"], by_method["gcond"]
    assert choice.n_trials == 3 and continuous.n_trials == 4
    asked = [choice.ask() for _ in range(choice.n_trials)]
    assert sorted(spec.config["lam"] for _, spec, _ in asked) == [10.0, 100.0, 1000.0]
    for trial, _, chash in asked:  # telling the last one must not raise (a sampler that stops the study does)
        choice.tell(trial, 0.5, chash, {})
    assert choice.search_done == 3
