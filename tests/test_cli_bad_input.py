"""Every bad input the command line is known to meet: one line on stderr naming what was wrong, exit
code 2, before any work starts, nothing written and no other program started. One table, run
in-process through the real `main()`; add a row for each new case. The working directory
(`workdir`) holds what the rows point at, hostile and damaged files included: data folders whose
pickles would run code, queries that would write into the results root, damaged result files,
condensed graphs of the wrong structure, experiment files with values that overflow."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mmgc.harness.cli import main

FAST = ["--runs", "1", "-e", "epochs=1"]
RUN = ["run", "--dataset", "synthetic", "--method", "random", "--ratio", "0.05", *FAST]
SMALL = ["--dataset", "synthetic", "-o", "nodes=200"]
EXPERIMENT = {"name": "bad", "results": "results",
              "datasets": [{"name": "synthetic", "options": {"nodes": 200}, "ratios": [0.05]}],
              "methods": [{"name": "random"}], "evaluation": {"options": {"epochs": 1}}}
UNWRITABLE = ("ro_folder", "ro_store")  # made unwritable (immutable as root, read-only otherwise) when a row names them


def _tree(root: Path) -> dict[str, tuple[float, int]]:
    """Every file and folder under ``root`` with its modification time and size."""
    return {str(p.relative_to(root)): (p.stat().st_mtime, p.stat().st_size) for p in root.rglob("*")}


class _Call:
    """A pickle that calls ``fn(*args)`` when it is loaded: what a hostile data file holds."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _planetoid_folder(folder: Path, x_pickle: bytes) -> None:
    """A Planetoid folder for ``cora`` whose ``ind.cora.x`` (the first file read) is ``x_pickle``."""
    folder.mkdir()
    for part in ("y", "tx", "ty", "allx", "ally", "graph", "test.index"):
        (folder / f"ind.cora.{part}").write_bytes(b"")
    (folder / "ind.cora.x").write_bytes(x_pickle)


def _experiment(path: Path, text: str | None = None, **changes) -> None:
    data = {**EXPERIMENT, **changes}
    path.write_text(text if text is not None else yaml.safe_dump(data))


