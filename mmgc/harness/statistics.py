"""The harness's statistics, in one place: the summary every output prints, the ranking, the paired
comparison of two cells with its verdict, Holm's adjustment, the rank summary across datasets.

**Summary.** Mean ± *population* standard deviation (numpy's default, as GCond reports) over the
finite values of a cell (condensation seeds x evaluation seeds); `summary_of` is used by
``evaluate.summarize``, MLflow's trial metrics, the tables, the leaderboard and the report.

**Ranking.** `dense_ranks`: 1 for the highest mean, ties (equal to 12 decimals) share a rank and the
next distinct value gets the next integer ("best" = rank 1, "second" = rank 2).

**Comparison of two cells** (`compare`). The unit is the condensation seed: each seed's rows (its
evaluation seeds retrain on the same condensed graph, so they are not independent replicates) are
averaged first; rows of the original graph, which has no condensation seed, pair on the evaluation
seed. Only seeds both cells have are paired. With the paired differences ``d_1..d_n`` (n >= 2),
mean ``d̄`` and standard error ``s/√n``:

- *difference*: two-sided paired t-test of ``H0: μ_d = 0``, ``t = d̄ / (s/√n)``, n - 1 degrees of
  freedom (`scipy.stats.ttest_rel`);
- *equivalence* within ±m (TOST, Schuirmann 1987): two one-sided paired t-tests, ``H0: μ_d <= -m``
  against ``μ_d > -m`` (``t = (d̄ + m)/(s/√n)``) and ``H0: μ_d >= m`` against ``μ_d < m``
  (``t = (d̄ - m)/(s/√n)``), each `scipy.stats.ttest_rel` with ``alternative=`` on the pairs shifted
  by the margin; the TOST p-value is the larger of the two (both must reject).

**Seeds an equivalence would need** (`Comparison.seeds_for_equivalence`): with the paired
differences' sample standard deviation ``s``, TOST within ±m at level α has power 1 - β against a
true difference of 0 from about ``n = ((z_{1-α} + z_{1-β/2}) s / m)²`` pairs (the normal
approximation of Chow, Shao & Wang 2008, §3.2; α before any multiplicity adjustment). It tells an
underpowered "inconclusive" from a real difference: a comparison whose n is far above its seeds
could not have shown equivalence at that margin.

A paired t-test rather than a bootstrap interval or the Wilcoxon signed-rank test: sweeps have 2-5
seeds, where a bootstrap interval under-covers and Wilcoxon cannot reach p < 0.05 below 6 pairs.

**Holm** (1979), within one table's family of m tested comparisons, separately for the difference
and the equivalence p-values: sort ``p_(1) <= ... <= p_(m)``; the adjusted
``p̃_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. It controls the family-wise error rate under any
dependence, and is a few lines: not worth a dependency (statsmodels) of its own.

**Verdict** at level α = 0.05 on the adjusted p-values: *equivalent within ±m* when TOST rejects;
else *better* / *worse* when the difference test rejects (the sign of d̄); else *inconclusive*
(absence of evidence of a difference is not evidence of equivalence). A difference that is both
significant and shown to lie within ±m reads equivalent, because the margin is the statement of what
is too small to matter; its evidence then names both tests.

**Rank summary across datasets** (Demšar 2006). k methods on N blocks (dataset, ratio cells): ranks
within each block (1 = best, ties averaged), mean ranks ``R_j``. Friedman's statistic
``χ²_F = 12N / (k(k+1)) · [Σ_j R_j² - k(k+1)²/4]`` with k - 1 degrees of freedom
(`scipy.stats.friedmanchisquare`, which also corrects for ties). Nemenyi's critical difference
``CD = q_α/√2 · √(k(k+1) / (6N))``, ``q_α`` the studentized range quantile for k groups and
infinite degrees of freedom (`scipy.stats.studentized_range`): two methods whose mean ranks differ
by less than CD are not significantly different.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence, TypeVar

from mmgc.errors import InputError

ALPHA = 0.05
DEFAULT_MARGIN_POINTS = 1.0
"""The equivalence margin in points (percent of the metric): ±1 point = ±0.01 in metric units."""
DEFAULT_MARGIN = DEFAULT_MARGIN_POINTS / 100
"""The same in metric units, what the functions take."""

K = TypeVar("K", bound=Hashable)


# ---------------------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Summary:
    """Mean and population standard deviation of a cell's values, and how many there were."""

    mean: float
    std: float
    count: int


