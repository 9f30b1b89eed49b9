"""Reports on small and unusual studies: figures stay defined or null, never NaN, never a crash."""

import io
import json
import math

import numpy as np
import pytest

from analysis import AnalysisError, build_report, read_votes, render_html, report_rows
from analysis.agreement import fleiss_kappa
from tests.support.analysis_fixtures import Item, same, votes_csv


def report_of(items: list[Item], **options) -> dict:
    report = build_report(read_votes(io.StringIO(votes_csv(items))), **{"bootstrap": 100, **options})
    json.dumps(report, allow_nan=False)  # raises on NaN or infinity anywhere
    render_html(report)
    return report


def only_pair(report: dict, question: str = "quality") -> dict:
    (found,) = [p for p in report["pairs"] if p["question"] == question]
    return found


def test_one_item():
    report = report_of([Item("1", "alpha", "beta", {"quality": same("alpha", 4) + same("beta", 1)})])
    pair = only_pair(report)
    assert (pair["items"], pair["wins_a"], pair["wins_b"], pair["win_rate_a"], pair["p_value"]) == (1, 1, 0, 1.0, 1.0)
    assert pair["vote_splits"] == {"5-0": 0, "4-1": 1, "3-2": 0}
    assert pair["agreement"]["percent_unanimous"] == 0.0
    ranking = report["ranking"]["quality"]
    assert [entry["system"] for entry in ranking] == ["alpha", "beta"]
    assert all(math.isfinite(entry["rating"]) and entry["ci95"] is not None for entry in ranking)


def test_every_vote_for_one_system():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 5)}) for i in range(10)]
    report = report_of(items)
    pair = only_pair(report)
    assert (pair["wins_a"], pair["wins_b"], pair["win_rate_a"]) == (10, 0, 1.0)
    assert pair["p_value"] == pytest.approx(2 / 2**10)
    assert pair["vote_splits"] == {"5-0": 10, "4-1": 0, "3-2": 0}
    # No variation: kappa and alpha have nothing to correct for chance with.
    assert pair["agreement"]["fleiss_kappa"] is None
    assert pair["agreement"]["krippendorff_alpha"] is None
    # Gwet's chance agreement over the two-choice scale is 0 here, so AC1 is defined: perfect agreement.
    assert pair["agreement"]["gwet_ac1"] == 1.0
    assert pair["agreement"]["percent_unanimous"] == 1.0
    assert pair["reasons"]["beta"] == {"pixel_sharpness": None}  # beta won nothing
    ranking = {entry["system"]: entry for entry in report["ranking"]["quality"]}
    assert math.isfinite(ranking["alpha"]["rating"]) and ranking["alpha"]["rating"] > ranking["beta"]["rating"]
    assert all(math.isfinite(x) for entry in ranking.values() for x in entry["ci95"])


@pytest.mark.parametrize("items", [7, 9])
def test_a_clean_sweep_whose_interval_rounds_past_its_rate_still_renders(items):
    # The Wilson bounds of 7/7 and 9/9 miss 1 by a rounding error; the chart must not see a negative error bar.
    sweep = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 5)}) for i in range(items)]
    assert only_pair(report_of(sweep))["win_rate_a"] == 1.0


def test_no_decisive_item_leaves_win_rate_null():
    report = report_of([Item("1", "alpha", "beta", {"quality": same("tie", 3) + same("alpha", 2)})])
    pair = only_pair(report)
    assert (pair["ties"], pair["win_rate_a"], pair["ci95"], pair["p_value"]) == (1, None, None, None)
    assert pair["by_category"]["animals"]["win_rate_a"] is None
    assert report_rows(report)[0]["ci95_low"] is None


