"""Screen terms and system terms: raters see a left and a right video and answer left, right or tie;
an item has sides a and b (its pair's systems in order), and votes are stored as a, b or tie. An
assignment's `left` says which side is shown on the left. Every translation between the two goes
through here.
"""

from __future__ import annotations

from typing import TypeVar

from annotation.models import Vote

A, B, TIE = Vote.Choice.A.value, Vote.Choice.B.value, Vote.Choice.TIE.value
LEFT, RIGHT = "left", "right"

T = TypeVar("T")


def other(side: str) -> str:
    """The side that is not `side` (a or b)."""
    return B if side == A else A


def on_screen(left: str, a: T, b: T) -> tuple[T, T]:
    """(what is shown on the left, what is shown on the right) of an item's `a` and `b` (tokens,
    system names), when side `left` is shown on the left."""
    return (a, b) if left == A else (b, a)


def stored_choice(choice: str, left: str) -> str:
    """A choice made on the screen (left, right or tie) as stored: a, b or tie."""
    if choice == TIE:
        return TIE
    return left if choice == LEFT else other(left)


def screen_choice(stored: str, left: str) -> str:
    """A stored choice (a, b or tie) as the screen showed it: left, right or tie."""
    if stored == TIE:
        return TIE
    return LEFT if stored == left else RIGHT
