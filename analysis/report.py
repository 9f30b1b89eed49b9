"""The report: every figure of CONTRACT.md's "Analysis" section as one JSON-ready dict.

The contract keys come first and exactly as specified; the extra keys (summary, settings,
position_bias, raters, reasons_by_system) come after.
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis import agreement
from analysis.outcomes import TIE, A, B, Tally, ordered_counts, split_name, standard_splits, tally_votes
from analysis.proportions import binomial_p_value, share, wilson_interval
from analysis.ranking import rank_systems
from analysis.raters import position_bias, rater_figures, sequence_effects
from analysis.reasons import reason_counts, reason_keys
from analysis.votes import TIE as TIE_CHOICE
from analysis.votes import AnalysisError


def build_report(
    votes: pd.DataFrame,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    exclude_raters: Iterable[str] = (),
    allow_tie: bool | None = None,
) -> dict:
    """Build the report from the frame `read_votes` returns.

    bootstrap: resamples of prompts behind the ranking intervals (0: no intervals). seed: their
    random seed. exclude_raters: rater ids whose votes are dropped first (e.g. failed attention
    checks); an id with no votes is an error. allow_tie: whether the study offered "no
    preference", which decides the categories of Gwet's AC1; None infers it from the votes (any
    tie vote means ties were allowed).
    """
    if bootstrap < 0:
        raise AnalysisError(f"bootstrap must be 0 or more, not {bootstrap}")
    excluded = sorted(set(exclude_raters))
    known = set(votes["rater"].unique())
    unknown = [r for r in excluded if r not in known]
    if unknown:
        raise AnalysisError(f"no votes from rater(s) to exclude: {', '.join(unknown)}")
    if excluded:
        votes = votes[~votes["rater"].isin(excluded)]
    tally = tally_votes(votes)
    if allow_tie is None:
        allow_tie = bool((votes["choice"] == TIE_CHOICE).any())

    return {
        "pairs": _pair_figures(votes, tally, n_categories=3 if allow_tie else 2),
        "ranking": _rankings(tally, bootstrap, seed),
        "summary": {
            "studies": sorted(str(study) for study in votes["study"].unique()),
            "systems": tally.systems,
            "questions": tally.questions,
            "votes": len(votes),
            "items": tally.n_items,
            "raters": int(votes["rater"].nunique()),
            "raters_per_item": tally.raters_per_item,
            "allow_tie": allow_tie,
        },
        "settings": {"bootstrap": bootstrap, "seed": seed, "excluded_raters": excluded},
        "position_bias": position_bias(votes, tally),
        "raters": rater_figures(votes, tally),
        "reasons_by_system": _reasons_by_system(votes, tally),
        **({"sequence": sequence} if (sequence := sequence_effects(votes, tally)) is not None else {}),
    }


def _pair_figures(votes: pd.DataFrame, tally: Tally, n_categories: int) -> list[dict]:
    if len(tally.counts) == 0:
        return []
    n_questions = len(tally.questions)
    group = tally.pair * n_questions + tally.question  # one group per (pair, question)
    n_groups = len(tally.pairs) * n_questions
    wins = np.bincount(group * 3 + tally.outcome, minlength=n_groups * 3).reshape(n_groups, 3)

    n_categories_seen = len(tally.categories)
    by_category = np.bincount(
        (group * n_categories_seen + tally.category) * 3 + tally.outcome, minlength=n_groups * n_categories_seen * 3
    ).reshape(n_groups, n_categories_seen, 3)

    ordered = ordered_counts(tally.counts)
    shapes, shape_of_row = np.unique(ordered, axis=0, return_inverse=True)
    splits = np.bincount(group * len(shapes) + shape_of_row.ravel(), minlength=n_groups * len(shapes)).reshape(n_groups, -1)
    split_names = [split_name(shape) for shape in shapes]
    split_order = sorted(range(len(shapes)), key=lambda s: _split_order(split_names[s]))
    standard = standard_splits(tally.raters_per_item)

    reasons = _reasons_by_pair(votes, tally, group, n_groups)
    undecided = _early_stop_undecided(votes, tally, group, n_groups)
    full_count = tally.counts.sum(axis=1) == tally.raters_per_item
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))

    figures = []
    for g in range(n_groups):
        if bounds[g] == bounds[g + 1]:
            continue  # this pair was not asked this question
        rows = order[bounds[g] : bounds[g + 1]]
        system_a, system_b = tally.pairs[g // n_questions]
        counts = tally.counts[rows]
        vote_splits = dict.fromkeys(standard, 0)
        vote_splits.update({split_names[s]: int(splits[g, s]) for s in split_order if splits[g, s]})
        figures.append(
            {
                "system_a": system_a,
                "system_b": system_b,
                "question": tally.questions[g % n_questions],
                "items": len(rows),
                **_win_figures(wins[g]),
                "vote_splits": vote_splits,
                "agreement": _agreement(counts, full_count[rows], n_categories, early_stop=undecided is not None),
                "reasons": {system_a: reasons[g][A], system_b: reasons[g][B]},
                "by_category": {
                    tally.categories[c]: {"items": int(by_category[g, c].sum()), **_win_figures(by_category[g, c], brief=True)}
                    for c in np.flatnonzero(by_category[g].sum(axis=1))
                },
            }
        )
        if undecided is not None:
            figures[-1]["early_stop_undecided"] = undecided[g]
    return figures


def _agreement(counts: np.ndarray, full_count: np.ndarray, n_categories: int, early_stop: bool) -> dict:
    """The pair's agreement figures. Under early stopping items have unequal counts and a 3-0 is not a
    5-0: Fleiss' kappa is null and the others say `early_stop` (CONTRACT.md, "Additions")."""
    figures = {
        "percent_unanimous": agreement.percent_unanimous(counts),
        "fleiss_kappa": None if early_stop else agreement.fleiss_kappa(counts[full_count]),
        "krippendorff_alpha": agreement.krippendorff_alpha(counts),
        "gwet_ac1": agreement.gwet_ac1(counts, n_categories),
    }
    return {**figures, "early_stop": True} if early_stop else figures


