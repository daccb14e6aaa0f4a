"""`mmgc report`: one self-contained HTML page of an experiment (or of a whole results root).

The page is a single file that opens straight from disk, with no server and no network: styles, a
small hand-written script (sorting and filtering the leaderboard) and the figures (SVG, as data
URIs) are all inside it. It holds

- the leaderboard: one row per (experiment, dataset and variant, ratio, method, architecture,
  selection) with test and validation mean ± std, the condensation and evaluation seeds, runs,
  failed rows, the selected epochs, the config hashes and each row's MLflow run ids, and its
  provenance (git commit, package version, machine, date); sortable by any column and filterable by
  dataset, ratio, method, architecture and selection;
- each paper table of `mmgc.harness.tables` that has rows, laid out as ``mmgc tables`` prints it,
  with its Δ and the paired tests behind "best" and Δ;
- each figure that has rows.

Rows carry a ``selection`` (``val``: hyper-parameters chosen on validation, the default, also for
stores written before the column existed; ``test``: a protocol that selects on test). Only
validation-selected rows are ranked; test-selected rows are marked and always sorted after them.

Why these libraries: matplotlib already draws every figure (`mmgc.harness.tables`), and its SVG
output embeds as a data URI with no script at all; plotly's inlined JavaScript alone would add 3-5 MB
to each page. The table sorter and filters are some 50 lines of plain JavaScript, so the page loads
nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from mmgc.errors import InputError
from mmgc.harness import tables, tracking
from mmgc.harness.store import DEDUP, ResultStore, partition_value
from mmgc.provenance import package_version
from mmgc.tempfiles import atomic_write, unwritable_reason

REPORT_DIR = "reports"
ROOT_REPORT = "index.html"
REPORT_ARTIFACT_DIR = "report"
PHASES = ("final", "single")
# the leaderboard's filters: (row attribute, label)
FILTERS = (("dataset", "dataset"), ("ratio", "ratio"), ("method", "method"), ("arch", "architecture"),
           ("selection", "selection"))


def default_path(results_root: str, experiment: str | None) -> Path:
    """``RESULTS/reports/<experiment>.html``, or ``RESULTS/reports/index.html`` for the whole root."""
    name = f"{partition_value(experiment)}.html" if experiment else ROOT_REPORT
    return Path(results_root) / REPORT_DIR / name


# ---------------------------------------------------------------------------------------- leaderboard rows
@dataclass
class BoardRow:
    """One leaderboard cell with what a reader needs to trust it."""

    experiment: str
    dataset: str
    variant: str
    ratio: float | None
    n: int | None
    method: str
    arch: str | None
    selection: str
    metric: str | None
    test_mean: float | None
    test_std: float | None
    val_mean: float | None
    val_std: float | None
    runs: int
    failed: int
    condense_seeds: list[int]
    eval_seeds: list[int]
    best_epochs: list[int]
    config_hashes: list[str]
    run_ids: list[str]
    commits: list[str]
    versions: list[str]
    nodes: list[str]
    devices: list[str]
    first_at: str | None
    last_at: str | None
    errors: list[str]
    rank: int | None = None


LIST_FIELDS = ("condense_seeds", "eval_seeds", "best_epochs", "config_hashes", "run_ids", "commits", "versions",
               "nodes", "devices", "errors")


def board_rows(results_root: str, experiment: str | None = None) -> list[BoardRow]:
    """The leaderboard cells of the final (and single) rows, ranked within each (experiment, dataset,
    variant, ratio, architecture) by test mean among validation-selected rows only."""
    con = ResultStore(results_root).connect(experiment)
    where = "phase IN ('final', 'single')" + (" AND experiment = ?" if experiment else "")

    def agg(column: str, ok_only: bool = True) -> str:
        status = " FILTER (WHERE status = 'ok')" if ok_only else ""
        return f"list(DISTINCT {column} ORDER BY {column}){status}"

    query = f"""
        SELECT * FROM (SELECT experiment, dataset, coalesce(dataset_variant, '') AS variant, ratio,
               coalesce(method_label, method) AS method, arch, coalesce(selection, 'val') AS selection,
               any_value(metric) AS metric, max(n) AS n,
               count(*) FILTER (WHERE status = 'ok') AS runs, count(*) FILTER (WHERE status <> 'ok') AS failed,
               avg(test_metric) FILTER (WHERE status = 'ok') AS test_mean,
               stddev_pop(test_metric) FILTER (WHERE status = 'ok') AS test_std,
               avg(val_metric) FILTER (WHERE status = 'ok') AS val_mean,
               stddev_pop(val_metric) FILTER (WHERE status = 'ok') AS val_std,
               {agg('condense_seed')} AS condense_seeds, {agg('eval_seed')} AS eval_seeds,
               list(best_epoch ORDER BY best_epoch) FILTER (WHERE status = 'ok' AND best_epoch IS NOT NULL) AS best_epochs,
               {agg('config_hash', False)} AS config_hashes, {agg('mlflow_run_id', False)} AS run_ids,
               {agg('git_commit', False)} AS commits, {agg('package_version', False)} AS versions,
               {agg('node', False)} AS nodes, {agg('device', False)} AS devices,
               min(created_at) AS first_at, max(created_at) AS last_at,
               list(DISTINCT error) FILTER (WHERE status <> 'ok') AS errors
        FROM ({DEDUP}) WHERE {where}
        GROUP BY ALL)
        ORDER BY selection <> 'val', experiment, dataset, variant, ratio, arch, selection, test_mean DESC NULLS LAST,
                 method
    """
    cursor = con.execute(query, [experiment] if experiment else [])
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        record = dict(zip(names, values))
        for key, value in record.items():
            if key in LIST_FIELDS:  # an aggregate over no row is NULL
                record[key] = [v for v in value or () if v not in (None, "")]
        out.append(BoardRow(**record))
    _rank(out)
    return out


def _rank(rows: Sequence[BoardRow]) -> None:
    """Rank 1, 2, ... by test mean within each (experiment, dataset, variant, ratio, arch), over the
    validation-selected rows with a result; ties share a rank. Test-selected rows stay unranked."""
    groups: dict[tuple, list[BoardRow]] = {}
    for r in rows:
        if r.selection == "val" and r.test_mean is not None:
            groups.setdefault((r.experiment, r.dataset, r.variant, r.ratio, r.arch), []).append(r)
    for members in groups.values():
        means = sorted({round(r.test_mean, 12) for r in members}, reverse=True)
        for r in members:
            r.rank = means.index(round(r.test_mean, 12)) + 1


# ---------------------------------------------------------------------------------------- paper tables
def _cell_html(cell) -> str:
    if cell.text is not None:
        body = html.escape(cell.text)
    elif cell.stat is not None:
        body = f"{cell.stat.mean * 100:.2f} ± {cell.stat.std * 100:.2f}"
        body = {"best": f"<strong>{body}</strong>", "second": f"<u>{body}</u>"}.get(cell.mark, body)
    elif cell.delta is not None:
        body = html.escape(cell.render_value("md"))
    else:
        return '<td class="missing">—</td>'
    if cell.test is not None:
        test = cell.test
        kind = "noise" if test.within_noise else "significant"
        what = "not tested (fewer than 2 shared condensation seeds)" if test.p is None else \
            f"paired t-test over {test.pairs} condensation seeds: p = {test.p:.3g}"
        body += f' <span class="{kind}" title="{html.escape(what)}">{html.escape(test.render("md").strip())}</span>'
    return f"<td>{body}</td>"


def table_html(table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<p class='note'>{_md_inline(n)}</p>" for n in table.notes)
    return (f"<h3>{html.escape(table.name)}: {html.escape(table.title)}</h3>"
            f"<div class='scroll'><table class='paper'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
            f"{notes}")


def _md_inline(text: str) -> str:
    """The notes' little Markdown (``**bold**``, ``<u>underlined</u>``) as HTML; everything else escaped."""
    import re

    out = html.escape(text).replace("&lt;u&gt;", "<u>").replace("&lt;/u&gt;", "</u>")
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _svg_data_uri(path: Path) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@dataclass
class Section:
    """The paper tables and figures of one experiment that have rows, rendered."""

    experiment: str
    tables: list[str]
    figures: list[str]
    absent: list[str]


