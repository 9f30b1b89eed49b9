"""Votes files that went through a spreadsheet, and the CSVs the analysis writes for one.

CONTRACT.md, "CSV cells that a spreadsheet would run as formulas": every CSV the platform writes
puts an apostrophe before a text cell starting with =, +, -, @, a tab, a carriage return or an
apostrophe; numbers stay numbers; the reader removes exactly one leading apostrophe.
"""

import csv
import io
import re
import warnings

import pytest

from analysis import (
    VotesFileError,
    VotesFileWarning,
    build_rater_table,
    build_report,
    read_votes,
    render_rater_csv,
    render_report,
    spreadsheet_safe,
)
from tests.support.analysis_fixtures import KNOWN_ITEMS, Item, same, votes_csv, votes_rows


def report_json(text: str) -> str:
    return render_report(build_report(read_votes(io.StringIO(text)), bootstrap=50), "json")


def test_dates_re_saved_by_a_spreadsheet_are_read_with_a_warning():
    original = votes_csv(KNOWN_ITEMS)
    # Excel shows and saves ISO times in the computer's format, without the timezone.
    resaved = original.replace("2026-01-05T09:00:00+00:00", "01/05/2026 09:00").replace("2026-01-05T09:01:00+00:00", "1/5/26 9:01 AM")
    with pytest.warns(VotesFileWarning, match=r"^line 2: created_at '01/05/2026 09:00' and 15 more have no timezone"):
        votes = read_votes(io.StringIO(resaved))
    assert votes["created_at"].isna().sum() == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VotesFileWarning)
        assert report_json(resaved) == report_json(original)  # no figure uses created_at


def test_text_that_is_no_time_at_all_is_still_an_error():
    with pytest.raises(VotesFileError, match=r"^line 2: created_at 'soon' is not an ISO 8601 time"):
        read_votes(io.StringIO(votes_csv(KNOWN_ITEMS).replace("2026-01-05T09:00:00+00:00", "soon", 1)))


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons (;)"), ("\t", "tabs")])
def test_a_file_separated_by_another_delimiter_gets_a_message_naming_it(delimiter, name):
    buffer = io.StringIO()
    rows = votes_rows(KNOWN_ITEMS)
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    with pytest.raises(VotesFileError, match="^" + re.escape(f"line 1: the columns are separated by {name}, not commas")):
        read_votes(io.BytesIO(("\ufeff" + buffer.getvalue()).encode()))


def test_one_leading_apostrophe_is_removed_from_text_cells():
    items = [
        Item(str(i), "=alpha", "beta", {"quality": same("=alpha", 3)}, prompt="'quoted' prompt", raters=["@r1", "r2", "'r3"])
        for i in range(2)
    ]
    escaped = votes_csv(items).replace(",=alpha,", ",'=alpha,").replace(",@r1,", ",'@r1,").replace(",'r3,", ",''r3,")
    escaped = escaped.replace(",'quoted' prompt,", ",''quoted' prompt,")
    votes = read_votes(io.StringIO(escaped))
    assert set(votes["system_a"].astype(str)) == set(votes["choice"].astype(str)) == {"=alpha"}
    assert votes["rater"].cat.categories.tolist() == ["'r3", "@r1", "r2"]  # exactly one apostrophe removed, still sorted
    assert set(votes["prompt"].astype(str)) == {"'quoted' prompt"}


