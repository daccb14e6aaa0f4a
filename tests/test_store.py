"""The Parquet results store: atomic per-trial files, hive folders, DuckDB reads, the leaderboard."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path

import pytest

from mmgc.harness.schema import RESULT_COLUMNS, make_row
from mmgc.harness.store import KEY_COLUMNS, ResultStore, partition_value, print_leaderboard, trial_key


def rows_of(trial: str, experiment: str = "exp", dataset: str = "synthetic", method: str = "random", ratio: float = 0.01,
            seed: int = 0, vals=(0.5, 0.6), status: str = "ok", label: str | None = None, phase: str = "final",
            created: str = "2026-01-01T00:00:00", config_hash: str = "h1"):
    return [make_row(experiment=experiment, phase=phase, trial_id=trial, dataset=dataset, dataset_variant="",
                     ratio=ratio, method=method, method_label=label or method, config_hash=config_hash,
                     condense_seed=seed, arch="gcn", eval_seed=i, metric="accuracy", val_metric=v, test_metric=v,
                     status=status, error=None if status == "ok" else "boom", created_at=created, n=10)
            for i, v in enumerate(vals)]


def test_write_read_round_trip_and_layout(tmp_path):
    store = ResultStore(str(tmp_path / "res"))
    path = store.write_trial(rows_of("t1", dataset="magb-toys+synthfeat", method="sr_gm"))
    assert Path(path).is_file()
    rel = Path(path).relative_to(tmp_path / "res").parts
    assert rel == ("experiment=exp", "dataset=magb-toys+synthfeat", "method=sr_gm", "t1.parquet")
    rows = store.rows("exp")
    assert len(rows) == 2
    assert set(rows[0]) == set(RESULT_COLUMNS)
    assert {r["val_metric"] for r in rows} == {0.5, 0.6}
    assert not [p for p in (tmp_path / "res").rglob("*") if p.name.endswith(".tmp")]


def test_write_rejects_mixed_or_unknown_rows(tmp_path):
    store = ResultStore(str(tmp_path))
    with pytest.raises(ValueError):
        store.write_trial(rows_of("a") + rows_of("b"))  # two trials in one file
    with pytest.raises(ValueError):
        store.write_trial([])
    bad = rows_of("c")
    bad[0]["not_a_column"] = 1
    with pytest.raises(KeyError):
        store.write_trial(bad)
    assert store.files() == []
    assert not list(tmp_path.rglob("*.tmp"))


def test_partition_values_are_path_safe():
    assert partition_value("a/b") == "a%2Fb"
    assert partition_value("x=y") == "x%3Dy"
    assert partition_value("") == "_"
    assert partition_value("magb-toys+synthfeat") == "magb-toys+synthfeat"


def test_filters_sql_and_empty_store(tmp_path):
    store = ResultStore(str(tmp_path))
    assert store.rows() == []
    assert store.leaderboard() == []
    store.write_trial(rows_of("t1", experiment="a", method="random"))
    store.write_trial(rows_of("t2", experiment="a", method="herding"))
    store.write_trial(rows_of("t3", experiment="b", method="random", dataset="cora"))
    assert len(store.rows("a")) == 4
    assert len(store.rows(None, dataset="cora")) == 2
    assert len(store.files("a", None, "herding")) == 1
    names, result = store.sql("SELECT experiment, count(*) FROM results GROUP BY 1 ORDER BY 1")
    assert result == [("a", 4), ("b", 2)]
    from mmgc.errors import InputError

    with pytest.raises(InputError, match="--sql"):
        store.sql("SELECT nonsense FROM nowhere")


def test_leaderboard_mean_std_failed_and_dedup(tmp_path):
    store = ResultStore(str(tmp_path))
    store.write_trial(rows_of("s0", seed=0, vals=(0.5, 0.7)))
    store.write_trial(rows_of("s1", seed=1, vals=(0.6, 0.8)))
    store.write_trial(rows_of("s2", seed=2, status="failed", vals=(None,)))
    # the same key as s0 written again later (two drivers raced): ignored
    store.write_trial(rows_of("s0-again", seed=0, vals=(0.0, 0.0), created="2026-01-02T00:00:00"))
    store.write_trial(rows_of("search", seed=0, vals=(0.99,), phase="search"))  # search rows are not reported
    (cell,) = store.leaderboard("exp")
    values = [0.5, 0.7, 0.6, 0.8]
    mean = sum(values) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)  # population std (numpy's default)
    assert cell.test.mean == pytest.approx(mean)
    assert cell.test.std == pytest.approx(std)
    assert cell.runs == 4 and cell.condense_seeds == [0, 1] and cell.eval_seeds == [0, 1] and cell.failed == 1
    (search,) = store.leaderboard("exp", phases=("search",))
    assert search.test.mean == pytest.approx(0.99)
    assert print_leaderboard(store, "exp") == 1


def test_completed_keys(tmp_path):
    store = ResultStore(str(tmp_path))
    store.write_trial(rows_of("ok1", seed=0))
    store.write_trial(rows_of("bad", seed=1, status="failed", vals=(None,)))
    done = store.completed("exp")
    assert len(done) == 1
    key = next(iter(done))
    assert key == trial_key(rows_of("x", seed=0)[0])
    assert len(key) == len(KEY_COLUMNS)
    assert len(store.completed("exp", include_failed=True)) == 2


def test_reads_files_of_an_older_schema(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = ResultStore(str(tmp_path))
    store.write_trial(rows_of("new"))
    old = {c: [v] for c, v in rows_of("old")[0].items() if c not in ("node", "method_label")}
    folder = tmp_path / "experiment=exp" / "dataset=synthetic" / "method=random"
    pq.write_table(pa.table(old), folder / "old.parquet")
    rows = store.rows("exp")
    assert len(rows) == 3
    assert [r["node"] for r in rows if r["trial_id"] == "old"] == [None]


def _writer(root: str, worker: int, trials: int) -> None:
    store = ResultStore(root)
    for t in range(trials):
        store.write_trial(rows_of(f"w{worker}-t{t}", seed=t, vals=(0.1, 0.2, 0.3), method=f"m{t % 3}"))


def test_four_concurrent_writers_lose_nothing(tmp_path):
    root = str(tmp_path / "res")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    store = ResultStore(root)
    seen = 0
    while any(p.is_alive() for p in procs):  # a reader during the writes only ever sees whole files
        seen = max(seen, len(store.rows("exp")))
    for p in procs:
        p.join()
        assert p.exitcode == 0
    rows = store.rows("exp")
    assert len(rows) == 4 * 40 * 3
    assert len({r["trial_id"] for r in rows}) == 160
    assert len(rows) % 3 == 0 and seen % 3 == 0
    assert not list(Path(root).rglob("*.tmp"))


_KILLED_WRITER = """
import os, sys, time
from mmgc.harness.store import ResultStore
from tests.test_store import rows_of

