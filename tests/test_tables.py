"""Paper tables and figures, rebuilt from a results store written by a tiny *real* sweep.

The store comes from `run_sweep` with the real trial (`run_trial`: condense + evaluate) and MLflow
tracking on the small `synthetic` dataset: coresets, GCond, SR-GM, SR-GM at lam = 0 and the
ablations, Original; aligned and unaligned features; a second small sweep with text-only and
image-only variants for Figure 3. No row of the store is written by hand. The checks recompute every
number independently with SQL over the same Parquet files. The tests of the layout (which labels make
which columns) use a few hand-made rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmgc.harness import tables

MMGC = str(Path(sys.executable).parent / "mmgc")
MAIN, FIG3 = "tables_tiny", "tables_fig3"
GM_KEYS = ("backbone: gcn, epochs: 6, outer_loop: 1, inner_loop: 1, select_every: 2, select_epochs: 30, pge_hidden: 16, "
           "hidden: 32, batch_per_class: 32, cycle_epochs: 3, structure_epochs: 1")
GM = "{" + GM_KEYS + "}"

MAIN_YAML = f"""
name: {MAIN}
datasets:
  - name: synthetic
    options: {{nodes: 200}}
    ratios: [0.05, 0.1]
  - name: synthetic
    options: {{nodes: 200, alignment: unaligned}}
    ratios: [0.05]
methods:
  - {{name: random, label: Random}}
  - name: herding
    label: Herding
    fixed: {{epochs: 30}}
    archs: [gcn, mlp]
  - {{name: kcenter, label: K-Center, fixed: {{epochs: 30}}}}
  - name: gcond
    label: GCond
    fixed: {GM}
    archs: [gcn, mlp]
  - {{name: sr_gm, label: SR-GM, fixed: {{{GM_KEYS}, lam: 1000.0}}}}
  - {{name: sr_gm, label: SR-GM w/o R, fixed: {{{GM_KEYS}, lam: 0.0}}}}
  - {{name: sr_gm, label: SR-GM w/o D, fixed: {{{GM_KEYS}, decouple: false, lam: 1000.0}}}}
  - {{name: sr_gm, label: SR-GM w/o D+R, fixed: {{{GM_KEYS}, decouple: false, lam: 0.0}}}}
  - name: original
seeds: {{condense: [0], eval: [0, 1]}}
evaluation: {{archs: [gcn], options: {{epochs: 100}}}}
resources: {{cpu: 1, gpu: 0}}
"""

FIG3_YAML = f"""
name: {FIG3}
datasets:
  - name: synthetic
    options: {{nodes: 200}}
    ratios: [0.05]
  - name: synthetic
    options: {{nodes: 200}}
    modalities: [text]
    ratios: [0.05]
  - name: synthetic
    options: {{nodes: 200}}
    modalities: [image]
    ratios: [0.05]
methods:
  - {{name: gcond, label: GCond, fixed: {GM}}}
  - {{name: sr_gm, label: SR-GM, fixed: {GM}}}
