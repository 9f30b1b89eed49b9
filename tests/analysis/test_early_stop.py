"""Reports of a study with early stopping (the votes CSV's optional `early_stop` column): agreement is
marked as not comparable with full counts and Fleiss' kappa is null."""

import csv
import io
import json

from analysis import build_report, read_votes, render_html
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
    json.dumps(report, allow_nan=False)
    assert "stopped receiving raters once their outcome was decided" in render_html(report)


def test_without_the_column_nothing_changes_and_unknown_columns_are_ignored():
    plain = build_report(read_votes(io.StringIO(early_stop_csv(ITEMS, {"1"}, extra="sample"))), bootstrap=0)
    (pair,) = plain["pairs"]
    assert "early_stop" not in pair["agreement"]
