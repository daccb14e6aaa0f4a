"""`mmgc report`: the HTML page built from a store of fake rows, and looked at in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmgc.harness import report
from mmgc.harness.schema import make_row
from mmgc.harness.store import ResultStore

MMGC = str(Path(sys.executable).parent / "mmgc")
EXPERIMENT = "table2_main_synthetic"
# method -> (method_config, test metric offset): SR-GM is 6 points ahead of GCond on every seed (give or
# take a little per-seed noise, `_noise`), Random far behind
METHODS = {"random": ({}, 0.0), "gcond": ({"epochs": 6}, 0.10), "sr_gm": ({"epochs": 6, "lam": 1000.0, "decouple": True}, 0.16)}
LABELS = {"random": "Random", "gcond": "GCond", "sr_gm": "SR-GM", "original": "Original"}  # the experiment's labels
RATIOS = (0.05, 0.1)
CONDENSE_SEEDS = (0, 1, 2)
EVAL_SEEDS = (0, 1)


# method -> (feature steps, condensation seconds, training seconds); Original trains for ORIGINAL_TRAIN seconds
COSTS = {"random": (0, 0.01, 0.2), "gcond": (60, 20.0, 0.4), "sr_gm": (60, 30.0, 0.5), "original": (None, None, 3.0)}
ORIGINAL_BYTES = 2_000_000


def _row(trial: str, method: str, ratio: float, seed: int, eval_seed: int, value: float, **extra):
    config, _ = METHODS.get(method, ({}, 0.0))
    steps, seconds, train = COSTS[method]
    extra = {"feature_steps": steps, "condense_seconds": seconds, "train_seconds": train, "eval_recipe": "recipe0",
             "original_bytes": ORIGINAL_BYTES, "condensed_bytes": int(ORIGINAL_BYTES * ratio), **extra}
    return make_row(experiment=EXPERIMENT, phase="final", trial_id=trial, dataset="synthetic", dataset_variant="",
                    setting="transductive", ratio=ratio, n=int(ratio * 600), method=method, method_label=LABELS[method],
                    method_config=json.dumps(config, sort_keys=True), config_hash=f"{method}-hash0123456789",
                    condense_seed=seed, condense_arch="gcn", arch="gcn", eval_seed=eval_seed, metric="accuracy",
                    val_metric=value - 0.01, test_metric=value, best_epoch=40 + 10 * eval_seed, status="ok",
                    package_version="0.1.0", git_commit="0123456789abcdef0123456789abcdef01234567",
                    mlflow_run_id=f"run{trial}", node="host-a", device="cpu", created_at="2026-12-01T10:00:00+00:00",
                    **extra)


def _noise(method: str, seed: int) -> float:
    """A per-seed wobble that differs between methods, so that paired differences have a spread."""
    return 0.002 * ((seed + list(METHODS).index(method)) % 3)


def write_fake_store(root: str | Path) -> Path:
    """Final rows of three methods x two ratios x three condensation seeds x two evaluation seeds,
    an Original, one failed trial and a test-selected row."""
    store = ResultStore(str(root))
    for method, (_, offset) in METHODS.items():
        for ratio in RATIOS:
            for seed in CONDENSE_SEEDS:
                trial = f"{method}-{ratio}-{seed}"
                store.write_trial([_row(trial, method, ratio, seed, e, 0.55 + offset + 0.02 * ratio + 0.003 * seed
                                        + 0.001 * e + _noise(method, seed)) for e in EVAL_SEEDS])
    store.write_trial([_row("original", "original", 1.0, 0, e, 0.8) for e in EVAL_SEEDS])
    store.write_trial([dict(_row("gcond-failed", "gcond", 0.1, 3, 0, 0.0), status="failed", test_metric=None,
                            val_metric=None, error="RuntimeError: out of memory")])
    store.write_trial([dict(_row("srgm-test", "sr_gm", 0.05, 0, e, 0.95), method_label="SR-GM (test-selected)",
                            selection="test") for e in EVAL_SEEDS])
    return Path(store.root)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_fake_store(tmp_path_factory.mktemp("report") / "results")


# ---------------------------------------------------------------------------------------- a browser
class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    NUL-terminated JSON on file descriptors 3 and 4), so no WebSocket library or driver is needed.
    Console errors, uncaught exceptions and failed loads are collected in ``errors``."""

    def __init__(self, executable: str, profile: Path, width: int = 1400, height: int = 1000):
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def wire():  # in the child: the pipes become fds 3 (commands) and 4 (replies and events)
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--hide-scrollbars", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._next_id, self.errors, self.events = b"", 0, [], []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _message(self, timeout: float) -> dict:
        import select
        import time

        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(text)
        if "id" not in message:
            self._event(message)
        return message

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        self.events.append(method)
        if method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("exception", {}).get("description")
                               or params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text"))

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 15.0) -> dict:
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = self.session
        os.write(self._write, json.dumps(command).encode() + b"\0")
        while True:
            message = self._message(timeout)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str, timeout: float = 15.0) -> None:
        self.call("Page.navigate", {"url": url}, session=True)
        while "Page.loadEventFired" not in self.events:
            self._message(timeout)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)


def chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                None)


# ---------------------------------------------------------------------------------------- the page
def _page(store: Path, tmp_path: Path, **kwargs) -> tuple[Path, str]:
    path = report.build_report(str(store), out=tmp_path / "report.html", **kwargs)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def root_page(store, tmp_path_factory) -> tuple[Path, str]:
    """The report of the whole store."""
    return _page(store, tmp_path_factory.mktemp("page"))


def _cells_in_store(store: Path) -> int:
    """The leaderboard's cells counted independently: distinct (dataset, variant, ratio, label, arch,
    selection) among the final rows."""
    con = ResultStore(str(store)).connect()
    return con.execute("""SELECT count(*) FROM (SELECT DISTINCT experiment, dataset, coalesce(dataset_variant, ''),
                           ratio, coalesce(method_label, method), arch, coalesce(selection, 'val') FROM results
                           WHERE phase = 'final')""").fetchone()[0]


def test_page_is_self_contained_and_holds_the_store(store, root_page):
    path, page = root_page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing is loaded from anywhere: no URL, no external script, style or image
    assert not re.search(r"https?://|<link\b|<script[^>]+src=|<img[^>]+src=['\"](?!data:)", page)
    assert page.count("<tr class=") == _cells_in_store(store)
    run_ids = {r["mlflow_run_id"] for r in ResultStore(str(store)).rows() if r["phase"] == "final"}
    assert all(run_id in page for run_id in run_ids)
    assert "0123456789abcdef0123456789abcdef01234567" in page and "host-a" in page and "0.1.0" in page
    assert "RuntimeError: out of memory" in page  # the failed trial's error, on its cell
    assert "<h3>Table 2: Main results" in page and "Δ (points)" in page
    assert "not drawn (no rows or curves of theirs in this experiment)" in page and "table3" in page


def test_leaderboard_shows_seeds_verdicts_and_fairness(store, root_page):
    _, page = root_page
    columns = [name for name, _ in report.BOARD_COLUMNS]
    assert {"seeds c×e", "vs runner-up", "fair"} <= set(columns)
    assert page.count(f">{len(CONDENSE_SEEDS)}×{len(EVAL_SEEDS)}</td>") == len(METHODS) * len(RATIOS)
    # SR-GM is best at each ratio, 6 points ahead of GCond on every seed
    assert page.count("vs GCond: <span class=\"significant\"") == len(RATIOS) and "better (p=" in page
    assert "</p>" in page and "class=\"flag\"" not in page  # equal budgets, one recipe: nothing to flag


def test_cost_section_and_rank_summary(store, tmp_path):
    _, page = _page(store, tmp_path, experiment=EXPERIMENT)
    section = page[page.index(f"<h2 id='cost-{EXPERIMENT}'>"):]
    assert "<img alt='accuracy against condensation seconds and bytes' src='data:image/svg+xml;base64," in section
    assert "validation-selected cell of the leaderboard (test-selected rows are not drawn)" in section
    assert "Pareto front" in section
    assert "<figcaption>Rank summary" in page and "Friedman χ² = " in page and "Nemenyi critical difference" in page


def test_cost_figure_draws_every_validation_selected_cell_and_marks_the_pareto_front(store, tmp_path):
    from mmgc.harness import tables
    from mmgc.harness.board import cost_cells
    from mmgc.harness.statistics import pareto_front

    costs = cost_cells(ResultStore(str(store)).leaderboard(EXPERIMENT))
    figure = tables.cost_figure(costs, tmp_path / "cost.png", tables.load_layout())
    condensed = len(METHODS) * len(RATIOS)
    # seconds: every condensed cell (Original is the dashed line); bytes: every condensed cell and Original;
    # the test-selected cell is not drawn
    assert figure.panels == 2 and figure.series == 2 * condensed + 1 and figure.notes == []
    assert (tmp_path / "cost.png").read_bytes()[:4] == b"\x89PNG"
    by_seconds = {c.cell.method + str(c.cell.ratio): (c.condense_seconds, c.cell.test.mean) for c in costs
                  if c.cell.selection == "val" and not c.cell.is_original}
    # Random (at 10%: as cheap as at 5% and more accurate) is the cheap end of the front, SR-GM the accurate one
    front = pareto_front(by_seconds)
    assert {"Random0.1", "SR-GM0.1"} <= front and "Random0.05" not in front