def experiment_section(results_root: str, experiment: str, mlflow_uri: str | None, arch: str, workdir: Path) -> Section:
    import matplotlib


    section = Section(experiment, [], [], [])
    layout = tables.load_layout()
    for name, artifact in tables.ARTIFACTS.items():
        res = tables.resolve_results(name, results_root, [experiment], mlflow_uri)
        if not res.rows:
            section.absent.append(name)
            continue
        if artifact.kind == "table":
            table = artifact.build(res, layout=layout, arch=arch)
            if table.rows:
                section.tables.append(table_html(table))
            else:
                section.absent.append(name)
            continue
        path = workdir / f"{partition_value(experiment)}-{name}.svg"
        with matplotlib.rc_context({"svg.hashsalt": "mmgc", "svg.fonttype": "path"}):
            figure = artifact.build(res, path, layout=layout, arch=arch)
        if figure.panels == 0 or figure.series == 0:  # no rows, or rows without the curves it draws
            section.absent.append(name)
            continue
        notes = f"<p class='note'>{html.escape('; '.join(figure.notes))}</p>" if figure.notes else ""
        section.figures.append(f"<figure><img alt='{html.escape(figure.name)}' src='{_svg_data_uri(path)}'>"
                               f"<figcaption>{html.escape(figure.name)} ({_count(figure.panels, 'panel')}, "
                               f"{_count(figure.series, 'series', 'series')} or bars)</figcaption>{notes}</figure>")
    return section


