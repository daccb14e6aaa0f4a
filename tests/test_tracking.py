"""MLflow tracking: store creation, parent/child runs, per-epoch history, artifacts, concurrency, CLI."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mmgc.harness import tracking

ROOT = Path(__file__).resolve().parents[1]
MMGC = str(Path(sys.executable).parent / "mmgc")


def _real_trial(tmp: Path, seed: int = 0, trial_id: str = "t0"):
    """A real herding condensation of the tiny graph, evaluated with GCN: (condensed, saved path, rows)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import make_tiny_graph

    from mmgc.harness.evaluate import EvalConfig, evaluate
    from mmgc.methods.base import Context, create_method

    graph = make_tiny_graph(n=60)
    condensed = create_method("herding", {"epochs": 15}).condense(graph, 0.2, Context(seed=seed))
    path = condensed.save(tmp / f"{trial_id}.pt")
    rows = evaluate(condensed, graph, "gcn", [0, 1], EvalConfig(epochs=10),
                    row_defaults=dict(experiment="track-test", phase="final", trial_id=trial_id, artifact_path=str(path)))
    return condensed, path, rows


def test_uri_resolution(tmp_path):
    assert tracking.resolve_uri(tmp_path, enabled=False) is None
    assert tracking.resolve_uri(tmp_path, "sqlite:////x/y.db") == "sqlite:////x/y.db"
    uri = tracking.resolve_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.artifact_location(uri) == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert tracking.artifact_location("http://server:5000") is None
    # tracking off: every entry point is a no-op
    assert tracking.start_sweep_run(None, "e") is None
    assert tracking.log_trial(None, [{"status": "ok"}]) is None
    tracking.end_sweep_run(None)
    assert tracking.attach_run_id([{"a": 1}], None) == [{"a": 1}]


def test_history_series_shapes():
    rows = [{"epoch": 0, "loss": 1.0, "val": None}, {"epoch": 5, "loss": 0.5, "val": 0.7, "terms": {"gm": 0.4}},
            {"epoch": 10, "loss": float("nan"), "val": 0.8, "note": "text"}]
    s = tracking.history_series(rows)
    assert s["loss"] == [(0, 1.0), (5, 0.5)]            # NaN skipped
    assert s["val"] == [(5, 0.7), (10, 0.8)]            # checkpoints keep their own epochs
    assert s["terms/gm"] == [(5, 0.4)]
    assert "note" not in s
    cols = {"epoch": [0, 10, 20], "loss": [3.0, 2.0, 1.0], "val": [None, 0.5, None]}
    s = tracking.history_series(cols)
    assert s["loss"] == [(0, 3.0), (10, 2.0), (20, 1.0)] and s["val"] == [(10, 0.5)]
    assert tracking.history_series(None) == {}


