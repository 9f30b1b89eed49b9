"""Early stopping (Study.early_stop): an item is handed out no more once its outcome is decided.

Decided means: on every question, the leading choice is ahead of every other choice by more than the
votes still to come (the item's raters minus its votes so far), so no way the rest could vote changes
which choice has the most votes. With 5 raters and a forced choice, 3 agreeing votes decide. Given the
raters who voted, the outcome is then exactly what the full protocol would give. Assignments already
leased when it happens are still accepted; no item ever gets more than its raters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def outcome_decided(*, tallies: Mapping[str, Counter], questions: Iterable[str], choices: Iterable[str], remaining: int) -> bool:
    """Whether every question's outcome is settled: `tallies` holds each question's votes per choice,
    `choices` the choices a rater may make (a, b, and tie when the study allows it), `remaining` the
    votes still to come."""
    choices = list(choices)
    for question in questions:
        counts = sorted((tallies.get(question, Counter())[c] for c in choices), reverse=True)
        if counts[0] - counts[1] <= remaining:
            return False
    return True