def summary_of(values: Iterable[Any]) -> Summary | None:
    """`Summary` of the finite numbers among ``values`` (None and NaN are no result); None if none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    mean = statistics.fmean(finite)  # math.fsum inside: the same mean in any order of the values
    return Summary(mean, math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / len(finite)), len(finite))


def dense_ranks(values: Mapping[K, float | None]) -> dict[K, int]:
    """Rank 1 for the highest value, ties (equal to 12 decimals) sharing a rank, the next distinct
    value the next rank; keys whose value is None are not ranked."""
    distinct = sorted({round(v, 12) for v in values.values() if v is not None}, reverse=True)
    return {key: distinct.index(round(v, 12)) + 1 for key, v in values.items() if v is not None}


# ---------------------------------------------------------------------------------------- comparisons
def check_margin(points: float) -> float:
    """The equivalence margin of ``--margin POINTS`` in metric units; bad input is an `InputError`."""
    if not (math.isfinite(points) and 0 < points < 100):
        raise InputError(f"--margin: expected a number of points > 0 and < 100 (1 = ±1 point = ±0.01 of the "
                         f"metric), found {points}")
    return points / 100


@dataclass(frozen=True)
class Comparison:
    """Paired comparison ``a - b`` of two cells over the condensation seeds both have (see the module).

    ``p`` (difference, two-sided) and ``p_equivalent`` (TOST within ±``margin``) are raw; ``p_holm``
    and ``p_equivalent_holm`` are Holm-adjusted within the family the comparison was printed in
    (equal to the raw ones until `adjust_family` has run: a family of one)."""

    diff: float                  # mean paired difference in metric units (difference of means if < 2 pairs)
    pairs: int
    margin: float                # equivalence margin, metric units
    p: float | None = None       # None: fewer than 2 shared seeds, not tested
    p_equivalent: float | None = None
    p_holm: float | None = None
    p_equivalent_holm: float | None = None
    family: int = 1              # tested comparisons in the family the Holm adjustment ran over
    diff_sd: float | None = None  # sample standard deviation of the paired differences, metric units

    @property
    def tested(self) -> bool:
        return self.p is not None

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``equivalent`` (within ±margin) or ``inconclusive``."""
        if not self.tested:
            return "inconclusive"
        if self._rejects_equivalence_null():
            return "equivalent"
        if self._rejects_difference_null():
            return "better" if self.diff > 0 else "worse"
        return "inconclusive"

    def seeds_for_equivalence(self, power: float = 0.8) -> int | None:
        """Pairs that TOST within ±margin would need for ``power`` if the true difference were 0, at
        this comparison's spread of paired differences (see the module); None when not tested."""
        if self.diff_sd is None:
            return None
        z = statistics.NormalDist()
        n = ((z.inv_cdf(1 - ALPHA) + z.inv_cdf(1 - (1 - power) / 2)) * self.diff_sd / self.margin) ** 2
        return max(2, math.ceil(n))

    def _rejects_difference_null(self) -> bool:
        return _adjusted(self.p_holm, self.p) < ALPHA

    def _rejects_equivalence_null(self) -> bool:
        return _adjusted(self.p_equivalent_holm, self.p_equivalent) < ALPHA

    def verdict_text(self) -> str:
        """The verdict in words, the margin in points: ``equivalent within ±1``."""
        if self.verdict == "equivalent":
            return f"equivalent within {points(self.margin)}"
        return self.verdict

    def evidence(self) -> str:
        """The p-values behind the verdict, raw and Holm-adjusted: ``p=0.003, Holm 0.012``."""
        if not self.tested:
            return f"{self.pairs} shared seed{'s' * (self.pairs != 1)}: not tested"
        difference = f"p={_p(self.p)}, Holm {_p(_adjusted(self.p_holm, self.p))}"
        equivalent = (f"TOST p={_p(self.p_equivalent)}, Holm "
                      f"{_p(_adjusted(self.p_equivalent_holm, self.p_equivalent))}")
        if self.verdict in ("better", "worse"):
            return difference
        if self.verdict == "equivalent" and not self._rejects_difference_null():
            return equivalent
        return f"{difference}; {equivalent}"