# ---------------------------------------------------------------------------------------- the page
def _pct(mean: float | None, std: float | None) -> tuple[str, str]:
    if mean is None:
        return "—", ""
    return f"{mean * 100:.2f} ± {(std or 0.0) * 100:.2f}", f"{mean:.10f}"


def _short(values: Sequence[Any], limit: int = 3, width: int | None = None) -> str:
    shown = [str(v)[:width] if width else str(v) for v in values[:limit]]
    more = f" +{len(values) - limit}" if len(values) > limit else ""
    return ", ".join(shown) + more


def _epochs(values: Sequence[int]) -> str:
    if not values:
        return "—"
    if len(set(values)) <= 3:
        return ", ".join(str(v) for v in sorted(set(values)))
    return f"{min(values)}–{max(values)} (median {statistics.median(values):g})"


def _td(text: str, sort: Any = None, title: str | None = None, cls: str | None = None) -> str:
    attrs = "" if sort is None else f' data-v="{html.escape(str(sort))}"'
    attrs += f' title="{html.escape(title)}"' if title else ""
    attrs += f' class="{cls}"' if cls else ""
    return f"<td{attrs}>{html.escape(text)}</td>"


# (header, sort type): 'num' columns sort by their data-v number, 'text' ones by their text
BOARD_COLUMNS = (("rank", "num"), ("experiment", "text"), ("dataset", "text"), ("ratio", "num"), ("n", "num"),
                 ("method", "text"), ("arch", "text"), ("selection", "text"), ("test %", "num"), ("val %", "num"),
                 ("runs", "num"), ("failed", "num"), ("condensation seeds", "text"), ("eval seeds", "text"),
                 ("selected epochs", "text"), ("config hash", "text"), ("MLflow run ids", "text"),
                 ("git commit", "text"), ("version", "text"), ("machine", "text"), ("date (UTC)", "text"))


