"""Per-rater figures at any size, and order effects from the optional `position` column."""

import io

import numpy as np
import pytest

from analysis import build_rater_table, build_report, read_votes, render_html
from tests.support.analysis_fixtures import Item, same, votes_csv


def test_the_json_lists_the_raters_with_most_votes_and_summarises_all():
    # Rater k (k = 1..6) votes on the first k items: r6 has the most votes, r1 the fewest.
    items = [
        Item(str(i), "alpha", "beta", {"quality": same("alpha", 6 - i)}, prompt_id=f"p{i}", raters=[f"r{k}" for k in range(6, i, -1)])
        for i in range(6)
    ]
    votes = read_votes(io.StringIO(votes_csv(items)))
    report = build_report(votes, bootstrap=0, raters_listed=3)
    assert [(r["rater"], r["votes"]) for r in report["raters"]] == [("r4", 4), ("r5", 5), ("r6", 6)]
    summary = report["raters_summary"]
    assert (summary["raters"], summary["listed"], summary["listed_by"]) == (6, 3, "the 3 raters with the most votes")
    counts = np.arange(1, 7)
    assert summary["votes"] == pytest.approx(
        dict(zip(["min", "p10", "median", "p90", "max"], np.percentile(counts, [0, 10, 50, 90, 100]), strict=True))
    )
    assert summary["majority_agreement"]["min"] == summary["majority_agreement"]["max"] == 1.0
    # The per-rater table has them all, with the same figures as the listed entries.
    table = build_rater_table(votes)
    assert table["rater"].tolist() == ["r1", "r2", "r3", "r4", "r5", "r6"]
    assert table.iloc[3:].to_dict("records") == report["raters"]
    assert "3 of 6 raters" in render_html(report)


def test_below_the_cap_every_rater_is_listed():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 3)}, prompt_id=f"p{i}") for i in range(2)]
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0)
    assert [r["rater"] for r in report["raters"]] == ["r1", "r2", "r3"]
    assert (report["raters_summary"]["listed"], report["raters_summary"]["listed_by"]) == (3, "all raters")


def fatigue_study() -> list[Item]:
    """Eight items, three raters. r1 and r2 always choose alpha; r3 sees item i at place i + 1 and
    chooses beta from its fifth item on. r1 and r3 see alpha on the left, r2 beta (the fixture's rule).
    A ninth item carries no position and counts nowhere."""
    items = []
    for i in range(8):
        votes = [*same("alpha", 2), ("alpha" if i < 4 else "beta", "pixel_sharpness")]
        positions = [str(8 - i), str((i * 3) % 8 + 1), str(i + 1)]
        items.append(Item(str(i), "alpha", "beta", {"quality": votes}, prompt_id=f"p{i}", extra={"position": positions}))
    items.append(Item("9", "alpha", "beta", {"quality": same("beta", 3)}, prompt_id="p9", extra={"position": ["", "", ""]}))
    return items


def test_order_effects_by_quartile_of_each_raters_sequence():
    report = build_report(read_votes(io.StringIO(votes_csv(fatigue_study()))), bootstrap=0)
    quartiles = report["order_effects"]["quality"]
    assert [q["quartile"] for q in quartiles] == [1, 2, 3, 4]
    assert [q["votes"] for q in quartiles] == [6, 6, 6, 6]
    # Every item's majority is alpha: r3's beta votes in its last two quarters disagree with it.
    assert [q["share_majority"] for q in quartiles] == pytest.approx([1, 1, 4 / 6, 4 / 6])
    # Left choices: r1 always (alpha on its left), r2 never, r3 in its first half only.
    assert [q["share_left"] for q in quartiles] == pytest.approx([4 / 6, 4 / 6, 2 / 6, 2 / 6])
    assert "Order effects" in render_html(report)


def test_without_positions_there_are_no_order_effects():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 3)}, prompt_id=f"p{i}") for i in range(2)]
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0)
    assert report["order_effects"] is None
    assert "Order effects" not in render_html(report)
