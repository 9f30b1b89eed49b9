"""How raters behave: position bias, per-rater figures to spot careless raters, and how answers change
along a rater's sequence of items (fatigue, learning)."""

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


# Places in a rater's sequence, grouped: (first, last); None is open-ended.
SEQUENCE_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 50), (51, None))


def sequence_effects(votes: pd.DataFrame, tally: Tally) -> list[dict] | None:
    """By the item's place in the rater's sequence (the optional `position` column), the votes, the
    share that agree with their item's outcome, the share of decisive votes for the left video, and
    the median watch time; None when the file has no positions."""
    if "position" not in votes.columns:
        return None
    position = votes["position"].to_numpy("float64")
    with_majority = tally.vote_label == tally.outcome[tally.vote_row]
    decisive = tally.vote_label != TIE
    chose_left = votes["choice"].cat.codes.to_numpy() == votes["left"].cat.codes.to_numpy()
    watch = votes["watch_ms"].to_numpy("float64", na_value=np.nan)
    buckets = []
    for first, last in SEQUENCE_BUCKETS:
        rows = (position >= first) & (position <= (last if last is not None else np.inf))
        if not rows.any():
            continue
        watched = watch[rows][~np.isnan(watch[rows])]
        buckets.append({
            "positions": f"{first}-{last}" if last is not None else f"{first}+",
            "votes": int(rows.sum()),
            "majority_agreement": share(int(with_majority[rows].sum()), int(rows.sum())),
            "share_left": share(int((rows & decisive & chose_left).sum()), int((rows & decisive).sum())),
            "median_watch_ms": float(np.median(watched)) if len(watched) else None,
        })
    return buckets
