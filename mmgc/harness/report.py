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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from mmgc.errors import InputError
from mmgc.harness import tables, tracking
from mmgc.harness.board import BoardCell, cost_cells
from mmgc.harness.statistics import DEFAULT_MARGIN, Comparison, Summary, points
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
    """One leaderboard cell (its numbers, rank, comparison and fairness check: `BoardCell`) with its
    provenance."""

    cell: BoardCell
    best_epochs: list[int] = field(default_factory=list)
    config_hashes: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    first_at: str | None = None
    last_at: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def rank(self) -> int | None:
        """The cell's rank among the validation-selected cells of its group; test-selected cells are
        never ranked."""
        return self.cell.rank if self.cell.selection == "val" else None


LIST_FIELDS = ("best_epochs", "config_hashes", "run_ids", "commits", "versions", "nodes", "devices", "errors")


def board_rows(results_root: str, experiment: str | None = None, margin: float = DEFAULT_MARGIN) -> list[BoardRow]:
    """The leaderboard cells of the final (and single) rows (`ResultStore.leaderboard`, ranked within
    each experiment, dataset, variant, ratio and architecture by test mean among validation-selected
    rows only), each with its provenance, validation-selected first."""
    store = ResultStore(results_root)
    con = store.connect(experiment)
    where = "phase IN ('final', 'single')" + (" AND experiment = ?" if experiment else "")

    def agg(column: str, ok_only: bool = True) -> str:
        status = " FILTER (WHERE status = 'ok')" if ok_only else ""
        return f"list(DISTINCT {column} ORDER BY {column}){status}"

    query = f"""
        SELECT experiment, dataset, coalesce(dataset_variant, '') AS variant, coalesce(selection, 'val') AS selection,
               ratio, coalesce(method_label, method) AS method, arch,
               list(best_epoch ORDER BY best_epoch) FILTER (WHERE status = 'ok' AND best_epoch IS NOT NULL) AS best_epochs,
               {agg('config_hash', False)} AS config_hashes, {agg('mlflow_run_id', False)} AS run_ids,
               {agg('git_commit', False)} AS commits, {agg('package_version', False)} AS versions,
               {agg('node', False)} AS nodes, {agg('device', False)} AS devices,
               min(created_at) AS first_at, max(created_at) AS last_at,
               list(DISTINCT error) FILTER (WHERE status <> 'ok') AS errors
        FROM ({DEDUP}) WHERE {where}
        GROUP BY ALL
    """
    cursor = con.execute(query, [experiment] if experiment else [])
    names = [d[0] for d in cursor.description]
    provenance = {}
    for values in cursor.fetchall():
        record = dict(zip(names, values))
        key = tuple(record.pop(k) for k in ("experiment", "dataset", "variant", "selection", "ratio", "method", "arch"))
        provenance[key] = {k: [v for v in value or () if v not in (None, "")] if k in LIST_FIELDS else value
                           for k, value in record.items()}  # an aggregate over no row is NULL
    # two reads of the store: a trial written between them may lack its provenance, never its numbers
    rows = [BoardRow(c, **provenance.get((c.experiment, c.dataset, c.variant, c.selection, c.ratio, c.method, c.arch),
                                         {}))
            for c in store.leaderboard(experiment, margin=margin)]
    return sorted(rows, key=_board_order)


def _board_order(row: BoardRow) -> tuple:
    """Validation-selected rows first, then by experiment, dataset, variant, ratio, architecture and
    selection, best test mean first, then method."""
    c = row.cell
    return (c.selection != "val", c.experiment, c.dataset, c.variant, c.ratio, c.arch is None, c.arch or "",
            c.selection, c.test is None, -c.test.mean if c.test else 0.0, c.method)


# ---------------------------------------------------------------------------------------- paper tables
VERDICT_CLASSES = {"better": "significant", "worse": "significant", "equivalent": "equivalent",
                   "inconclusive": "inconclusive"}


def _verdict_html(test: Comparison) -> str:
    """A comparison's verdict, coloured by kind, with the test behind it on hover."""
    what = f"{test.pairs} paired condensation seeds; {test.evidence()}; margin {points(test.margin)}"
    return (f'<span class="{VERDICT_CLASSES[test.verdict]}" title="{html.escape(what)}">'
            f"{html.escape(test.verdict_text())} ({html.escape(test.evidence())})</span>")


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
    if cell.flag:
        body += f'<span class="flag">{html.escape(cell.flag)}</span>'
    if cell.test is not None:
        body += " " + _verdict_html(cell.test)
    return f"<td>{body}</td>"


