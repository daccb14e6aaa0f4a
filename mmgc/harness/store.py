"""The results store: one Parquet file per trial, written atomically, read all at once with DuckDB.

Layout under the results root (hive-style folders, for browsing and for pruning by glob)::

    ROOT/experiment=E/dataset=D/method=M/<trial_id>.parquet

Every file holds the complete rows of one trial (`mmgc.harness.schema`); the folder names repeat
columns that are also inside the files, and readers use the columns, not the folder names.

A file appears whole or not at all: on a local disk it is written to a hidden temporary name in the
same folder, flushed to disk, then renamed; on an object store (``s3://``, ``gs://``, any URI that
`pyarrow.fs` understands) one object is uploaded, which the store makes visible only once complete.
Concurrent writers never share a file, so nothing is lost and nothing needs a lock. A writer killed
mid-write leaves its temporary file, named after its host and pid (`mmgc.tempfiles`); `compact`, which
every sweep runs when it starts and ends, first removes those whose writer is gone, and an
interrupted sweep first waits for the trials Ray is still stopping (`settle_temporaries`).

Compaction (`ResultStore.compact`, run at the end of every sweep) merges each folder's trial files
into one ``compacted-*.parquet``, so that a store of 100,000 rows is a few files, not 10,000.

Reading: the trial files are listed (glob characters in the root's name are literal), read through
`pyarrow.dataset` into one Arrow table with every column of the schema (files written before a
column was added read it as NULL) and handed to DuckDB as the view ``results``: a snapshot in
memory, so DuckDB itself never opens a file, and its connection is locked so that it cannot
(`connect`). A file that is not a readable result file (truncated, empty, not Parquet, a column of
the wrong type) is an `InputError` naming it; a compaction that ran while the files were read (one
vanished, or a merged file appeared) makes the reader list and read them again (`snapshot`), so a
reader sees the files before a compaction or after it, and a row in both is read once.
"""

from __future__ import annotations

import glob
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from mmgc.errors import InputError
from mmgc.harness.board import BOARD_COLUMNS, BoardCell, board_cells, cost_cells
from mmgc.harness.schema import RESULT_COLUMNS, arrow_schema
from mmgc.harness.statistics import DEFAULT_MARGIN, Summary, points
from mmgc.tempfiles import atomic_write, await_writers, remove_stale, temporary_path, unwritable_reason

# A trial is identified across runs by these columns (plus the phase): the resume key.
KEY_COLUMNS = ("experiment", "phase", "dataset", "dataset_variant", "ratio", "method", "method_label",
               "config_hash", "condense_seed")

_SAFE = "+-_.,@~"
_READ_ATTEMPTS = 20
"""How often a reader lists and reads the files again when a compaction ran while it read."""
_COMPACTED = "compacted-"
"""The name prefix of a compaction's merged files."""
_LOCKED = {"enable_external_access": False, "autoinstall_known_extensions": False,
           "autoload_known_extensions": False, "allow_community_extensions": False,
           "python_enable_replacements": False, "temp_directory": ""}
"""DuckDB settings of every store connection: no file system, no extensions, no spilling to disk, no
Python variables as tables; `connect` then locks the configuration."""


def partition_value(value: Any) -> str:
    """A column value as a folder name: path-unsafe characters percent-encoded, empty as ``_``."""
    text = "" if value is None else str(value)
    return quote(text, safe=_SAFE) or "_"


