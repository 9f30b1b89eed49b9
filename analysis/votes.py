"""Reading a votes CSV (the export format of CONTRACT.md) into a validated frame.

Every text column comes back categorical: a study has few systems, questions, raters and reason
combinations, so codes keep a million votes small and make the analysis integer arithmetic.

Files that went through a spreadsheet are read as the platform wrote them: one leading
apostrophe, which the platform adds to cells a spreadsheet would run as formulas, is removed;
dates re-saved without a timezone are accepted with a warning (no figure uses them); a file
separated by semicolons or tabs is refused with a message naming its delimiter.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np
import pandas as pd

COLUMNS = (
    "study",
    "item",
    "prompt_id",
    "prompt",
    "category",
    "system_a",
    "system_b",
    "question",
    "rater",
    "choice",
    "left",
    "reasons",
    "watch_ms",
    "created_at",
)
# Optional columns (CONTRACT.md, "Additions"): kept when present; any other extra column is ignored.
OPTIONAL_COLUMNS = ("position", "sample", "early_stop")
TIE = "tie"
REQUIRED = ("study", "item", "prompt_id", "system_a", "system_b", "question", "rater", "choice", "left", "created_at")
# What one comparison item is: the same on every row of the item.
ITEM_FIELDS = ("prompt_id", "prompt", "category", "system_a", "system_b")
# ISO 8601 with a timezone: a date, a time, and Z or a numeric offset.
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)"
# How a spreadsheet writes a time back without its timezone: 01/01/2026 10:00, 1.1.2026 10:00:00,
# 1/1/26 10:00 AM, 2026-01-01 10:00.
SPREADSHEET_TIME_PATTERN = (
    r"(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2})( \d{1,2}:\d{2}(:\d{2}(\.\d+)?)?( ?[AaPp]\.?[Mm]\.?)?)?"
)
# What separates the columns of a file that a spreadsheet saved in another list-separator setting.
OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs"}

Source = str | os.PathLike | IO[str] | IO[bytes]


class AnalysisError(Exception):
    """Input the analysis cannot work on; the message says what and where."""


class VotesFileError(AnalysisError):
    """A malformed votes file; the message names the line."""


class VotesFileWarning(UserWarning):
    """A votes file read with a tolerance the user should know about; the message names the line."""


def read_votes(source: Source) -> pd.DataFrame:
    """Read and validate a votes CSV from a path or an open file.

    Returns one row per vote with the CSV's columns: text columns categorical (system_a,
    system_b, choice and left share one set of categories), `watch_ms` as nullable Int64 (an
    empty cell is a missing value) and `created_at` as UTC datetimes; then the optional columns
    present: `position` and `sample` as nullable Int64, `early_stop` boolean. Raises
    VotesFileError naming the line of the first problem; warns (VotesFileWarning) when it reads
    spreadsheet dates without a timezone, whose `created_at` is then missing.
    """
    data = _read_bytes(source)
    _check_delimiter(data)
    try:
        # Read as text, then categorise: dtype="category" would infer numbers and merge ids like "007" and "7".
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise VotesFileError(f"line 1: the file is empty; expected the header {','.join(COLUMNS)}") from None
    except UnicodeDecodeError as error:
        raise VotesFileError(f"line {_line_at_offset(data, _utf8_error_offset(data))}: not valid UTF-8") from error
    except pd.errors.ParserError as error:
        raise VotesFileError(_field_count_problem(data) or f"not a readable CSV file: {error}") from error
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise VotesFileError(f"line 1: missing column(s) {', '.join(missing)}; expected the header {','.join(COLUMNS)}")
    present = [*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in raw.columns)]
    raw = pd.DataFrame({column: _unescaped(raw[column].astype("category")) for column in present})
    return _validated(raw, lambda row: _line_of_row(data, row))


def _check_delimiter(data: bytes) -> None:
    """Refuse, naming the delimiter, a file whose header splits into the columns on another character."""
    header = data[:4096].decode("utf-8-sig", errors="replace").partition("\n")[0].rstrip("\r")
    if "," in header:
        return
    for delimiter, name in OTHER_DELIMITERS.items():
        if set(COLUMNS) <= {field.strip().strip('"') for field in header.split(delimiter)}:
            raise VotesFileError(
                f"line 1: the columns are separated by {name}, not commas; a spreadsheet set to another list "
                "separator saves CSV files this way. Save the file as \"CSV UTF-8 (comma delimited)\" and read it again"
            )


def _unescaped(column: pd.Series) -> pd.Series:
    """The column with one leading apostrophe removed from each cell that starts with one.

    The platform writes an apostrophe before a text cell that a spreadsheet would run as a
    formula (CONTRACT.md, "CSV cells that a spreadsheet would run as formulas"): this undoes it.
    """
    categories = column.cat.categories
    quoted = categories.str.startswith("'")
    if not quoted.any():
        return column
    plain = categories.where(~quoted, categories.str.slice(1))
    if plain.is_unique:
        # Categories stay in sorted order, as the analysis orders prompts (for the bootstrap) by it.
        return column.cat.rename_categories(plain).cat.reorder_categories(plain.sort_values())
    # "'x" and "x" both mean x: merge them into one category.
    return pd.Series(plain.take(column.cat.codes.to_numpy()), index=column.index, dtype="category")


def _read_bytes(source: Source) -> bytes:
    # Whole bytes in memory: pandas parses them fast, and the error path can scan them again for
    # line numbers whatever the source was.
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as f:
                return f.read()
        except OSError as error:
            raise VotesFileError(f"cannot read {os.fspath(source)}: {error.strerror}") from None
    content = source.read()
    return content.encode("utf-8") if isinstance(content, str) else content


def _validated(raw: pd.DataFrame, line_of: Callable[[int], int]) -> pd.DataFrame:
    """The rows checked (the first bad one is a VotesFileError naming its line), with typed columns."""
    rows = _Rows(raw, line_of)
    for column in REQUIRED:
        rows.fail(_equals(raw[column], ""), lambda _row, column=column: f"empty {column}")
    systems = _checked_systems(raw, rows)
    watch_ms, created_at = _checked_values(raw, rows)
    _check_items(raw, rows, line_of)
    return raw.assign(**systems, watch_ms=watch_ms.astype("Int64"), created_at=created_at, **_checked_optional(raw, rows))


def _checked_systems(raw: pd.DataFrame, rows: _Rows) -> dict[str, pd.Series]:
    """system_a, system_b, choice and left over one set of system names, each row's naming its own pair."""
    systems = sorted(set(raw["system_a"].cat.categories) | set(raw["system_b"].cat.categories))
    for side in ("system_a", "system_b"):
        rows.fail(_equals(raw[side], TIE), lambda _row: f"a system cannot be named {TIE!r}: that is the choice for no preference")
    system_a = raw["system_a"].cat.set_categories(systems)
    system_b = raw["system_b"].cat.set_categories(systems)
    a, b = system_a.cat.codes.to_numpy(), system_b.cat.codes.to_numpy()
    rows.fail(a == b, lambda row: f"system_a and system_b are both {rows.value('system_a', row)!r}")

    choice = raw["choice"].cat.set_categories([*systems, TIE])
    c = choice.cat.codes.to_numpy()
    rows.fail(
        (c != a) & (c != b) & (c != len(systems)),
        lambda row: (
            f"choice {rows.value('choice', row)!r} is neither system_a {rows.value('system_a', row)!r}, "
            f"system_b {rows.value('system_b', row)!r} nor {TIE!r}"
        ),
    )
    left = raw["left"].cat.set_categories(systems)
    lc = left.cat.codes.to_numpy()
    rows.fail(
        (lc != a) & (lc != b),
        lambda row: (
            f"left {rows.value('left', row)!r} is neither system_a {rows.value('system_a', row)!r} "
            f"nor system_b {rows.value('system_b', row)!r}"
        ),
    )
    return {"system_a": system_a, "system_b": system_b, "choice": choice, "left": left}


