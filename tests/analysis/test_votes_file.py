"""Reading votes CSVs: what a valid file gives, and a clear error naming the line for a bad one."""

import io

import pandas as pd
import pytest

from analysis import COLUMNS, VotesFileError, read_votes
from tests.support.analysis_fixtures import Item, same, votes_csv

# Line 1 is the header; lines 2-6 are item 1's five ratings on quality, lines 7-11 item 2's.
VALID = votes_csv(
    [
        Item("1", "alpha", "beta", {"quality": same("alpha", 4) + same("beta", 1)}),
        Item("2", "alpha", "beta", {"quality": same("beta", 5, "pixel_sharpness;motion_smoothness")}),
    ]
)


def with_line(number: int, old: str, new: str, text: str = VALID) -> str:
    """The file with `old` replaced by `new` on line `number` (1-based)."""
    lines = text.split("\n")
    assert old in lines[number - 1], lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    return "\n".join(lines)


def read_text(text: str) -> pd.DataFrame:
    return read_votes(io.StringIO(text))


def test_valid_file_reads_into_typed_columns(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(VALID, encoding="utf-8")
    votes = read_votes(path)
    assert list(votes.columns) == list(COLUMNS)
    assert len(votes) == 10
    assert votes["choice"].astype(str).tolist()[:5] == ["alpha"] * 4 + ["beta"]
    assert votes["watch_ms"].dtype == "Int64" and votes["watch_ms"].iloc[0] == 1000
    assert str(votes["created_at"].dt.tz) == "UTC"
    # Paths, text buffers and byte buffers read alike.
    assert read_votes(io.BytesIO(VALID.encode())).equals(votes)
    assert read_text(VALID).equals(votes)


def test_byte_order_mark_and_extra_columns_are_accepted():
    lines = VALID.rstrip("\n").split("\n")
    lines = [lines[0] + ",note"] + [line + ",x" for line in lines[1:]]
    votes = read_votes(io.BytesIO(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")))
    assert list(votes.columns) == list(COLUMNS)
    assert len(votes) == 10


def test_ids_are_text():
    # "007" and "7" are two prompts, not one number.
    votes = read_text(VALID.replace(",p-1,", ",7,").replace(",p-2,", ",007,"))
    assert sorted(votes["prompt_id"].unique()) == ["007", "7"]
    assert votes["watch_ms"].dtype == "Int64"


def test_empty_watch_ms_is_missing():
    votes = read_text(with_line(2, ",1000,", ",,"))
    assert votes["watch_ms"].isna().tolist() == [True] + [False] * 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the file is empty"),
        (VALID.replace(",left,", ",", 1), "line 1: missing column(s) left"),
        (with_line(3, ",r2,alpha,", ",r2,zeta,"), "line 3: choice 'zeta' is neither system_a 'alpha', system_b 'beta' nor 'tie'"),
        (with_line(4, ",r3,alpha,alpha,", ",r3,alpha,gamma,"), "line 4: left 'gamma' is neither system_a 'alpha' nor system_b 'beta'"),
        (with_line(5, ",4000,", ",4s,"), "line 5: watch_ms '4s' is not a whole number of milliseconds"),
        (with_line(5, ",4000,", ",-4000,"), "line 5: watch_ms '-4000' is not"),
        (with_line(5, ",4000,", ",4000.5,"), "line 5: watch_ms '4000.5' is not"),
        (with_line(6, "+00:00", ""), "line 6: created_at '2026-01-05T09:04:00' is not an ISO 8601 time with a timezone"),
        (with_line(6, "2026-01-05T09:04:00+00:00", "yesterday"), "line 6: created_at 'yesterday' is not"),
        (with_line(6, "2026-01-05T09:04:00+00:00", "2026-02-30T09:04:00Z"), "line 6: created_at '2026-02-30T09:04:00Z' is not"),
        (with_line(7, ",r1,", ",,"), "line 7: empty rater"),
        (with_line(8, "alpha,beta,quality", "beta,beta,quality"), "line 8: system_a and system_b are both 'beta'"),
        (with_line(8, "alpha,beta,quality", "tie,beta,quality"), "line 8: a system cannot be named 'tie'"),
        (with_line(9, ",p-2,", ",p-9,"), "line 9: item '2' has prompt_id 'p-9' here but 'p-2' on line 7"),
        (with_line(10, ",r4,", ",r2,"), "line 10: rater 'r2' already voted on item '2' for question 'quality' on line 8"),
        (with_line(11, ",pixel_sharpness;", ",pixel_sharpness,"), "line 11: 15 fields where the header has 14"),
    ],
)
def test_malformed_file_names_the_line(text, message):
    with pytest.raises(VotesFileError) as raised:
        read_text(text)
    assert str(raised.value).startswith(message)


def test_line_numbers_count_prompts_that_span_lines():
    # Item 1's prompt is quoted over three lines, so its five rows take fifteen lines (2-16).
    text = VALID.replace("a cat plays the piano", '"a cat\nplays\nthe piano"', 5)
    assert len(read_text(text)) == 10
    with pytest.raises(VotesFileError, match=r"^line 18: choice 'zeta'"):
        read_text(with_line(18, ",r2,beta,", ",r2,zeta,", text))


def test_blank_lines_are_skipped_but_counted():
    text = VALID.replace("\n", "\n\n", 1)  # a blank line 2 after the header
    assert len(read_text(text)) == 10
    with pytest.raises(VotesFileError, match=r"^line 4: choice 'zeta'"):
        read_text(with_line(4, ",r2,alpha,", ",r2,zeta,", text))


def test_invalid_utf8_names_the_line():
    data = VALID.encode("utf-8").replace(b"a cat plays", b"a c\xfft plays", 1)
    with pytest.raises(VotesFileError, match=r"^line 2: not valid UTF-8"):
        read_votes(io.BytesIO(data))


def test_missing_file():
    with pytest.raises(VotesFileError, match="cannot read"):
        read_votes("/nonexistent/votes.csv")
