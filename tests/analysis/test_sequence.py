"""Position-in-sequence effects from the votes CSV's optional `position` column: by the item's place in
each rater's sequence, agreement with the majority, side chosen and watch time."""

import csv
import io

from analysis import build_report, read_votes, render_html
from tests.support.analysis_fixtures import HEADER, Item, same, votes_csv, votes_rows


def with_positions(items: list[Item], position_of) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*HEADER.split(","), "position"], lineterminator="\n")
    writer.writeheader()
    for row in votes_rows(items):
        writer.writerow({**row, "position": position_of(row)})
    return buffer.getvalue()


def test_agreement_and_watch_time_by_place_in_the_sequence():
    # Ten items; every rater rates them in item order, so item n is at place n. Raters agree on the
    # first five items and split 3-2 on the last five (tired).
    items = [Item(str(n), "alpha", "beta", {"quality": same("alpha", 5 if n <= 5 else 3) + same("beta", 0 if n <= 5 else 2)})
             for n in range(1, 11)]
    report = build_report(read_votes(io.StringIO(with_positions(items, lambda row: row["item"]))), bootstrap=0)
    first, second = report["sequence"]
    assert (first["positions"], first["votes"], first["majority_agreement"]) == ("1-5", 25, 1.0)
    assert (second["positions"], second["votes"], second["majority_agreement"]) == ("6-10", 25, 0.6)
    assert first["median_watch_ms"] == 3000.0  # raters r1..r5 watch 1..5 s
    assert "place in sequence" in render_html(report)


def test_without_positions_there_is_no_sequence_figure():
    items = [Item("1", "alpha", "beta", {"quality": same("alpha", 5)})]
    plain = build_report(read_votes(io.StringIO(with_positions(items, lambda row: ""))), bootstrap=0)
    assert plain["sequence"] == []
    assert "sequence" not in build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0)
