"""The fairness check (`mmgc.harness.fairness`): equal feature budgets and one evaluation recipe among
compared rows, and every shipped experiment file passes it statically, from its configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmgc.harness.experiment import load_experiment
from mmgc.harness.fairness import BUDGET_TOLERANCE, DIFFERS, UNKNOWN, check_fairness
from mmgc.methods import create_method
from mmgc.methods.gradient_matching.config import GradientMatchingConfig

TUNE_CONFIGS = Path(__file__).resolve().parents[1] / "tune_configs"
SHIPPED = sorted(p for p in TUNE_CONFIGS.glob("*.yaml") if p.name != "paper_layout.yaml")


def side(steps, recipe="r1", rows=2):
    return [{"feature_steps": steps, "eval_recipe": recipe} for _ in range(rows)]


def test_unequal_feature_budgets_are_flagged_and_named():
    fairness = check_fairness({"GCond": side(60), "GCond-X": side(120), "Random": side(0)})
    assert fairness.mark == DIFFERS and fairness.unknown == ()
    assert fairness.note() == "unequal feature budgets: GCond-X 120 vs GCond 60 feature steps"


def test_budgets_within_the_tolerance_and_methods_that_optimise_nothing_pass():
    within = round(60 * (1 + BUDGET_TOLERANCE))
    assert check_fairness({"GCond": side(60), "SR-GM": side(within), "Herding": side(0), "Random": side(0)}).mark == ""
    beyond = within + 1
    assert check_fairness({"GCond": side(60), "SR-GM": side(beyond)}).mark == DIFFERS
    # a method whose seeds spent different budgets: its span is named
    spread = check_fairness({"A": side(60, "r", rows=1) + side(90, "r", rows=1),
                             "B": side(60, "r")})
    assert "A 60-90 vs B 60" in spread.note()


def test_missing_values_are_unknown_never_zero():
    fairness = check_fairness({"old": side(None, None), "new": side(60)})
    assert fairness.mark == UNKNOWN and fairness.differs == ()
    assert "feature budget unknown (no feature_steps recorded): old" in fairness.note()
    assert "evaluation recipe unknown (no eval_recipe recorded): old" in fairness.note()


def test_different_evaluation_recipes_are_flagged_unless_the_table_differs_in_them_by_design():
    sides = {"none": side(60, "abc"), "OptiMAG": side(60, "def"), "DAGR": side(60, "def")}
    fairness = check_fairness(sides)
    assert fairness.mark == DIFFERS
    assert fairness.note() == "different evaluation recipes: abc (none) vs def (DAGR, OptiMAG)"
    assert check_fairness(sides, recipes=False).mark == ""
    assert check_fairness({"alone": side(60, None)}).mark == ""  # one side compares nothing


def static_feature_budgets(path: Path) -> dict[tuple, dict[str, int]]:
    """Per (dataset, variant, ratio) cell of an experiment file: the feature steps of each
    gradient-matching entry, ``feature_epochs() * outer_loop`` of the config it builds (each value its
    search may give a key included: a searched budget shows as two budgets of one label)."""
    experiment = load_experiment(path)
    cells: dict[tuple, dict[str, int]] = {}
    for cell in experiment.cells():
        entry = cell.method
        if entry.is_original:
            continue
        probes = [{}] + [{key: value} for key, dim in entry.search.items()
                         for value in (dim.choices if dim.kind == "choice" else (dim.low, dim.high))]
        for probe in probes:
            config = create_method(entry.name, {**entry.fixed, **probe}).config
            if isinstance(config, GradientMatchingConfig):
                steps = config.feature_epochs() * config.outer_loop
                label = entry.label if not probe else f"{entry.label} ({probe})"
                cells.setdefault((cell.dataset.name, cell.dataset.variant, cell.ratio), {})[label] = steps
    return cells


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_experiment_gives_its_gradient_matching_entries_equal_feature_budgets(path):
    for cell, budgets in static_feature_budgets(path).items():
        fairness = check_fairness({label: [{"feature_steps": steps}] for label, steps in budgets.items()},
                                  recipes=False)
        assert fairness.mark == "", f"{path.name} {cell}: {fairness.note()}"


def test_the_static_check_catches_an_unequal_experiment(tmp_path):
    """GCond-X stepping its features in every epoch gets more feature steps than GCond at the same epochs."""
    gm = "{epochs: 20, outer_loop: 6, select_every: 10}"
    path = tmp_path / "unfair.yaml"
    path.write_text(f"""
name: unfair
datasets: [{{name: synthetic, ratios: [0.05]}}]
methods:
  - {{name: random}}
  - {{name: gcond, label: GCond, fixed: {gm}}}
  - {{name: gcond, label: GCond-X, fixed: {{epochs: 20, outer_loop: 6, select_every: 10, structure: none,
                                            feature_schedule: every_epoch}}}}
""")
    (budgets,) = static_feature_budgets(path).values()
    assert budgets == {"GCond": 60, "GCond-X": 120}
    note = check_fairness({label: [{"feature_steps": s}] for label, s in budgets.items()}, recipes=False).note()
    assert note == "unequal feature budgets: GCond-X 120 vs GCond 60 feature steps"