def _graph_payload() -> dict:
    """The payload of a valid condensed graph of `synthetic` (2 modalities of 128 columns, 6 classes)."""
    return {"format": "mmgc.CondensedGraph/1", "x": torch.randn(6, 256, generator=torch.Generator().manual_seed(0)),
            "adj": torch.zeros(6, 6), "y": torch.arange(6), "modalities": {"text": [0, 128], "image": [128, 256]},
            "info": {"method": "random", "dataset": "synthetic", "ratio": 0.01}}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding what the cases point at: folders and files, experiment files, a
    results root (with an MLflow database), damaged results roots, condensed graphs and hostile data."""
    from mmgc.harness.schema import make_row
    from mmgc.harness.store import ResultStore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "empty.yaml").write_text("# nothing but a comment\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "mlflow.db").write_bytes(b"SQLite format 3\0" + bytes(4096))
    _experiment(tmp_path / "exp.yaml")
    # experiment files: values that overflow or are infinite, spaces checked only in part, keys twice
    _experiment(tmp_path / "cpu_inf.yaml", resources={"cpu": float("inf")})
    _experiment(tmp_path / "cpu_huge.yaml", resources={"cpu": 1e12})
    _experiment(tmp_path / "seed_huge.yaml", seeds={"condense": [10**22]})
    _experiment(tmp_path / "lr_adj_inf.yaml", methods=[{"name": "gcond", "fixed": {"lr_adj": float("inf")}}])
    _experiment(tmp_path / "uniform_inf.yaml",
                methods=[{"name": "gcond", "search": {"lr_feat": {"uniform": [0.01, float("inf")]}}}])
    _experiment(tmp_path / "choice_late.yaml", methods=[{"name": "gcond", "search": {"epochs": {"choice": [60, "many"]}}}])
    _experiment(tmp_path / "uniform_int.yaml", methods=[{"name": "gcond", "search": {"epochs": {"uniform": [1, 10]}}}])
    _experiment(tmp_path / "grid_huge.yaml", methods=[{"name": "gcond", "grid": {
        key: list(range(1, 8)) for key in ("epochs", "hidden", "outer_loop", "batch_per_class", "cycle_epochs")}}])
    _experiment(tmp_path / "twice.yaml", text=yaml.safe_dump(EXPERIMENT) + "methods: [{name: herding}]\n")
    # results roots: one with trial files to compact, damaged ones
    rows = [make_row(experiment="e", phase="final", trial_id=f"t{i}", dataset="d", method="m", ratio=0.1,
                     config_hash="h", condense_seed=i, arch="gcn", eval_seed=0, status="ok", val_metric=0.5,
                     test_metric=0.5, metric="accuracy") for i in range(2)]
    for row in rows:
        ResultStore(str(tmp_path / "ro_store")).write_trial([row])
    damage = {"truncated": lambda good: good[: len(good) // 2], "empty": lambda good: b"",
              "not_parquet": lambda good: b"trial rows, honest\n"}
    for name, damaged in damage.items():
        good = Path(ResultStore(str(tmp_path / name)).write_trial(rows[:1]))
        (good.parent / "bad.parquet").write_bytes(damaged(good.read_bytes()))
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = Path(ResultStore(str(tmp_path / "wrong_type")).write_trial(rows[:1]))
    pq.write_table(pa.table({"val_metric": ["high"]}), good.parent / "bad.parquet")
    (tmp_path / "ro_folder").mkdir()
    # condensed graphs: a valid one, and ones of the wrong inner structure
    torch.save(_graph_payload(), tmp_path / "graph.pt")
    torch.save({k: v for k, v in _graph_payload().items() if k != "adj"}, tmp_path / "no_adj.pt")
    torch.save({**_graph_payload(), "modalities": "text,image"}, tmp_path / "layout_str.pt")
    torch.save({**_graph_payload(), "info": ["random", "synthetic"]}, tmp_path / "info_list.pt")
    torch.save({**_graph_payload(), "info": {"method": "random", "ratio": "one percent"}}, tmp_path / "ratio_str.pt")
    # data folders whose pickle runs code: a second pickle read by numpy.load (allow_pickle), a write
    ran = str(tmp_path / "code-ran")
    (tmp_path / "inner.pkl").write_bytes(pickle.dumps(_Call(os.system, f"touch {ran}")))
    _planetoid_folder(tmp_path / "cora_load", pickle.dumps(_Call(np.load, str(tmp_path / "inner.pkl"), None, True),
                                                            protocol=2))
    _planetoid_folder(tmp_path / "cora_save", pickle.dumps(_Call(np.save, ran, np.zeros(1)), protocol=2))
    _planetoid_folder(tmp_path / "cora_system", pickle.dumps(_Call(os.system, f"touch {ran}"), protocol=2))
    return tmp_path


def _make_unwritable(folder: Path, request) -> None:
    """Make ``folder`` and everything under it unwritable, even for root (immutable), until the test ends."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "-R", "+i", str(folder)]).returncode != 0:
            pytest.skip("root, and chattr +i is not available: no folder is unwritable")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-R", "-i", str(folder)]))
        return
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    for path in folders:
        path.chmod(0o555)
    request.addfinalizer(lambda: [path.chmod(0o755) for path in folders])


def _sql(query: str) -> list[str]:
    return ["leaderboard", "--results", "results", "--sql", query]