os.replace = lambda *args: time.sleep(600)  # the file is written and flushed; the rename never comes
ResultStore(sys.argv[1]).write_trial(rows_of("killed"))
"""


def test_a_writer_killed_mid_write_leaves_a_temporary_file_that_the_next_compaction_removes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from mmgc.tempfiles import STALE_AFTER_S, temporary_path

    root = tmp_path / "res"
    store = ResultStore(str(root))
    store.write_trial(rows_of("kept"))
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(root)], cwd=Path(__file__).parents[1])
    deadline = time.time() + 120
    while not list(root.rglob("*.tmp")):  # observable progress, however slow the machine
        assert writer.poll() is None and time.time() < deadline, "the writer never started its file"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    (left,) = root.rglob("*.tmp")
    folder = left.parent
    live = Path(temporary_path(folder / "live.parquet"))  # this process: a writer still running
    elsewhere = folder / ".other.parquet~another-host~12~abcd.tmp"  # another host's: cannot be checked
    abandoned = folder / ".old.parquet~another-host~12~abcd.tmp"
    artifact = root / "artifacts" / f".t.pt{left.name.split('.parquet', 1)[1]}"  # a condensed graph, same dead writer
    artifact.parent.mkdir()
    for path in (live, elsewhere, abandoned, artifact):
        path.write_bytes(b"half")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(abandoned, (old, old))
    assert store.files("exp") == [str(folder / "kept.parquet")]  # readers never see a temporary file
    store.compact("exp")
    assert sorted(p.name for p in root.rglob("*.tmp")) == sorted([live.name, elsewhere.name])
    assert [r["trial_id"] for r in store.rows("exp")] == ["kept", "kept"]


def test_uri_root_goes_through_pyarrow_filesystems(tmp_path):
    """A root that is a URI (s3://, gs://, ...) is written as one object per trial and read through
    pyarrow.fs; exercised here with a file:// URI forced down that path."""
    store = ResultStore(str(tmp_path))
    store.local, store.root = False, "file://" + str(tmp_path / "remote")
    path = store.write_trial(rows_of("u1", dataset="a b/c"))
    assert path.startswith("file://")
    store.write_trial(rows_of("u2", seed=1))
    assert len(store.files("exp")) == 2
    assert len(store.rows("exp")) == 4
    assert len(store.completed("exp")) == 2
    assert (tmp_path / "remote" / "experiment=exp" / "dataset=a%20b%2Fc" / "method=random" / "u1.parquet").is_file()


def test_compaction_merges_files_and_never_duplicates_rows(tmp_path):
    import shutil

    store = ResultStore(str(tmp_path))
    for t in range(12):
        store.write_trial(rows_of(f"t{t}", seed=t, method=("random", "herding")[t % 2]))
    before = sorted((r["trial_id"], r["eval_seed"]) for r in store.rows("exp"))
    assert len(store.files("exp")) == 12
    assert store.compact("exp") == 12
    files = store.files("exp")
    assert len(files) == 2 and all(Path(f).name.startswith("compacted-") for f in files)
    assert sorted((r["trial_id"], r["eval_seed"]) for r in store.rows("exp")) == before
    # a compaction killed after writing its merged file but before deleting the sources
    shutil.copy(files[0], Path(files[0]).with_name("compacted-copy.parquet"))
    assert sorted((r["trial_id"], r["eval_seed"]) for r in store.rows("exp")) == before
    assert sum(c.runs for c in store.leaderboard("exp")) == 24
    store.write_trial(rows_of("late", seed=99))  # writers go on as before
    assert store.compact("exp") == 4 and len(store.files("exp")) == 2
    assert len(store.rows("exp")) == 26


def test_sql_is_read_only(tmp_path):
    from mmgc.errors import InputError

    store = ResultStore(str(tmp_path / "res"))
    store.write_trial(rows_of("t1"))
    before = sorted(p.name for p in (tmp_path / "res").rglob("*"))
    names, rows = store.sql("WITH m AS (SELECT avg(test_metric) AS v FROM results) SELECT v FROM m")
    assert rows == [(pytest.approx(0.55),)]
    assert store.sql("DESCRIBE results")[1]
    for query, found in [(f"COPY (SELECT 1) TO '{tmp_path}/res/copied.csv'", "COPY"),
                         (f"ATTACH '{tmp_path}/res/x.db'", "ATTACH"), ("CREATE TABLE t AS SELECT 1", "CREATE"),
                         ("SET enable_external_access = true", "SET"), ("INSTALL httpfs", "LOAD"),
                         ("SELECT 1; DROP VIEW results", "SELECT, DROP")]:
        with pytest.raises(InputError, match=f"expected one read-only query .*found {found}$"):
            store.sql(query)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(InputError, match="disabled by configuration"):  # no file outside the results root
        store.sql(f"SELECT * FROM read_csv('{outside}')")
    assert sorted(p.name for p in (tmp_path / "res").rglob("*")) == before


def test_a_file_is_not_a_results_root(tmp_path):
    from mmgc.errors import InputError

    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file; expected a directory"):
        ResultStore(str(tmp_path / "f"))
    ResultStore(str(tmp_path / "not-yet"))  # a folder still to create is fine (a sweep creates it)
    assert not (tmp_path / "not-yet").exists()


def test_leaderboard_fits_80_columns_and_never_cuts_a_method_name(tmp_path):
    import io

    from rich.console import Console

    store = ResultStore(str(tmp_path / "res"))
    labels = ["SR-GM w/o D+R", "gcond[lr_feat=0.001,lr_adj=0.001]", "herding", "a" * 70]
    for i, label in enumerate(labels):
        store.write_trial(rows_of(f"t{i}", dataset="synth-ele-fashion", label=label, method="sr_gm"))
    out = io.StringIO()
    assert print_leaderboard(store, "exp", console=Console(file=out, width=80)) == len(labels)
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    header = next(line for line in lines if " method " in line)
    start, stop = header.index("method"), header.index("arch")
    cells: list[str] = []
    for line in lines[lines.index(header) + 2:]:
        if not line.strip() or line.lstrip().startswith("runs:"):
            break
        piece = line[start:stop].strip()
        if line[:start].strip():  # a new row (its ratio column is filled)
            cells.append(piece)
        else:  # the method name wrapped onto this line
            cells[-1] += piece
    assert sorted(cells) == sorted(labels)  # every name whole: wrapped where needed, never cut


def test_leaderboard_marks_the_best_condensed_graph_and_never_ranks_test_selected_rows(tmp_path):
    import io

    from rich.console import Console

    store = ResultStore(str(tmp_path / "res"))
    store.write_trial(rows_of("a", label="Alpha", vals=(0.40,)))
    store.write_trial(rows_of("b", label="Beta", vals=(0.60,)))
    store.write_trial(rows_of("w", label="Whole", method="original", ratio=1.0, vals=(0.90,)))
    test_selected = rows_of("t", label="Gamma", vals=(0.95,))
    for row in test_selected:
        row["selection"] = "test"
    store.write_trial(test_selected)
    out = io.StringIO()
    print_leaderboard(store, "exp", console=Console(file=out, width=200))
    text = out.getvalue()
    val_part, test_part = text.split("TEST-SELECTED")
    line = {name: next(ln for ln in text.splitlines() if f" {name} " in ln) for name in ("Alpha", "Beta", "Whole", "Gamma")}
    assert "*" in line["Beta"] and "*" not in line["Alpha"] and "*" not in line["Whole"]  # the whole graph is not ranked
    assert "Gamma" in test_part and "Gamma" not in val_part  # its own table, after the validation-selected one
    assert "*" in line["Gamma"]  # best only among the test-selected rows


def test_settling_after_an_interrupt_waits_for_writers_to_finish_or_die(tmp_path):
    """A stopping trial may still be writing its file when the sweep's driver ends: the driver waits
    until the writer renames it (finished) or dies (its file is then removed), for a bounded time."""
    import subprocess
    import sys
    import threading
    import time

    from mmgc.tempfiles import temporary_path

    store = ResultStore(str(tmp_path / "res"))
    folder = tmp_path / "res" / "experiment=exp" / "dataset=d" / "method=m"
    folder.mkdir(parents=True)
    finishing = Path(temporary_path(folder / "finishing.parquet"))  # this (live) process: renamed soon
    finishing.write_bytes(b"half")
    dying = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    dead = folder / f".dying.parquet~{finishing.name.split('~')[1]}~{dying.pid}~abcd1234.tmp"
    dead.write_bytes(b"half")
    threading.Timer(0.5, lambda: finishing.rename(folder / "finishing.parquet")).start()
    threading.Thread(target=dying.wait).start()  # reaped as it dies (a zombie's pid still answers)
    start = time.monotonic()
    assert store.settle_temporaries("exp", timeout_s=30) == []
    assert time.monotonic() - start < 20
    assert sorted(p.name for p in folder.iterdir()) == ["finishing.parquet"]
    stuck = Path(temporary_path(folder / "stuck.parquet"))  # a live writer that does not finish
    stuck.write_bytes(b"half")
    assert store.settle_temporaries("exp", timeout_s=0.3) == [str(stuck)]
    assert store.settle_temporaries("other", timeout_s=0.3) == []  # another experiment's folder


def test_glob_characters_in_the_root_are_literal(tmp_path):
    """A results root whose name holds glob characters (``[1]``, ``*``, ``?``) is read as named."""
    for name in ("root[1]", "root*", "what?"):
        store = ResultStore(str(tmp_path / name))
        store.write_trial(rows_of(f"in-{len(name)}"))
        assert len(store.rows("exp")) == 2, name
        assert store.compact("exp") == 0 and len(store.files("exp")) == 1


def test_the_connection_itself_can_write_nothing(tmp_path):
    """Past the statement check, the connection a query runs on opens no file: a COPY, even into the
    results root, an ATTACH and a file read all fail, and its settings cannot be changed back."""
    import duckdb

    store = ResultStore(str(tmp_path / "res"))
    store.write_trial(rows_of("t1"))
    before = sorted(p.name for p in (tmp_path / "res").rglob("*"))
    con = store.connect()
    for statement in (f"COPY (SELECT 1) TO '{tmp_path}/res/forged.parquet'",
                      f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp_path}/res/forged.csv'",
                      f"ATTACH '{tmp_path}/res/x.db'", f"SELECT * FROM read_parquet('{tmp_path}/res/**/*.parquet')",
                      "SET enable_external_access = true", "SET temp_directory = '/tmp'", "LOAD httpfs"):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert con.execute("SELECT count(*) FROM results").fetchall() == [(2,)]
    assert sorted(p.name for p in (tmp_path / "res").rglob("*")) == before


def test_readers_beside_a_compaction_see_every_row_once(tmp_path):
    """A reader that lists the files just before a compaction deletes them lists again: beside a
    process that writes trials and compacts over and over, every read succeeds and counts every row
    written before it began, once."""
    import threading

    store = ResultStore(str(tmp_path / "res"))
    for t in range(6):
        store.write_trial(rows_of(f"first-{t}", seed=t, method=("random", "herding", "kcenter")[t % 3]))
    stop, written = threading.Event(), [12]

    def compacting() -> None:
        other = ResultStore(store.root)
        t = 0
        while not stop.is_set():
            for method in ("random", "herding", "kcenter"):
                other.write_trial(rows_of(f"more-{t}-{method}", seed=100 + t, method=method))
            written.append(written[-1] + 6)
            other.compact("exp")
            t += 1
            stop.wait(0.01)

    worker = threading.Thread(target=compacting)
    worker.start()
    try:
        for _ in range(40):
            at_least = written[-1]
            rows = store.rows("exp")
            assert len(rows) >= at_least
            assert len({(r["trial_id"], r["eval_seed"]) for r in rows}) == len(rows)
    finally:
        stop.set()
        worker.join()