def _checked_values(raw: pd.DataFrame, rows: _Rows) -> tuple[pd.Series, pd.Series]:
    """watch_ms as whole milliseconds (or empty) and created_at as times with a timezone."""
    watch_ms = _parse_categories(raw["watch_ms"], _watch_ms_values)
    rows.fail(
        watch_ms.isna().to_numpy() & ~_equals(raw["watch_ms"], ""),
        lambda row: f"watch_ms {rows.value('watch_ms', row)!r} is not a whole number of milliseconds",
    )
    created_at = _parse_categories(raw["created_at"], _timestamp_values)
    unparsed = created_at.isna().to_numpy()
    spreadsheet = unparsed & _matches(raw["created_at"], SPREADSHEET_TIME_PATTERN)
    rows.fail(
        unparsed & ~spreadsheet,
        lambda row: f"created_at {rows.value('created_at', row)!r} is not an ISO 8601 time with a timezone",
    )
    if spreadsheet.any():
        first = int(np.flatnonzero(spreadsheet)[0])
        more = int(spreadsheet.sum()) - 1
        warnings.warn(
            f"line {rows.line_of(first)}: created_at {rows.value('created_at', first)!r}"
            + (f" and {more:,} more" if more else "")
            + " have no timezone, as a spreadsheet writes times back; no figure of the report uses them, so these "
            "votes are read with created_at left empty",
            VotesFileWarning,
            stacklevel=4,
        )
    return watch_ms, created_at


def _checked_optional(raw: pd.DataFrame, rows: _Rows) -> dict[str, pd.Series]:
    """position as a whole number from 1 (or empty), sample from 0 (or empty) and early_stop as 0 or 1
    (or empty), when present."""
    checked = {}
    if "position" in raw:
        position = _parse_categories(raw["position"], _watch_ms_values)
        rows.fail(
            (position.isna().to_numpy() & ~_equals(raw["position"], "")) | (position.to_numpy() == 0),
            lambda row: f"position {rows.value('position', row)!r} is not a place in the rater's sequence (1, 2, ...)",
        )
        checked["position"] = position.astype("Int64")
    if "sample" in raw:
        sample = _parse_categories(raw["sample"], _watch_ms_values)
        rows.fail(
            sample.isna().to_numpy() & ~_equals(raw["sample"], ""),
            lambda row: f"sample {rows.value('sample', row)!r} is not a sample index (0, 1, ...)",
        )
        checked["sample"] = sample.astype("Int64")
    if "early_stop" in raw:
        early_stop = raw["early_stop"]
        known = _equals(early_stop, "1") | _equals(early_stop, "0") | _equals(early_stop, "")
        rows.fail(~known, lambda row: f"early_stop {rows.value('early_stop', row)!r} is neither 1, 0 nor empty")
        checked["early_stop"] = pd.Series(_equals(early_stop, "1"), index=raw.index)
    return checked