# (command line, a fragment of the one expected line)
CASES = [
    # write targets, checked before anything runs
    (["sweep", "exp.yaml", "--results", "a_file"], "results root a_file: is a file; expected a directory"),
    ([*RUN, "--rows-out", "a_dir"], "--rows-out a_dir: is a directory; expected a file name"),
    ([*RUN, "--out", "a_dir"], "--out a_dir: is a directory; expected a file name"),
    ([*RUN, "--out", "a_file/graph.pt"], "--out a_file/graph.pt: a_file is not a directory"),
    (["condense", "--dataset", "synthetic", "--method", "random", "--ratio", "0.05", "--out", "a_dir"],
     "--out a_dir: is a directory"),
    (["condense", "--dataset", "synthetic", "--method", "random", "--ratio", "0.05"], "Missing option '--out'"),
    # ... by writing a probe: folders that refuse a write whatever their permission bits say
    (["sweep", "exp.yaml", "--results", "ro_folder/results"], "ro_folder/results: cannot create a file in"),
    (["sweep", "exp.yaml", "--results", "/proc/mmgc-results"], "results root /proc/mmgc-results: cannot create a file in /proc"),
    ([*RUN, *SMALL[2:], "--rows-out", "/proc/mmgc-rows.json"], "--rows-out /proc/mmgc-rows.json: cannot create a file in /proc"),
    ([*RUN, "--rows-out", "ro_folder/rows.json"], "--rows-out ro_folder/rows.json: cannot create a file in ro_folder"),
    (["tables", "table2", "--results", "results", "--out", "ro_folder"], "--out ro_folder: cannot create a file in ro_folder"),
    (["tables", "fig2", "--results", "results", "--out", "/proc/mmgc-tables"], "--out /proc/mmgc-tables: cannot create a file in /proc"),
    (["report", "--results", "results", "--out", "/proc/report.html"], "--out /proc/report.html: cannot create a file in /proc"),
    (["leaderboard", "--results", "ro_store", "--compact"], "cannot create a file in"),
    # a file that is both an input and an output
    (["evaluate", "graph.pt", *SMALL, *FAST, "--rows-out", "graph.pt"],
     "--rows-out graph.pt: the same file as the condensed graph graph.pt; expected another file"),
    ([*RUN, "--out", "same.json", "--rows-out", "./same.json"], "--rows-out ./same.json: the same file as --out same.json"),
    # numbers
    ([*RUN, "--seed", "-1"], "--seed: expected an integer >= 0, found -1"),
    ([*RUN, "--seed", str(10**22)], f"--seed: expected an integer <= {2**32 - 1}, found {10**22}"),
    ([*RUN, "--seed-start", "-2"], "--seed-start: expected an integer >= 0, found -2"),
    ([*RUN, "--seed-start", str(2**32 - 1), "--runs", "2"], "--seed-start: expected the evaluation seeds"),
    ([*RUN, "--threads", "0"], "--threads: expected an integer in [1, 1024], found 0"),
    ([*RUN, "--threads", "99999999999"], "--threads: expected an integer in [1, 1024], found 99999999999"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "one"], "Invalid value for '--ratio'"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "0"], "--ratio: expected n / N in (0, 1]"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "1.5"], "--ratio: expected n / N in (0, 1]"),
    ([*RUN, "--runs", "0"], "--runs: expected at least 1"),
    (["run", "--dataset", "synthetic", "--method", "gcond", "--ratio", "0.05", "-s", "lr_adj=inf"],
     "lr_adj: expected a finite number, found 'inf'"),
    (["datasets", "info", "synthetic", "-o", f"seed={10**22}"], "seed: expected an integer of at most 64 bits"),
    # names and values
    (["run", "--dataset", "synthetic", "--method", "nope", "--ratio", "0.05"], "unknown method 'nope'"),
    (["run", "--dataset", "nope", "--method", "random", "--ratio", "0.05"], "unknown dataset 'nope'"),
    (["run", "--dataset", "synthetic", "--method", "gcond", "--ratio", "0.05", "-s", "epochs=x"], "gcond config.epochs"),
    (["run", "--dataset", "synthetic", "--method", "gcond", "--ratio", "0.05", "-s", "epochs"], "expected key=value"),
    (["run", "--dataset", "synthetic", "--method", "gcond", "--ratio", "0.05", "--preset", "nope"],
     "unknown preset 'nope' for method 'gcond'; expected one of ['cora', 'citeseer']"),
    ([*RUN, "-e", "nope=1"], "unknown key 'nope'"),
    ([*RUN, "--arch", "gcn,nope"], "unknown backbone 'nope'"),
    ([*RUN, "--device", "tpu"], "--device"),
    ([*RUN, "--bogus"], "No such option: --bogus"),
    (["datasets", "info", "synthetic", "-o", "dims=64"], "dims / modality_names: expected one width per modality"),
    (["methods", "info", "nope"], "unknown method 'nope'"),
    # experiment files: the whole experiment is checked before anything starts (--dry-run included)
    (["sweep", "cpu_inf.yaml", "--dry-run"], "resources.cpu: expected a finite number, found inf"),
    (["sweep", "cpu_huge.yaml", "--dry-run"], "resources.cpu: expected a number <= 1024"),
    (["sweep", "seed_huge.yaml", "--dry-run"], f"seeds.condense[0]: expected a number <= {2**32 - 1}, found {10**22}"),
    (["sweep", "lr_adj_inf.yaml", "--dry-run"], "methods[0].fixed.lr_adj: expected a finite number, found inf"),
    (["sweep", "uniform_inf.yaml", "--dry-run"], "methods[0].search.lr_feat.uniform[1]: expected a finite number"),
    (["sweep", "choice_late.yaml", "--dry-run"], "methods[0].search.epochs: expected int, found 'many'"),
    (["sweep", "uniform_int.yaml", "--dry-run"],
     "methods[0].search.epochs.uniform: expected {int: [low, high]} or {choice: [...]}: epochs takes integers"),
    (["sweep", "grid_huge.yaml", "--dry-run"], "methods[0].grid: expected at most 10,000 combinations"),
    (["sweep", "twice.yaml", "--dry-run"], "found the key 'methods' twice"),
    # files
    (["sweep", "empty.yaml"], "empty.yaml: the file is empty"),
    (["sweep", "a_dir"], "a_dir: is a directory; expected an experiment file"),
    (["sweep", "missing.yaml"], "missing.yaml: experiment file not found"),
    (["sweep", "graph.pt", "--dry-run"], "graph.pt: not UTF-8 text"),
    (["evaluate", "a_dir", "--dataset", "synthetic"], "a_dir: is a directory; expected a condensed graph file"),
    (["evaluate", "missing.pt", "--dataset", "synthetic"], "missing.pt: condensed graph file not found"),
    (["evaluate", "a_file", "--dataset", "synthetic"], "a_file: not a readable mmgc condensed graph file"),
    (["evaluate", "missing.pt", "--dataset", "synthetic", "--rows-out", "a_dir"], "--rows-out a_dir: is a directory"),
    # condensed graphs of the wrong inner structure
    (["evaluate", "no_adj.pt", *SMALL, *FAST], "no_adj.pt: adj: expected a dense tensor, found NoneType"),
    (["evaluate", "layout_str.pt", *SMALL, *FAST], "layout_str.pt: modalities: expected a mapping name -> [start, stop]"),
    (["evaluate", "info_list.pt", *SMALL, *FAST], "info_list.pt: info: expected a dict, found list"),
    (["evaluate", "ratio_str.pt", *SMALL, *FAST], "ratio_str.pt: info.ratio: expected float, found str"),
    # data folders whose pickles would run code or write files: refused, nothing ran
    (["datasets", "info", "cora", "--root", "cora_load"], "numpy.load is not allowed in a Planetoid file"),
    (["datasets", "info", "cora", "--root", "cora_save"], "numpy.save is not allowed in a Planetoid file"),
    (["datasets", "info", "cora", "--root", "cora_system"], "posix.system is not allowed in a Planetoid file"),
    # the results store: damaged files are named, queries read and never write
    (["leaderboard", "--results", "missing"], "--results missing: no such directory"),
    (["leaderboard", "--results", "a_file"], "results root a_file: is a file"),
    (["leaderboard", "--results", "results", "--phase", "x"], "--phase: expected one of"),
    (["leaderboard", "--results", "truncated"], "bad.parquet: not a readable result file (ArrowInvalid"),
    (["leaderboard", "--results", "empty"], "bad.parquet: not a readable result file (ArrowInvalid"),
    (["leaderboard", "--results", "not_parquet", "--sql", "SELECT 1"], "bad.parquet: not a readable result file"),
    (["leaderboard", "--results", "wrong_type"], "bad.parquet: not a readable result file (ArrowInvalid: Failed to parse"),
    (["report", "--results", "truncated", "--out", "report.html"], "bad.parquet: not a readable result file"),
    (["tables", "table2", "--results", "empty"], "bad.parquet: not a readable result file"),
    (_sql("COPY (SELECT 1) TO 'copied.csv'"),
     "--sql: expected one read-only query (SELECT, WITH ... SELECT, DESCRIBE or EXPLAIN), found COPY"),
    (_sql("ATTACH 'attached.db'"), "found ATTACH"),
    (_sql("SELECT 1; CREATE TABLE t AS SELECT 1"), "found SELECT, CREATE"),
    (_sql("SELECT * FROM read_csv('/etc/hostname')"), "file system operations are disabled"),
    (_sql("SELECT * FROM read_parquet('results/**/*.parquet')"), "file system operations are disabled"),
    (_sql("SELEC 1"), "--sql: Parser Error"),
    (_sql("EXPLAIN ANALYZE COPY (SELECT 0.743 AS test_metric) TO 'results/forged.parquet'"),
     "--sql: EXPLAIN ANALYZE runs the statement it explains; expected EXPLAIN without ANALYZE"),
    (_sql("/* plan */ explain analyse COPY (SELECT 'gone') TO 'results/mlflow.db' (FORMAT csv)"),
     "--sql: EXPLAIN ANALYZE runs the statement it explains"),
    (_sql("EXPLAIN COPY (SELECT 1) TO 'results/forged.csv'"), "expected EXPLAIN of one read-only query"),
]


