"""How raters behave: position bias, order effects, and per-rater figures to spot careless raters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.outcomes import TIE, Tally
from analysis.proportions import share, wilson_interval
from analysis.votes import item_index

if TYPE_CHECKING:
    from analysis.rater_model import RaterModel

# Per-rater figures, in the order of the report's `raters` entries and of the per-rater CSV.
RATER_COLUMNS = ("rater", "votes", "items", "median_watch_ms", "share_left", "majority_agreement")
QUARTILES = 4


def position_bias(votes: pd.DataFrame, tally: Tally) -> dict:
    """Per question, the share of votes (ties left out) that chose the video shown on the left."""
    decisive = tally.vote_label != TIE
    question = tally.question[tally.vote_row]
    n = len(tally.questions)
    total = np.bincount(question[decisive], minlength=n)
    left = np.bincount(question[decisive & _chose_left(votes)], minlength=n)
    return {
        name: {
            "votes": int(total[q]),
            "left": int(left[q]),
            "share_left": share(left[q], total[q]),
            "ci95": wilson_interval(int(left[q]), int(total[q])),
        }
        for q, name in enumerate(tally.questions)
    }


def rater_table(votes: pd.DataFrame, tally: Tally, model: RaterModel | None = None) -> pd.DataFrame:
    """One row per rater with votes, in rater id order: votes, items rated, median watch time (ms), share
    of decisive votes for the left video, share of votes agreeing with their item's majority, and
    with a rater model its estimated reliability (`model_reliability`). Undefined shares are NaN."""
    rater = votes["rater"].cat.codes.to_numpy().astype(np.int64)
    n = len(votes["rater"].cat.categories)
    decisive = tally.vote_label != TIE
    counted = np.bincount(rater, minlength=n)
    with_majority = tally.vote_label == tally.outcome[tally.vote_row]
    table = pd.DataFrame(
        {
            "rater": votes["rater"].cat.categories.astype(str),
            "votes": counted,
            "share_left": _ratio(_per_rater(rater, decisive & _chose_left(votes), n), _per_rater(rater, decisive, n)),
            "majority_agreement": _ratio(_per_rater(rater, with_majority, n), counted),
        }
    )
    # One watch time per rating (item and rater): the rating's rows, one per question, repeat it.
    item, _first = item_index(votes)
    _keys, first = np.unique(item * n + rater, return_index=True)
    per_rating = pd.DataFrame({"rater": rater[first], "watch_ms": votes["watch_ms"].to_numpy("float64", na_value=np.nan)[first]})
    by_rater = per_rating.groupby("rater")["watch_ms"]
    table["items"] = by_rater.size().reindex(range(n), fill_value=0).to_numpy()
    table["median_watch_ms"] = by_rater.median().reindex(range(n)).to_numpy()
    if model is not None:
        table["model_reliability"] = model.reliability
    columns = [*RATER_COLUMNS, *(["model_reliability"] if model is not None else [])]
    # The rater column's categories are sorted (read_votes), so code order is rater id order.
    return table.loc[table["votes"] > 0, columns].reset_index(drop=True)


def listed_raters(table: pd.DataFrame, limit: int) -> tuple[list[dict], dict]:
    """The raters the report lists (all, or the `limit` with the most votes, by rater id) and a summary of all.

    The summary gives how many raters there are and are listed, and the spread (minimum, 10th
    percentile, median, 90th percentile, maximum) of each per-rater figure over all raters.
    """
    shown = table
    if len(table) > limit:
        most = np.argsort(-table["votes"].to_numpy(), kind="stable")[:limit]  # ties in rater id order
        shown = table.iloc[np.sort(most)]
    summary = {
        "raters": len(table),
        "listed": len(shown),
        "listed_by": "all raters" if len(shown) == len(table) else f"the {limit:,} raters with the most votes",
        **{column: _spread(table[column].to_numpy(dtype=np.float64)) for column in table.columns if column != "rater"},
    }
    columns = {column: shown[column].to_numpy() for column in shown.columns}
    listed = [{column: _json_value(column, values[i]) for column, values in columns.items()} for i in range(len(shown))]
    return listed, summary


def _json_value(column: str, value: object) -> str | int | float | None:
    if column == "rater":
        return str(value)
    if column in ("votes", "items"):
        return int(value)
    return None if np.isnan(value) else float(value)


def _spread(values: np.ndarray) -> dict | None:
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    low, p10, median, p90, high = np.percentile(values, [0, 10, 50, 90, 100])
    return {"min": float(low), "p10": float(p10), "median": float(median), "p90": float(p90), "max": float(high)}


def order_effects(votes: pd.DataFrame, tally: Tally) -> dict | None:
    """Per question and quartile of each rater's sequence (from the optional `position` column):
    the votes, the share agreeing with their item's majority, and the share of decisive votes for
    the left video. A rater's items, ordered by position, are split into four equal runs: the
    i-th of n falls in quartile floor(4 i / n) + 1. None when the votes carry no position.
    """
    if "position" not in votes:
        return None
    quartile = _vote_quartiles(votes)
    known = quartile > 0
    question = tally.question[tally.vote_row]
    cell = (question * QUARTILES + quartile - 1)[known]
    size = len(tally.questions) * QUARTILES
    decisive = (tally.vote_label != TIE)[known]
    total = np.bincount(cell, minlength=size)
    majority = np.bincount(cell, weights=(tally.vote_label == tally.outcome[tally.vote_row])[known], minlength=size)
    decided = np.bincount(cell, weights=decisive, minlength=size)
    left = np.bincount(cell, weights=decisive & _chose_left(votes)[known], minlength=size)
    return {
        name: [
            {
                "quartile": k + 1,
                "votes": int(total[c]),
                "share_majority": share(majority[c], total[c]),
                "decisive": int(decided[c]),
                "share_left": share(left[c], decided[c]),
            }
            for k, c in enumerate(range(q * QUARTILES, (q + 1) * QUARTILES))
        ]
        for q, name in enumerate(tally.questions)
    }


def _vote_quartiles(votes: pd.DataFrame) -> np.ndarray:
    """Per vote, the quartile (1-4) of its rating in its rater's sequence; 0 where the position is missing."""
    rater = votes["rater"].cat.codes.to_numpy().astype(np.int64)
    item, _first = item_index(votes)
    _keys, first, rating = np.unique(item * len(votes["rater"].cat.categories) + rater, return_index=True, return_inverse=True)
    position = votes["position"].to_numpy("float64", na_value=np.nan)[first]
    known = np.flatnonzero(~np.isnan(position))
    order = known[np.lexsort((position[known], rater[first][known]))]
    ordered_rater = rater[first][order]
    start = np.searchsorted(ordered_rater, ordered_rater)  # each rater's first place in the order
    runs = np.bincount(ordered_rater)[ordered_rater]
    quartile = np.zeros(len(first), dtype=np.int64)
    quartile[order] = QUARTILES * (np.arange(len(order)) - start) // runs + 1
    return quartile[rating.ravel()]


def _chose_left(votes: pd.DataFrame) -> np.ndarray:
    return votes["choice"].cat.codes.to_numpy() == votes["left"].cat.codes.to_numpy()


def _per_rater(rater: np.ndarray, flags: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rater, weights=flags, minlength=n)


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, part / whole, np.nan)