def test_missing_votes():
    full = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 4) + same("beta", 1)}) for i in range(3)]
    short = Item("9", "alpha", "beta", {"quality": same("beta", 2) + same("alpha", 1)})  # two raters never voted
    report = report_of([*full, short])
    pair = only_pair(report)
    assert report["summary"]["raters_per_item"] == 5
    assert (pair["items"], pair["wins_a"], pair["wins_b"]) == (4, 3, 1)
    assert pair["vote_splits"] == {"5-0": 0, "4-1": 3, "3-2": 0, "2-1": 1}
    # Fleiss' kappa on the items with the full five votes only.
    assert pair["agreement"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(np.array([[4, 1, 0]] * 3)))
    assert pair["agreement"]["krippendorff_alpha"] is not None


def test_ties():
    items = [
        Item("1", "alpha", "beta", {"quality": same("alpha", 2) + same("beta", 2) + same("tie", 1)}),  # equal counts: tie
        Item("2", "alpha", "beta", {"quality": same("tie", 3) + same("alpha", 2)}),  # most votes for tie
        Item("3", "alpha", "beta", {"quality": same("alpha", 3) + same("tie", 2)}),
        Item("4", "alpha", "beta", {"quality": same("beta", 2) + same("alpha", 1) + same("tie", 2)}),  # beta and tie level
    ]
    report = report_of(items)
    pair = only_pair(report)
    assert (pair["wins_a"], pair["wins_b"], pair["ties"], pair["win_rate_a"]) == (1, 0, 3, 1.0)
    assert pair["vote_splits"] == {"5-0": 0, "4-1": 0, "3-2": 2, "2-2-1": 2}
    assert report["summary"]["allow_tie"] is True
    assert all(value is not None for value in pair["agreement"].values())
    # With a third category on the scale AC1 differs from a forced-choice reading of the same votes.
    forced = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0, allow_tie=False)
    assert only_pair(forced)["agreement"]["gwet_ac1"] != pair["agreement"]["gwet_ac1"]


def test_three_systems():
    items = []
    for i in range(6):
        items.append(Item(f"ab{i}", "alpha", "beta", {"quality": same("alpha", 4) + same("beta", 1)}, prompt_id=f"p{i}"))
        items.append(Item(f"bc{i}", "beta", "gamma", {"quality": same("beta", 3) + same("gamma", 2)}, prompt_id=f"p{i}"))
        items.append(Item(f"ac{i}", "alpha", "gamma", {"quality": same("alpha", 5)}, prompt_id=f"p{i}"))
    report = report_of(items)
    assert [(p["system_a"], p["system_b"]) for p in report["pairs"]] == [("alpha", "beta"), ("beta", "gamma"), ("alpha", "gamma")]
    assert [entry["system"] for entry in report["ranking"]["quality"]] == ["alpha", "beta", "gamma"]
    assert report["summary"]["systems"] == ["alpha", "beta", "gamma"]
    assert report["reasons_by_system"]["quality"]["alpha"] == {"pixel_sharpness": 1.0}


def test_an_item_listed_the_other_way_round_counts_for_its_pair():
    report = report_of(
        [
            Item("1", "alpha", "beta", {"quality": same("alpha", 5)}),
            Item("2", "beta", "alpha", {"quality": same("beta", 4) + same("alpha", 1)}),
        ]
    )
    pair = only_pair(report)
    assert (pair["system_a"], pair["system_b"], pair["wins_a"], pair["wins_b"]) == ("alpha", "beta", 1, 1)


def test_excluded_raters():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 3) + same("beta", 2)}) for i in range(4)]
    report = report_of(items, exclude_raters=["r1", "r2"])
    pair = only_pair(report)
    # r1 and r2 voted alpha; without them beta leads 2-1 everywhere.
    assert (pair["wins_a"], pair["wins_b"]) == (0, 4)
    assert report["summary"]["raters_per_item"] == 3
    assert pair["vote_splits"] == {"3-0": 0, "2-1": 4}
    assert [r["rater"] for r in report["raters"]] == ["r3", "r4", "r5"]
    assert report["settings"]["excluded_raters"] == ["r1", "r2"]


