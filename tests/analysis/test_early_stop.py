"""Reports of a study with early stopping (the votes CSV's optional `early_stop` column): agreement is
marked as not comparable with full counts and Fleiss' kappa is null; an item that stopped early and
no longer has a decided outcome once raters are excluded is flagged."""

import csv
import io
import json

from analysis import build_report, read_votes, render_html, report_rows
from tests.support.analysis_fixtures import HEADER, Item, same, votes_rows


def early_stop_csv(items: list[Item], stopped: set[str], extra: str = "early_stop") -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*HEADER.split(","), "position", extra], lineterminator="\n")
    writer.writeheader()
    for row in votes_rows(items):
        writer.writerow({**row, "position": "1", extra: "1" if row["item"] in stopped else "0"})
    return buffer.getvalue()


ITEMS = [
    Item("1", "alpha", "beta", {"quality": same("alpha", 3)}),  # stopped early, 3-0
    Item("2", "alpha", "beta", {"quality": same("alpha", 3) + same("beta", 1)}),  # stopped early, 3-1
    Item("3", "alpha", "beta", {"quality": same("alpha", 3) + same("beta", 2)}),  # full count
]


def test_agreement_under_early_stopping_is_marked_and_fleiss_is_null():
    report = build_report(read_votes(io.StringIO(early_stop_csv(ITEMS, {"1", "2"}))), bootstrap=0)
    (pair,) = report["pairs"]
    assert (pair["wins_a"], pair["wins_b"]) == (3, 0)
    assert pair["agreement"]["fleiss_kappa"] is None
    assert pair["agreement"]["early_stop"] is True
    assert pair["agreement"]["krippendorff_alpha"] is not None
    assert pair["early_stop_undecided"] == []
    json.dumps(report, allow_nan=False)
    assert "not comparable with agreement over full counts" in render_html(report)
    assert report_rows(report)[0]["early_stop"] is True


def test_an_early_stopped_item_that_loses_its_majority_after_exclusions_is_flagged():
    votes = read_votes(io.StringIO(early_stop_csv(ITEMS, {"1", "2"})))
    report = build_report(votes, bootstrap=0, exclude_raters=["r1"])  # item 2 is now 2-1 with 2 to come
    (pair,) = report["pairs"]
    assert pair["early_stop_undecided"] == ["1", "2"]  # item 1 is 2-0 with 3 to come
    assert "no longer decide them (raters excluded): 1, 2" in render_html(report)


def test_without_the_column_nothing_changes_and_unknown_columns_are_ignored():
    plain = build_report(read_votes(io.StringIO(early_stop_csv(ITEMS, {"1"}, extra="sample"))), bootstrap=0)
    (pair,) = plain["pairs"]
    assert "early_stop" not in pair["agreement"] and "early_stop_undecided" not in pair