def _check_items(raw: pd.DataFrame, rows: _Rows, line_of: Callable[[int], int]) -> None:
    """Every row of an item agrees on the item's fields, and a rater answers a question of an item once."""
    item, first = item_index(raw)
    first_row = first[item]
    for column in ITEM_FIELDS:
        codes = raw[column].cat.codes.to_numpy()
        rows.fail(
            codes != codes[first_row],
            lambda row, column=column: (
                f"item {rows.value('item', row)!r} has {column} "
                f"{rows.value(column, row)!r} here but {rows.value(column, first_row[row])!r} on line {line_of(int(first_row[row]))}"
            ),
        )
    n_questions, n_raters = len(raw["question"].cat.categories), len(raw["rater"].cat.categories)
    key = (item * n_questions + raw["question"].cat.codes.to_numpy()) * n_raters + raw["rater"].cat.codes.to_numpy()
    duplicated = pd.Series(key).duplicated().to_numpy()
    rows.fail(
        duplicated,
        lambda row: (
            f"rater {rows.value('rater', row)!r} already voted on item {rows.value('item', row)!r} for question "
            f"{rows.value('question', row)!r} on line {line_of(int(np.flatnonzero(key == key[row])[0]))}"
        ),
    )


class _Rows:
    """Reports the first offending row of a check by its line in the file."""

    def __init__(self, raw: pd.DataFrame, line_of: Callable[[int], int]) -> None:
        self.raw = raw
        self.line_of = line_of

    def fail(self, offending: np.ndarray, message: Callable[[int], str]) -> None:
        if offending.any():
            row = int(np.flatnonzero(offending)[0])
            raise VotesFileError(f"line {self.line_of(row)}: {message(row)}")

    def value(self, column: str, row: int) -> str:
        return str(self.raw[column].iat[int(row)])


def item_index(votes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Dense index of each vote's item (items are named within their study), and each item's first row."""
    key = votes["study"].cat.codes.to_numpy().astype(np.int64) * len(votes["item"].cat.categories)
    key += votes["item"].cat.codes.to_numpy()
    _values, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse, first


def _equals(column: pd.Series, text: str) -> np.ndarray:
    categories = column.cat.categories
    if text not in categories:
        return np.zeros(len(column), dtype=bool)
    return column.cat.codes.to_numpy() == categories.get_loc(text)


def _matches(column: pd.Series, pattern: str) -> np.ndarray:
    """Per row, whether its (stripped) text matches `pattern` in full; checked once per distinct value."""
    categories = pd.Series(column.cat.categories.astype(str)).str.strip()
    matching = categories.str.fullmatch(pattern).to_numpy(dtype=bool)
    codes = column.cat.codes.to_numpy()
    return matching[codes] & (codes >= 0)


def _parse_categories(column: pd.Series, parse: Callable[[pd.Index], pd.Index]) -> pd.Series:
    """Parse each distinct value once, then spread the results over the rows by code."""
    parsed = parse(column.cat.categories)
    codes = column.cat.codes.to_numpy()
    return pd.Series(parsed.take(codes), index=column.index)


def _watch_ms_values(values: pd.Index) -> pd.Index:
    text = pd.Series(values.astype(str))
    whole = text.str.fullmatch(r"\d{1,12}")
    return pd.Index(pd.to_numeric(text.where(whole), errors="coerce"), dtype="float64")


def _timestamp_values(values: pd.Index) -> pd.Index:
    text = pd.Series(values.astype(str)).str.strip()
    zoned = text.str.fullmatch(TIMESTAMP_PATTERN)
    return pd.DatetimeIndex(pd.to_datetime(text.where(zoned), format="ISO8601", utc=True, errors="coerce"))


def _records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each record, blank lines skipped as pandas skips them."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    end = 0
    for fields in reader:
        start, end = end + 1, reader.line_num
        if fields:
            yield start, fields


def _line_of_row(data: bytes, row: int) -> int:
    for index, (line, _fields) in enumerate(_records(data)):
        if index == row + 1:  # record 0 is the header
            return line
    raise AssertionError(f"row {row} is not in the file")


def _field_count_problem(data: bytes) -> str | None:
    records = _records(data)
    _line, header = next(records)
    for line, fields in records:
        if len(fields) != len(header):
            return f"line {line}: {len(fields)} fields where the header has {len(header)}"
    return None


def _utf8_error_offset(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return 0


def _line_at_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1
