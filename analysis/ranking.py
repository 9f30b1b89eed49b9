"""Bradley-Terry ratings of the systems on the Elo scale, with a bootstrap over prompts.

Strengths theta are natural-log odds: P(i beats j) = 1 / (1 + exp(theta_j - theta_i)). Elo
ratings are theta * 400 / ln 10, shifted to average 1000. The prior is one virtual tie of every
system against an anchor of strength 0: it keeps the ratings finite when a system wins (or
loses) everything and pulls systems seen on few items towards the middle, while with hundreds
of items it is negligible.
"""

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

ELO_PER_NAT = 400 / math.log(10)
ELO_MEAN = 1000.0
# Resamples drawn at a time: bounds the (resamples x prompts) count matrix in memory.
RESAMPLE_CELLS = 4_000_000


def fit_strengths(wins: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum a posteriori strengths from wins[i, j], the (possibly fractional) wins of i over j."""
    start = np.zeros(len(wins)) if start is None else start
    # The loss per game (the prior counts one game per system): a tolerance that means the same
    # on ten items as on a million, and no loss of precision in large sums.
    games = wins.sum() + len(wins)
    result = minimize(_loss, start, args=(wins, games), jac=True, hess=_hessian, method="trust-exact", options={"gtol": 1e-7})
    # trust-exact may stop on rounding noise once at the optimum; a vanishing gradient is convergence.
    if not result.success and np.abs(result.jac).max() > 1e-6:
        raise RuntimeError(f"Bradley-Terry fit did not converge: {result.message}")
    return result.x


def elo(strengths: np.ndarray) -> np.ndarray:
    """Elo ratings averaging 1000; works on one strength vector or a stack of them."""
    ratings = strengths * ELO_PER_NAT
    return ratings - ratings.mean(axis=-1, keepdims=True) + ELO_MEAN


def _loss(theta: np.ndarray, wins: np.ndarray, games: float) -> tuple[float, np.ndarray]:
    diff = theta[:, None] - theta[None, :]
    loss = -(wins * log_expit(diff)).sum() - 0.5 * (log_expit(theta) + log_expit(-theta)).sum()
    gradient = -(wins - (wins + wins.T) * expit(diff)).sum(axis=1) - (0.5 - expit(theta))
    return loss / games, gradient / games


def _hessian(theta: np.ndarray, wins: np.ndarray, games: float) -> np.ndarray:
    p = expit(theta[:, None] - theta[None, :])
    weight = (wins + wins.T) * p * (1 - p)
    prior = expit(theta) * (1 - expit(theta))
    return (np.diag(weight.sum(axis=1) + prior) - weight) / games


def rank_systems(
    n_systems: int,
    pair_systems: np.ndarray,
    prompt_pair_wins: np.ndarray,
    bootstrap: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Elo ratings and their bootstrap 95% intervals.

    pair_systems: (pairs, 2) system indices of each pair. prompt_pair_wins: (prompts, pairs, 2)
    wins of the pair's first and second system on each prompt (a tie is half of each). Prompts
    are resampled with replacement; each resample is refitted from the full-data strengths.
    Returns the ratings (systems,) and intervals (systems, 2), or None without resamples.
    """
    n_prompts = len(prompt_pair_wins)
    per_prompt = prompt_pair_wins.reshape(n_prompts, -1)
    strengths = fit_strengths(_wins_matrix(n_systems, pair_systems, per_prompt.sum(axis=0)), None)
    if bootstrap == 0:
        return elo(strengths), None
    rng = np.random.default_rng(seed)
    chunk = max(1, RESAMPLE_CELLS // n_prompts)
    ratings = []
    for done in range(0, bootstrap, chunk):
        size = min(chunk, bootstrap - done)
        # How often each prompt is drawn in each resample, then each resample's pair wins at once.
        drawn = rng.integers(0, n_prompts, size=(size, n_prompts)) + (np.arange(size) * n_prompts)[:, None]
        times = np.bincount(drawn.ravel(), minlength=size * n_prompts).reshape(size, n_prompts)
        for pair_wins in times.astype(np.float64) @ per_prompt:
            wins = _wins_matrix(n_systems, pair_systems, pair_wins)
            ratings.append(elo(fit_strengths(wins, strengths)))
    low, high = np.percentile(np.array(ratings), [2.5, 97.5], axis=0)
    return elo(strengths), np.column_stack([low, high])


def _wins_matrix(n_systems: int, pair_systems: np.ndarray, pair_wins: np.ndarray) -> np.ndarray:
    wins = np.zeros((n_systems, n_systems))
    pair_wins = pair_wins.reshape(-1, 2)
    np.add.at(wins, (pair_systems[:, 0], pair_systems[:, 1]), pair_wins[:, 0])
    np.add.at(wins, (pair_systems[:, 1], pair_systems[:, 0]), pair_wins[:, 1])
    return wins
