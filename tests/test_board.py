"""The leaderboard's cells (`mmgc.harness.board`): seeds, ranks, the comparison with the runner-up, the
fairness check and the cost view, in `mmgc leaderboard` and its bad input."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mmgc.harness.board import cost_cells
from mmgc.harness.fairness import DIFFERS
from mmgc.harness.schema import make_row
from mmgc.harness.store import ResultStore, print_leaderboard
from tests.conftest import run_cli

SEEDS, EVAL_SEEDS = (0, 1, 2), (0, 1)
# label -> (method, test metric on seed s: base + wobble, feature steps, condense seconds, train seconds, bytes)
METHODS = {
    "A": ("gcond", 0.70, 60, 10.0, 0.5, 1_000),
    "B": ("gcond", 0.60, 120, 30.0, 3.0, 2_000),
    "C": ("herding", 0.50, 0, 1.0, None, 1_000),
}
ORIGINAL_TRAIN_SECONDS, ORIGINAL_BYTES = 2.0, 100_000


def _rows(label, seed, method, base, steps, seconds, train, size, recipe="r1"):
    return [make_row(experiment="exp", phase="final", trial_id=f"{label}-{seed}", dataset="d", dataset_variant="",
                     ratio=0.1, n=10, method=method, method_label=label, config_hash=label, condense_seed=seed,
                     arch="gcn", eval_seed=e, metric="accuracy", test_metric=base + 0.002 * ((seed + e) % 3),
                     val_metric=base, status="ok", feature_steps=steps, eval_recipe=recipe, condense_seconds=seconds,
                     condense_cpu_seconds=None if seconds is None else 2 * seconds, condensed_bytes=size,
                     original_bytes=ORIGINAL_BYTES, train_seconds=train, created_at="2026-01-01T00:00:00")
            for e in EVAL_SEEDS]


@pytest.fixture()
def store(tmp_path):
    store = ResultStore(str(tmp_path / "results"))
    for label, (method, base, steps, seconds, train, size) in METHODS.items():
        for seed in SEEDS:
            store.write_trial(_rows(label, seed, method, base, steps, seconds, train, size))
    store.write_trial([dict(row, ratio=1.0, n=100, condense_seed=None, feature_steps=None, condense_seconds=None,
                            condense_cpu_seconds=None, condensed_bytes=ORIGINAL_BYTES, method_label="Original",
                            trial_id="original") for row in _rows("Original", 0, "original", 0.8, None, None,
                                                                  ORIGINAL_TRAIN_SECONDS, ORIGINAL_BYTES)])
    return store


def printed(store, **kwargs) -> str:
    out = io.StringIO()
    print_leaderboard(store, "exp", console=Console(file=out, width=200), **kwargs)
    return out.getvalue()


def line_of(text: str, method: str) -> str:
    """The printed line of a method's cell (the third word, or the fourth after a fairness mark)."""
    return next(ln for ln in text.splitlines() if method in ln.split()[2:4])


def flat(text: str) -> str:
    """The text with every run of white space one space (the table's notes wrap at its width)."""
    return " ".join(text.split())


def test_cells_carry_their_seeds_rank_comparison_and_fairness(store):
    cells = {c.method: c for c in store.leaderboard("exp")}
    assert [cells[m].rank for m in "ABC"] == [1, 2, 3] and cells["Original"].rank == 1
    assert cells["A"].seeds_text() == f"{len(SEEDS)}×{len(EVAL_SEEDS)}" and cells["Original"].seeds_text() == "-×2"
    test = cells["A"].comparison
    assert cells["A"].runner_up == "B" and test.pairs == len(SEEDS) and test.verdict == "better"
    assert test.diff == pytest.approx(0.10) and cells["B"].comparison is None
    assert cells["A"].fairness.mark == DIFFERS and cells["Original"].fairness.mark == ""  # Original competes alone
    assert cells["A"].fairness.note() == "unequal feature budgets: B 120 vs A 60 feature steps"  # C: 0 steps, exempt