def test_sweep_and_trial_runs(tmp_path):
    results = tmp_path / "results"
    uri = tracking.default_uri(results)
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text("name: track-test\n")
    sweep = tracking.start_sweep_run(uri, "track-test", experiment_file=exp_file, params={"cells": 1})
    assert (results / "mlflow.db").is_file()
    condensed, path, rows = _real_trial(tmp_path)
    run_id = tracking.log_trial(sweep, rows, condensed=condensed, condensed_path=path, strict=True)
    rows = tracking.attach_run_id(rows, run_id)
    assert all(r["mlflow_run_id"] == run_id for r in rows)
    tracking.end_sweep_run(sweep)

    c = tracking.client(uri)
    parent = c.get_run(sweep.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[tracking.TAG_KIND] == "sweep"
    assert parent.data.tags["mmgc.version"] and "machine.hostname" in parent.data.tags
    assert "mmgc.git_commit" in parent.data.tags
    assert [a.path for a in c.list_artifacts(parent.info.run_id, "experiment")] == ["experiment/exp.yaml"]

    child = c.get_run(run_id)
    assert child.info.status == "FINISHED"
    assert child.data.tags[tracking.TAG_PARENT] == sweep.parent_run_id
    params = child.data.params
    assert params["dataset"] == "tiny" and params["method"] == "herding" and float(params["ratio"]) == 0.2
    assert params["condense_seed"] == "0" and params["eval_seeds"] == "0,1" and params["config.epochs"] == "15"
    # per-epoch curves of the condensed graph's history, one point per epoch
    history = condensed.info["history"]
    loss = c.get_metric_history(run_id, "condense/loss")
    assert [m.step for m in loss] == [h["epoch"] for h in history]
    assert [m.value for m in loss] == pytest.approx([h["loss"] for h in history])
    # final metrics = the rows' own mean
    tests = [r["test_metric"] for r in rows]
    assert child.data.metrics["test_metric/gcn/mean"] == pytest.approx(sum(tests) / len(tests))
    arts = dict(tracking.run_artifacts(uri, run_id))
    for name in ("history.json", "trial_config.json", "rows.json", f"condensed/{path.name}"):
        assert name in arts and Path(arts[name]).is_file(), name
    assert Path(arts["history.json"]).resolve().is_relative_to(results.resolve() / "mlartifacts")
    assert tracking.load_history(uri, run_id) == json.loads(json.dumps(history))
    from mmgc.graph import CondensedGraph

    assert CondensedGraph.load(arts[f"condensed/{path.name}"]) == condensed


def test_failed_trial_is_a_failed_run(tmp_path):
    uri = tracking.default_uri(tmp_path)
    sweep = tracking.start_sweep_run(uri, "fail-test")
    rows = [{"experiment": "fail-test", "trial_id": "t", "dataset": "d", "method": "m", "status": "failed",
             "error": "ValueError: boom"}]
    run_id = tracking.log_trial(sweep, rows, strict=True)
    run = tracking.client(uri).get_run(run_id)
    assert run.info.status == "FAILED" and "boom" in run.data.tags["mmgc.error"]


def test_mlflow_error_never_fails_a_trial(tmp_path):
    bad = tracking.SweepTracking(uri=tracking.default_uri(tmp_path), experiment_id="999", experiment="nope")
    with pytest.warns(RuntimeWarning, match="MLflow logging failed"):
        assert tracking.log_trial(bad, [{"trial_id": "t", "status": "ok"}]) is None


def _worker(args):
    sweep, k, n_trials = args
    ids = []
    for j in range(n_trials):
        rows = [{"experiment": sweep.experiment, "phase": "final", "trial_id": f"w{k}-{j}", "dataset": "d",
                 "ratio": 0.1, "method": "random", "method_config": json.dumps({"w": k}), "arch": "gcn",
                 "eval_seed": s, "val_metric": 0.5, "test_metric": 0.25 * k, "status": "ok"} for s in range(3)]
        history = [{"epoch": e, "loss": 1.0 / (e + 1), "val": 0.5 if e % 10 == 0 else None} for e in range(100)]
        ids.append(tracking.log_trial(sweep, rows, history=history, strict=True))
    return ids


def test_four_concurrent_processes_do_not_corrupt_the_store(tmp_path):
    uri = tracking.default_uri(tmp_path)
    sweep = tracking.start_sweep_run(uri, "concurrent")
    with mp.get_context("spawn").Pool(4) as pool:
        ids = [i for chunk in pool.map(_worker, [(sweep, k, 3) for k in range(4)]) for i in chunk]
    tracking.end_sweep_run(sweep)
    assert len(ids) == 12 and len(set(ids)) == 12 and None not in ids
    c = tracking.client(uri)
    runs = c.search_runs([sweep.experiment_id], max_results=100)
    assert len(runs) == 13  # 12 trials + the sweep
    for run_id in ids:
        assert len(c.get_metric_history(run_id, "condense/loss")) == 100
        assert len(c.get_metric_history(run_id, "condense/val")) == 10
        assert c.get_run(run_id).data.tags[tracking.TAG_PARENT] == sweep.parent_run_id
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_runs_show_prints_config_metrics_and_artifacts(tmp_path):
    uri = tracking.default_uri(tmp_path)
    sweep = tracking.start_sweep_run(uri, "show-test")
    condensed, path, rows = _real_trial(tmp_path)
    run_id = tracking.log_trial(sweep, rows, condensed=condensed, condensed_path=path, strict=True)
    out = subprocess.run([MMGC, "runs", "show", run_id, "--results", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for text in ("config (params):", "method = herding", "test_metric/gcn/mean", "condense/loss", "history.json",
                 str(tmp_path.resolve() / "mlartifacts")):
        assert text in out.stdout, text
    missing = subprocess.run([MMGC, "runs", "show", "nope", "--results",
                              str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_retry_waits_out_a_locked_database(monkeypatch):
    monkeypatch.setattr(tracking.time, "sleep", lambda s: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert tracking._retry(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):  # anything else is not retried
        tracking._retry(lambda: (_ for _ in ()).throw(ValueError("no such table")))


def test_runs_a_killed_driver_left_running_are_closed_as_killed(tmp_path, monkeypatch):
    """A resumed sweep closes, as KILLED, the parent run of a driver that is gone and its RUNNING trial
    runs, and a trial run RUNNING under an ended parent; a live driver's runs are left alone."""
    uri = tracking.default_uri(tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = gone.stdout.strip()
    killed = tracking.start_sweep_run(uri, "exp", tags={tracking.TAG_DRIVER_PID: dead_pid})
    alive = tracking.start_sweep_run(uri, "exp")  # this process: still running
    ended = tracking.start_sweep_run(uri, "exp")
    c = tracking.client(uri)

    def trial_run(parent):
        return c.create_run(killed.experiment_id, tags={tracking.TAG_KIND: "trial",
                                                          tracking.TAG_PARENT: parent.parent_run_id}).info.run_id

    orphan, live, late = trial_run(killed), trial_run(alive), trial_run(ended)
    tracking.end_sweep_run(ended)  # its trial run `late` was left RUNNING (its worker was killed)
    closed = tracking.close_orphaned_runs(uri, "exp")
    assert sorted(closed) == sorted([killed.parent_run_id, orphan, late])
    status = lambda run_id: c.get_run(run_id).info.status  # noqa: E731
    assert [status(r) for r in (killed.parent_run_id, orphan, late)] == ["KILLED"] * 3
    assert [status(r) for r in (alive.parent_run_id, live)] == ["RUNNING"] * 2
    assert status(ended.parent_run_id) == "FINISHED"
    hook = tracking.MlflowTracking(uri)
    assert hook.recover(type("E", (), {"name": "exp", "mlflow_uri": None})(), str(tmp_path)) == []  # nothing left
    monkeypatch.setattr(tracking, "host_name", lambda: "elsewhere")  # another machine's runs: untouched
    tracking.start_sweep_run(uri, "exp", tags={tracking.TAG_DRIVER_PID: dead_pid, tracking.TAG_DRIVER_HOST: "x"})
    assert tracking.close_orphaned_runs(uri, "exp") == []
    assert tracking.close_orphaned_runs(tracking.default_uri(tmp_path / "none"), "exp") == []
    assert not (tmp_path / "none").exists()  # looking creates no store