seeds: {{condense: [0], eval: [0, 1]}}
evaluation: {{archs: [gcn], options: {{epochs: 100}}}}
resources: {{cpu: 1, gpu: 0}}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Run the two tiny sweeps (real trials, MLflow on) into one results root."""
    from mmgc.harness.sweep import run_sweep
    from mmgc.harness.tracking import MlflowTracking

    root = tmp_path_factory.mktemp("tables") / "results"
    for name, text in ((MAIN, MAIN_YAML), (FIG3, FIG3_YAML)):
        path = root.parent / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        report = run_sweep(path, results=str(root), tracking=MlflowTracking(), num_cpus=2, progress=False)
        assert report.missing == 0, report
    return root


def sql(root, query, *params):
    from mmgc.harness.store import ResultStore

    cursor = ResultStore(str(root)).connect().execute(query, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def cell_means(rows) -> dict:
    """(ratio, stored label) -> (mean, std) in percent (each label of the store is one config)."""
    return {(r["ratio"], r["method_label"]): (r["m"] * 100, r["s"] * 100) for r in rows}


def unaligned_means(root, experiment, arch="gcn"):
    """(ratio, label) -> (mean, std) of the test metric in percent on the unaligned variant, from SQL."""
    return cell_means(sql(root, """
        SELECT method_label, ratio, avg(test_metric) AS m, stddev_pop(test_metric) AS s
        FROM results WHERE experiment = ? AND phase = 'final' AND status = 'ok' AND arch = ?
          AND coalesce(dataset_variant, '') LIKE '%alignment=unaligned%'
        GROUP BY ALL""", experiment, arch))


def aligned_means(root, experiment, arch="gcn"):
    return cell_means(sql(root, """
        SELECT method_label, ratio, avg(test_metric) AS m, stddev_pop(test_metric) AS s
        FROM results WHERE experiment = ? AND phase = 'final' AND status = 'ok' AND arch = ?
          AND coalesce(dataset_variant, '') NOT LIKE '%unaligned%'
          AND coalesce(dataset_variant, '') NOT LIKE '%modalities=%'
        GROUP BY ALL""", experiment, arch))


def stat_text(cell: tables.Cell) -> str:
    """mean ± std of a cell, without its marks and its paired test."""
    return cell.render_value("md").replace("**", "").replace("<u>", "").replace("</u>", "")


def test_store_is_real_and_tracked(store):
    rows = sql(store, "SELECT * FROM results")
    assert {r["experiment"] for r in rows} == {MAIN, FIG3}
    final = [r for r in rows if r["phase"] == "final" and r["status"] == "ok"]
    assert len(final) > 40
    assert all(r["mlflow_run_id"] for r in final)
    assert {r["method"] for r in final} == {"random", "herding", "kcenter", "gcond", "sr_gm", "original"}
    # every trial's MLflow run exists and GM runs carry their per-epoch history
    from mmgc.harness import tracking

    uri = tracking.default_uri(store)
    gm = next(r for r in final if r["method"] == "sr_gm")
    history = tracking.load_history(uri, gm["mlflow_run_id"])
    assert len(history) == 6 and "conflict_frac" in history[0] and "dirichlet_G" in history[0]


def test_table2_structure_bold_and_delta(store):
    table = tables.build("table2", str(store), [MAIN])
    assert table.header == ["Dataset", "Ratio (r)", "Random", "Herding", "K-Center", "MSGC", "SGDD", "GCond", "GCond-X",
                            "SR-GM", "Δ (points)", "Original"]
    assert [r[1].text for r in table.rows] == ["5%", "10%"]
    means = aligned_means(store, MAIN)
    col = {h: i for i, h in enumerate(table.header)}
    for row, ratio in zip(table.rows, (0.05, 0.1)):
        # every number is the rows' own mean ± std
        for label in ("Random", "Herding", "K-Center", "GCond", "SR-GM"):
            mean, std = means[(ratio, label)]
            assert stat_text(row[col[label]]) == f"{mean:.2f} ± {std:.2f}"
        # no result: missing, never zero
        assert row[col["MSGC"]].render("md") == "—" and row[col["SGDD"]].render("csv") == ""
        assert row[col["GCond-X"]].render("md") == "—"
        # best bold, second underlined
        ranked = sorted({round(means[(ratio, l)][0], 9) for l in ("Random", "Herding", "K-Center", "GCond", "SR-GM")},
                        reverse=True)
        for label in ("Random", "Herding", "K-Center", "GCond", "SR-GM"):
            value = round(means[(ratio, label)][0], 9)
            expected = "best" if value == ranked[0] else "second" if value == ranked[1] else None
            assert row[col[label]].mark == expected, (ratio, label)
            md = row[col[label]].render("md")
            assert md.startswith("**") == (expected == "best") and md.startswith("<u>") == (expected == "second")
        # Δ = SR-GM minus the best other method
        others = max(means[(ratio, l)][0] for l in ("Random", "Herding", "K-Center", "GCond"))
        assert row[col["Δ (points)"]].delta == pytest.approx(means[(ratio, "SR-GM")][0] - others)
    original = sql(store, """SELECT avg(test_metric) * 100 AS m, stddev_pop(test_metric) * 100 AS s FROM results
                             WHERE experiment = ? AND method = 'original' AND arch = 'gcn'
                               AND coalesce(dataset_variant, '') NOT LIKE '%unaligned%'""", MAIN)[0]
    assert stat_text(table.rows[0][col["Original"]]) == f"{original['m']:.2f} ± {original['s']:.2f}"
    assert table.rows[1][col["Original"]].text == ""  # printed once per dataset, as the paper


def test_table5_reads_the_unaligned_variant(store):
    table = tables.build("table5", str(store), [MAIN])
    assert len(table.rows) == 1 and table.rows[0][1].text == "5%"
    means = unaligned_means(store, MAIN)
    col = table.header.index("SR-GM")
    assert stat_text(table.rows[0][col]) == "{:.2f} ± {:.2f}".format(*means[(0.05, "SR-GM")])


def test_table3_cross_architecture(store):
    table = tables.build("table3", str(store), [MAIN])
    assert table.header == ["Dataset", "Ratio (r)", "Method", "GCN", "MLP", "MMGCN", "GAT", "SAGE", "SGC", "Avg."] or \
        table.header[:8] == ["Dataset", "Ratio (r)", "Method", "GCN", "MLP", "MMGCN", "GAT", "SAGE"]
    methods = {r[2].text for r in table.rows}
    assert methods == {"Herding", "GCond"}  # only what was evaluated with more than one architecture
    gcn, mlp, mmgcn = (table.header.index(h) for h in ("GCN", "MLP", "MMGCN"))
    mlp_means = aligned_means(store, MAIN, arch="mlp")
    for row in table.rows:
        assert row[gcn].stat is not None and row[mlp].stat is not None
        assert row[mmgcn].render("md") == "—"        # not evaluated: missing
        assert row[-1].render("md") == "—"           # Avg. needs every architecture
    first = table.rows[0]
    ratio = 0.05 if first[1].text == "5%" else 0.1
    assert stat_text(first[mlp]) == "{:.2f} ± {:.2f}".format(*mlp_means[(ratio, first[2].text)])


def test_table4_same_backbone(store):
    table = tables.build("table4", str(store), [MAIN])
    assert table.header == ["Backbone", "Ratio (r)", "SR-GM", "GCond", "Original"]
    assert [r[0].text for r in table.rows] == ["GCN", ""] and [r[1].text for r in table.rows] == ["5%", "10%"]
    means = aligned_means(store, MAIN)
    assert stat_text(table.rows[1][3]) == "{:.2f} ± {:.2f}".format(*means[(0.1, "GCond")])
    assert table.rows[0][4].stat is not None


def test_table6_ablation_deltas(store):
    table = tables.build("table6", str(store), [MAIN])
    assert [r[2].text for r in table.rows] == ["SR-GM", "w/o D", "w/o D+R"] * 2
    aligned = aligned_means(store, MAIN)
    unaligned = unaligned_means(store, MAIN)
    deltas = tables.ablation_deltas(table)
    assert len(deltas) == 2 * 2 + 2  # aligned: 2 ratios x (Δ1, Δ2); unaligned: 1 ratio (5%)
    for d in deltas:
        ratio = 0.05 if d["ratio"] == "5%" else 0.1
        means = aligned if d["alignment"] == "aligned" else unaligned
        upper, lower = {"Δ1": ("SR-GM", "SR-GM w/o D"), "Δ2": ("SR-GM w/o D", "SR-GM w/o D+R")}[d["which"]]
        assert d["value"] == pytest.approx(means[(ratio, upper)][0] - means[(ratio, lower)][0], abs=0.006)
    # the 10% ratio has no unaligned run: missing, not zero
    ten = table.rows[3:6]
    assert all(r[4].render("md") == "—" for r in ten) and ten[1][6].render("md") == "—"


def test_table6_lists_only_cells_with_something_to_compare(store):
    """A dataset and ratio where only the proposed method ran (a main-table experiment) is no ablation row."""
    from mmgc.harness.tables.layout import load_layout
    from mmgc.harness.tables.paper import ablation_table
    from mmgc.harness.tables.rows import load_results

    full = load_results(str(store), [MAIN])
    proposed_only = dataclasses.replace(full, rows=[r for r in full.rows if r["label"] == "SR-GM"])
    assert proposed_only.rows and ablation_table(proposed_only, load_layout()).rows == []
    assert len(ablation_table(full, load_layout()).rows) == 6


def test_formats(store):
    table = tables.build("table2", str(store), [MAIN])
    latex = table.render("latex")
    assert "\\textbf{" in latex and "\\underline{" in latex and "$\\Delta$" in latex and "\\toprule" in latex
    parsed = list(csv.reader(io.StringIO(table.render("csv"))))
    header = parsed[0]
    assert "SR-GM std" in header and "MSGC std" in header and "Original std" in header
    assert all(len(r) == len(header) for r in parsed)
    second = dict(zip(header, parsed[2]))
    assert second["Dataset"] == dict(zip(header, parsed[1]))["Dataset"]  # CSV repeats the group on every row
    assert second["MSGC"] == "" and second["Original"] != ""
    assert float(second["Δ (points)"]) == pytest.approx(table.rows[1][-2].delta, abs=0.006)


def test_figures(store, tmp_path):
    out = tmp_path / "figs"
    fig2 = tables.build("fig2", str(store), [MAIN], out)
    assert fig2.panels == 2 and fig2.series == 2 * 2 + 2  # aligned: 2 methods x 2 ratios; unaligned: 2 x 1
    fig1b = tables.build("fig1b", str(store), [MAIN], out)
    assert fig1b.panels == 2 * 3 and fig1b.series == 3 * 4 * 3  # 2 panels per (group, alignment, ratio) x 4 methods x 3 curves
    fig3 = tables.build("fig3", str(store), [FIG3], out)
    assert fig3.panels == 1 and fig3.series >= 4  # GCond: text, image, fused; SR-GM: fused (one modality: no pairs)
    fig4 = tables.build("fig4", str(store), [MAIN], out)
    assert fig4.panels == 2 and fig4.series == 2 + 1  # the proposed label's rows: one λ x ratios
    # a layout whose proposed column also takes the λ = 0 entry sweeps both λ
    layout = tables.load_layout()
    sweep = dataclasses.replace(layout, main=tuple(
        tables.Column(c.name, c.labels + ("SR-GM w/o R",)) if c.name == layout.proposed else c for c in layout.main))
    fig4 = tables.build("fig4", str(store), [MAIN], out, layout=sweep)
    assert fig4.panels == 2 and fig4.series == 2 * 2 + 2 * 1  # λ in {0, 1000} x ratios
    fig5 = tables.build("fig5", str(store), [MAIN], out)
    assert fig5.series == 2 * 5  # five methods with an Original, aligned and unaligned
    gaps = tables.figure5_gaps(tables.load_results(str(store), [MAIN]), tables.load_layout())
    means = aligned_means(store, MAIN)
    original = sql(store, """SELECT avg(test_metric) * 100 AS m FROM results WHERE experiment = ? AND
                             method = 'original' AND arch = 'gcn' AND coalesce(dataset_variant, '') NOT LIKE
                             '%unaligned%'""", MAIN)[0]["m"]
    expected = sum(original - means[(r, "Random")][0] for r in (0.05, 0.1)) / 2
    assert gaps["Random"]["aligned"] == pytest.approx(expected)
    for fig in (fig1b, fig2, fig3, fig4, fig5):
        assert fig.path.is_file() and fig.path.stat().st_size > 10_000 and fig.path.read_bytes()[:4] == b"\x89PNG"


def test_cli_tables_all_end_to_end(store, tmp_path):
    out = tmp_path / "paper"
    run = subprocess.run([MMGC, "tables", "all", "--experiment", MAIN, "--experiment", FIG3, "--results", str(store),
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in ("table2", "table3", "table4", "table5", "table6"):
        assert (out / f"{name}.md").read_text().startswith(f"**Table {name[-1]}")
        assert f"**Table {name[-1]}" in run.stdout
    for name in ("fig1b", "fig2", "fig3", "fig4", "fig5"):
        assert (out / f"{name}.png").is_file()
    latex = subprocess.run([MMGC, "tables", "table6", "-e", MAIN, "--results", str(store), "--format", "latex"],
                           capture_output=True, text=True)
    assert latex.returncode == 0 and "$\\Delta_1$" in latex.stdout
    bad = subprocess.run([MMGC, "tables", "table9", "--results", str(store)], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown table" in bad.stderr
    missing = subprocess.run([MMGC, "tables", "table2", "--results", str(tmp_path / "nope")], capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "results root not found" in missing.stderr


def test_runs_show_on_a_table_row(store):
    run_id = sql(store, "SELECT mlflow_run_id FROM results WHERE method = 'gcond' AND phase = 'final' LIMIT 1")[0][
        "mlflow_run_id"]
    out = subprocess.run([MMGC, "runs", "show", run_id, "--results", str(store)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "method = gcond" in out.stdout and "condense/conflict_frac" in out.stdout and "history.json" in out.stdout


def hand_row(label, value, *, method="sr_gm", config=None, ratio=0.1, seed=0, variant="", val=None, steps=60,
             recipe="recipe0"):
    """A final row as the store returns it (with the ``label`` that `load_results` adds)."""
    row = dict(experiment="hand", phase="final", trial_id=f"{label}-{ratio}-{seed}-{variant}", dataset="d",
               dataset_variant=variant, ratio=ratio, method=method, method_label=label,
               method_config=json.dumps(config or {}), config_hash=f"{label}-hash", condense_seed=seed,
               condense_arch="gcn", arch="gcn", eval_seed=0, metric="accuracy",
               val_metric=value if val is None else val, test_metric=value, regularizers="[]", feature_steps=steps,
               eval_recipe=recipe)
    return dict(row, label=tables.row_label(row))


def hand_results(rows):
    return tables.Results(rows, ["hand"], "unused")


def test_a_row_prints_under_its_stored_label():
    """The experiment's label is what the tables print: never re-derived from the method's config."""
    rows = []
    for variant in ("", "alignment=unaligned"):
        for seed in (0, 1):
            # configs that contradict the labels: a derivation from decouple/lam would move every row
            rows += [hand_row("SR-GM", 0.70, config={"decouple": False, "lam": 0.0}, seed=seed, variant=variant),
                     hand_row("SR-GM w/o D", 0.60, config={"decouple": True, "lam": 1000.0}, seed=seed, variant=variant),
                     hand_row("SR-GM w/o D+R", 0.50, config={"decouple": True, "lam": 10.0}, seed=seed, variant=variant)]
    layout = tables.load_layout()
    table = tables.ablation_table(hand_results(rows), layout)
    assert [(r[2].text, r[3].stat.mean, r[4].stat.mean) for r in table.rows] == [
        ("SR-GM", 0.70, 0.70), ("w/o D", 0.60, 0.60), ("w/o D+R", 0.50, 0.50)]
    assert [d["value"] for d in tables.ablation_deltas(table)] == pytest.approx([10.0, 10.0, 10.0, 10.0])
    assert table.notes[0].startswith("Δ1 = SR-GM − (SR-GM w/o D); Δ2 = (SR-GM w/o D) − (SR-GM w/o D+R)")
    main = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", layout)
    assert stat_text(main.rows[0][main.header.index("SR-GM")]) == "70.00 ± 0.00"
    # a label's grid cells share its column; the cell reports the config best on validation
    grid = [hand_row("GCond[lr=0.1]", 0.40, val=0.9), hand_row("GCond[lr=0.2]", 0.45, val=0.1)]
    main = tables.main_table(hand_results(grid), "Table 2", "t", "aligned", layout)
    assert stat_text(main.rows[0][main.header.index("GCond")]) == "40.00 ± 0.00"
    # rows written before labels were stored carry their method name, not a derived ablation label
    assert tables.row_label({"method": "sr_gm", "method_label": None,
                             "method_config": json.dumps({"decouple": False})}) == "sr_gm"


def test_a_new_method_gets_columns_by_editing_only_the_layout(tmp_path):
    import yaml

    rows = [hand_row(label, value, method="mine", seed=seed) for seed in (0, 1)
            for label, value in (("Mine", 0.8), ("Mine w/o X", 0.7))]
    default = tables.load_layout()
    table = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", default)
    assert "Mine" not in table.header and table.rows == []
    assert any("Mine, Mine w/o X" in note for note in table.notes)  # the note says what no column takes
    spec = yaml.safe_load(tables.DEFAULT_LAYOUT.read_text())
    spec["main"]["columns"].append("Mine")
    spec["ablation"]["rows"] = ["Mine", {"name": "w/o X", "labels": ["Mine w/o X"]}]
    path = tmp_path / "layout.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    layout = tables.load_layout(path)
    table = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", layout)
    assert table.header[-3:] == ["Mine", "Δ (points)", "Original"]
    assert stat_text(table.rows[0][table.header.index("Mine")]) == "80.00 ± 0.00"
    ablation = tables.ablation_table(hand_results(rows), layout)
    assert [(r[2].text, r[3].stat.mean) for r in ablation.rows] == [("Mine", 0.8), ("w/o X", 0.7)]


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("figures"), "figures: expected a value"),
    (lambda s: s.update(proposed="Nobody"), "proposed: expected the name of one of main.columns"),
    (lambda s: s["main"].update(columns=["GCond", "GCond"]), "main.columns (two columns have the same name)"),
    (lambda s: s["ablation"].update(rows=[{"name": "x"}]), "ablation.rows[0].labels: expected a value"),
    (lambda s: s.update(colour="blue"), "colour: unknown key"),
])
def test_a_bad_layout_is_one_line_naming_the_key(tmp_path, monkeypatch, capsys, change, message):
    import yaml

    from tests.conftest import run_cli

    spec = yaml.safe_load(tables.DEFAULT_LAYOUT.read_text())
    change(spec)
    path = tmp_path / "layout.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    code, out, err = run_cli(monkeypatch, capsys, "tables", "table2", "--results", str(tmp_path), "--layout", str(path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {path}: ") or f"{path}: " in err
    assert message in err


def test_a_row_comparing_unequal_budgets_is_marked_and_its_footnote_says_what_differs():
    rows = [hand_row(label, value + 0.01 * seed, seed=seed, steps=steps, method=method)
            for seed in (0, 1, 2) for label, value, steps, method in (
                ("GCond", 0.60, 60, "gcond"), ("GCond-X", 0.62, 120, "gcond"), ("Random", 0.40, 0, "random"))]
    table = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", tables.load_layout())
    ratio = table.rows[0][1]
    assert ratio.text == "10%" and ratio.flag == " †"
    assert table.footnotes == ["† d at 10%: unequal feature budgets: GCond-X 120 vs GCond 60 feature steps."]
    assert "| 10% † |" in table.to_markdown() and table.to_markdown().rstrip().endswith(table.footnotes[0])
    assert "10\\% $^\\dagger$" in table.to_latex() and "10%," in table.to_csv()  # CSV keeps the plain values
    fair = [r for r in rows if r["label"] != "GCond-X"]
    assert tables.main_table(hand_results(fair), "Table 2", "t", "aligned", tables.load_layout()).footnotes == []
    # another evaluation recipe is unfair too; a row without the columns (an older store) is unknown: ‡
    other = [dict(r, eval_recipe="recipe1") if r["label"] == "Random" else r for r in fair]
    (note,) = tables.main_table(hand_results(other), "Table 2", "t", "aligned", tables.load_layout()).footnotes
    assert note.startswith("† d at 10%: different evaluation recipes: recipe0 (GCond) vs recipe1 (Random)")
    old = [dict(r, feature_steps=None, eval_recipe=None) for r in fair]
    table = tables.main_table(hand_results(old), "Table 2", "t", "aligned", tables.load_layout())
    assert table.rows[0][1].flag == " ‡" and "feature budget unknown" in table.footnotes[0]


def test_table_comparisons_read_a_verdict_under_the_margin():
    # SR-GM and GCond 0.2 points apart on every seed (give or take 0.1): equivalent within 1 point, not within 0.1
    rows = [hand_row(label, value + 0.001 * (seed % 2) * (label == "SR-GM"), seed=seed, method=method)
            for seed in range(4) for label, value, method in (("SR-GM", 0.702, "sr_gm"), ("GCond", 0.700, "gcond"))]
    wide = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", tables.load_layout())
    delta = wide.rows[0][wide.header.index("Δ (points)")]
    assert delta.test.verdict == "equivalent" and "equivalent within ±1 point (p=" in delta.render("md")
    assert "$\\pm$" in delta.render("latex") and delta.render("csv") == "+0.25"
    assert any("TOST" in note and "±1 point" in note for note in wide.notes) and "≈" not in wide.to_markdown()
    narrow = tables.main_table(hand_results(rows), "Table 2", "t", "aligned", tables.load_layout(), margin=0.001)
    delta = narrow.rows[0][narrow.header.index("Δ (points)")]
    assert delta.test.verdict == "better" and any("±0.1 points" in note for note in narrow.notes)


def test_rank_summary_across_datasets(tmp_path):
    """SR-GM first, GCond second, Random third in each of 4 (dataset, ratio) cells; MSGC only in one."""
    rows = [hand_row(label, value + 0.01 * seed, seed=seed, ratio=ratio, variant=variant)
            for seed in (0, 1) for ratio in (0.05, 0.1) for variant in ("", "alignment=unaligned")
            for label, value in (("SR-GM", 0.7), ("GCond", 0.6), ("Random", 0.5))]
    rows += [hand_row("MSGC", 0.9, seed=s) for s in (0, 1)]
    figure = tables.ARTIFACTS["ranks"].build(hand_results(rows), tmp_path / "ranks.png", layout=tables.load_layout())
    assert figure.panels == 1 and figure.series == 3 and (tmp_path / "ranks.png").stat().st_size > 5_000
    # constant ranks 1, 2, 3 on N = 4 blocks: χ² = 12N / (k(k+1)) · (1 + 4 + 9 - k(k+1)²/4) = 4 · 2 = 8, p = e^-4
    assert f"Friedman χ² = 8.00 (df 2), p = {math.exp(-4):.3g}, over N = 4 cells and k = 3 methods" in figure.notes
    assert any(n.startswith("Nemenyi critical difference at α = 0.05: CD = 1.66") for n in figure.notes)
    assert "mean ranks: SR-GM 1.00, GCond 2.00, Random 3.00" in figure.notes
    assert "left out (no result in every cell): MSGC" in figure.notes
    alone = tables.ARTIFACTS["ranks"].build(
        hand_results([r for r in rows if r["label"] == "MSGC"]), tmp_path / "none.png", layout=tables.load_layout())
    assert alone.panels == 0 and "needs 2 or more methods" in alone.notes[0]


def test_one_colour_per_method_in_every_figure():
    layout = tables.load_layout()
    colours = tables.MethodColours(layout)
    main = [colours.of(c.name) for c in layout.main]
    assert len(set(main)) == len(main)  # the main columns: distinct colours
    # a column and its namesakes elsewhere in the layout share one: Table 6's "w/o D" is "SR-GM w/o D"
    assert colours.of("w/o D") == colours.of("SR-GM w/o D") and colours.of("SR-GM GCN") == colours.of("SR-GM")
    # a label the layout does not know: the same colour in every figure, and not one of the main columns'
    assert colours.of("Mine") == tables.MethodColours(layout).of("Mine") and colours.of("Mine") not in main


def test_row_vocabulary():
    assert tables.parse_variant("alignment=unaligned;nodes=200") == {"alignment": "unaligned", "nodes": "200"}
    assert tables.features_of({"dataset_variant": "modalities=text;scale=0.1"}) == "text"
    assert tables.features_of({"dataset_variant": "modalities=text,image"}) == "fused"
    assert tables.features_of({"dataset_variant": "dims=128;modality_names=image"}) == "image"
    assert tables.dataset_group({"dataset": "d", "dataset_variant": "modalities=text;scale=0.1"}) == "d [scale=0.1]"
    assert tables.alignment_of({"dataset_variant": "encoder=t5vit"}) == "unaligned"
    assert tables.alignment_of({"dataset_variant": "encoder=imagebind"}) == "aligned"
    assert tables.alignment_of({"dataset_variant": "alignment=unaligned;scale=0.1"}) == "unaligned"
    assert tables.dataset_group({"dataset": "books-nc", "dataset_variant": "encoder=t5vit"}) == "books-nc"


def test_marks_and_missing_cells():
    assert tables.rank_marks({"a": 0.5, "b": 0.7, "c": None, "d": 0.6}) == {"b": "best", "d": "second"}
    assert tables.rank_marks({"a": 0.7, "b": 0.7, "c": 0.1}) == {"a": "best", "b": "best", "c": "second"}
    assert tables.Cell().render("md") == "—" and tables.Cell().render("latex") == "--" and tables.Cell().render("csv") == ""
    assert tables.Cell(delta=-1.234).render("md") == "↓1.23" and tables.Cell(delta=0.5).render("csv") == "+0.50"
    stat = tables.Stat(0.81234, 0.0123, 4)
    assert tables.Cell(stat=stat, mark="best").render("md") == "**81.23 ± 1.23**"
    assert tables.Cell(stat=stat, mark="second").render("latex") == "\\underline{81.23 $\\pm$ 1.23}"


def test_figure3_slots_are_the_modalities_found_and_fused_only_graphs_are_no_panel(tmp_path):
    """A graph run only with fused features is no Figure 3 panel; a graph with an audio modality gets an
    'audio only' slot (the slots are the single modalities found, then fused)."""
    from mmgc.harness.tables.figures import figure3
    from mmgc.harness.tables.layout import load_layout
    from mmgc.harness.tables.rows import Results, feature_rank

    assert sorted(["fused", "audio", "image", "text"], key=feature_rank) == ["text", "image", "audio", "fused"]

    def row(dataset, variant, seed, test):
        return {"dataset": dataset, "dataset_variant": variant, "ratio": 0.05, "arch": "gcn", "label": "GCond",
                "config_hash": "h", "condense_seed": seed, "eval_seed": 0, "test_metric": test,
                "val_metric": test, "metric": "accuracy", "method": "gcond"}

    rows = [row("fusedonly", "", s, 0.5) for s in (0, 1)]
    fused_only = figure3(Results(rows, ["e"], str(tmp_path)), tmp_path / "a.png", load_layout())
    assert fused_only.panels == 0
    rows += [row("music", v, s, 0.4) for v in ("modalities=text", "modalities=audio", "") for s in (0, 1)]
    drawn = figure3(Results(rows, ["e"], str(tmp_path)), tmp_path / "b.png", load_layout())
    assert drawn.panels == 1 and drawn.series == 3  # GCond: text only, audio only, fused
