"""How raters behave: position bias, and per-rater figures to spot careless raters."""

import numpy as np
import pandas as pd

from analysis.outcomes import TIE, Tally
from analysis.proportions import share, wilson_interval
from analysis.votes import item_index


def position_bias(votes: pd.DataFrame, tally: Tally) -> dict:
    """Per question, the share of votes (ties left out) that chose the video shown on the left."""
    decisive = tally.vote_label != TIE
    chose_left = votes["choice"].cat.codes.to_numpy() == votes["left"].cat.codes.to_numpy()
    question = tally.question[tally.vote_row]
    n = len(tally.questions)
    total = np.bincount(question[decisive], minlength=n)
    left = np.bincount(question[decisive & chose_left], minlength=n)
    return {
        name: {
            "votes": int(total[q]),
            "left": int(left[q]),
            "share_left": share(left[q], total[q]),
            "ci95": wilson_interval(int(left[q]), int(total[q])),
        }
        for q, name in enumerate(tally.questions)
    }


def rater_figures(votes: pd.DataFrame, tally: Tally) -> list[dict]:
    """Per rater: votes, items rated, median watch time, share of left choices, agreement with the majority."""
    rater = votes["rater"].cat.codes.to_numpy().astype(np.int64)
    names = votes["rater"].cat.categories
    decisive = tally.vote_label != TIE
    chose_left = votes["choice"].cat.codes.to_numpy() == votes["left"].cat.codes.to_numpy()
    per_vote = pd.DataFrame(
        {
            "rater": rater,
            "decisive": decisive,
            "left": decisive & chose_left,
            "with_majority": tally.vote_label == tally.outcome[tally.vote_row],
        }
    )
    figures = per_vote.groupby("rater").agg(
        votes=("rater", "size"), decisive=("decisive", "sum"), left=("left", "sum"), with_majority=("with_majority", "sum")
    )
    # One watch time per rating (item and rater): the rating's rows, one per question, repeat it.
    item, _first = item_index(votes)
    _keys, first = np.unique(item * len(names) + rater, return_index=True)
    per_rating = pd.DataFrame({"rater": rater[first], "watch_ms": votes["watch_ms"].to_numpy("float64", na_value=np.nan)[first]})
    figures = figures.join(per_rating.groupby("rater").agg(items=("rater", "size"), median_watch_ms=("watch_ms", "median")))
    return [
        {
            "rater": str(names[code]),
            "votes": int(row["votes"]),
            "items": int(row["items"]),
            "median_watch_ms": None if np.isnan(row["median_watch_ms"]) else float(row["median_watch_ms"]),
            "share_left": share(row["left"], row["decisive"]),
            "majority_agreement": share(row["with_majority"], row["votes"]),
        }
        for code, row in figures.sort_index().to_dict("index").items()
    ]