def test_verdicts_in_the_tables(store, tmp_path):
    from mmgc.harness import tables

    table = tables.build("table2", str(store), [EXPERIMENT])
    # the test-selected SR-GM row (95%) is not in the table: only validation-selected rows are ranked
    expected = 0.55 + 0.16 + 0.001 + 0.003 + 0.0005 + sum(_noise("sr_gm", s) for s in CONDENSE_SEEDS) / 3
    assert table.rows[0][table.header.index("SR-GM")].stat.mean == pytest.approx(expected)
    delta = table.rows[0][table.header.index("Δ (points)")]
    # SR-GM beats GCond by about 6 points on every seed: better, even after Holm over the table's family
    assert delta.test is not None and delta.test.pairs == len(CONDENSE_SEEDS) and 0 < delta.test.p < 0.01
    # Holm over the table's family (one comparison per ratio): the smaller p doubled, the larger kept (or
    # raised to the smaller's adjusted value)
    small, large = sorted((row[table.header.index("Δ (points)")].test for row in table.rows), key=lambda t: t.p)
    assert small.family == large.family == 2
    assert small.p_holm == pytest.approx(2 * small.p) and large.p_holm == pytest.approx(max(2 * small.p, large.p))
    assert delta.test.verdict == "better" and "better (p=" in delta.render("md") and "Holm" in delta.render("md")
    assert "≈" not in table.to_markdown() and any("TOST" in note for note in table.notes)
    # the best SR-GM cell and the Δ compare the same pair: one comparison of the family, not two
    assert table.rows[0][table.header.index("SR-GM")].test is delta.test
    _, page = _page(store, tmp_path, experiment=EXPERIMENT)
    assert "class=\"significant\"" in page


def test_test_selected_rows_are_never_ranked():
    from mmgc.harness.board import board_cells

    def rows(label, value, selection):
        return [dict(experiment="e", dataset="d", variant="", selection=selection, ratio=0.1, method="m", label=label,
                     arch="gcn", metric="accuracy", n=10, status="ok", trial_id=label, condense_seed=0, eval_seed=0,
                     test_metric=value, val_metric=value, feature_steps=0, eval_recipe="r", condense_seconds=None,
                     condense_cpu_seconds=None, condensed_bytes=None, original_bytes=None, train_seconds=None)]

    cells = board_cells(rows("a", 0.7, "val") + rows("b", 0.8, "val") + rows("oracle", 0.99, "test"), margin=0.01)
    board = {c.method: report.BoardRow(c) for c in cells}
    assert [board[m].rank for m in ("a", "b", "oracle")] == [2, 1, None]
    assert board["oracle"].cell.rank == 1  # best of its own test-selected group, which the report never shows
    page = report.board_html(list(board.values()))
    assert page.count('class="test-selected"') == 1 and "test (not ranked)" in page


