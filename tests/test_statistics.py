"""The statistics of the harness (`mmgc.harness.statistics`) against values computed by hand."""

from __future__ import annotations

import math

import pytest

from mmgc.errors import InputError
from mmgc.harness import statistics as st


def seeds(values, condense_seeds=None):
    """Rows of one cell: one row per condensation seed (0, 1, ... unless given)."""
    condense_seeds = condense_seeds if condense_seeds is not None else range(len(values))
    return [{"condense_seed": s, "test_metric": v} for s, v in zip(condense_seeds, values)]


def t_cdf_df2(t: float) -> float:
    """Student's t CDF with 2 degrees of freedom, in closed form: 1/2 + t / (2 sqrt(t² + 2))."""
    return 0.5 + t / (2 * math.sqrt(t * t + 2))


# ---------------------------------------------------------------------------------------- summary and ranks
def test_summary_is_mean_and_population_std_of_the_finite_values():
    summary = st.summary_of([0.5, 0.7, None, 0.6, float("nan"), 0.8])
    assert summary.count == 4 and summary.mean == pytest.approx(0.65)
    assert summary.std == pytest.approx(math.sqrt((0.15**2 + 0.05**2 + 0.05**2 + 0.15**2) / 4))  # / n, not n - 1
    assert st.summary_of([0.3]) == st.Summary(0.3, 0.0, 1)
    assert st.summary_of([None, float("nan")]) is None


def test_dense_ranks_share_ties_and_skip_missing():
    assert st.dense_ranks({"a": 0.5, "b": 0.7, "c": None, "d": 0.6}) == {"b": 1, "d": 2, "a": 3}
    assert st.dense_ranks({"a": 0.7, "b": 0.7 + 1e-15, "c": 0.1}) == {"a": 1, "b": 1, "c": 2}


# ---------------------------------------------------------------------------------------- paired comparisons
def test_pairs_are_the_shared_condensation_seeds_each_averaged_over_its_evaluation_seeds():
    rows_a = seeds([0.7, 0.8, 0.9, 0.2], [0, 0, 1, 7])  # seed 0 has two evaluation seeds
    rows_b = seeds([0.6, 0.7, 0.1], [0, 1, 5])
    test = st.compare(rows_a, rows_b, margin=0.01)
    assert test.pairs == 2 and test.diff == pytest.approx(((0.75 - 0.6) + (0.9 - 0.7)) / 2)
    # the original graph has no condensation seed: its rows pair on the evaluation seed
    original = [{"condense_seed": None, "eval_seed": e, "test_metric": v} for e, v in enumerate([0.8, 0.82, 0.81])]
    regularized = [dict(r, test_metric=r["test_metric"] + d) for r, d in zip(original, (0.05, 0.04, 0.06))]
    assert st.compare(regularized, original, margin=0.01).pairs == 3
    one = st.compare(seeds([0.9]), seeds([0.1]), margin=0.01)
    assert one.p is None and one.verdict == "inconclusive" and "1 shared seed: not tested" in one.evidence()
    assert st.compare([], seeds([0.1]), margin=0.01) is None


def test_difference_test_is_the_two_sided_paired_t_test():
    # differences 0.01, 0.02, 0.03: mean 0.02, s = 0.01, t = 0.02 / (0.01 / √3) = 2√3, 2 degrees of freedom
    test = st.compare(seeds([0.51, 0.62, 0.73]), seeds([0.50, 0.60, 0.70]), margin=0.01)
    t = 2 * math.sqrt(3)
    assert test.diff == pytest.approx(0.02) and test.p == pytest.approx(2 * (1 - t_cdf_df2(t)))


def test_tost_on_constructed_data_with_a_known_answer():
    # differences 0.001, 0.002, 0.003: mean 0.002, standard error 0.001 / √3
    a, b = seeds([0.501, 0.602, 0.703]), seeds([0.5, 0.6, 0.7])
    se = 0.001 / math.sqrt(3)
    tight = st.compare(a, b, margin=0.01)
    lower = 1 - t_cdf_df2((0.002 + 0.01) / se)   # H0: mean <= -m, rejected for large t
    upper = t_cdf_df2((0.002 - 0.01) / se)       # H0: mean >= +m, rejected for small t
    assert tight.p_equivalent == pytest.approx(max(lower, upper))
    assert tight.p_equivalent < 0.05
    # the same differences against a margin of 0.0015: the upper bound (0.002 > 0.0015) cannot be rejected
    loose = st.compare(a, b, margin=0.0015)
    assert loose.p_equivalent == pytest.approx(t_cdf_df2((0.002 - 0.0015) / se)) and loose.p_equivalent > 0.5