def _case_id(args: list[str]) -> str:
    """The command and what sets the case apart (the shared options of `RUN` left out)."""
    shown = [args[0], *args[len(RUN):]] if args[:len(RUN)] == RUN else args
    return " ".join(shown)[:70]


@pytest.mark.parametrize("args, expected", CASES, ids=[_case_id(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workdir, monkeypatch, capsys, request, args, expected):
    from mmgc import provenance

    for name in UNWRITABLE:
        if any(a.startswith(name) for a in args):
            _make_unwritable(workdir / name, request)
    before = _tree(workdir)
    started = []

    def refuse_to_start(self, *args, **kwargs):
        started.append(args)
        raise OSError("no program may start before the input is known to be good")

    provenance.git_commit.cache_clear()  # a commit looked up earlier in this process must not hide a lookup
    with monkeypatch.context() as patch, pytest.raises(SystemExit) as exit_info:
        patch.setattr(subprocess.Popen, "__init__", refuse_to_start)
        patch.setattr(sys, "argv", ["mmgc", *args])
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert _tree(workdir) == before  # nothing created, nothing modified (no code ran: it would have written)
    assert started == []  # no program started (git, a shell)


def test_a_stale_temporary_file_of_a_killed_writer_is_removed(workdir, monkeypatch, capsys):
    """A temporary file left beside a write target by a writer that is gone goes as soon as the
    target is checked; a live writer's stays."""
    import subprocess

    from mmgc.harness.cli.run import check_write_target
    from mmgc.tempfiles import temporary_path

    dead = subprocess.Popen(["true"])
    dead.wait()
    left = Path(temporary_path("rows.json").replace(f"~{os.getpid()}~", f"~{dead.pid}~"))
    live = Path(temporary_path("rows.json"))
    for path in (left, live):
        path.write_text("half a file")
    assert check_write_target("rows.json", "--rows-out") == Path("rows.json")
    assert not left.exists() and live.exists()
    assert not os.path.exists("rows.json")
