"""Resampling prompts with replacement: the bootstrap behind the ranking's and the net win rate's intervals.

Prompts, not items or votes, are the unit: items of one prompt are alike (a hard prompt is hard
for every pair), so resampling prompts keeps that dependence in the intervals.
"""

from collections.abc import Iterator

import numpy as np

# Resamples drawn at a time: bounds the (resamples x prompts) count matrix in memory.
RESAMPLE_CELLS = 4_000_000


def resampled_sums(per_prompt: np.ndarray, bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Column sums of `per_prompt` (prompts x values) over `bootstrap` resamples of its rows, in chunks.

    Resample r is the rows `np.random.default_rng(seed).integers(0, n, size=(bootstrap, n))[r]`
    for n prompts, so anyone can draw the same resamples: the draws come in chunks of rows, and
    numpy's generator gives the same numbers whatever the chunking. Yields (chunk, values) arrays.
    """
    n_prompts = len(per_prompt)
    rng = np.random.default_rng(seed)
    chunk = max(1, RESAMPLE_CELLS // max(1, n_prompts))
    values = per_prompt.astype(np.float64)
    for done in range(0, bootstrap, chunk):
        size = min(chunk, bootstrap - done)
        # How often each prompt is drawn in each resample, then each resample's sums at once.
        drawn = rng.integers(0, n_prompts, size=(size, n_prompts)) + (np.arange(size) * n_prompts)[:, None]
        times = np.bincount(drawn.ravel(), minlength=size * n_prompts).reshape(size, n_prompts)
        yield times.astype(np.float64) @ values


def percentile_interval(samples: np.ndarray) -> np.ndarray:
    """The 2.5% and 97.5% percentiles of each column of `samples` (resamples x figures), as (figures, 2)."""
    return np.percentile(samples, [2.5, 97.5], axis=0).T
