"""`mmgc condense`, `mmgc evaluate`, `mmgc run`: outputs, files, and exit code 2 on bad input."""

import json

import pytest

from mmgc.graph import CondensedGraph
from tests.conftest import make_tiny_graph, run_cli

FAST_METHOD = ["-s", "epochs=5", "-s", "hidden=16"]
FAST_EVAL = ["-e", "epochs=5", "-e", "hidden=16"]


@pytest.fixture
def tiny_dataset(monkeypatch):
    """`--dataset tiny` loads the test graph (the real registry is exercised by the slow test)."""
    from mmgc.errors import InputError
    from mmgc.harness.cli import run

    def load(dataset, root, option):
        if dataset != "tiny":
            raise InputError(f"unknown dataset {dataset!r}; expected one of ['tiny']")
        return make_tiny_graph(n=90)

    monkeypatch.setattr(run, "_load_graph", load)
    monkeypatch.setattr("mmgc.harness.trial.load_cached",
                        lambda name, root=None, options=None, modalities=None: load(name, root, options))


cli = run_cli


def test_condense_writes_a_file_then_evaluate_prints_rows(tiny_dataset, monkeypatch, capsys, tmp_path):
    path = tmp_path / "herding.pt"
    code, out, err = cli(monkeypatch, capsys, "condense", "--dataset", "tiny", "--method", "herding", "--ratio", "0.2",
                         *FAST_METHOD, "--seed", "3", "--out", str(path))
    assert code == 0, err
    assert "herding: 18 nodes" in out
    condensed = CondensedGraph.load(path)
    assert condensed.info["seed"] == 3 and condensed.info["config"]["epochs"] == 5
    rows_path = tmp_path / "rows.json"
    code, out, err = cli(monkeypatch, capsys, "evaluate", str(path), "--dataset", "tiny", "--arch", "gcn,mlp",
                         "--runs", "2", *FAST_EVAL, "--rows-out", str(rows_path))
    assert code == 0, err
    assert "result rows" in out and "mean ± std" in out and "herding" in out
    rows = json.loads(rows_path.read_text())
    assert [(r["arch"], r["eval_seed"]) for r in rows] == [("gcn", 0), ("gcn", 1), ("mlp", 0), ("mlp", 1)]
    assert all(r["artifact_path"] == str(path) and r["phase"] == "single" for r in rows)


def test_run_condenses_and_evaluates_with_original(tiny_dataset, monkeypatch, capsys, tmp_path):
    rows_path = tmp_path / "rows.json"
    code, out, err = cli(monkeypatch, capsys, "run", "--dataset", "tiny", "--method", "random", "--ratio", "0.2",
                         "--runs", "2", "--seed-start", "5", *FAST_EVAL, "--original", "--edge-threshold", "0.3",
                         "--rows-out", str(rows_path))
    assert code == 0, err
    rows = json.loads(rows_path.read_text())
    assert [r["method"] for r in rows] == ["original", "original", "random", "random"]
    assert [r["eval_seed"] for r in rows] == [5, 6, 5, 6]
    assert rows[2]["edge_threshold"] == 0.3 and rows[0]["edge_threshold"] is None
    assert "original" in out and "random" in out


