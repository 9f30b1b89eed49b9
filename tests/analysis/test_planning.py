"""`python -m analysis plan`: the items a pair needs, against scipy's exact binomial test."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from analysis.__main__ import main
from analysis.planning import critical_counts, decisive_items_needed, items_needed, power
from tests.support import ROOT


def run_plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def scipy_power(n: int, win_rate: float, alpha: float) -> float:
    """The probability that scipy's binomtest rejects, with n decisive items and the better system winning `win_rate`.

    The rejected counts are the two tails: the largest rejected count below the middle is found
    by bisection on binomtest's p-value (which grows towards the middle), the upper tail mirrors it.
    """
    low, high = -1, n // 2 + 1  # binomtest rejects k = low (or nothing when -1), never k = high
    if n % 2 == 0:
        high = n // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if binomtest(middle, n, 0.5).pvalue <= alpha else (low, middle)
    if low < 0:
        return 0.0
    return float(binom.cdf(low, n, win_rate) + binom.sf(n - low - 1, n, win_rate))


def test_the_reference_plan_60_40():
    # The reference: 199 decisive items first reach 80% power, 200 fall back to 78.7%, 210 is where it stays.
    assert decisive_items_needed(0.6, 0.8, 0.05) == (199, 210)
    assert scipy_power(199, 0.6, 0.05) >= 0.8
    assert scipy_power(200, 0.6, 0.05) == pytest.approx(0.787, abs=5e-4)
    assert scipy_power(209, 0.6, 0.05) < 0.8


@pytest.mark.parametrize(("win_rate", "target", "alpha"), [(0.6, 0.8, 0.05), (0.65, 0.9, 0.01), (0.75, 0.8, 0.05), (0.7, 0.95, 0.1)])
def test_the_plan_is_the_smallest_count_from_which_scipys_power_stays_above_the_target(win_rate, target, alpha):
    first, stable = decisive_items_needed(win_rate, target, alpha)
    counts = range(max(1, first - 30), 2 * stable + 10)
    powers = {n: scipy_power(n, win_rate, alpha) for n in counts}
    assert powers[stable - 1] < target
    assert all(powers[n] >= target for n in counts if n >= stable)
    assert first == min(n for n in counts if powers[n] >= target)


def test_power_and_critical_counts_match_scipy():
    counts = np.arange(0, 70)
    expected = [max([-1, *(k for k in range((n + 1) // 2) if binomtest(k, n, 0.5).pvalue <= 0.05)]) for n in counts]
    assert critical_counts(counts, 0.05).tolist() == expected
    assert power(counts[1:], 0.62, 0.05) == pytest.approx([scipy_power(n, 0.62, 0.05) for n in counts[1:]], abs=1e-12)


def test_ties_inflate_the_item_count():
    assert items_needed(210, 0.0) == 210
    assert items_needed(210, 0.3) == 300  # 210 / 0.7
    assert items_needed(210, 0.25) == 280


def test_plan_command_prints_the_items_a_pair_needs():
    result = run_plan("--win-rate", "0.6", "--power", "0.8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("210 items (prompts) per pair: from 210 decisive items on")
    assert "first reaches 80% at 199" in result.stdout
    tied = run_plan("--win-rate", "0.6", "--power", "0.8", "--alpha", "0.05", "--tie-rate", "0.3")
    assert tied.returncode == 0, tied.stderr
    assert tied.stdout.startswith("300 items (prompts) per pair: from 210 decisive items on")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--win-rate", "0.5", "--power", "0.8"], "--win-rate"),
        (["--win-rate", "0.6", "--power", "1.2"], "--power"),
        (["--win-rate", "0.6", "--power", "0.8", "--alpha", "0"], "--alpha"),
        (["--win-rate", "0.6", "--power", "0.8", "--tie-rate", "1"], "--tie-rate"),
    ],
)
def test_plan_command_refuses_impossible_settings(args, message, capsys):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