def test_the_printed_leaderboard_shows_seeds_verdict_and_what_is_unfair(store):
    text = printed(store)
    line = line_of(text, "A")
    assert line.split()[:2] == ["0.1", DIFFERS] and "3×2" in line and "*" in line
    assert "ratio 0.1, gcn: A vs B +10.00 points: better (p=" in flat(text) and "Holm" in text
    assert f"{DIFFERS} ratio 0.1, gcn: unequal feature budgets: B 120 vs A 60 feature steps" in flat(text)


def test_the_margin_decides_equivalence(tmp_path):
    store = ResultStore(str(tmp_path / "results"))
    for label, base in (("A", 0.702), ("B", 0.700)):  # 0.2 points apart on every seed, give or take 0.1
        for seed in (0, 1, 2, 3):
            rows = _rows(label, seed, "gcond", base + 0.001 * (seed % 2) * (label == "A"), 60, 1.0, 1.0, 1)
            store.write_trial(rows)
    (best,) = [c for c in store.leaderboard("exp") if c.comparison is not None]
    assert best.comparison.verdict == "equivalent"
    assert "A vs B +0.25 points: equivalent within ±1 point (p=" in flat(printed(store))  # both tests reject
    narrow = store.leaderboard("exp", margin=0.001)
    assert next(c for c in narrow if c.comparison).comparison.verdict != "equivalent"
    assert "equivalent" not in printed(store, margin=0.001)


def test_cost_view_numbers_and_break_even(store):
    costs = {c.cell.method: c for c in cost_cells(store.leaderboard("exp"))}
    a, b, c, original = costs["A"], costs["B"], costs["C"], costs["Original"]
    assert a.condense_seconds == pytest.approx(10.0) and a.condense_cpu_seconds == pytest.approx(20.0)
    assert a.compression == pytest.approx(ORIGINAL_BYTES / 1_000) and a.train_seconds_original == ORIGINAL_TRAIN_SECONDS
    # 10 s of condensation repaid by 2.0 - 0.5 = 1.5 s saved per training
    assert a.break_even == pytest.approx(10.0 / 1.5) and a.break_even_text() == "6.67"
    assert b.break_even is None and b.break_even_text() == "never"  # training on it is slower than on the original
    assert c.break_even is None and c.break_even_text() == "—"      # no training time recorded
    assert original.condense_seconds is None and original.break_even_text() == "—" and original.compression == 1
    text = printed(store, cost=True)
    line = line_of(text, "A")
    assert line.split()[7:] == ["10", "20", "1000", "B", "/", "97.7", "KiB", "100", "0.5", "/", "2", "6.67"]
    assert line_of(text, "B").split()[-1] == "never" and line_of(text, "C").split()[-1] == "—"
    assert "break-even: trainings on the condensed graph that repay its condensation" in flat(text)


@pytest.mark.parametrize("args, message", [
    (["leaderboard", "--margin", "0"], "--margin: expected a number of points > 0 and < 100"),
    (["leaderboard", "--margin", "nan"], "--margin: expected a number of points > 0 and < 100"),
    (["leaderboard", "--margin", "-1", "--compact"], "--margin: expected a number of points > 0 and < 100"),
    (["leaderboard", "--cost", "--sql", "SELECT 1"], "--cost: expected either --sql or --cost, found both"),
    (["tables", "table2", "--margin", "inf"], "--margin: expected a number of points > 0 and < 100"),
    (["report", "--margin", "150", "--out", "page.html"], "--margin: expected a number of points > 0 and < 100"),
])
def test_a_bad_margin_is_one_line_exit_2_and_nothing_written(store, monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    files = sorted(p for p in tmp_path.rglob("*"))
    code, out, err = run_cli(monkeypatch, capsys, *args, "--results", store.root)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err
    assert sorted(p for p in tmp_path.rglob("*")) == files  # no page, no table, no compaction


def test_a_margin_that_is_not_a_number_is_a_usage_error(store, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", "--margin", "one", "--results", store.root)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--margin" in err