def test_seeds_for_equivalence_follow_the_normal_approximation():
    # differences 0.00, 0.02, 0.04: s = 0.02; margin 0.01, power 0.8, alpha 0.05:
    # n = ((z_0.95 + z_0.90) * 0.02 / 0.01)^2 = ((1.6449 + 1.2816) * 2)^2 = 34.26 -> 35 pairs
    test = st.compare(seeds([0.50, 0.62, 0.74]), seeds([0.50, 0.60, 0.70]), margin=0.01)
    assert test.diff_sd == pytest.approx(0.02)
    assert test.seeds_for_equivalence() == 35
    assert test.seeds_for_equivalence(power=0.9) == 44           # z_0.95 = 1.6449 and z_0.95 again: 43.3
    wide = st.compare(seeds([0.50, 0.62, 0.74]), seeds([0.50, 0.60, 0.70]), margin=0.02)
    assert wide.seeds_for_equivalence() == 9                      # a margin twice as wide: a quarter, 8.6
    assert st.compare(seeds([0.5]), seeds([0.5]), margin=0.01).seeds_for_equivalence() is None


def test_verdicts():
    better = st.compare(seeds([0.71, 0.72, 0.73, 0.75]), seeds([0.60, 0.60, 0.61, 0.62]), margin=0.01)
    assert better.verdict == "better" and better.verdict_text() == "better"
    worse = st.compare(seeds([0.60, 0.60, 0.61, 0.62]), seeds([0.71, 0.72, 0.73, 0.75]), margin=0.01)
    assert worse.verdict == "worse"
    same = st.compare(seeds([0.700, 0.801, 0.650, 0.702]), seeds([0.701, 0.800, 0.651, 0.700]), margin=0.01)
    assert same.verdict == "equivalent" and same.verdict_text() == "equivalent within ±1 point"
    assert "TOST p=" in same.evidence() and "Holm" in same.evidence()
    # noisy: neither a difference nor an equivalence is shown (absence of evidence is not equivalence)
    noisy = st.compare(seeds([0.70, 0.60, 0.72, 0.59]), seeds([0.65, 0.66, 0.64, 0.65]), margin=0.01)
    assert noisy.p > 0.05 and noisy.p_equivalent > 0.05 and noisy.verdict == "inconclusive"
    # no spread: identical sides are equivalent, a constant gap outside the margin is a difference
    assert st.compare(seeds([0.5, 0.6]), seeds([0.5, 0.6]), margin=0.01).verdict == "equivalent"
    assert st.compare(seeds([0.6, 0.7]), seeds([0.5, 0.6]), margin=0.01).verdict == "better"


def test_holm_on_a_known_example():
    # R's p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm"): 5 x 0.01, 4 x 0.02, 3 x 0.03, then monotone
    assert st.holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    # in the order given; capped at 1
    assert st.holm([0.04, 0.005, 0.03, 0.01]) == pytest.approx([0.06, 0.02, 0.06, 0.03])
    assert st.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])


def test_a_family_is_adjusted_once_per_comparison_and_changes_the_verdict():
    base = [0.60, 0.60, 0.61, 0.62]
    clear = st.compare(seeds([0.71, 0.72, 0.73, 0.75]), seeds(base), margin=0.01)
    borderline = st.compare(seeds([0.62, 0.63, 0.62, 0.66]), seeds(base), margin=0.01)  # differences 2, 3, 1, 4 points
    null = st.compare(seeds([0.65, 0.54, 0.63, 0.56]), seeds(base), margin=0.01)
    assert 0.025 < borderline.p < 0.05 and borderline.verdict == "better"  # alone: significant
    adjusted = st.adjust_family([clear, borderline, null, clear])  # the same comparison twice counts once
    assert len(adjusted) == 3 and {c.family for c in adjusted.values()} == {3}
    # sorted p: clear x 3, borderline x 2, null x 1 (each at least the one before)
    assert adjusted[id(clear)].p_holm == pytest.approx(3 * clear.p)
    assert adjusted[id(borderline)].p_holm == pytest.approx(2 * borderline.p)
    assert adjusted[id(null)].p_holm == pytest.approx(max(null.p, 2 * borderline.p))
    assert adjusted[id(borderline)].verdict == "inconclusive" and adjusted[id(clear)].verdict == "better"
    untested = st.compare(seeds([0.9]), seeds([0.1]), margin=0.01)
    assert st.adjust_family([untested, clear])[id(clear)].family == 1


