"""Statistics of benchmark samples: a metric's summary, and A/B comparisons that flag only changes
beyond the measured noise.

A comparison's unit is the *round*: one run of a metric is one round, its samples come from one process
on one boot and are not independent of each other, so the test compares the per-round medians of A and
of B (``scipy.stats.permutation_test``, two-sided, on the difference of their mean ranks: a
Mann-Whitney-style test, which one wild round cannot swing as it swings a mean). A change is
flagged when it is significant (p < ``ALPHA``) *and* larger than the noise: twice the robust spread
(1.4826 x the median absolute deviation) of either side's round medians, relative to their median, at
least ``MIN_CHANGE``. Medians and MAD because one disturbed round (another job on the host) is common
and must not move the verdict. This follows Firecracker's A/B tooling (a permutation test, then a noise
threshold), with rounds as the unit instead of raw samples.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from harness.errors import UsageError

#: Significance level of the permutation test.
ALPHA = 0.01
#: Smallest relative change ever flagged, however quiet the rounds were.
MIN_CHANGE = 0.05
#: Fewest rounds per side for a test (with 3 and 3 the smallest two-sided p is 0.1: nothing is flagged).
MIN_ROUNDS = 3


@dataclass(frozen=True)
class Summary:
    """A metric's samples over all rounds: count, median and the 10th/90th percentiles."""

    n: int
    median: float
    p10: float
    p90: float


def summarize(samples: list[float]) -> Summary | None:
    """The ``Summary`` of ``samples`` (None when there are none)."""
    if not samples:
        return None
    if len(samples) == 1:
        return Summary(1, samples[0], samples[0], samples[0])
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    return Summary(len(samples), statistics.median(samples), deciles[0], deciles[-1])


def round_medians(rounds: list[list[float]]) -> list[float]:
    """The median of every round that has samples."""
    return [statistics.median(r) for r in rounds if r]


def noise(medians: list[float]) -> float:
    """A side's relative noise: 2 x 1.4826 x the median absolute deviation of its round medians, over their
    median (0 with fewer than two)."""
    if len(medians) < 2:
        return 0.0
    centre = statistics.median(medians)
    mad = statistics.median(abs(m - centre) for m in medians)
    return 2 * 1.4826 * mad / centre if centre else 0.0


def permutation_p(a: list[float], b: list[float], seed: int = 0) -> float:
    """Two-sided p-value of the difference of the mean ranks of ``a`` and ``b`` in their pooled ranking
    (exact when the permutations are few, else 9999 random ones from ``seed``)."""
    try:
        import numpy as np
        from scipy.stats import permutation_test, rankdata
    except ImportError:
        raise UsageError("comparisons need scipy (pip install 'popcorn-harness[bench]')") from None
    ranks = rankdata(list(a) + list(b))
    result = permutation_test((ranks[:len(a)], ranks[len(a):]),
                              lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                              permutation_type="independent", alternative="two-sided", n_resamples=9999,
                              vectorized=True, random_state=seed)
    return float(result.pvalue)


@dataclass(frozen=True)
class Comparison:
    """One metric, A against B: medians of the round medians, B/A, p-value (None: too few rounds),
    the noise threshold, and whether the change is flagged."""

    metric: str
    median_a: float
    median_b: float
    ratio: float
    p: float | None
    threshold: float
    flagged: bool

    def verdict(self) -> str:
        """One word: 'slower'/'faster' when flagged, else 'same' (or 'untested' with too few rounds)."""
        if self.p is None:
            return "untested"
        if not self.flagged:
            return "same"
        return "slower" if self.ratio > 1 else "faster"


def compare(metric: str, rounds_a: list[list[float]], rounds_b: list[list[float]], alpha: float = ALPHA,
            min_change: float = MIN_CHANGE) -> Comparison | None:
    """Compare B's rounds of ``metric`` with A's (None when a side has no samples at all)."""
    a, b = round_medians(rounds_a), round_medians(rounds_b)
    if not a or not b:
        return None
    median_a, median_b = statistics.median(a), statistics.median(b)
    ratio = median_b / median_a if median_a else float("inf")
    threshold = max(min_change, noise(a), noise(b))
    p = permutation_p(a, b) if min(len(a), len(b)) >= MIN_ROUNDS else None
    flagged = p is not None and p < alpha and abs(ratio - 1) > threshold
    return Comparison(metric, median_a, median_b, ratio, p, threshold, flagged)