def points(margin: float) -> str:
    """A margin in metric units as printed: ``±1 point``, ``±0.5 points``."""
    value = margin * 100
    return f"±{value:g} point{'s' * (value != 1)}"


def _adjusted(adjusted: float | None, raw: float | None) -> float:
    return adjusted if adjusted is not None else (raw if raw is not None else 1.0)


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def compare(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], margin: float,
            column: str = "test_metric") -> Comparison | None:
    """`Comparison` of ``rows_a`` minus ``rows_b`` (the rows of one cell each); None if either has no result."""
    # the replicate: the condensation seed; rows of the original graph (no condensation) pair on the evaluation seed
    unit = "condense_seed" if any(r.get("condense_seed") is not None for r in (*rows_a, *rows_b)) else "eval_seed"

    def per_seed(rows):
        by_seed: dict[Any, list[Any]] = defaultdict(list)
        for r in rows:
            by_seed[r.get(unit)].append(r.get(column))
        return {seed: s.mean for seed, values in by_seed.items() if (s := summary_of(values)) is not None}

    a, b = per_seed(rows_a), per_seed(rows_b)
    if not a or not b:
        return None
    shared = sorted(set(a) & set(b), key=str)
    if len(shared) < 2:
        return Comparison(statistics.fmean(a.values()) - statistics.fmean(b.values()), len(shared), margin)
    left, right = [a[s] for s in shared], [b[s] for s in shared]
    diffs = [x - y for x, y in zip(left, right)]
    return Comparison(statistics.fmean(diffs), len(diffs), margin, p=_paired_p(left, right, 0.0, "two-sided"),
                      p_equivalent=max(_paired_p(left, right, -margin, "greater"),
                                       _paired_p(left, right, margin, "less")),
                      diff_sd=statistics.stdev(diffs))


