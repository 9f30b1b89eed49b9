"""Agreement between the raters of an item, from per-item vote counts.

Each function takes a (units, categories) matrix: how many raters put each unit in each
category. A coefficient undefined on the data (no pairable unit, no variation to correct for)
is None rather than NaN.

Fleiss' kappa and Gwet's AC1 are written out here (statsmodels' `inter_rater` would cost two
seconds of imports); tests/analysis/test_reference.py checks them against published values.
"""

import math

import krippendorff
import numpy as np


def percent_unanimous(counts: np.ndarray) -> float | None:
    """Share (0 to 1) of units whose votes all agree."""
    if len(counts) == 0:
        return None
    return float((counts.max(axis=1) == counts.sum(axis=1)).mean())


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa (Fleiss 1971); every unit must have the same number of ratings, at least two."""
    if len(counts) == 0 or counts.sum(axis=1)[0] < 2:
        return None
    n = counts.sum(axis=1)[0]
    observed = ((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    chance = (shares**2).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite((observed - chance) / (1 - chance))


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Krippendorff's alpha, nominal; units with fewer than two ratings do not count."""
    if not (counts.sum(axis=1) >= 2).any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


def gwet_ac1(counts: np.ndarray, n_categories: int) -> float | None:
    """Gwet's AC1, nominal, over the scale's `n_categories` (Gwet 2008; Handbook, 4th ed., ch. 4).

    Agreement is averaged over units with at least two ratings; the category shares behind
    chance agreement over all rated units, as Gwet does with missing ratings.
    """
    ratings = counts.sum(axis=1)
    rated, pairable = ratings >= 1, ratings >= 2
    if n_categories < 2 or not pairable.any():
        return None
    c, r = counts[pairable], ratings[pairable][:, None]
    observed = (c * (c - 1) / (r * (r - 1))).sum(axis=1).mean()
    shares = (counts[rated] / ratings[rated][:, None]).mean(axis=0)
    chance = (shares * (1 - shares)).sum() / (n_categories - 1)
    return _finite((observed - chance) / (1 - chance))


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