def test_a_report_from_a_csv_written_as_the_contract_says_equals_the_report_of_the_values():
    items = [
        Item("1", "=alpha", "-beta", {"quality": same("=alpha", 2) + same("-beta", 1)}, prompt="+1 dog", raters=["@r1", "-r2", "r3"]),
        Item("2", "=alpha", "-beta", {"quality": same("-beta", 3, reasons="=x;@y")}, prompt="-0.25", raters=["@r1", "-r2", "r3"]),
    ]
    plain = votes_csv(items)  # no cell starts with an apostrophe: read as it is, these are the true values
    rows = list(csv.reader(io.StringIO(plain)))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([rows[0], *([spreadsheet_safe(cell) for cell in row] for row in rows[1:])])
    escaped = buffer.getvalue()
    assert ",'=alpha,'-beta," in escaped and ",-0.25," in escaped
    assert report_json(escaped) == report_json(plain)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=SUM(A1)", "'=SUM(A1)"), ("+1 vote", "'+1 vote"), ("-x", "'-x"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
        ("\rx", "'\rx"), ("'quoted", "''quoted"), ("alpha", "alpha"), ("-0.25", "-0.25"), ("1e-3", "1e-3"),
        ("+3", "+3"), (-0.25, -0.25), (None, None),
    ],
)  # fmt: skip
def test_spreadsheet_safe_cells(cell, written):
    assert spreadsheet_safe(cell) == written


def hostile_study() -> list[Item]:
    raters = ["=cmd()", "-r2", "r3"]
    return [
        Item(
            str(i), "=evil", "+good", {"quality": same("=evil" if i < 3 else "+good", 3, reasons="@why")}, raters=raters, prompt_id=f"p{i}"
        )
        for i in range(4)
    ]


def test_the_report_csv_neutralises_formula_like_text_cells():
    report = build_report(read_votes(io.StringIO(votes_csv(hostile_study()))), bootstrap=0)
    rows = list(csv.reader(io.StringIO(render_report(report, "csv"))))
    header, row = rows
    assert row[:3] == ["'=evil", "'+good", "quality"]
    # Figures stay numbers, negative ones too.
    assert float(row[header.index("net_win_rate_a")]) == 0.5
    assert row[header.index("ci95_low")][0].isdigit()
    assert all(not cell.startswith(("=", "+", "@")) for cell in header + row)


def test_the_per_rater_csv_neutralises_rater_ids_and_lists_every_rater():
    votes = read_votes(io.StringIO(votes_csv(hostile_study())))
    rows = list(csv.DictReader(io.StringIO(render_rater_csv(build_rater_table(votes)))))
    assert [r["rater"] for r in rows] == ["'-r2", "'=cmd()", "r3"]
    assert list(rows[0]) == ["rater", "votes", "items", "median_watch_ms", "share_left", "majority_agreement"]
    assert (rows[0]["votes"], rows[0]["items"], float(rows[0]["majority_agreement"])) == ("4", "4", 1.0)
    # Read back as a spreadsheet's text, the ids are the raters' own.
    assert read_votes(io.StringIO(votes_csv(hostile_study())))["rater"].cat.categories.tolist() == ["-r2", "=cmd()", "r3"]


def test_optional_columns_are_kept_and_unknown_ones_ignored():
    items = [
        Item(
            str(i),
            "alpha",
            "beta",
            {"quality": same("alpha", 3)},
            extra={"position": [str(i + 1)] * 3, "sample": ["0"] * 3, "early_stop": ["0"] * 3, "browser": ["firefox"] * 3},
        )
        for i in range(3)
    ]
    votes = read_votes(io.StringIO(votes_csv(items)))
    assert list(votes.columns)[14:] == ["position", "sample", "early_stop"]
    assert votes["position"].dtype == "Int64" and votes["position"].tolist()[:3] == [1, 1, 1]
    assert votes["early_stop"].dtype == bool and not votes["early_stop"].any()
    assert "browser" not in votes.columns


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("position", "first", "line 2: position 'first' is not a place in the rater's sequence"),
        ("position", "0", "line 2: position '0' is not"),
        ("early_stop", "yes", "line 2: early_stop 'yes' is neither 1, 0 nor empty"),
    ],
)
def test_a_bad_optional_cell_names_its_line(column, value, message):
    item = Item("1", "alpha", "beta", {"quality": same("alpha", 3)}, extra={column: [value, "1", "1"]})
    with pytest.raises(VotesFileError, match=f"^{message}"):
        read_votes(io.StringIO(votes_csv([item])))