@pytest.mark.parametrize("args, message", [
    (["run", "--dataset", "tiny", "--method", "nope", "--ratio", "0.2"], "unknown method 'nope'"),
    (["run", "--dataset", "nope", "--method", "random", "--ratio", "0.2"], "unknown dataset 'nope'"),
    (["run", "--dataset", "tiny", "--method", "random", "--ratio", "0.001"], "smallest valid ratio"),
    (["run", "--dataset", "tiny", "--method", "herding", "--ratio", "0.2", "-s", "epochs=x"], "herding config.epochs"),
    (["run", "--dataset", "tiny", "--method", "herding", "--ratio", "0.2", "-s", "epochs"], "expected key=value"),
    (["run", "--dataset", "tiny", "--method", "random", "--ratio", "0.2", "-e", "nope=1"], "unknown key 'nope'"),
    (["run", "--dataset", "tiny", "--method", "random", "--ratio", "0.2", "--arch", "gcn,nope", *FAST_EVAL],
     "unknown backbone 'nope'"),
    (["run", "--dataset", "tiny", "--method", "random", "--ratio", "0.2", "--runs", "0"], "--runs"),
    (["run", "--dataset", "tiny", "--method", "random", "--ratio", "0.2", "--device", "tpu"], "--device"),
    (["evaluate", "missing.pt", "--dataset", "tiny"], "condensed graph file not found"),
    (["condense", "--dataset", "tiny", "--method", "random", "--ratio", "0.2"], "--out"),
])
def test_bad_input_exits_2_with_one_line(tiny_dataset, monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 2
    assert message in err
    if "--out" not in message:  # click's own usage errors print a usage block
        assert len(err.strip().splitlines()) == 1


def test_evaluating_against_a_mismatched_dataset_is_an_error(monkeypatch, capsys, tmp_path):
    from mmgc.harness.cli import run
    from mmgc.methods import Context, create_method

    path = tmp_path / "c.pt"
    create_method("random").condense(make_tiny_graph(n=90, d_text=3), 0.2, Context()).save(path)
    monkeypatch.setattr(run, "_load_graph", lambda *a: make_tiny_graph(n=90))
    code, out, err = cli(monkeypatch, capsys, "evaluate", str(path), "--dataset", "tiny", *FAST_EVAL)
    assert code == 2 and "feature columns" in err


@pytest.mark.slow
def test_run_on_the_default_dataset(monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "run", "--dataset", "synthetic", "--method", "herding", "--ratio", "0.01",
                         "--runs", "2", "-s", "epochs=50", "-e", "epochs=50")
    assert code == 0, err
    assert "mean ± std" in out and "herding" in out


# ---------------------------------------------------------------------------------------- progress and summary
class _Recorder:
    def __init__(self):
        self.begins, self.steps = [], []

    def begin(self, stage, total):
        self.begins.append((stage, total))

    def report(self, step, metrics):
        self.steps.append(step)


@pytest.mark.parametrize("method, config, stage", [
    ("herding", {"epochs": 7, "hidden": 16}, ("embed", 7)),
    ("gcond", {"epochs": 3, "structure_epochs": 1, "outer_loop": 1, "inner_loop": 1, "hidden": 16, "select_every": 2,
               "select_epochs": 5},
     ("condense", 3)),
])
def test_methods_announce_their_long_stages_with_a_total(method, config, stage):
    from mmgc.methods import Context, create_method

    recorder = _Recorder()
    create_method(method, config).condense(make_tiny_graph(n=60), 0.2, Context(reporter=recorder))
    assert recorder.begins == [stage]
    assert recorder.steps and max(recorder.steps) < stage[1]


def test_progress_shows_totals_from_the_start_and_no_undefined_diagnostics():
    import io

    from rich.console import Console
    from rich.progress import Progress

    from mmgc.harness.cli.run import _RunProgress

    progress = Progress(console=Console(file=io.StringIO(), force_terminal=True, width=120))
    bar = _RunProgress(progress, "gcond on cora")
    assert [t.description for t in progress.tasks] == ["gcond on cora: preparing"]  # visible from the first second
    bar.begin("condense", 600)
    bar.report(0, {"epoch": 0, "ratio": 0.5, "grad_cos": float("nan"), "conflict_frac": float("inf"), "loss_total": 1.25})
    task = progress.tasks[bar.task]
    assert task.total == 600 and task.completed == 1
    shown = task.fields["metrics"]
    assert shown == "loss_total=1.25 ratio=0.5"  # losses first; undefined (NaN, inf) left out
    assert task.description == "gcond on cora: condense"
    bar.eval_event("run_start", {"arch": "gcn", "seed": 0, "index": 1, "total": 5, "epochs": 600})
    bar.eval_event("epoch", {"epoch": 9})
    bar.eval_event("run_end", {"row": {}})
    assert progress.tasks[bar.eval_task].total == 5 and progress.tasks[bar.eval_task].completed == 1
    assert progress.tasks[bar.task].total == 600 and progress.tasks[bar.task].completed == 10


def test_a_long_stage_prints_its_estimate_without_a_terminal(monkeypatch, capsys):
    from mmgc.harness.cli.run import _RunProgress

    monkeypatch.setattr(_RunProgress, "LONG_S", 0.0)
    bar = _RunProgress(None, "gcond on cora")
    bar.begin("condense", 600)
    bar.report(0, {"loss": 1.0})
    bar.report(1, {"loss": 1.0})
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("estimate: gcond on cora condense: 600 epochs x ")


def test_summary_line_says_when_the_condensed_graph_is_complete_or_empty():
    import torch

    from mmgc.graph import CondensedGraph
    from mmgc.harness.cli.run import _summary_line

    def graph(adj):
        return CondensedGraph(x=torch.zeros(4, 2), adj=adj, y=torch.tensor([0, 0, 1, 1]), modalities={"f": (0, 2)},
                              info={"method": "gcond", "ratio": 0.1, "wall_seconds": 1.0})

    full = torch.full((4, 4), 0.3).fill_diagonal_(0)
    line = _summary_line(graph(full), None, 0.05)
    assert "6 edges of weight >= 0.05 (complete: every pair)" in line
    assert "warning: the condensed graph is complete: all 6 node pairs" in line
    line = _summary_line(graph(full), None, 0.5)
    assert "0 edges of weight >= 0.5 (empty)" in line and "warning" not in line
    some = torch.zeros(4, 4)
    some[0, 1] = some[1, 0] = 0.9
    assert _summary_line(graph(some), None, 0.05).split(", ")[1] == "1 edges of weight >= 0.05"


def test_run_exits_1_when_a_trial_failed(monkeypatch, capsys, tmp_path):
    from mmgc.harness import trial
    from mmgc.harness.cli import run

    monkeypatch.setattr(run, "run_trial_detailed",
                        lambda spec, reporter=None, strict=False: (trial.failed_rows(spec, "boom"), None))
    code, out, err = cli(monkeypatch, capsys, "run", "--dataset", "synthetic", "--method", "random", "--ratio", "0.05",
                         "--rows-out", str(tmp_path / "rows.json"))
    assert code == 1, err
    assert json.loads((tmp_path / "rows.json").read_text())[0]["status"] == "failed"


@pytest.mark.parametrize("command", ["condense", "run"])
def test_threads_sets_the_processs_torch_threads(tiny_dataset, monkeypatch, capsys, tmp_path, command):
    import torch

    from mmgc.harness import trial
    from mmgc.harness.cli import run

    seen = []
    real = run.set_threads
    for module in (run, trial):  # mmgc condense sets them itself, mmgc run in its trial
        monkeypatch.setattr(module, "set_threads", lambda threads: seen.append(threads) or real(threads))
    before = torch.get_num_threads()
    extra = ["--out", str(tmp_path / "g.pt")] if command == "condense" else [*FAST_EVAL, "--runs", "1"]
    try:
        code, _, err = cli(monkeypatch, capsys, command, "--dataset", "tiny", "--method", "random", "--ratio", "0.2",
                           "--threads", "2", *extra)
        assert code == 0, err
        assert 2 in seen and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