def _early_stop_undecided(votes: pd.DataFrame, tally: Tally, group: np.ndarray, n_groups: int) -> list[list[str]] | None:
    """Per (pair, question) group, the items that stopped early but whose votes (after raters were
    excluded) no longer decide the outcome: the leader is not ahead of every other choice by more
    than the votes the study's rater count still leaves to come. None without an early_stop column."""
    if "early_stop" not in votes.columns:
        return None
    _rows, first_vote = np.unique(tally.vote_row, return_index=True)
    stopped = votes["early_stop"].to_numpy()[first_vote]
    ordered = ordered_counts(tally.counts)
    remaining = tally.raters_per_item - tally.counts.sum(axis=1)
    flagged = stopped & (ordered[:, 0] - ordered[:, 1] <= remaining)
    items = votes["item"].astype(str).to_numpy()[first_vote]
    undecided: list[list[str]] = [[] for _ in range(n_groups)]
    for row in np.flatnonzero(flagged):
        undecided[group[row]].append(items[row])
    return [sorted(set(g), key=lambda i: (len(i), i)) for g in undecided]


def _win_figures(wins: np.ndarray, brief: bool = False) -> dict:
    """wins: items won by A, won by B, tied."""
    wins_a, wins_b, ties = (int(n) for n in wins)
    figures = {"wins_a": wins_a, "wins_b": wins_b, "ties": ties, "win_rate_a": share(wins_a, wins_a + wins_b)}
    if not brief:
        figures["ci95"] = wilson_interval(wins_a, wins_a + wins_b)
        figures["p_value"] = binomial_p_value(wins_a, wins_a + wins_b)
    return figures


def _split_order(name: str) -> tuple:
    # Largest majority first, then the splits of items with more votes.
    parts = [int(n) for n in name.split("-")]
    return (-sum(parts), [-n for n in parts])


def _winning_votes(tally: Tally) -> np.ndarray:
    """The votes for the system that won their item."""
    return (tally.vote_label == tally.outcome[tally.vote_row]) & (tally.vote_label != TIE)


def _reasons_by_pair(votes: pd.DataFrame, tally: Tally, group: np.ndarray, n_groups: int) -> list[list[dict]]:
    """reasons[group][side][key]: among the votes for `side` on the items it won, the share ticking `key`."""
    keys, matrix = reason_keys(votes["reasons"])
    combo = votes["reasons"].cat.codes.to_numpy()
    winning = _winning_votes(tally)
    vote_group = group[tally.vote_row]
    ticked, total = reason_counts((vote_group * 2 + tally.vote_label)[winning], n_groups * 2, combo[winning], matrix)
    asked = _keys_per_question(votes, tally, matrix)
    return [
        [{keys[k]: share(ticked[g * 2 + side, k], total[g * 2 + side]) for k in asked[g % len(tally.questions)]} for side in (A, B)]
        for g in range(n_groups)
    ]