def board_html(rows: Sequence[BoardRow]) -> str:
    out = []
    for r in rows:
        dataset = r.dataset + (f" [{r.variant}]" if r.variant else "")
        test, test_key = _pct(r.test_mean, r.test_std)
        val, val_key = _pct(r.val_mean, r.val_std)
        ratio = "—" if r.ratio is None else f"{r.ratio:g}"
        selection = r.selection if r.selection == "val" else f"{r.selection} (not ranked)"
        attrs = {"dataset": dataset, "ratio": ratio, "method": r.method, "arch": r.arch or "—",
                 "selection": r.selection}
        data = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in attrs.items())
        cls = "test-selected" if r.selection != "val" else ("failed" if r.runs == 0 else "")
        cells = [
            _td("—" if r.rank is None else str(r.rank), "" if r.rank is None else r.rank),
            _td(r.experiment), _td(dataset), _td(ratio, "" if r.ratio is None else r.ratio),
            _td("—" if r.n is None else str(r.n), "" if r.n is None else r.n), _td(r.method), _td(r.arch or "—"),
            _td(selection, cls="badge" if r.selection != "val" else None),
            _td(test, test_key, title=r.metric), _td(val, val_key, title=r.metric),
            _td(str(r.runs), r.runs), _td(str(r.failed), r.failed, title="; ".join(r.errors) or None,
                                           cls="bad" if r.failed else None),
            _td(", ".join(map(str, r.condense_seeds)) or "—"), _td(", ".join(map(str, r.eval_seeds)) or "—"),
            _td(_epochs(r.best_epochs), title="best_epoch of each row (chosen on validation)"),
            _td(_short(r.config_hashes, 2, 12) or "—", title=", ".join(r.config_hashes) or None),
            _td(_short(r.run_ids, 2) or "—", title="mmgc runs show RUN_ID: " + " ".join(r.run_ids) if r.run_ids else None,
                cls="mono"),
            _td(_short(r.commits, 2, 12) or "—", title=", ".join(r.commits) or None, cls="mono"),
            _td(", ".join(r.versions) or "—"),
            _td(_short(r.nodes + [d for d in r.devices if d not in r.nodes], 3) or "—"),
            _td((r.last_at or "—")[:19].replace("T", " "), r.last_at or ""),
        ]
        out.append(f'<tr class="{cls}" {data}>' + "".join(cells) + "</tr>")
    head = "".join(f'<th data-type="{kind}" tabindex="0">{html.escape(name)}</th>' for name, kind in BOARD_COLUMNS)
    filters = "".join(
        f'<label>{html.escape(label)} <select data-filter="{key}"><option value="">all</option>'
        + "".join(f'<option>{html.escape(v)}</option>' for v in _options(rows, key)) + "</select></label>"
        for key, label in FILTERS)
    return (f'<div class="filters">{filters} <span id="shown"></span></div>'
            f'<div class="scroll"><table id="leaderboard" class="board"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(out)}</tbody></table></div>')


def _options(rows: Sequence[BoardRow], key: str) -> list[str]:
    def value(r: BoardRow) -> str:
        return {"dataset": r.dataset + (f" [{r.variant}]" if r.variant else ""),
                "ratio": "—" if r.ratio is None else f"{r.ratio:g}", "method": r.method, "arch": r.arch or "—",
                "selection": r.selection}[key]

    found = {value(r) for r in rows}
    if key == "ratio":
        return sorted(found, key=lambda v: float(v) if v != "—" else float("inf"))
    return sorted(found)