def table_html(table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<p class='note'>{_md_inline(n)}</p>" for n in table.notes + table.footnotes)
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
    """The paper tables and figures of one experiment that have rows, and its cost figure, rendered."""

    experiment: str
    tables: list[str]
    figures: list[str]
    absent: list[str]
    cost: str = ""


COST_CAPTION = ("Cost: test metric (mean ± std over condensation x evaluation seeds) of each validation-selected "
                "cell of the leaderboard (test-selected rows are not drawn) against, left, the wall seconds of one "
                "condensation (mean over its trials; Original, which condenses nothing, is the dashed line) and, "
                "right, the bytes of the graph evaluated (float32 features, int64 labels, the kept edges; Original "
                "at the full graph's bytes, ★), both on log axes; colour: method, as in every figure; marker: ratio; "
                "ringed and joined: the Pareto front (no other point is cheaper and at least as accurate). "
                "`mmgc leaderboard --cost` prints the numbers with the break-even.")


def _svg_figure(path: Path, draw: Callable[[Path], Any]) -> Any:
    """Draw a figure as SVG with fixed ids and text as paths (the same bytes for the same rows)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "mmgc", "svg.fonttype": "path"}):
        return draw(path)


def experiment_section(results_root: str, experiment: str, mlflow_uri: str | None, arch: str, workdir: Path,
                       margin: float, cells: Sequence[BoardCell]) -> Section:
    """The section of ``experiment``: its tables and figures (``margin``: the tables' equivalence
    margin) and the cost figure of its leaderboard ``cells``."""
    section = Section(experiment, [], [], [])
    layout = tables.load_layout()
    for name, artifact in tables.ARTIFACTS.items():
        res = tables.resolve_results(name, results_root, [experiment], mlflow_uri)
        if not res.rows:
            section.absent.append(name)
            continue
        if artifact.kind == "table":
            table = artifact.build(res, layout=layout, arch=arch, margin=margin)
            if table.rows:
                section.tables.append(table_html(table))
            else:
                section.absent.append(name)
            continue
        path = workdir / f"{partition_value(experiment)}-{name}.svg"
        figure = _svg_figure(path, lambda p: artifact.build(res, p, layout=layout, arch=arch))
        if figure.panels == 0 or figure.series == 0:  # no rows, or rows without the curves it draws
            section.absent.append(name)
            continue
        notes = f"<p class='note'>{html.escape('; '.join(figure.notes))}</p>" if figure.notes else ""
        section.figures.append(f"<figure><img alt='{html.escape(figure.name)}' src='{_svg_data_uri(path)}'>"
                               f"<figcaption>{html.escape(figure.name)} ({_count(figure.panels, 'panel')}, "
                               f"{_count(figure.series, 'series', 'series')} or bars)</figcaption>{notes}</figure>")
    path = workdir / f"{partition_value(experiment)}-cost.svg"
    figure = _svg_figure(path, lambda p: tables.cost_figure(cost_cells(cells), p, layout))
    if figure.series:
        notes = f"<p class='note'>not drawn: {html.escape('; '.join(figure.notes))}</p>" if figure.notes else ""
        section.cost = (f"<figure class='cost'><img alt='accuracy against condensation seconds and bytes' "
                        f"src='{_svg_data_uri(path)}'><figcaption>{_md_inline(COST_CAPTION)}</figcaption>{notes}"
                        "</figure>")
    return section


# ---------------------------------------------------------------------------------------- the page
def _pct(summary: Summary | None) -> tuple[str, str]:
    """A summary in percent and its sort key."""
    if summary is None:
        return "—", ""
    return f"{summary.mean * 100:.2f} ± {summary.std * 100:.2f}", f"{summary.mean:.10f}"


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
                 ("vs runner-up", "text"), ("fair", "text"), ("runs", "num"), ("seeds c×e", "text"),
                 ("failed", "num"), ("condensation seeds", "text"), ("eval seeds", "text"),
                 ("selected epochs", "text"), ("config hash", "text"), ("MLflow run ids", "text"),
                 ("git commit", "text"), ("version", "text"), ("machine", "text"), ("date (UTC)", "text"))


def _dataset(cell: BoardCell) -> str:
    return cell.dataset + (f" [{cell.variant}]" if cell.variant else "")


def _ratio(cell: BoardCell) -> str:
    return "—" if cell.ratio is None else f"{cell.ratio:g}"


def board_html(rows: Sequence[BoardRow]) -> str:
    out = []
    for r in rows:
        c = r.cell
        test, test_key = _pct(c.test)
        val, val_key = _pct(c.val)
        selection = c.selection if c.selection == "val" else f"{c.selection} (not ranked)"
        attrs = {"dataset": _dataset(c), "ratio": _ratio(c), "method": c.method, "arch": c.arch or "—",
                 "selection": c.selection}
        data = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in attrs.items())
        cls = "test-selected" if c.selection != "val" else ("failed" if c.runs == 0 else "")
        versus = (f"<td>vs {html.escape(c.runner_up or '')}: {_verdict_html(c.comparison)}</td>"
                  if c.comparison is not None else _td(""))
        cells = [
            _td("—" if r.rank is None else str(r.rank), "" if r.rank is None else r.rank),
            _td(c.experiment), _td(_dataset(c)), _td(_ratio(c), "" if c.ratio is None else c.ratio),
            _td("—" if c.n is None else str(c.n), "" if c.n is None else c.n), _td(c.method), _td(c.arch or "—"),
            _td(selection, cls="badge" if c.selection != "val" else None),
            _td(test, test_key, title=c.metric), _td(val, val_key, title=c.metric), versus,
            _td(c.fairness.mark, title=c.fairness.note() or None, cls="flag" if c.fairness.mark else None),
            _td(str(c.runs), c.runs), _td(c.seeds_text(), title="condensation seeds x evaluation seeds"),
            _td(str(c.failed), c.failed, title="; ".join(r.errors) or None, cls="bad" if c.failed else None),
            _td(", ".join(map(str, c.condense_seeds)) or "—"), _td(", ".join(map(str, c.eval_seeds)) or "—"),
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


def fairness_html(rows: Sequence[BoardRow]) -> str:
    """The leaderboard's fairness footnotes, one per flagged group of compared cells."""
    notes = {}
    for r in rows:
        c = r.cell
        if c.fairness.mark:
            where = f"{c.experiment} / {_dataset(c)} / ratio {_ratio(c)} / {c.arch or '—'}" + (
                "" if c.selection == "val" else f" / {c.selection}-selected")
            notes.setdefault(c.rank_group, f"{c.fairness.mark} {where}: {c.fairness.note()}")
    return "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes.values())


def _options(rows: Sequence[BoardRow], key: str) -> list[str]:
    def value(r: BoardRow) -> str:
        c = r.cell
        return {"dataset": _dataset(c), "ratio": _ratio(c), "method": c.method, "arch": c.arch or "—",
                "selection": c.selection}[key]

    found = {value(r) for r in rows}
    if key == "ratio":
        return sorted(found, key=lambda v: float(v) if v != "—" else float("inf"))
    return sorted(found)


def provenance_html(rows: Sequence[BoardRow], results_root: str) -> str:
    """The distinct commits, versions, machines, devices, configs, dates and runs behind the rows."""
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
table.paper th{background:#f4f6f8} .inconclusive{color:#777} .significant{color:#1a6b1a;font-weight:600}
.equivalent{color:#1f4e99;font-weight:600} .flag,td.flag{color:#a15c00;font-weight:600}
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
                 mlflow_uri: str | None = None, arch: str = "gcn", margin: float = DEFAULT_MARGIN) -> Path:
    """Write the report of ``experiment`` (or of every experiment under the root) and return its path;
    ``margin``: the equivalence margin of every comparison on the page (metric units)."""

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
    rows = board_rows(store.root, experiment, margin)
    if not rows:
        where = f"experiment {experiment!r}" if experiment else "any experiment"
        found = sorted({r.cell.experiment for r in board_rows(store.root)}) if experiment else []
        raise InputError(f"report: no final results for {where} under {store.root}"
                         + (f"; experiments there: {', '.join(found)}" if found else ""))
    experiments = [experiment] if experiment else sorted({r.cell.experiment for r in rows})
    with tempfile.TemporaryDirectory(prefix="mmgc-report-") as tmp:
        sections = [experiment_section(store.root, e, mlflow_uri, arch, Path(tmp), margin,
                                       [r.cell for r in rows if r.cell.experiment == e]) for e in experiments]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    plural = "s" * (len(experiments) != 1)
    title = f"mmgc report: {experiment}" if experiment else f"mmgc report: {len(experiments)} experiment{plural}"
    tested = sum(r.cell.selection != "val" for r in rows)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>generated {now} by mmgc {html.escape(package_version())} from "
             f"<code>{html.escape(store.root)}</code>; {len(rows)} leaderboard rows; metrics in % "
             "(mean ± population std over condensation x evaluation seeds, final rows only)</p>",
             "<h2>Provenance</h2>", provenance_html(rows, store.root),
             "<h2>Leaderboard</h2>",
             "<p class='note'>Click a column header to sort. Rank: by test mean within each experiment, dataset, "
             "ratio and architecture, among validation-selected rows only"
             + (f"; the {tested} test-selected row(s) (hatched) are never ranked and always sort last" if tested else "")
             + ". Hover a cell for full hashes, run ids and errors. seeds c×e: condensation seeds x evaluation "
             "seeds behind the mean. vs runner-up: each best cell against the next best of its group, by a "
             "two-sided paired t-test (better/worse) and two one-sided ones (equivalent within "
             f"{points(margin)}) over the condensation seeds both share, Holm-adjusted within each "
             "experiment, dataset and selection; otherwise inconclusive (hover for the test). fair: † the "
             "compared cells differ in feature budget (more than 10%, among methods that optimise features) or "
             "evaluation recipe, ‡ some did not record them; the notes under the table say what.</p>",
             board_html(rows), fairness_html(rows)]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.experiment)}: paper tables and figures</h2>")
        parts += section.tables + section.figures
        if not section.tables and not section.figures:
            parts.append("<p class='absent'>no paper table or figure reads this experiment's rows</p>")
        elif section.absent:
            parts.append("<p class='absent'>not drawn (no rows or curves of theirs in this experiment): "
                         f"{html.escape(', '.join(section.absent))}</p>")
        if section.cost:
            parts += [f"<h2 id='cost-{html.escape(section.experiment)}'>{html.escape(section.experiment)}: cost</h2>",
                      section.cost]
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