def _is_uri(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


def trial_key(row: dict[str, Any]) -> tuple:
    """The resume key of a row: ``(experiment, phase, dataset, dataset_variant, ratio, method,
    method_label, config_hash, condense_seed)``; ratios rounded so that 0.1 + 0.2 == 0.3."""
    return tuple(round(float(row[c]), 12) if c == "ratio" and row[c] is not None else
                 ("" if row[c] is None and c in ("dataset_variant", "method_label") else row[c])
                 for c in KEY_COLUMNS)


@dataclass
class ResultStore:
    """The Parquet results store under ``root`` (a local path or a URI `pyarrow.fs` understands)."""

    root: str

    def __post_init__(self) -> None:
        root = str(self.root)
        if root.startswith("file://"):
            root = root[len("file://"):]
        if _is_uri(root):
            self.root = root.rstrip("/")
            self.local = False
        else:
            path = Path(root).expanduser().resolve()
            if path.exists() and not path.is_dir():
                raise InputError(f"results root {root}: is a file; expected a directory (or a name to create)")
            self.root = str(path)
            self.local = True

    # ------------------------------------------------------------------------------------- writing
    def check_writable(self) -> None:
        """Refuse a local root where no file can be written (`mmgc.tempfiles.unwritable_reason`), before
        any work that would write there."""
        reason = unwritable_reason(self.root) if self.local else None
        if reason is not None:
            raise InputError(f"results root {self.root}: {reason}; expected a folder this user can write")

    def trial_path(self, experiment: str, dataset: str, method: str, trial_id: str) -> str:
        parts = [f"experiment={partition_value(experiment)}", f"dataset={partition_value(dataset)}",
                 f"method={partition_value(method)}", f"{partition_value(trial_id)}.parquet"]
        return "/".join([self.root, *parts])

    def write_trial(self, rows: Sequence[dict[str, Any]]) -> str:
        """Write the rows of one trial as one Parquet file, atomically; return its path.

        Every row must share experiment, dataset, method and trial_id (one trial, one file)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            raise ValueError("write_trial: a trial writes at least one row")
        first = rows[0]
        for column in ("experiment", "dataset", "method", "trial_id"):
            values = {r.get(column) for r in rows}
            if len(values) != 1 or None in values:
                raise ValueError(f"write_trial: rows of one trial must share one non-null {column!r}, found {values}")
        unknown = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS))
        if unknown:
            raise KeyError(f"write_trial: unknown result columns {unknown}")
        table = pa.Table.from_pylist([{c: r.get(c) for c in RESULT_COLUMNS} for r in rows], schema=arrow_schema())
        path = self.trial_path(first["experiment"], first["dataset"], first["method"], first["trial_id"])
        if self.local:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            with atomic_write(path, sync=True) as handle:
                pq.write_table(table, handle)
        else:
            fs, base = self._filesystem()
            target = f"{base}/{path[len(self.root):].lstrip('/')}"
            folder = target.rsplit("/", 1)[0]
            try:
                fs.create_dir(folder, recursive=True)
            except (OSError, NotImplementedError):
                pass  # object stores have no folders
            if fs.type_name in ("s3", "gcs", "abfs"):  # one object: visible only once whole
                with fs.open_output_stream(target) as stream:
                    pq.write_table(table, stream)
            else:  # a file system: write aside, then rename
                tmp = temporary_path(target)
                with fs.open_output_stream(tmp) as stream:
                    pq.write_table(table, stream)
                fs.move(tmp, target)
        return path

    # ------------------------------------------------------------------------------------- reading
    def _filesystem(self):
        from pyarrow import fs as pafs

        filesystem, base = pafs.FileSystem.from_uri(self.root)
        return filesystem, base.rstrip("/")

    def _glob(self, experiment: str | None, dataset: str | None, method: str | None) -> str:
        part = lambda key, value: f"{key}={partition_value(value)}" if value is not None else f"{key}=*"  # noqa: E731
        return "/".join([glob.escape(self.root) if self.local else self.root, part("experiment", experiment),
                         part("dataset", dataset), part("method", method), "*.parquet"])

    def files(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None) -> list[str]:
        """The trial files (no temporary files), optionally only those of one experiment/dataset/method."""
        if self.local:
            return sorted(glob.glob(self._glob(experiment, dataset, method)))
        from pyarrow import fs as pafs
        import fnmatch

        filesystem, base = self._filesystem()
        pattern = self._glob(experiment, dataset, method)[len(self.root):].lstrip("/")
        try:
            infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except FileNotFoundError:
            return []
        found = []
        for info in infos:
            rel = info.path[len(base):].lstrip("/")
            if info.type == pafs.FileType.File and fnmatch.fnmatch(rel, pattern) and not rel.rsplit("/", 1)[-1].startswith("."):
                found.append(f"{self.root}/{rel}")
        return sorted(found)

    def remove_stale_temporaries(self) -> list[str]:
        """Delete the temporary files that killed writers left under a local root (trial files,
        compactions, condensed-graph artifacts; `mmgc.tempfiles.remove_stale`); returns their paths."""
        return remove_stale(self.root) if self.local else []

    def settle_temporaries(self, experiment: str, timeout_s: float = 15.0) -> list[str]:
        """After an interrupted sweep: wait until the experiment's trials that Ray is still stopping
        have finished or died (`mmgc.tempfiles.await_writers`), so none leaves a temporary file
        behind the command; returns those still being written after ``timeout_s``."""
        if not self.local:
            return []
        return await_writers(f"{self.root}/experiment={partition_value(experiment)}", timeout_s)

    def compact(self, experiment: str | None = None, min_files: int = 2) -> int:
        """Merge the files of each experiment/dataset/method folder into one ``compacted-*.parquet``
        (queries over many small files are slow); returns how many files were merged away.

        Safe beside writers and readers: the merged file is written atomically before its sources
        are deleted, a trial written meanwhile is not among the sources, and a row present twice (a
        compaction killed half-way, two compactions at once) is read once."""
        import pyarrow.parquet as pq

        self.remove_stale_temporaries()
        by_folder: dict[str, list[str]] = {}
        for f in self.files(experiment):
            by_folder.setdefault(f.rsplit("/", 1)[0], []).append(f)
        merged = 0
        for folder, files in sorted(by_folder.items()):
            if len(files) < min_files:
                continue
            try:
                table = self.read_files(files)
            except FileNotFoundError:  # another compaction is merging this folder
                continue
            name = f"{_COMPACTED}{uuid.uuid4().hex[:12]}.parquet"
            if self.local:
                with atomic_write(os.path.join(folder, name), sync=True) as handle:
                    pq.write_table(table, handle)
                for f in files:
                    try:
                        os.unlink(f)
                    except FileNotFoundError:
                        pass
            else:
                filesystem, base = self._filesystem()
                remote = f"{base}/{folder[len(self.root):].lstrip('/')}"
                with filesystem.open_output_stream(f"{remote}/{name}") as stream:
                    pq.write_table(table, stream)
                for f in files:
                    try:
                        filesystem.delete_file(f"{base}/{f[len(self.root):].lstrip('/')}")
                    except (FileNotFoundError, OSError):
                        pass
            merged += len(files)
        return merged

    def read_files(self, files: Sequence[str]):
        """The rows of ``files`` (paths as `files` returns them) as one Arrow table of the store's schema.

        A file that is not a readable result file is an `InputError` naming it; one that vanished
        raises `FileNotFoundError`, for the caller to list the files again."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        filesystem, paths = None, list(files)
        if not self.local:
            filesystem, base = self._filesystem()
            paths = [f"{base}/{f[len(self.root):].lstrip('/')}" for f in files]

        def read(chosen: list[str]):
            return ds.dataset(chosen, schema=arrow_schema(), format="parquet", filesystem=filesystem).to_table()

        try:
            return read(paths)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError):  # find the file: read them one by one
            tables = []
            for file, path in zip(files, paths):
                try:
                    tables.append(read([path]))
                except FileNotFoundError:
                    raise
                except (pa.ArrowException, OSError) as exc:
                    reason = " ".join(str(exc).split())[:200]
                    raise InputError(f"results store: {file}: not a readable result file ({type(exc).__name__}: "
                                     f"{reason}); expected Parquet rows of mmgc's schema: remove or restore "
                                     "the file") from None
            return pa.concat_tables(tables) if tables else arrow_schema().empty_table()

    def snapshot(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None):
        """Every row of the (filtered) store as one Arrow table, read from one listing of its files.

        A compaction that runs meanwhile deletes files of the listing (reading one fails, or the next
        listing lacks it) or adds a merged file (which a listing taken while it appeared may have
        missed, along with the sources it replaced): the files are then listed and read again. Trial
        files added meanwhile are left for the next read."""
        for attempt in range(_READ_ATTEMPTS):
            files = self.files(experiment, dataset, method)
            try:
                table = self.read_files(files) if files else arrow_schema().empty_table()
            except FileNotFoundError:
                table = None
            after = self.files(experiment, dataset, method)
            compacted = set(files) - set(after) or any(f.rsplit("/", 1)[-1].startswith(_COMPACTED)
                                                      for f in set(after) - set(files))
            if table is not None and not compacted:
                return table
            time.sleep(min(0.02 * (attempt + 1), 0.2))
        raise InputError(f"results root {self.root}: compactions kept changing the files while they were read "
                         f"({_READ_ATTEMPTS} times); expected a store that compactions leave alone for a moment: "
                         "try again")

    def connect(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None):
        """A DuckDB connection with a view ``results`` over a snapshot of the (filtered) store (`snapshot`).

        The connection can open no file and load no extension, and its configuration is locked: a
        query can read the rows and nothing else."""
        import duckdb

        con = duckdb.connect(":memory:", config=dict(_LOCKED))
        con.register("_raw", self.snapshot(experiment, dataset, method))
        # a row is (trial_id, arch, eval_seed): the same row twice (a compaction killed between writing
        # the merged file and deleting its sources) is read once
        con.execute("CREATE VIEW results AS SELECT DISTINCT ON (trial_id, arch, eval_seed) * FROM _raw")
        con.execute("SET lock_configuration = true")
        return con

    def read(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None,
             where: str | None = None, params: Sequence[Any] = ()):
        """All rows as a `pyarrow.Table` (filtered by the folders and an optional SQL ``where``)."""
        con = self.connect(experiment, dataset, method)
        sql = "SELECT * FROM results" + (f" WHERE {where}" if where else "")
        return con.sql(sql, params=list(params) or None).to_arrow_table()

    def rows(self, experiment: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return self.read(experiment, **kwargs).to_pylist()

    def sql(self, query: str, experiment: str | None = None):
        """Run one read-only query (``SELECT``, ``WITH ... SELECT``, ``FROM ...``, ``DESCRIBE``,
        ``EXPLAIN`` without ``ANALYZE``) over the view ``results``; returns (column names, rows).

        Read-only twice over: the statement is parsed and anything but one such query is refused before
        it runs (`read_only_query`), and the connection can write nothing anywhere (`connect`). Ctrl-C
        interrupts a long query."""
        con = self.connect(experiment)
        return _fetch_interruptibly(con, read_only_query(con, query))

    def completed(self, experiment: str, include_failed: bool = False) -> dict[tuple, list[dict[str, Any]]]:
        """Resume index: key -> the ok rows of that key (one trial's rows; the first trial if several).
        With ``include_failed``, keys whose trials only failed are in it too (with their rows)."""
        con = self.connect(experiment)
        status = "" if include_failed else "status = 'ok' AND "
        columns = ", ".join(dict.fromkeys([*KEY_COLUMNS, "trial_id", "status", "created_at", "method_config", "arch",
                                           "eval_seed", "val_metric"]))
        table = con.sql(f"SELECT {columns} FROM results WHERE {status}experiment = ? "
                        "ORDER BY (status = 'ok') DESC, created_at, trial_id", params=[experiment]).to_arrow_table()
        done: dict[tuple, list[dict[str, Any]]] = {}
        owner: dict[tuple, str] = {}
        for row in table.to_pylist():
            key = trial_key(row)
            if owner.setdefault(key, row["trial_id"]) == row["trial_id"]:
                done.setdefault(key, []).append(row)
        return done

    def board_rows(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None,
                   phases: Iterable[str] = ("final", "single")) -> list[dict[str, Any]]:
        """The rows the leaderboard reads (`mmgc.harness.board.BOARD_COLUMNS`), ok and failed, of the
        given phases, one trial per resume key (`DEDUP`); ``method`` matches the method name or the
        label. ``variant`` is '' and ``selection`` 'val' where the row has none (rows written before
        the columns existed), ``label`` the method name where no label was stored."""
        con = self.connect(experiment, None, None)
        filters, params = ["phase IN (SELECT unnest(?))"], [list(phases)]
        for column, value in (("experiment", experiment), ("dataset", dataset)):
            if value is not None:
                filters.append(f"{column} = ?")
                params.append(value)
        if method is not None:
            filters.append("(method = ? OR method_label = ?)")
            params += [method, method]
        defaults = {"variant": "coalesce(dataset_variant, '')", "selection": "coalesce(selection, 'val')",
                    "label": "coalesce(method_label, method)"}
        columns = ", ".join(f"{defaults[c]} AS {c}" if c in defaults else c for c in BOARD_COLUMNS)
        cursor = con.execute(f"SELECT {columns} FROM ({DEDUP}) WHERE {' AND '.join(filters)}", params)
        return [dict(zip(BOARD_COLUMNS, values)) for values in cursor.fetchall()]

    def leaderboard(self, experiment: str | None = None, dataset: str | None = None, method: str | None = None,
                    phases: Iterable[str] = ("final", "single"),
                    margin: float = DEFAULT_MARGIN) -> list[BoardCell]:
        """The leaderboard's cells (`mmgc.harness.board.board_cells`: per experiment, dataset, variant,
        selection, ratio, method label and evaluation architecture, over every ok row of the given
        phases, i.e. condensation seeds x evaluation seeds; failed rows counted), ranked, compared
        with equivalence margin ``margin`` (metric units) and checked for fairness."""
        return board_cells(self.board_rows(experiment, dataset, method, phases), margin)


_EXPECTED_QUERY = "expected one read-only query (SELECT, WITH ... SELECT, DESCRIBE or EXPLAIN)"


def read_only_query(con, query: str) -> str:
    """The text to run for ``query`` if DuckDB's parser finds one read query in it: a ``SELECT`` (which
    includes ``WITH``, ``FROM``, ``DESCRIBE``, ``SHOW``), or ``EXPLAIN`` of one, without ``ANALYZE`` (which
    runs the statement it explains); anything else is an `InputError`."""
    import duckdb

    statements = _parse(con, query)
    allowed = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
    if len(statements) != 1 or statements[0].type not in allowed:
        found = ", ".join(st.type.name for st in statements) or "nothing"
        raise InputError(f"--sql: {_EXPECTED_QUERY}, found {found}")
    if statements[0].type == duckdb.StatementType.SELECT:
        return query
    # EXPLAIN: what follows the keyword must itself be one SELECT, and is run as EXPLAIN <it>
    words = [offset for offset, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    explained = query.encode()[words[1]:].decode() if len(words) > 1 else ""
    if re.match(r"(?i)analy[sz]e\b", explained):
        raise InputError("--sql: EXPLAIN ANALYZE runs the statement it explains; expected EXPLAIN without ANALYZE")
    inner = _parse(con, explained)
    if len(inner) != 1 or inner[0].type != duckdb.StatementType.SELECT:
        found = ", ".join(st.type.name for st in inner) or "nothing"
        raise InputError(f"--sql: expected EXPLAIN of one read-only query (SELECT ...), found EXPLAIN {found}")
    return f"EXPLAIN {explained}"


def _parse(con, query: str) -> list:
    import duckdb

    try:
        return con.extract_statements(query)
    except duckdb.Error as exc:
        raise InputError(f"--sql: {str(exc).splitlines()[0]}") from None


def _fetch_interruptibly(con, query: str) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of ``query``, run in a worker thread: the main thread, which receives
    Ctrl-C, waits on it and interrupts the query (a DuckDB call in the main thread would hold the
    signal until the query ended). A DuckDB error is an `InputError`."""
    import duckdb

    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            cursor = con.execute(query)
            outcome["result"] = [d[0] for d in cursor.description or []], cursor.fetchall()
        except duckdb.Error as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="mmgc-sql", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        con.interrupt()
        done.wait(10)
        raise
    if "error" in outcome:
        raise InputError(f"--sql: {str(outcome['error']).splitlines()[0]}")
    return outcome["result"]


# One trial per resume key: if two drivers ever ran the same key (a sweep restarted while the trials
# of the killed one were still finishing), the earliest ok trial counts and the others are ignored.
DEDUP = f"""
    SELECT * EXCLUDE (_first) FROM (
        SELECT *, first_value(trial_id) OVER (
            PARTITION BY {", ".join(KEY_COLUMNS)}, status ORDER BY created_at, trial_id) AS _first
        FROM results)
    WHERE trial_id = _first OR status <> 'ok'
"""


def wide_console(**kwargs: Any):
    """A rich console; when the output is not a terminal (a log, CI) it is 200 columns wide, not 80."""
    from rich.console import Console

    console = Console(**kwargs)
    if not console.is_terminal and "width" not in kwargs and not os.environ.get("COLUMNS"):
        console = Console(width=200, **kwargs)
    return console


def format_summary(summary: Summary | None, scale: float = 100.0) -> str:
    """``mean ± std`` in percent (one decimal), ``-`` for no result."""
    if summary is None:
        return "-"
    return f"{summary.mean * scale:.1f} ± {summary.std * scale:.1f}"


def print_leaderboard(store: ResultStore, experiment: str | None = None, dataset: str | None = None,
                      method: str | None = None, phases: Iterable[str] = ("final", "single"), console=None,
                      margin: float = DEFAULT_MARGIN, cost: bool = False) -> int:
    """Print the leaderboard (metrics in percent), or with ``cost`` its cost view; returns the number of cells.

    One table per (experiment, dataset and variant, selection, metric), named in its title, so that
    a table fits an 80-column terminal and test-selected rows never share a table (or a ranking) with
    validation-selected ones: ratio, synthetic nodes n, method, architecture, test and validation
    mean ± std, runs, the condensation x evaluation seeds behind them, and failed rows when there
    are any. In each (ratio, architecture) the condensed graph with the best test mean is marked
    ``*`` (the whole graph, ratio 1, is not ranked); under the table, its comparison with the
    runner-up (`mmgc.harness.statistics`) and the fairness footnotes of each ratio marked ``†`` or
    ``‡`` (`mmgc.harness.fairness`). Method names are never cut: their column is as wide as the
    longest name (up to 40 characters; longer ones wrap)."""
    from rich.markup import escape

    console = console or wide_console()
    cells = store.leaderboard(experiment, dataset, method, phases, margin)
    if not cells:
        console.print(escape(f"leaderboard: no {'/'.join(phases)} results under {store.root}"
                             + (f" for experiment {experiment!r}" if experiment else "")))
        return 0
    tables: dict[tuple, list[BoardCell]] = {}
    for c in cells:
        tables.setdefault(c.table, []).append(c)
    for (exp, data, variant, selection, metric), members in tables.items():
        title = f"{exp}: {data}" + (f" [{variant}]" if variant else "") + f", {metric} in % (mean ± std)"
        if selection == "test":
            title += ", TEST-SELECTED (reproduced protocol; not comparable with validation-selected tables)"
        if cost:
            _print_cost_table(console, title, members, store.root)
        else:
            _print_board_table(console, title, members, store.root, margin)
    return len(cells)


def _group_name(cell: BoardCell) -> str:
    return f"ratio {cell.ratio:g}, {cell.arch}"


def _print_board_table(console, title: str, members: Sequence[BoardCell], root: str, margin: float) -> None:
    failed = any(c.failed for c in members)

    def mark(c: BoardCell) -> str:
        return " *" if c.rank == 1 and c.ratio < 1 else "  "

    rows = [[f"{c.ratio:g}" + (f" {c.fairness.mark}" if c.fairness.mark else ""),
             "" if c.n is None else str(c.n), c.method, str(c.arch), format_summary(c.test) + mark(c),
             format_summary(c.val), str(c.runs), c.seeds_text(), *([str(c.failed)] if failed else [])]
            for c in members]
    headers = ["ratio", "n", "method", "arch", "test %", "val %", "runs", "seeds", *(["failed"] if failed else [])]
    notes = [f"* best test mean per ratio and arch. runs: result rows; seeds: condensation x evaluation seeds "
             f"behind each mean; results under {root}"]
    for c in members:
        if c.comparison is not None and c.ratio < 1:
            test = c.comparison
            notes.append(f"{_group_name(c)}: {c.method} vs {c.runner_up} {test.diff * 100:+.2f} points: "
                         f"{test.verdict_text()} ({test.evidence()}; {test.pairs} paired seeds)")
    if any(c.comparison is not None for c in members):
        notes.append(f"(best vs runner-up: paired t-test and TOST within {points(margin)} over the shared "
                     "condensation seeds, Holm-adjusted within this table; see `mmgc leaderboard --help`)")
    seen = set()
    for c in members:
        if c.fairness.mark and c.rank_group not in seen:
            seen.add(c.rank_group)
            notes.append(f"{c.fairness.mark} {_group_name(c)}: {c.fairness.note()}")
    _print_table(console, title, headers, rows, notes)


def _print_cost_table(console, title: str, members: Sequence[BoardCell], root: str) -> None:
    rows = []
    for cost in cost_cells(members):
        c = cost.cell
        rows.append([f"{c.ratio:g}", "" if c.n is None else str(c.n), c.method, str(c.arch), format_summary(c.test),
                     format_seconds(cost.condense_seconds), format_seconds(cost.condense_cpu_seconds),
                     f"{format_bytes(cost.condensed_bytes)} / {format_bytes(cost.original_bytes)}",
                     "—" if cost.compression is None else f"{cost.compression:,.3g}",
                     f"{format_seconds(cost.train_seconds)} / {format_seconds(cost.train_seconds_original)}",
                     cost.break_even_text()])
    headers = ["ratio", "n", "method", "arch", "test %", "condense s", "CPU s", "bytes (graph / original)",
               "x smaller", "train s (graph / original)", "break-even"]
    notes = ["condense s, CPU s, bytes: per condensed graph (mean over its trials); train s: one evaluation model "
             "(mean over rows), on the cell's graph / on the original graph (the Original row of the same dataset "
             "and arch); break-even: trainings on the condensed graph that repay its condensation = condense s / "
             "(train s original - train s graph); never: training on it is not faster; —: a side is missing; "
             f"results under {root}"]
    _print_table(console, title.replace("(mean ± std)", "(mean ± std), cost"), headers, rows, notes)


def _print_table(console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                 notes: Sequence[str]) -> None:
    """A table with the method column (the third) as wide as its longest name (it wraps only if it must)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    widths = [max(len(h), *(len(c[i]) for c in rows)) for i, h in enumerate(headers)]
    others = sum(w for i, w in enumerate(widths) if i != 2) + 2 * len(headers) + 1  # two spaces between columns
    width = max(12, min(widths[2], console.width - others))
    table = Table(title=escape(title), box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  title_justify="left", caption_justify="left", caption=escape("\n".join(notes)))
    for header in headers:
        if header == "method":
            table.add_column(header, min_width=width, max_width=width, overflow="fold")
        else:
            table.add_column(header, no_wrap=True, justify="left" if header in ("ratio", "arch") else "right")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    console.print(table)


def format_seconds(seconds: float | None) -> str:
    """Seconds to three significant digits (whole seconds from 1,000 on), ``—`` when not recorded."""
    if seconds is None:
        return "—"
    return f"{seconds:,.0f}" if seconds >= 1000 else f"{seconds:.3g}"


def format_bytes(size: float | None) -> str:
    """Bytes in binary units, three significant digits: ``12.3 KiB``; ``—`` when not recorded."""
    if size is None:
        return "—"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size /= 1024
        power += 1
    return f"{size:.0f} B" if power == 0 else f"{size:.3g} {units[power]}"