def _paired_p(a: Sequence[float], b: Sequence[float], shift: float, alternative: str) -> float:
    """p-value of the paired t-test of ``μ(a - b) = shift`` against ``alternative`` (``ttest_rel`` on
    ``a - shift`` and ``b``). Differences without spread make t 0/0 or infinite: the test is then
    decided by the sign of ``d̄ - shift`` (p 0 when it lies on the alternative's side, else 1)."""
    diffs = [x - y - shift for x, y in zip(a, b)]
    if max(diffs) - min(diffs) <= 1e-12:
        side = diffs[0] if abs(diffs[0]) > 1e-12 else 0.0
        rejects = {"two-sided": side != 0, "greater": side > 0, "less": side < 0}[alternative]
        return 0.0 if rejects else 1.0
    from scipy import stats

    return float(stats.ttest_rel([x - shift for x in a], list(b), alternative=alternative).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (see the module)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def adjust_family(comparisons: Iterable[Comparison]) -> dict[int, Comparison]:
    """The comparisons of one family, Holm-adjusted, keyed by the ``id`` of each given one (a
    comparison given twice, e.g. the test behind a "best" mark that is also a Δ's, counts once)."""
    unique = list({id(c): c for c in comparisons}.items())
    tested = [(key, c) for key, c in unique if c.tested]
    differences = holm([c.p for _, c in tested])
    equivalences = holm([c.p_equivalent for _, c in tested])
    out = {key: c for key, c in unique}
    for (key, c), p, q in zip(tested, differences, equivalences):
        out[key] = replace(c, p_holm=p, p_equivalent_holm=q, family=len(tested))
    return out


def best_vs_runner_up(means: Mapping[K, float | None], compare_pair: Callable[[K, K], Comparison | None]
                      ) -> dict[K, tuple[K, Comparison]]:
    """For each best cell (rank 1): the runner-up (the best of the rest; a tied best cell, if any) and
    their comparison ``compare_pair(best, runner_up)``."""
    out: dict[K, tuple[K, Comparison]] = {}
    for key in (k for k, rank in dense_ranks(means).items() if rank == 1):
        rest = {k: v for k, v in means.items() if v is not None and k != key}
        if rest:
            runner_up = max(rest, key=rest.get)
            test = compare_pair(key, runner_up)
            if test is not None:
                out[key] = (runner_up, test)
    return out


def comparison_note(margin: float, family: int) -> str:
    """How the comparisons of a family of ``family`` tested ones were made and what they say."""
    return (f"Comparisons: a two-sided paired t-test for a difference and two one-sided paired t-tests (TOST) for "
            f"equivalence within {points(margin)}, over the condensation seeds both sides share (each seed: "
            "the mean over its evaluation seeds; on the original graph, the evaluation seeds); p-values raw and "
            f"Holm-adjusted over the {family} tested comparison{'s' * (family != 1)} of this table; equivalent: the "
            f"adjusted TOST rejects at {ALPHA:g}; else better/worse: the adjusted difference test rejects; else "
            "inconclusive, as with fewer than 2 shared seeds (no evidence of a difference is not evidence of "
            "equivalence).")


# ---------------------------------------------------------------------------------------- ranks across datasets
def nemenyi_cd(k: int, blocks: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of mean ranks for k methods on ``blocks`` blocks (see the module)."""
    import numpy as np
    from scipy.stats import studentized_range

    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6 * blocks))


@dataclass(frozen=True)
class RankSummary:
    """Mean ranks of k methods over N blocks (1 = best), Friedman's test and Nemenyi's CD."""

    methods: tuple[str, ...]
    mean_ranks: tuple[float, ...]
    blocks: int
    statistic: float | None   # Friedman's chi-square; None below 3 methods (the test needs k >= 3)
    p: float | None
    cd: float
    alpha: float = ALPHA

    def cliques(self) -> list[tuple[str, ...]]:
        """The maximal groups of methods (in rank order) whose mean ranks all lie within CD of each
        other: joined by one bar in a critical-difference diagram (not significantly different)."""
        order = sorted(range(len(self.methods)), key=lambda i: self.mean_ranks[i])
        spans = []
        for start in range(len(order)):
            stop = start
            while stop + 1 < len(order) and self.mean_ranks[order[stop + 1]] - self.mean_ranks[order[start]] < self.cd:
                stop += 1
            if stop > start and (not spans or stop > spans[-1][1]):
                spans.append((start, stop))
        return [tuple(self.methods[order[i]] for i in range(a, b + 1)) for a, b in spans]


def rank_summary(methods: Sequence[str], blocks: Sequence[Sequence[float]], alpha: float = ALPHA) -> RankSummary:
    """`RankSummary` of ``blocks`` (one value per method in each, higher is better; at least 2
    methods and 1 block)."""
    from scipy import stats

    k = len(methods)
    ranks = [stats.rankdata([-v for v in block]) for block in blocks]  # 1 = best, ties averaged
    mean_ranks = tuple(float(statistics.fmean(r[j] for r in ranks)) for j in range(k))
    statistic = p = None
    if k >= 3 and len(blocks) >= 2 and any(len(set(block)) > 1 for block in blocks):
        result = stats.friedmanchisquare(*([block[j] for block in blocks] for j in range(k)))
        statistic, p = float(result.statistic), float(result.pvalue)
    return RankSummary(tuple(methods), mean_ranks, len(blocks), statistic, p, nemenyi_cd(k, len(blocks), alpha), alpha)


# ---------------------------------------------------------------------------------------- trade-offs
def pareto_front(points: Mapping[K, tuple[float, float]]) -> set[K]:
    """The keys whose ``(cost, value)`` no other point beats: none has cost <= and value >= with one
    of them strict (lower cost and higher value are better)."""
    return {key for key, (cost, value) in points.items()
            if not any(c <= cost and v >= value and (c < cost or v > value) for other, (c, v) in points.items()
                       if other != key)}
