"""Whether compared methods had equal optimisation budgets and one evaluation recipe.

A comparison is fair only if every side could spend the same optimisation on its synthetic features
and was evaluated the same way. The check reads two columns of the rows being compared:

- ``feature_steps`` (optimiser steps applied to the synthetic features): among the sides that
  optimise features, the largest budget may be at most `BUDGET_TOLERANCE` above the smallest. Sides
  whose every row has 0 steps (coresets, training-free methods) optimise nothing and are exempt. A
  missing value is unknown (rows written before the column existed), said as such, never read as 0.
- ``eval_recipe`` (the hash of the evaluation settings and regularizers): every row of every side
  must have the same one; a missing value is unknown.

Tables, the leaderboard and the report mark a flagged cell (`Fairness.mark`: ``†`` something differs,
``‡`` something could not be checked) and say what in a footnote (`Fairness.note`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

BUDGET_TOLERANCE = 0.10
"""Feature budgets are unequal when the largest is more than this fraction above the smallest."""
DIFFERS, UNKNOWN = "†", "‡"


@dataclass(frozen=True)
class Fairness:
    """What differs between the compared sides, and what could not be checked (phrases)."""

    differs: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def mark(self) -> str:
        return DIFFERS if self.differs else UNKNOWN if self.unknown else ""

    def note(self) -> str:
        return "; ".join(self.differs + self.unknown)


def check_fairness(sides: Mapping[str, Sequence[Mapping[str, Any]]], recipes: bool = True) -> Fairness:
    """The check of the rows of each compared side (label -> rows; fewer than two sides compare
    nothing); ``recipes=False`` leaves the evaluation recipes out (a table whose columns differ in
    the recipe by design: regularizers)."""
    if len(sides) < 2:
        return Fairness()
    differs: list[str] = []
    unknown: list[str] = []
    budgets: dict[str, list[int]] = {}
    for label, rows in sides.items():
        steps = [r.get("feature_steps") for r in rows]
        if any(s is None for s in steps):
            unknown.append(label)
        known = [int(s) for s in steps if s is not None and int(s) > 0]
        if known:
            budgets[label] = known
    if len(budgets) > 1:
        low, high = min(min(v) for v in budgets.values()), max(max(v) for v in budgets.values())
        if high > (1 + BUDGET_TOLERANCE) * low:
            ordered = sorted(budgets, key=lambda label: (-max(budgets[label]), label))
            spent = _join(f"{label} {_span(budgets[label])}" for label in ordered)
            differs.append(f"unequal feature budgets: {spent} feature steps")
    if unknown:
        unknown = [f"feature budget unknown (no feature_steps recorded): {', '.join(sorted(unknown))}"]
    if recipes:
        by_recipe: dict[str, set[str]] = defaultdict(set)
        missing: set[str] = set()
        for label, rows in sides.items():
            for r in rows:
                if r.get("eval_recipe") is None:
                    missing.add(label)
                else:
                    by_recipe[str(r["eval_recipe"])].add(label)
        if len(by_recipe) > 1:
            differs.append("different evaluation recipes: " + " vs ".join(
                f"{recipe} ({', '.join(sorted(labels))})" for recipe, labels in sorted(by_recipe.items())))
        if missing:
            unknown.append(f"evaluation recipe unknown (no eval_recipe recorded): {', '.join(sorted(missing))}")
    return Fairness(tuple(differs), tuple(unknown))


def _span(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}-{high}"


def _join(parts) -> str:
    """``A 120 vs B 60, C 60``: the largest budget against the others."""
    parts = list(parts)
    return parts[0] + " vs " + ", ".join(parts[1:])
