"""A share of successes with its Wilson interval and exact binomial test, and Holm's correction.

Closed forms over numpy and `scipy.special` (the binomial distribution function, the same one
`scipy.stats.binom` uses): `scipy.stats` and statsmodels take seconds to import, longer than a
whole report of a small study. tests/analysis/test_reference.py checks every figure against them.
"""

import math
from statistics import NormalDist

import numpy as np
from scipy.special import bdtr

Z95 = NormalDist().inv_cdf(0.975)


def wilson_interval(successes: int, trials: int) -> list[float] | None:
    """The 95% Wilson score interval of successes / trials; None without trials."""
    if trials == 0:
        return None
    p = successes / trials
    centre = (p + Z95**2 / (2 * trials)) / (1 + Z95**2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / (1 + Z95**2 / trials)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def binomial_p_value(successes: int, trials: int) -> float | None:
    """Two-sided exact binomial test of successes out of trials against one half.

    With p = 1/2 the distribution is symmetric, so the outcomes at least as unlikely as the one
    seen are the two tails beyond it: p = 2 P(X <= min(k, n - k)), at most 1.
    """
    if trials == 0:
        return None
    fewer = min(successes, trials - successes)
    if 2 * fewer == trials:
        return 1.0
    return min(1.0, 2 * float(bdtr(fewer, trials, 0.5)))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values; None (no test) stays None and does not count.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)): a pair
    whose adjusted p is below alpha differs with family-wise error at most alpha.
    """
    tested = [i for i, p in enumerate(p_values) if p is not None]
    ordered = sorted(tested, key=lambda i: p_values[i])
    steps = np.array([p_values[i] for i in ordered]) * np.arange(len(ordered), 0, -1)
    adjusted = np.minimum(1.0, np.maximum.accumulate(steps)) if len(steps) else steps
    result: list[float | None] = [None] * len(p_values)
    for i, value in zip(ordered, adjusted, strict=True):
        result[i] = float(value)
    return result


def share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole else None