def provenance_html(rows: Sequence[BoardRow], results_root: str) -> str:
    def distinct(attr: str) -> list[str]:
        return sorted({v for r in rows for v in getattr(r, attr)})

    dates = sorted(d for r in rows for d in (r.first_at, r.last_at) if d)
    items = [("results root", results_root), ("git commits", ", ".join(distinct("commits")) or "unknown"),
             ("package versions", ", ".join(distinct("versions")) or "unknown"),
             ("machines", ", ".join(distinct("nodes")) or "unknown"),
             ("devices", ", ".join(distinct("devices")) or "unknown"),
             ("config hashes", str(len(distinct("config_hashes")))),
             ("rows written", f"{dates[0][:19]} to {dates[-1][:19]} (UTC)" if dates else "—"),
             ("MLflow runs", f"{len(distinct('run_ids'))} (see one with `mmgc runs show RUN_ID --results ROOT`)")]
    return "<dl class='prov'>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items) + "</dl>"


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1a1a1a;max-width:1600px}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccc}
h3{font-size:1rem;margin:1.2rem 0 .4rem} .meta{color:#555;margin:0 0 1rem}
.scroll{overflow-x:auto} table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:left;white-space:nowrap}
table.board th{cursor:pointer;background:#f4f6f8;position:sticky;top:0;user-select:none}
table.board th[aria-sort=ascending]::after{content:" ▲"} table.board th[aria-sort=descending]::after{content:" ▼"}
table.board tr:hover td{background:#fbf8e6}
tr.test-selected td{background:repeating-linear-gradient(45deg,#fff3f0,#fff3f0 6px,#ffe6e0 6px,#ffe6e0 12px)}
td.badge{color:#a11;font-weight:600} td.bad{color:#a11;font-weight:600} tr.failed td{color:#888}
td.mono{font-family:ui-monospace,monospace;font-size:12px} td.missing{color:#999}
table.paper th{background:#f4f6f8} .noise{color:#777} .significant{color:#1a6b1a;font-weight:600}
.filters{margin:.5rem 0} .filters label{margin-right:1rem} #shown{color:#555}
.note{color:#555;font-size:12.5px;max-width:1100px;margin:.3rem 0}
dl.prov{display:grid;grid-template-columns:repeat(2,max-content minmax(0,1fr));gap:2px 1rem;margin:0}
dd{margin:0;overflow-wrap:anywhere}
dt{font-weight:600} figure{margin:1rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:12.5px} .absent{color:#777;font-size:12.5px}
"""

# Sorting: a header click sorts by that column (again: the other way); test-selected rows always stay
# after the validation-selected ones, so they are never ranked among them. Filters hide rows.
SCRIPT = """
(function () {
  var table = document.getElementById('leaderboard');
  if (!table) return;
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (r, i) { r.dataset.order = i; });
  var heads = table.tHead.rows[0].cells;
  function key(row, i, type) {
    var c = row.cells[i], v = c.hasAttribute('data-v') ? c.getAttribute('data-v') : c.textContent;
    if (type === 'num') { var f = parseFloat(v); return isNaN(f) ? null : f; }
    return v.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i], type = th.getAttribute('data-type');
    var dir = th.getAttribute('aria-sort') === 'descending' ? 1 : (th.getAttribute('aria-sort') === 'ascending' ? -1 :
              (type === 'num' ? -1 : 1));
    for (var j = 0; j < heads.length; j++) heads[j].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
    rows.sort(function (a, b) {
      var ta = a.dataset.selection === 'val' ? 0 : 1, tb = b.dataset.selection === 'val' ? 0 : 1;
      if (ta !== tb) return ta - tb;
      var ka = key(a, i, type), kb = key(b, i, type);
      if (ka === null || kb === null) { if (ka !== kb) return ka === null ? 1 : -1; }
      else if (ka < kb) return -dir; else if (ka > kb) return dir;
      return a.dataset.order - b.dataset.order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    (function (i) {
      heads[i].addEventListener('click', function () { sortBy(i); });
      heads[i].addEventListener('keydown', function (e) { if (e.key === 'Enter') sortBy(i); });
    })(i);
  }
  var selects = document.querySelectorAll('select[data-filter]'), shown = document.getElementById('shown');
  function filter() {
    var n = 0;
    rows.forEach(function (r) {
      var ok = true;
      for (var s = 0; s < selects.length; s++) {
        var v = selects[s].value;
        if (v && r.getAttribute('data-' + selects[s].getAttribute('data-filter')) !== v) ok = false;
      }
      r.hidden = !ok; if (ok) n++;
    });
    shown.textContent = n + ' of ' + rows.length + ' rows shown';
  }
  for (var s = 0; s < selects.length; s++) selects[s].addEventListener('change', filter);
  filter();
})();
"""


def build_report(results_root: str, experiment: str | None = None, out: str | Path | None = None,
                 mlflow_uri: str | None = None, arch: str = "gcn") -> Path:
    """Write the report of ``experiment`` (or of every experiment under the root) and return its path."""

    store = ResultStore(results_root)
    if store.local and not Path(store.root).is_dir():
        raise InputError(f"--results {results_root}: no such directory; expected the results root of a sweep")
    # a URI root has no local folder: its report goes under ./reports unless --out says where
    path = Path(out) if out else default_path(store.root if store.local else ".", experiment)
    if path.is_dir():
        raise InputError(f"--out {out}: is a directory; expected the HTML file to write")
    reason = unwritable_reason(path.parent)
    if reason is not None:
        raise InputError(f"--out {path}: {reason}; expected a file in a folder this user can write")
    rows = board_rows(store.root, experiment)
    if not rows:
        where = f"experiment {experiment!r}" if experiment else "any experiment"
        found = sorted({r.experiment for r in board_rows(store.root)}) if experiment else []
        raise InputError(f"report: no final results for {where} under {store.root}"
                         + (f"; experiments there: {', '.join(found)}" if found else ""))
    experiments = [experiment] if experiment else sorted({r.experiment for r in rows})
    with tempfile.TemporaryDirectory(prefix="mmgc-report-") as tmp:
        sections = [experiment_section(store.root, e, mlflow_uri, arch, Path(tmp)) for e in experiments]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    plural = "s" * (len(experiments) != 1)
    title = f"mmgc report: {experiment}" if experiment else f"mmgc report: {len(experiments)} experiment{plural}"
    tested = sum(r.selection != "val" for r in rows)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>generated {now} by mmgc {html.escape(package_version())} from "
             f"<code>{html.escape(store.root)}</code>; {len(rows)} leaderboard rows; metrics in % "
             "(mean ± population std over condensation x evaluation seeds, final rows only)</p>",
             "<h2>Provenance</h2>", provenance_html(rows, store.root),
             "<h2>Leaderboard</h2>",
             "<p class='note'>Click a column header to sort. Rank: by test mean within each experiment, dataset, "
             "ratio and architecture, among validation-selected rows only"
             + (f"; the {tested} test-selected row(s) (hatched) are never ranked and always sort last" if tested else "")
             + ". Hover a cell for full hashes, run ids and errors.</p>",
             board_html(rows)]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.experiment)}: paper tables and figures</h2>")
        parts += section.tables + section.figures
        if not section.tables and not section.figures:
            parts.append("<p class='absent'>no paper table or figure reads this experiment's rows</p>")
        elif section.absent:
            parts.append("<p class='absent'>not drawn (no rows or curves of theirs in this experiment): "
                         f"{html.escape(', '.join(section.absent))}</p>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "".join(parts) + f"<script>{SCRIPT}</script></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as handle:
        handle.write(page)
    return path


def log_to_sweep_run(path: Path, uri: str | None, experiment: str) -> str | None:
    """Log the report as an artifact (``report/``) of the latest sweep run of ``experiment``; its run id."""
    if uri is None:
        return None

    c = tracking.client(uri)
    found = c.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = c.search_runs([found.experiment_id], filter_string=f"tags.`{tracking.TAG_KIND}` = 'sweep'",
                         order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run_id = runs[0].info.run_id
    c.log_artifact(run_id, str(path), REPORT_ARTIFACT_DIR)
    return run_id


def report_after_sweep(results_root: str, experiment: str, mlflow_uri: str | None) -> list[str]:
    """What ``mmgc sweep`` does at its end: write the experiment's report, log it to the sweep's
    MLflow run (``mlflow_uri`` None: not tracked); the lines to print. Never fails the sweep."""
    try:
        path = build_report(results_root, experiment, mlflow_uri=mlflow_uri)
    except InputError as exc:
        return [f"report: not written ({exc})"]
    except Exception as exc:  # the sweep's results are stored; a broken report must not hide that
        return [f"report: could not be written: {type(exc).__name__}: {exc}"]
    lines = [f"report: {path}"]
    try:
        run_id = log_to_sweep_run(path, mlflow_uri, experiment)
        if run_id:
            lines.append(f"report logged to MLflow run {run_id} as {REPORT_ARTIFACT_DIR}/{path.name}")
    except Exception as exc:  # tracking never fails a sweep
        lines.append(f"report: not logged to MLflow: {type(exc).__name__}: {exc}")
    return lines
