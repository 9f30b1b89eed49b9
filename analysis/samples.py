"""Several samples per prompt: the prompt, not the item, is the unit of the intervals and tests.

When systems made K videos of each prompt, a pair has K items per prompt (sample i of one system
against sample i of the other; the votes CSV's `sample` column). Those items are not independent:
a prompt one system handles badly it handles badly in every sample. Counting them as K independent
items would make intervals about sqrt(K) too narrow and tests too eager. So, with more than one
sample per prompt:

- each item stays an item for the win counts, and the interval of the win rate is a percentile
  bootstrap over prompts (a resampled prompt brings all its samples' items), and the test of a pair
  is an exact sign-flip test over prompts (`sign_flip_p_value`); or
- with aggregation, each (pair, prompt)'s samples first become one outcome by majority over the
  samples' outcomes (`majority_over_samples`); those prompt-level outcomes are independent, and the usual
  Wilson interval and binomial test apply to them.
"""

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import bdtr, gammaln

from analysis.bootstrap import percentile_interval, resampled_sums
from analysis.outcomes import A, B, Tally, majority

CI95 = {"item": "percentile bootstrap over prompts (a prompt's samples resampled together)", "prompt": "Wilson score interval over prompts"}
P_VALUE = {
    "item": "exact sign-flip test over prompts of wins_a minus wins_b per prompt",
    "prompt": "exact binomial test over prompts",
}
# Above this many multiplications a convolution goes through the FFT.
DIRECT_CONVOLUTION = 10**7


def _unit_key(tally: Tally) -> np.ndarray:
    """Per (item, question) row, a key of its (pair, prompt, question)."""
    return (tally.pair.astype(np.int64) * len(tally.prompts) + tally.prompt) * len(tally.questions) + tally.question


def samples_per_prompt(votes: pd.DataFrame, tally: Tally) -> int:
    """The most items a (pair, prompt) has on a question when the votes carry `sample`; 1 without it."""
    if "sample" not in votes or not len(tally.counts):
        return 1
    return int(np.unique(_unit_key(tally), return_counts=True)[1].max())


def majority_over_samples(tally: Tally) -> Tally:
    """The tally with one row per (pair, prompt, question): the majority over its samples' outcomes
    (equal counts at the top are a tie). Its `counts` are the samples' outcomes, not votes, and it has
    no votes: it serves the win figures, the net win rate and the ranking, not agreement or reasons."""
    keys, first, unit = np.unique(_unit_key(tally), return_index=True, return_inverse=True)
    outcomes = np.bincount(unit * 3 + tally.outcome, minlength=len(keys) * 3).reshape(-1, 3)
    none = np.empty(0, dtype=np.int64)
    return dataclasses.replace(
        tally, n_items=len(keys), pair=tally.pair[first], question=tally.question[first], category=tally.category[first],
        prompt=tally.prompt[first], counts=outcomes, outcome=majority(outcomes), vote_row=none, vote_label=none,
    )


def _wins_per_prompt(tally: Tally, rows: np.ndarray) -> np.ndarray:
    """(prompts, 2): per prompt of the rows, the items A won and the items B won."""
    _prompts, prompt = np.unique(tally.prompt[rows], return_inverse=True)
    outcome = tally.outcome[rows]
    n = len(_prompts)
    return np.column_stack([np.bincount(prompt[outcome == A], minlength=n), np.bincount(prompt[outcome == B], minlength=n)])


def prompt_level_figures(tally: Tally, rows: np.ndarray, bootstrap: int, seed: int) -> tuple[list[float] | None, float | None]:
    """The 95% interval of the win rate (A's share of the decisive items) by a percentile bootstrap over
    the rows' prompts, drawn as `bootstrap.resampled_sums` draws them with `seed` (resamples without a
    decisive item left out; None without resamples), and the sign-flip p-value over prompts."""
    wins = _wins_per_prompt(tally, rows)
    p_value = sign_flip_p_value(wins[:, 0] - wins[:, 1])
    if not bootstrap or p_value is None:
        return None, p_value
    sums = np.concatenate(list(resampled_sums(wins, bootstrap, seed)))
    decisive = sums.sum(axis=1)
    rates = sums[decisive > 0, 0] / decisive[decisive > 0]
    return [float(x) for x in percentile_interval(rates[:, None])[0]], p_value


def sign_flip_p_value(differences: np.ndarray) -> float | None:
    """Two-sided exact sign-flip test of per-prompt differences (whole numbers: A's wins minus B's).

    Under the null hypothesis the two systems are exchangeable within a prompt, so each prompt's
    difference is as likely negated; the statistic is the sum of the differences, and its null
    distribution is that of sum(+-|d|) over all sign choices, computed exactly. With one item per
    prompt (differences of -1, 0 or 1) it is the exact binomial test of the decisive items, and K
    copies of one outcome per prompt give the same p-value as one. None without a decisive prompt.
    """
    magnitudes = np.abs(np.asarray(differences, dtype=np.int64))
    magnitudes = magnitudes[magnitudes > 0]
    if not len(magnitudes):
        return None
    total, observed = int(magnitudes.sum()), abs(int(np.sum(differences)))
    if observed == 0:
        return 1.0
    # U, the summed magnitudes of the prompts counted positive, is T = 2U - total; by symmetry
    # P(|T| >= observed) = 2 P(U <= (total - observed) / 2).
    cutoff = (total - observed) // 2
    values, counts = np.unique(magnitudes, return_counts=True)
    if len(values) == 1:  # one magnitude: U / v is binomial
        return min(1.0, 2 * float(bdtr(cutoff // int(values[0]), int(counts[0]), 0.5)))
    pmf = np.ones(1)
    for value, count in zip(values, counts, strict=True):
        spread = np.zeros(int(value) * int(count) + 1)
        spread[:: int(value)] = _binomial_half_pmf(int(count))
        pmf = _convolve(pmf, spread)
    return min(1.0, 2 * float(pmf[: cutoff + 1].sum()))


def _binomial_half_pmf(n: int) -> np.ndarray:
    k = np.arange(n + 1)
    return np.exp(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) - n * np.log(2))


def _convolve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if len(x) * len(y) <= DIRECT_CONVOLUTION:
        return np.convolve(x, y)
    n = len(x) + len(y) - 1
    size = 1 << (n - 1).bit_length()
    return np.clip(np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(y, size), size)[:n], 0, None)


def samples_summary(per_prompt: int, aggregate: bool) -> dict | None:
    """What the report says of samples: how many per prompt, the unit, and how intervals and tests
    treat them; None with one sample per prompt."""
    if per_prompt <= 1:
        return None
    unit = "prompt" if aggregate else "item"
    return {"per_prompt": per_prompt, "unit": unit, "ci95": CI95[unit], "p_value": P_VALUE[unit]}
