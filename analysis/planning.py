"""How many items a pair needs, and the smallest win rate a given number of items can detect.

The test is the report's: the two-sided exact binomial test of the decisive items won by one
system against one half. Its power is exact, not a normal approximation, and it does not grow
steadily with the item count: the rejection region moves in whole items, so power rises and
falls (for a 60% win rate at alpha 0.05, 199 decisive items reach 80% power but 200 fall back to
78.7%). A plan is therefore the smallest count from which power stays at or above the target.
"""

import math
from statistics import NormalDist

import numpy as np
from scipy.special import bdtr, bdtrc

# The report's detectable win rates are at these settings (the planner's defaults).
ALPHA = 0.05
POWER = 0.8
MAX_DECISIVE = 1_000_000
# Power falls back below the target only in a band just after it first reaches it; scanning to
# twice the answer (and at least this many counts beyond it) covers that band with room to spare.
SCAN_MARGIN = 100


class PlanningError(ValueError):
    """Settings a plan cannot be made for; the message says which."""


def critical_counts(trials: np.ndarray, alpha: float) -> np.ndarray:
    """Per item count n, the largest c whose two-sided p-value 2 P(X <= c | n, 1/2) is at most alpha; -1 if none.

    The test rejects when the winner's count is at most c or at least n - c.
    """
    n = np.atleast_1d(np.asarray(trials, dtype=np.int64))
    # Start from the normal approximation, then step to the exact boundary (a few steps at most).
    z = NormalDist().inv_cdf(1 - alpha / 2)
    highest = (n - 1) // 2  # beyond the middle the p-value is 1
    c = np.clip(np.floor(n / 2 - z * np.sqrt(n) / 2).astype(np.int64), -1, highest)
    for _ in range(100):
        up = (c + 1 <= highest) & _rejects(c + 1, n, alpha)
        down = (c >= 0) & ~_rejects(c, n, alpha)
        if not (up.any() or down.any()):
            return c
        c = c + up - down
    raise AssertionError("the critical counts did not settle")


def _rejects(c: np.ndarray, n: np.ndarray, alpha: float) -> np.ndarray:
    # A relative 1e-9 so that a p-value equal to alpha (e.g. 2 / 2^5 at alpha 0.0625) rejects despite rounding.
    with np.errstate(invalid="ignore"):
        return (c >= 0) & (2 * bdtr(np.maximum(c, 0), n, 0.5) <= alpha * (1 + 1e-9))


def power(trials: np.ndarray, win_rate: float | np.ndarray, alpha: float) -> np.ndarray:
    """Exact power of the two-sided binomial test with `trials` decisive items when the better system wins `win_rate`."""
    n = np.atleast_1d(np.asarray(trials, dtype=np.int64))
    c = critical_counts(n, alpha)
    inside = c >= 0
    safe = np.maximum(c, 0)
    reject = bdtr(safe, n, win_rate) + bdtrc(n - safe - 1, n, win_rate)
    return np.where(inside, reject, 0.0)


def decisive_items_needed(win_rate: float, target: float, alpha: float) -> tuple[int, int]:
    """(first, stable): the first decisive count whose power reaches `target`, and the smallest from which it stays there.

    Counts are scanned from well below the normal approximation's answer (where power is at
    least 0.05 short of the target) to twice the answer plus SCAN_MARGIN.
    """
    _check(win_rate=win_rate, target=target, alpha=alpha)
    low = _scan_start(win_rate, target, alpha)
    high = 2 * low + SCAN_MARGIN
    while True:
        counts = np.arange(low, high + 1)
        reached = power(counts, win_rate, alpha) >= target
        if reached.any():
            first = int(counts[reached.argmax()])
            stable = int(counts[~reached].max()) + 1  # `low` falls short, so some count does
            if high >= 2 * stable + SCAN_MARGIN:
                return first, stable
        if high >= MAX_DECISIVE:
            raise PlanningError(f"a win rate of {win_rate} needs more than {MAX_DECISIVE:,} decisive items")
        high = min(2 * high, MAX_DECISIVE)


def _scan_start(win_rate: float, target: float, alpha: float) -> int:
    """A count below the answer: half the normal approximation's, lowered until power is clearly short of the target."""
    z_alpha, z_power = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(target)
    estimate = ((z_alpha / 2 + z_power * math.sqrt(win_rate * (1 - win_rate))) / (win_rate - 0.5)) ** 2
    low = max(1, int(estimate / 2))
    while low > 1 and power(np.array([low]), win_rate, alpha)[0] > target - 0.05:
        low //= 2
    return low


def items_needed(decisive: int, tie_rate: float) -> int:
    """Items to show so that, with `tie_rate` of them tied, `decisive` remain on average."""
    if not 0 <= tie_rate < 1:
        raise PlanningError(f"--tie-rate must be at least 0 and below 1, not {tie_rate}")
    # Rounded to 12 places first: 210 / (1 - 0.3) is 300.00000000000006 in floating point.
    return math.ceil(round(decisive / (1 - tie_rate), 12))


def detectable_win_rates(trials: np.ndarray, alpha: float = ALPHA, target: float = POWER) -> list[float | None]:
    """Per decisive item count, the smallest win rate (above one half) that the test detects with power `target`.

    None where no outcome of that many items would be significant (fewer than 6 at alpha 0.05).
    Power grows with the win rate above one half, so a bisection finds it (to 1e-9).
    """
    n = np.atleast_1d(np.asarray(trials, dtype=np.int64))
    low, high = np.full(len(n), 0.5), np.ones(len(n))
    for _ in range(30):
        middle = (low + high) / 2
        enough = power(n, middle, alpha) >= target
        high, low = np.where(enough, middle, high), np.where(enough, low, middle)
    possible = critical_counts(n, alpha) >= 0
    return [float(h) if ok else None for h, ok in zip(high, possible, strict=True)]


def _check(*, win_rate: float, target: float, alpha: float) -> None:
    if not 0.5 < win_rate <= 1:
        raise PlanningError(f"--win-rate is the better system's share of decisive items: above 0.5 and at most 1, not {win_rate}")
    if not 0 < target < 1:
        raise PlanningError(f"--power must be between 0 and 1, not {target}")
    if not 0 < alpha < 1:
        raise PlanningError(f"--alpha must be between 0 and 1, not {alpha}")
