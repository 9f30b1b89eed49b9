"""Votes counted per (item, question), and each item's majority outcome.

Everything downstream works on these arrays: one row per (item, question) with the votes for
system A, for system B and for a tie, in the pair's orientation.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.votes import item_index

A, B, TIE = 0, 1, 2


@dataclass(frozen=True)
class Tally:
    systems: list[str]  # in order of first appearance
    questions: list[str]
    pairs: list[tuple[str, str]]  # (system_a, system_b) as first seen; a reversed item counts for its pair
    categories: list[str]
    prompts: list[str]
    n_items: int
    # One row per (item, question) with votes.
    pair: np.ndarray
    question: np.ndarray
    category: np.ndarray
    prompt: np.ndarray
    counts: np.ndarray  # (rows, 3): votes for A, for B, for a tie
    outcome: np.ndarray  # A, B or TIE
    # One entry per vote, in the order of the votes frame.
    vote_row: np.ndarray  # the vote's (item, question) row
    vote_label: np.ndarray  # A, B or TIE in the pair's orientation
    # Index in `systems` of each category code of system_a, system_b, choice and left; -1 for 'tie'.
    system_of_code: np.ndarray

    @property
    def raters_per_item(self) -> int:
        """The study's rater count: the most votes any item has on a question."""
        return int(self.counts.sum(axis=1).max()) if len(self.counts) else 0

    def vote_system(self, votes: pd.DataFrame, column: str) -> np.ndarray:
        """Index in `systems` of the system each vote names in a column (-1 for a tie)."""
        return self.system_of_code[votes[column].cat.codes.to_numpy()]


def tally_votes(votes: pd.DataFrame) -> Tally:
    """Count the votes of every (item, question) and decide its outcome by majority."""
    # Systems, questions and pairs in order of first appearance, so reports follow the file.
    a_code = votes["system_a"].cat.codes.to_numpy().astype(np.int64)
    b_code = votes["system_b"].cat.codes.to_numpy().astype(np.int64)
    names = list(votes["system_a"].cat.categories)
    seen = pd.unique(np.column_stack([a_code, b_code]).ravel())
    systems = [names[c] for c in seen]
    system_of_code = np.full(len(names) + 1, -1)  # the extra last code is choice's 'tie'
    system_of_code[seen] = np.arange(len(seen))
    a, b = system_of_code[a_code], system_of_code[b_code]

    n_systems = len(systems)
    unordered = np.minimum(a, b) * n_systems + np.maximum(a, b)
    _keys, first_row, vote_pair = np.unique(unordered, return_index=True, return_inverse=True)
    order = np.argsort(first_row, kind="stable")  # pairs by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    vote_pair = rank[vote_pair]
    pair_a, pair_b = a[first_row[order]], b[first_row[order]]

    choice = system_of_code[votes["choice"].cat.codes.to_numpy()]
    label = np.where(choice == pair_a[vote_pair], A, np.where(choice == pair_b[vote_pair], B, TIE))

    question_names = list(votes["question"].cat.categories)
    question_seen = pd.unique(votes["question"].cat.codes.to_numpy())
    question_of_code = np.empty(len(question_names), dtype=np.int64)
    question_of_code[question_seen] = np.arange(len(question_seen))
    question = question_of_code[votes["question"].cat.codes.to_numpy()]
    n_questions = len(question_seen)

    item, item_first = item_index(votes)
    key = item * n_questions + question
    row_keys, vote_row = np.unique(key, return_inverse=True)
    counts = np.bincount(vote_row * 3 + label, minlength=len(row_keys) * 3).reshape(-1, 3)
    first_vote = item_first[row_keys // n_questions]

    return Tally(
        systems=systems,
        questions=[question_names[c] for c in question_seen],
        pairs=[(systems[x], systems[y]) for x, y in zip(pair_a, pair_b, strict=True)],
        categories=list(votes["category"].cat.categories),
        prompts=list(votes["prompt_id"].cat.categories),
        n_items=len(item_first),
        pair=vote_pair[first_vote],
        question=row_keys % n_questions,
        category=votes["category"].cat.codes.to_numpy()[first_vote],
        prompt=votes["prompt_id"].cat.codes.to_numpy()[first_vote],
        counts=counts,
        outcome=majority(counts),
        vote_row=vote_row,
        vote_label=label,
        system_of_code=system_of_code,
    )


def majority(counts: np.ndarray) -> np.ndarray:
    """The label with the most votes; equal counts at the top are a tie."""
    top = counts.max(axis=1, initial=0)
    leaders = (counts == top[:, None]).sum(axis=1)
    return np.where(leaders == 1, counts.argmax(axis=1), TIE)


def ordered_counts(counts: np.ndarray) -> np.ndarray:
    """Each row's counts from largest to smallest: the shape of the split, whoever got the votes."""
    return -np.sort(-counts, axis=1)


def split_name(ordered: np.ndarray) -> str:
    """'4-1', '5-0', or '2-2-1' when all three labels got votes."""
    return "-".join(str(int(n)) for n in (ordered if ordered[2] else ordered[:2]))


def standard_splits(raters: int) -> list[str]:
    """The splits reported even when empty: '5-0', '4-1', '3-2' for five raters."""
    return [f"{major}-{raters - major}" for major in range(raters, (raters - 1) // 2, -1)]


def outcome_decided(*, tallies: Mapping[str, Counter], questions: Iterable[str], choices: Iterable[str], remaining: int) -> bool:
    """Whether an item's outcome can no longer change (the rule of early stopping and of dynamic
    evaluation's looks): whether every question's outcome is settled: `tallies` holds each question's votes per choice,
    `choices` the choices a rater may make (a, b, and tie when the study allows it), `remaining` the
    votes still to come."""
    choices = list(choices)
    for question in questions:
        counts = sorted((tallies.get(question, Counter())[c] for c in choices), reverse=True)
        if counts[0] - counts[1] <= remaining:
            return False
    return True
