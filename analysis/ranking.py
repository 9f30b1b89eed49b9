"""Bradley-Terry ratings of the systems on the Elo scale, with a bootstrap over prompts.

Strengths theta are natural-log odds: P(i beats j) = 1 / (1 + exp(theta_j - theta_i)). Elo
ratings are theta * 400 / ln 10, shifted to average 1000. The prior is one virtual tie of every
system against an anchor of strength 0: it keeps the ratings finite when a system wins (or
loses) everything and pulls systems seen on few items towards the middle, while with hundreds
of items it is negligible.

The fit is Newton's method with a backtracking line search on the (convex) negative log
posterior, run on all bootstrap resamples of a chunk at once: a thousand small fits cost one
batch of linear solves rather than a thousand optimiser calls.
"""

import math

import numpy as np

from analysis.bootstrap import percentile_interval, resampled_sums

ELO_PER_NAT = 400 / math.log(10)
ELO_MEAN = 1000.0
MAX_ITERATIONS = 100
# Converged when no strength moves by more than this (natural-log odds) in a Newton step.
STEP_TOLERANCE = 1e-10


def fit_strengths(wins: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum a posteriori strengths from wins[i, j], the (possibly fractional) wins of i over j.

    `wins` may also be a stack (fits, systems, systems): each is fitted, all at once.
    """
    stacked = np.asarray(wins, dtype=np.float64)
    single = stacked.ndim == 2
    stacked = stacked[None] if single else stacked
    theta = np.zeros(stacked.shape[:2]) if start is None else np.broadcast_to(start, stacked.shape[:2]).astype(np.float64)
    games = stacked + stacked.transpose(0, 2, 1)
    for _ in range(MAX_ITERATIONS):
        gradient, hessian = _derivatives(theta, stacked, games)
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        if np.abs(step).max() < STEP_TOLERANCE:
            return theta[0] if single else theta
        theta = theta + _step_length(theta, step, gradient, stacked)[:, None] * step
    raise RuntimeError("Bradley-Terry fit did not converge")


def _step_length(theta: np.ndarray, step: np.ndarray, gradient: np.ndarray, wins: np.ndarray) -> np.ndarray:
    """Per fit, the longest of 1, 1/2, 1/4, ... that lowers the loss enough (Armijo).

    Near the optimum the change in loss is below its rounding error: a change within 1e-12 of
    the loss counts as enough, so that Newton's full steps finish the fit.
    """
    length = np.ones(len(theta))
    slope = (gradient * step).sum(axis=1)
    before = _loss(theta, wins)
    rounding = 1e-12 * np.abs(before)
    pending = np.ones(len(theta), dtype=bool)
    for _ in range(60):
        if not pending.any():
            break
        after = _loss(theta[pending] + length[pending, None] * step[pending], wins[pending])
        short = after > before[pending] + 1e-4 * length[pending] * slope[pending] + rounding[pending]
        index = np.flatnonzero(pending)
        length[index[short]] /= 2
        pending[index[~short]] = False
    return length


def _loss(theta: np.ndarray, wins: np.ndarray) -> np.ndarray:
    diff = theta[:, :, None] - theta[:, None, :]
    prior = _log_expit(theta) + _log_expit(-theta)
    return -(wins * _log_expit(diff)).sum(axis=(1, 2)) - 0.5 * prior.sum(axis=1)


def _derivatives(theta: np.ndarray, wins: np.ndarray, games: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = _expit(theta[:, :, None] - theta[:, None, :])
    gradient = -(wins - games * p).sum(axis=2) - (0.5 - _expit(theta))
    weight = games * p * (1 - p)
    prior = _expit(theta) * (1 - _expit(theta))
    hessian = -weight
    diagonal = np.arange(theta.shape[1])
    hessian[:, diagonal, diagonal] += weight.sum(axis=2) + prior
    return gradient, hessian


def _expit(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_expit(x))


def _log_expit(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def elo(strengths: np.ndarray) -> np.ndarray:
    """Elo ratings averaging 1000; works on one strength vector or a stack of them."""
    ratings = strengths * ELO_PER_NAT
    return ratings - ratings.mean(axis=-1, keepdims=True) + ELO_MEAN


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
    are resampled with replacement (`bootstrap.resampled_sums`); each resample is refitted from
    the full-data strengths. Returns the ratings (systems,) and intervals (systems, 2), or None
    without resamples.
    """
    per_prompt = prompt_pair_wins.reshape(len(prompt_pair_wins), -1)
    strengths = fit_strengths(_wins_matrices(n_systems, pair_systems, per_prompt.sum(axis=0)[None])[0])
    if bootstrap == 0:
        return elo(strengths), None
    ratings = [
        elo(fit_strengths(_wins_matrices(n_systems, pair_systems, pair_wins), strengths))
        for pair_wins in resampled_sums(per_prompt, bootstrap, seed)
    ]
    return elo(strengths), percentile_interval(np.concatenate(ratings))


def _wins_matrices(n_systems: int, pair_systems: np.ndarray, pair_wins: np.ndarray) -> np.ndarray:
    """(resamples, systems, systems) wins from (resamples, pairs * 2) wins of each pair's first and second system."""
    wins = np.zeros((len(pair_wins), n_systems, n_systems))
    # Each unordered pair appears once, so no two pairs write the same cell.
    wins[:, pair_systems[:, 0], pair_systems[:, 1]] = pair_wins[:, 0::2]
    wins[:, pair_systems[:, 1], pair_systems[:, 0]] = pair_wins[:, 1::2]
    return wins


def strength_covariance(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The approximate covariance of the strengths `theta` fitted to `wins` (systems x systems): the
    inverse of the negative log posterior's Hessian there (the prior keeps it invertible)."""
    wins = np.asarray(wins, dtype=np.float64)
    _, hessian = _derivatives(np.asarray(theta, dtype=np.float64)[None], wins[None], (wins + wins.T)[None])
    return np.linalg.inv(hessian[0])
