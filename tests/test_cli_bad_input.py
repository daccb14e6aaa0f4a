"""Every bad input the command line is known to meet: one line on stderr naming what was wrong, exit
code 2, before any work starts, and nothing written. One table, run in-process through the real
`main()`; add a row for each new case."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from mmgc.harness.cli import main

FAST = ["--runs", "1", "-e", "epochs=1"]
RUN = ["run", "--dataset", "synthetic", "--method", "random", "--ratio", "0.05", *FAST]


def _tree(root: Path) -> dict[str, float]:
    """Every file and folder under ``root`` with its modification time."""
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding what the cases point at: a folder, a plain file, an experiment
    file, an empty YAML file, a results root, and a condensed graph file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "empty.yaml").write_text("# nothing but a comment\n")
    experiment = {"name": "bad", "results": str(tmp_path / "results"),
                  "datasets": [{"name": "synthetic", "options": {"nodes": 200}, "ratios": [0.05]}],
                  "methods": [{"name": "random"}], "evaluation": {"options": {"epochs": 1}}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment))
    (tmp_path / "results").mkdir()
    return tmp_path


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
    # numbers
    ([*RUN, "--seed", "-1"], "--seed: expected an integer >= 0, found -1"),
    ([*RUN, "--seed-start", "-2"], "--seed-start: expected an integer >= 0, found -2"),
    ([*RUN, "--threads", "0"], "--threads: expected an integer >= 1, found 0"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "one"], "Invalid value for '--ratio'"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "0"], "--ratio: expected n / N in (0, 1]"),
    (["run", "--dataset", "synthetic", "--method", "random", "--ratio", "1.5"], "--ratio: expected n / N in (0, 1]"),
    ([*RUN, "--runs", "0"], "--runs: expected at least 1"),
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
    # files
    (["sweep", "empty.yaml"], "empty.yaml: the file is empty"),
    (["sweep", "a_dir"], "a_dir: is a directory; expected an experiment file"),
    (["sweep", "missing.yaml"], "missing.yaml: experiment file not found"),
    (["evaluate", "a_dir", "--dataset", "synthetic"], "a_dir: is a directory; expected a condensed graph file"),
    (["evaluate", "missing.pt", "--dataset", "synthetic"], "missing.pt: condensed graph file not found"),
    (["evaluate", "a_file", "--dataset", "synthetic"], "a_file: not a readable mmgc condensed graph file"),
    (["evaluate", "missing.pt", "--dataset", "synthetic", "--rows-out", "a_dir"], "--rows-out a_dir: is a directory"),
    # the results store
    (["leaderboard", "--results", "missing"], "--results missing: no such directory"),
    (["leaderboard", "--results", "a_file"], "results root a_file: is a file"),
    (["leaderboard", "--results", "results", "--phase", "x"], "--phase: expected one of"),
    (["leaderboard", "--results", "results", "--sql", "COPY (SELECT 1) TO 'copied.csv'"],
     "--sql: expected one read-only query (SELECT, WITH ... SELECT, DESCRIBE or EXPLAIN), found COPY"),
    (["leaderboard", "--results", "results", "--sql", "ATTACH 'attached.db'"], "found ATTACH"),
    (["leaderboard", "--results", "results", "--sql", "SELECT 1; CREATE TABLE t AS SELECT 1"], "found SELECT, CREATE"),
    (["leaderboard", "--results", "results", "--sql", "SELECT * FROM read_csv('/etc/hostname')"],
     "file system operations are disabled"),
    (["leaderboard", "--results", "results", "--sql", "SELEC 1"], "--sql: Parser Error"),
]


@pytest.mark.parametrize("args, expected", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workdir, monkeypatch, capsys, args, expected):
    before = _tree(workdir)
    monkeypatch.setattr(sys, "argv", ["mmgc", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert _tree(workdir) == before  # nothing created, nothing modified


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
