"""A share of successes with its Wilson interval and exact binomial test."""

from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint


def wilson_interval(successes: int, trials: int) -> list[float] | None:
    """The 95% Wilson score interval of successes / trials; None without trials."""
    if trials == 0:
        return None
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    return [float(low), float(high)]


def binomial_p_value(successes: int, trials: int) -> float | None:
    """Two-sided exact binomial test of successes out of trials against one half."""
    if trials == 0:
        return None
    return float(binomtest(successes, trials, 0.5).pvalue)


def share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole else None