def _reasons_by_system(votes: pd.DataFrame, tally: Tally) -> dict:
    """Per question and system, over all its pairs: among its votes on items it won, the share ticking each reason."""
    keys, matrix = reason_keys(votes["reasons"])
    combo = votes["reasons"].cat.codes.to_numpy()
    winning = _winning_votes(tally)
    n_systems = len(tally.systems)
    winner = tally.vote_system(votes, "choice")
    vote_question = tally.question[tally.vote_row]
    n_groups = len(tally.questions) * n_systems
    ticked, total = reason_counts((vote_question * n_systems + winner)[winning], n_groups, combo[winning], matrix)
    asked = _keys_per_question(votes, tally, matrix)
    return {
        question: {
            system: {keys[k]: share(ticked[q * n_systems + s, k], total[q * n_systems + s]) for k in asked[q]}
            for s, system in enumerate(tally.systems)
        }
        for q, question in enumerate(tally.questions)
    }


def _keys_per_question(votes: pd.DataFrame, tally: Tally, matrix: np.ndarray) -> list[np.ndarray]:
    """The reason keys ticked at least once on each question, so a question lists only its own reasons."""
    ticked, _total = reason_counts(tally.question[tally.vote_row], len(tally.questions), votes["reasons"].cat.codes.to_numpy(), matrix)
    return [np.flatnonzero(row) for row in ticked]


def _rankings(tally: Tally, bootstrap: int, seed: int) -> dict:
    # A win is one point to the winner; a tie half a point to each.
    points = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])[tally.outcome]
    pair_systems = np.array([[tally.systems.index(a), tally.systems.index(b)] for a, b in tally.pairs]).reshape(-1, 2)
    rankings = {}
    for q, question in enumerate(tally.questions):
        rows = tally.question == q
        # Only the pairs, systems and prompts of this question; with the same prompts on every
        # question, the same seed draws the same resamples for each.
        pairs, pair = np.unique(tally.pair[rows], return_inverse=True)
        systems, local_systems = np.unique(pair_systems[pairs], return_inverse=True)
        prompts, prompt = np.unique(tally.prompt[rows], return_inverse=True)
        prompt_pair_wins = np.zeros((len(prompts), len(pairs), 2))
        np.add.at(prompt_pair_wins, (prompt, pair), points[rows])
        ratings, intervals = rank_systems(len(systems), local_systems.reshape(-1, 2), prompt_pair_wins, bootstrap, seed)
        entries = [
            {
                "system": tally.systems[s],
                "rating": float(ratings[i]),
                "ci95": None if intervals is None else [float(x) for x in intervals[i]],
            }
            for i, s in enumerate(systems)
        ]
        rankings[question] = sorted(entries, key=lambda entry: -entry["rating"])
    return rankings


def report_rows(report: dict) -> list[dict]:
    """The report flattened for CSV: one row per (pair, question).

    Splits become `split_<key>` columns, agreement coefficients their own columns, and reason
    shares `reasons_a_<key>` / `reasons_b_<key>` (for system_a / system_b) so that columns mean
    the same on every row. Rows of different questions may have different reason columns.
    """
    rows = []
    for pair in report["pairs"]:
        ci = pair["ci95"] or [None, None]
        row = {
            "system_a": pair["system_a"],
            "system_b": pair["system_b"],
            "question": pair["question"],
            "items": pair["items"],
            "wins_a": pair["wins_a"],
            "wins_b": pair["wins_b"],
            "ties": pair["ties"],
            "win_rate_a": pair["win_rate_a"],
            "ci95_low": ci[0],
            "ci95_high": ci[1],
            "p_value": pair["p_value"],
            **{f"split_{key}": n for key, n in pair["vote_splits"].items()},
            **pair["agreement"],
        }
        for side, system in (("a", pair["system_a"]), ("b", pair["system_b"])):
            row.update({f"reasons_{side}_{key}": value for key, value in pair["reasons"][system].items()})
        rows.append(row)
    return rows