def test_best_against_the_runner_up():
    means = {"a": 0.5, "b": 0.7, "c": 0.6, "d": None}
    calls = []
    found = st.best_vs_runner_up(means, lambda x, y: calls.append((x, y)) or f"{x}-{y}")
    assert found == {"b": ("c", "b-c")} and calls == [("b", "c")]
    tied = st.best_vs_runner_up({"a": 0.7, "b": 0.7, "c": 0.1}, lambda x, y: (x, y))
    assert tied == {"a": ("b", ("a", "b")), "b": ("a", ("b", "a"))}


@pytest.mark.parametrize("points", [0.0, -1.0, 100.0, float("nan"), float("inf")])
def test_a_bad_margin_is_refused(points):
    with pytest.raises(InputError, match="--margin: expected a number of points > 0 and < 100"):
        st.check_margin(points)


def test_margin_is_given_in_points():
    assert st.check_margin(1.0) == pytest.approx(0.01) and st.points(0.005) == "±0.5 points"


# ---------------------------------------------------------------------------------------- across datasets
def test_nemenyi_critical_values_are_demsars():
    # Demšar (2006), Table 5(a): q_0.05 for k = 2 ... 10 classifiers
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), table):
        assert st.nemenyi_cd(k, 6) / math.sqrt(k * (k + 1) / 36) == pytest.approx(q, abs=1e-3)  # 3 decimals
    # his worked example: 4 classifiers on 14 data sets, CD = 2.569 · √(4·5 / (6·14)) = 1.25
    assert st.nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.005)


def test_friedman_on_a_small_example_computed_by_hand():
    # 3 methods on 4 blocks (higher is better). Ranks (1 = best): A 1,1,1,2; B 2,2,3,1; C 3,3,2,3.
    blocks = [[0.9, 0.8, 0.7], [0.6, 0.5, 0.4], [0.8, 0.6, 0.7], [0.7, 0.9, 0.5]]
    summary = st.rank_summary(["A", "B", "C"], blocks)
    assert summary.mean_ranks == pytest.approx((1.25, 2.0, 2.75))
    # rank sums 5, 8, 11: χ² = 12 / (N k (k + 1)) Σ R² - 3 N (k + 1) = 12 / 48 · 210 - 48 = 4.5
    assert summary.statistic == pytest.approx(4.5)
    assert summary.p == pytest.approx(math.exp(-4.5 / 2))  # χ² with 2 degrees of freedom: p = e^(-x/2)
    assert summary.cd == pytest.approx(2.3437 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)
    assert summary.blocks == 4


def test_cliques_join_methods_within_the_critical_difference():
    summary = st.RankSummary(("A", "B", "C", "D"), (1.0, 1.5, 2.6, 3.9), blocks=10, statistic=None, p=None, cd=1.2)
    # A-B within CD, B-C within CD (1.1), A-C not (1.6); C-D not (1.3)
    assert summary.cliques() == [("A", "B"), ("B", "C")]
    assert st.RankSummary(("A", "B"), (1.0, 2.0), 3, None, None, cd=0.5).cliques() == []
    two = st.rank_summary(["A", "B"], [[0.9, 0.1], [0.8, 0.2]])
    assert two.statistic is None and two.mean_ranks == (1.0, 2.0)  # Friedman's test needs 3 methods


def test_pareto_front():
    points = {"cheap-bad": (1.0, 0.5), "dear-good": (10.0, 0.9), "dominated": (5.0, 0.4), "middle": (3.0, 0.7),
              "tie-dearer": (3.5, 0.7)}
    assert st.pareto_front(points) == {"cheap-bad", "dear-good", "middle"}