def test_excluding_an_unknown_rater_is_an_error():
    votes = read_votes(io.StringIO(votes_csv([Item("1", "alpha", "beta", {"quality": same("alpha", 5)})])))
    with pytest.raises(AnalysisError, match="nobody"):
        build_report(votes, exclude_raters=["nobody"])


def test_bootstrap_zero_gives_no_intervals():
    report = report_of([Item("1", "alpha", "beta", {"quality": same("alpha", 5)})], bootstrap=0)
    assert all(entry["ci95"] is None for entry in report["ranking"]["quality"])


def test_a_file_with_no_votes():
    report = report_of([])
    assert report["pairs"] == [] and report["ranking"] == {}
    assert report["summary"]["votes"] == 0
    assert "No votes yet" in render_html(report)


def test_several_studies_keep_their_items_apart():
    rows = votes_csv([Item("1", "alpha", "beta", {"quality": same("alpha", 5)})], study="s1")
    rows += votes_csv([Item("1", "alpha", "beta", {"quality": same("beta", 5)})], study="s2").split("\n", 1)[1]
    report = build_report(read_votes(io.StringIO(rows)), bootstrap=0)
    assert report["summary"]["studies"] == ["s1", "s2"]
    assert (only_pair(report)["items"], only_pair(report)["wins_a"], only_pair(report)["wins_b"]) == (2, 1, 1)


def test_one_rater_per_item_leaves_splits_and_unanimity_null():
    # Arena-style data: every item judged once. "100% unanimous" and "1-0" splits would mean nothing.
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha" if i % 3 else "beta", 1)}, prompt_id=f"p{i}") for i in range(9)]
    report = report_of(items)
    pair = only_pair(report)
    assert pair["vote_splits"] is None
    assert pair["agreement"] == {"percent_unanimous": None, "fleiss_kappa": None, "krippendorff_alpha": None, "gwet_ac1": None}
    assert (pair["wins_a"], pair["wins_b"]) == (6, 3)
    row = report_rows(report)[0]
    assert not any(column.startswith("split_") for column in row) and row["percent_unanimous"] is None
    assert "Vote splits per pair" not in render_html(report)  # no split chart without splits


def test_a_pair_with_one_rater_per_item_beside_a_pair_with_three():
    items = [Item(f"a{i}", "alpha", "beta", {"quality": same("alpha", 1)}, prompt_id=f"p{i}") for i in range(4)]
    items += [Item(f"b{i}", "alpha", "gamma", {"quality": same("alpha", 2) + same("gamma", 1)}, prompt_id=f"p{i}") for i in range(4)]
    report = report_of(items)
    single, triple = report["pairs"]
    assert (single["vote_splits"], single["agreement"]["percent_unanimous"]) == (None, None)
    assert (triple["vote_splits"], triple["agreement"]["percent_unanimous"]) == ({"3-0": 0, "2-1": 4}, 0.0)


def test_early_stopped_items_null_fleiss_kappa_and_flag_the_other_coefficients():
    stopped = {"early_stop": ["1", "1", "1"]}
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 3)}, prompt_id=f"p{i}", extra=stopped) for i in range(3)]
    items += [
        Item(f"f{i}", "alpha", "beta", {"quality": same("alpha", 3) + same("beta", 2)}, prompt_id=f"q{i}", extra={"early_stop": ["0"] * 5})
        for i in range(3)
    ]
    agreement_figures = only_pair(report_of(items))["agreement"]
    assert agreement_figures["fleiss_kappa"] is None
    assert agreement_figures["early_stop"] is True
    assert agreement_figures["krippendorff_alpha"] is not None
    # Without any early-stopped item the figures are as before, with no flag.
    plain = only_pair(report_of([Item(i.item, i.system_a, i.system_b, i.votes, prompt_id=i.prompt_id) for i in items]))["agreement"]
    assert "early_stop" not in plain
    assert plain["fleiss_kappa"] == pytest.approx(fleiss_kappa(np.array([[3, 2, 0]] * 3)))  # the items with all five votes
