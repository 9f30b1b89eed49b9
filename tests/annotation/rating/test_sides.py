"""Screen terms (left, right) and system terms (sides a and b) translate one way and back, whichever
side the assignment shows on the left."""

from __future__ import annotations

import pytest

from annotation.rating.sides import on_screen, screen_choice, stored_choice


@pytest.mark.parametrize(("left", "shown"), [("a", ("A", "B")), ("b", ("B", "A"))])
def test_the_side_shown_left_comes_first(left, shown):
    assert on_screen(left, "A", "B") == shown


@pytest.mark.parametrize(
    ("left", "choice", "stored"),
    [("a", "left", "a"), ("a", "right", "b"), ("b", "left", "b"), ("b", "right", "a"), ("a", "tie", "tie"), ("b", "tie", "tie")],
)
def test_a_choice_on_the_screen_is_stored_as_the_side_it_names_and_read_back(left, choice, stored):
    assert stored_choice(choice, left) == stored
    assert screen_choice(stored, left) == choice
