"""The net win rate: wins minus losses over all items, ties included, with a bootstrap interval over prompts.

Several recent video papers report it beside the win rate: unlike the win rate, a tie pulls it
towards zero, so it says how often the first system is actually preferred.
"""

from collections import defaultdict

import numpy as np

from analysis.bootstrap import percentile_interval, resampled_sums
from analysis.outcomes import A, B, Tally


def net_win_rates(
    tally: Tally, groups: list[np.ndarray], bootstrap: int, seed: int
) -> list[tuple[float | None, list[float] | None]]:
    """Per group of (item, question) rows (one pair on one question): the net win rate and its 95% interval.

    net = (wins_a - wins_b) / items. The interval is the 2.5% and 97.5% percentiles over
    `bootstrap` resamples of the group's prompts (in the order of their ids), drawn as
    `bootstrap.resampled_sums` draws them with `seed`: each group starts from the same seed, so
    its interval does not depend on the other pairs. None without rows; no interval without resamples.
    """
    per_prompt = [_per_prompt(tally, rows) for rows in groups]
    intervals: list[list[float] | None] = [None] * len(groups)
    if bootstrap:
        # Groups with the same number of prompts draw the same resamples: draw them once for all.
        by_size = defaultdict(list)
        for g, counts in enumerate(per_prompt):
            if len(counts):
                by_size[len(counts)].append(g)
        for members in by_size.values():
            stacked = np.hstack([per_prompt[g] for g in members])
            sums = np.concatenate(list(resampled_sums(stacked, bootstrap, seed)))
            nets = (sums[:, 0::3] - sums[:, 1::3]) / sums[:, 2::3]
            for g, interval in zip(members, percentile_interval(nets), strict=True):
                intervals[g] = [float(x) for x in interval]
    return [(_net(counts.sum(axis=0)) if len(counts) else None, interval) for counts, interval in zip(per_prompt, intervals, strict=True)]


def _per_prompt(tally: Tally, rows: np.ndarray) -> np.ndarray:
    """(prompts, 3): per prompt of the rows, in the order of prompt ids, the items A won, B won, and all items."""
    _prompts, prompt = np.unique(tally.prompt[rows], return_inverse=True)
    outcome = tally.outcome[rows]
    n = len(_prompts)
    return np.column_stack(
        [
            np.bincount(prompt[outcome == A], minlength=n),
            np.bincount(prompt[outcome == B], minlength=n),
            np.bincount(prompt, minlength=n),
        ]
    ).astype(np.float64)


def _net(totals: np.ndarray) -> float:
    wins_a, wins_b, items = totals
    return float((wins_a - wins_b) / items)