def test_cli_report_and_bad_input(store, tmp_path):
    out = tmp_path / "one.html"
    run = subprocess.run([MMGC, "report", "--results", str(store), "-e", EXPERIMENT, "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out) and out.read_text().count("<tr class=") == _cells_in_store(store)
    unknown = subprocess.run([MMGC, "report", "--results", str(store), "-e", "nope"], capture_output=True, text=True)
    assert unknown.returncode == 2 and EXPERIMENT in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1
    missing = subprocess.run([MMGC, "report", "--results", str(tmp_path / "absent")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    folder = subprocess.run([MMGC, "report", "--results", str(store), "-o", str(tmp_path)], capture_output=True,
                            text=True)
    assert folder.returncode == 2 and "is a directory" in folder.stderr


def test_tables_all_skips_what_has_no_rows(store, tmp_path):
    out = tmp_path / "tables"
    run = subprocess.run([MMGC, "tables", "all", "--results", str(store), "--out", str(out)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert (out / "table2.md").is_file() and not (out / "table3.md").exists() and not (out / "fig4.png").exists()
    assert "skipped table3: no final rows" in run.stderr
    # rows of the experiment, but no regularizer among them: nothing for that table to compare
    regs = subprocess.run([MMGC, "tables", "regularizers", "-e", EXPERIMENT, "--results", str(store), "--out", str(out)],
                          capture_output=True, text=True)
    assert regs.returncode == 2 and "none of the final rows" in regs.stderr and not (out / "regularizers.md").exists()
    empty = tmp_path / "empty"
    ResultStore(str(empty)).write_trial([dict(_row("x", "random", 0.1, 0, 0, 0.5), experiment="other")])
    none = subprocess.run([MMGC, "tables", "all", "--results", str(empty)], capture_output=True, text=True)
    assert none.returncode == 2 and "experiments there: other" in none.stderr and not (empty / "tables").exists()


def test_heat_map_colour_scale_spans_at_least_the_minimum():
    from mmgc.harness.tables.figures import FIG4_MIN_SPAN, _colour_range

    low, high = _colour_range([71.2, 71.5])
    assert high - low == pytest.approx(FIG4_MIN_SPAN) and (low + high) / 2 == pytest.approx(71.35)
    assert _colour_range([50.0, 70.0]) == (50.0, 70.0)


def test_report_in_headless_chromium(store, root_page, tmp_path):
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine: install Debian's `chromium` package (.ci/run does) to look at "
                    "the report in a browser")
    path, _ = root_page
    browser = Browser(executable, tmp_path / "profile")
    try:
        browser.open(path.as_uri())
        assert browser.errors == []
        assert browser.js("performance.getEntriesByType('resource').length") == 0  # nothing fetched
        rows = "Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
        assert browser.js(f"{rows}.length") == _cells_in_store(store)
        assert browser.js("document.getElementById('shown').textContent").startswith(f"{_cells_in_store(store)} of")
        column = [name for name, _ in report.BOARD_COLUMNS].index("test %")
        values = f"{rows}.filter(r => !r.hidden).map(r => [r.dataset.selection, r.cells[{column}].getAttribute('data-v')])"

        def sorted_view():
            shown = browser.js(values)
            kinds = [kind for kind, _ in shown]
            assert kinds == sorted(kinds, key=lambda k: k != "val")  # test-selected rows always after the others
            return shown, [float(v) for kind, v in shown if v and kind == "val"]

        before, _ = sorted_view()  # as written: test-selected rows last too
        browser.js(f"document.querySelectorAll('#leaderboard thead th')[{column}].click()")
        shown, first = sorted_view()
        assert first == sorted(first, reverse=True) and shown != before  # numbers sort high to low
        browser.js(f"document.querySelectorAll('#leaderboard thead th')[{column}].click()")
        _, second = sorted_view()
        assert second == sorted(second) and second != first
        browser.js("const s = document.querySelector('select[data-filter=method]'); s.value = 'GCond';"
                   "s.dispatchEvent(new Event('change'))")
        assert browser.js(f"{rows}.filter(r => !r.hidden).map(r => r.dataset.method)") == ["GCond"] * len(RATIOS)
        shot = browser.screenshot(tmp_path / "report.png")
        assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
        assert browser.errors == []
    finally:
        browser.close()


def test_sweep_end_writes_the_report_and_logs_it_to_mlflow(store, tmp_path):
    from mmgc.harness import tracking

    uri = tracking.default_uri(tmp_path)
    sweep = tracking.start_sweep_run(uri, EXPERIMENT)
    tracking.end_sweep_run(sweep)
    lines = report.report_after_sweep(str(store), EXPERIMENT, uri)
    path = report.default_path(str(store), EXPERIMENT)
    assert lines[0] == f"report: {path}" and path.is_file()
    assert lines[1] == f"report logged to MLflow run {sweep.parent_run_id} as report/{path.name}"
    logged = dict(tracking.run_artifacts(uri, sweep.parent_run_id))
    assert Path(logged[f"report/{path.name}"]).read_bytes() == path.read_bytes()
    assert report.report_after_sweep(str(store), "nope", uri)[0].startswith("report: not written (report: no final")


def test_sweep_command_prints_the_report_path_at_its_end(store, tmp_path, monkeypatch):
    """`mmgc sweep` (its trials stood in for: the store is already full) ends with the report's path."""
    from typer.testing import CliRunner

    from mmgc.harness import sweep
    from mmgc.harness.cli import app
    from mmgc.harness.cli import sweep as sweep_command

    path = tmp_path / "exp.yaml"
    path.write_text(f"name: {EXPERIMENT}\ndatasets: [{{name: synthetic, ratios: [0.05]}}]\nmethods: [{{name: random}}]\n")
    done = sweep.SweepReport(EXPERIMENT, str(store), 0, 0, 0, 0, 0, 0, False, 0.0)
    monkeypatch.setattr(sweep_command, "run_sweep", lambda *args, **kwargs: done)
    result = CliRunner().invoke(app, ["sweep", str(path), "--results", str(store), "--no-mlflow", "--no-leaderboard"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"report: {report.default_path(str(store), EXPERIMENT)}"
    skipped = CliRunner().invoke(app, ["sweep", str(path), "--results", str(store), "--no-mlflow", "--no-report"])
    assert skipped.exit_code == 0 and "report:" not in skipped.output
