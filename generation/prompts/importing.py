"""Importing prompt sets from .csv, .jsonl, .txt or a .zip of one of them plus its images.

One service backs the command, the upload page and the API. Everything is parsed and checked
first; any error names the file and line and imports nothing.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from PIL import Image, UnidentifiedImageError

from generation.models import PROMPT_ID_REGEX, Prompt, PromptSet
from juice.files import UploadError, materialize, media_staged, zip_extract
from juice.refusals import Invalid

MAX_PROMPTS = 100_000
MAX_TEXT = 2000
MAX_CATEGORY = Prompt._meta.get_field("category").max_length
PROMPT_SUFFIXES = (".csv", ".jsonl", ".txt")
FIELDS = ("id", "text", "category", "image")
# Optional columns (CSV) or keys (JSONL) `prompt:<name>`: a system-specific text of the prompt.
REWRITE = "prompt:"
MAX_REWRITE_NAME = 100
BATCH = 5000
ID = re.compile(PROMPT_ID_REGEX)


class PromptImportError(Invalid):
    """A prompt file that cannot be imported; the message names the file and, where it can, the line."""


@dataclass
class Row:
    line: int
    key: str | None
    text: str
    category: str = ""
    image: str = ""
    rewrites: dict[str, str] = field(default_factory=dict)


def prompt_set_import(*, name: str, source: Path | str | UploadedFile, created_by=None) -> PromptSet:
    """Import the prompts of `source` as a new prompt set called `name`, all or nothing."""
    name = (name or "").strip()
    if not name:
        raise PromptImportError("a prompt set needs a name")
    if len(name) > PromptSet._meta.get_field("name").max_length:
        raise PromptImportError("the prompt set's name is longer than 200 characters")
    if PromptSet.objects.filter(name=name).exists():
        raise PromptImportError(f"a prompt set named {name!r} already exists")
    with tempfile.TemporaryDirectory(prefix="juice-prompts-") as scratch:
        try:
            path, label = materialize(source, Path(scratch))
            prompt_file, label, confined = _prompt_file(path, label, Path(scratch))
        except UploadError as exc:
            raise PromptImportError(str(exc)) from None
        rows = parse_prompts(prompt_file, label=label)
        images = _check_images(rows, prompt_file.parent, label, confined)
        return _save(name, label, rows, images, created_by)


def _prompt_file(path: Path, label: str, scratch: Path) -> tuple[Path, str, bool]:
    """The prompt file to read, its label, and whether image paths must stay inside its folder."""
    suffix = path.suffix.lower()
    if path.is_dir():
        raise PromptImportError(f"{label}: is a folder; give a .csv, .jsonl, .txt or .zip file")
    if suffix in PROMPT_SUFFIXES:
        # An upload's images cannot lie next to it; a local file's may be anywhere it says.
        return path, label, path.is_relative_to(scratch)
    if suffix != ".zip":
        raise PromptImportError(f"{label}: unsupported file type {suffix or '(none)'!r}; use .csv, .jsonl, .txt or .zip")
    root = scratch / "unzipped"
    files = zip_extract(path, root, label=label)
    found = [f for f in files if f.suffix.lower() in PROMPT_SUFFIXES]
    if len(found) != 1:
        listed = ", ".join(str(f) for f in found[:5]) or "none"
        raise PromptImportError(f"{label}: needs exactly one prompt file (.csv, .jsonl or .txt), found {len(found)}: {listed}")
    inner = found[0]
    return root.joinpath(*inner.parts), f"{label}/{inner}", True


def _decode(data: bytes, label: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise PromptImportError(f"{label}: the file is empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise PromptImportError(f"{label}, line {line}: contains a NUL byte; this looks like a binary file, not UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PromptImportError(f"{label}, line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None


def parse_prompts(path: Path, *, label: str) -> list[Row]:
    """Read and check every prompt of a .csv, .jsonl or .txt file; ids are filled in and unique."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptImportError(f"{label}: cannot be read ({exc.strerror})") from None
    text = _decode(data, label)
    suffix = path.suffix.lower()
    reader = {".csv": _read_csv, ".jsonl": _read_jsonl, ".txt": _read_txt}[suffix]
    rows = []
    for row in reader(text, label):
        if len(rows) == MAX_PROMPTS:
            raise PromptImportError(f"{label}, line {row.line}: more than {MAX_PROMPTS:,} prompts; split the set")
        rows.append(row)
    if not rows:
        raise PromptImportError(f"{label}: no prompts in the file")
    _check_rows(rows, label)
    return rows


def _read_csv(text: str, label: str):
    lines = iter(text.split("\n"))
    reader = csv.reader(line + "\n" for line in lines)
    try:
        header = next(reader, None)
        if header is None:
            raise PromptImportError(f"{label}: the file is empty")
        columns = [h.strip().lower() for h in header]
        if "text" not in columns:
            raise PromptImportError(f"{label}, line 1: no 'text' column in the header (found: {', '.join(header) or 'nothing'})")
        for column in FIELDS:
            if columns.count(column) > 1:
                raise PromptImportError(f"{label}, line 1: the column {column!r} appears twice")
        index = {c: columns.index(c) for c in FIELDS if c in columns}
        rewrites = _rewrite_columns(header, label)
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in record):
                continue
            if len(record) > len(columns):
                raise PromptImportError(f"{label}, line {line}: {len(record)} fields but the header has {len(columns)}")
            values = {c: record[i] if i < len(record) else "" for c, i in index.items()}
            texts = {n: record[i] for n, i in rewrites.items() if i < len(record) and record[i].strip()}
            yield Row(line, values.get("id", "").strip() or None, values["text"], values.get("category", ""), values.get("image", ""),
                      texts)
    except csv.Error as exc:
        raise PromptImportError(f"{label}, line {reader.line_num}: malformed CSV ({exc})") from None


def _read_jsonl(text: str, label: str):
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PromptImportError(f"{label}, line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise PromptImportError(f"{label}, line {number}: expected a JSON object like {{\"text\": \"...\"}}")
        if "text" not in obj:
            raise PromptImportError(f"{label}, line {number}: no 'text' key")
        values = {}
        for key in FIELDS:
            value = obj.get(key)
            if key == "id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if value is not None and not isinstance(value, str):
                raise PromptImportError(f"{label}, line {number}: {key!r} must be a string, not {type(value).__name__}")
            values[key] = value or ""
        yield Row(number, values["id"].strip() or None, values["text"], values["category"], values["image"],
                  _rewrite_keys(obj, f"{label}, line {number}"))


def _rewrite_name(key: str, where: str) -> str:
    name = key.strip()[len(REWRITE):].strip()
    if not name or len(name) > MAX_REWRITE_NAME:
        raise PromptImportError(f"{where}: {key!r} needs a name of 1 to {MAX_REWRITE_NAME} characters after {REWRITE!r}")
    return name


def _rewrite_columns(header: list[str], label: str) -> dict[str, int]:
    """{name: column index} of the `prompt:<name>` columns."""
    found: dict[str, int] = {}
    for i, column in enumerate(header):
        if column.strip().lower().startswith(REWRITE):
            name = _rewrite_name(column, f"{label}, line 1")
            if name in found:
                raise PromptImportError(f"{label}, line 1: the column {column.strip()!r} appears twice")
            found[name] = i
    return found


def _rewrite_keys(obj: dict, where: str) -> dict[str, str]:
    texts = {}
    for key, value in obj.items():
        if isinstance(key, str) and key.strip().lower().startswith(REWRITE):
            if value is not None and not isinstance(value, str):
                raise PromptImportError(f"{where}: {key!r} must be a string, not {type(value).__name__}")
            if value and value.strip():
                texts[_rewrite_name(key, where)] = value
    return texts


def _read_txt(text: str, label: str):
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield Row(number, None, raw)


def _check_rows(rows: list[Row], label: str) -> None:
    explicit = {}
    for row in rows:
        row.text = row.text.strip()
        row.category = row.category.strip()
        row.image = row.image.strip()
        if not row.text:
            raise PromptImportError(f"{label}, line {row.line}: empty prompt")
        row.rewrites = {name: text.strip() for name, text in row.rewrites.items()}
        longest = max(row.rewrites.values(), key=len, default="")
        if len(row.text) > MAX_TEXT:
            raise PromptImportError(f"{label}, line {row.line}: the prompt has {len(row.text):,} characters; the limit is {MAX_TEXT:,}")
        if len(longest) > MAX_TEXT:
            raise PromptImportError(
                f"{label}, line {row.line}: a {REWRITE}<name> text has {len(longest):,} characters; the limit is {MAX_TEXT:,}"
            )
        if len(row.category) > MAX_CATEGORY:
            raise PromptImportError(f"{label}, line {row.line}: the category is longer than {MAX_CATEGORY} characters")
        if row.key is not None:
            if not ID.match(row.key):
                raise PromptImportError(
                    f"{label}, line {row.line}: invalid id {row.key!r}: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
                )
            if row.key in explicit:
                raise PromptImportError(f"{label}, line {row.line}: duplicate id {row.key!r} (first on line {explicit[row.key]})")
            explicit[row.key] = row.line
    for position, row in enumerate(rows, start=1):
        if row.key is None:
            row.key = f"p{position:04d}"
            if row.key in explicit:
                raise PromptImportError(
                    f"{label}, line {row.line}: has no id, and its generated id {row.key!r} is taken by line {explicit[row.key]}"
                )


def _check_images(rows: list[Row], base: Path, label: str, confined: bool) -> dict[str, Path]:
    """Each distinct image path, resolved and verified to be a readable image."""
    images: dict[str, Path] = {}
    root = base.resolve()
    for row in rows:
        if not row.image or row.image in images:
            continue
        path = (base / row.image).resolve()
        if confined and not path.is_relative_to(root):
            raise PromptImportError(f"{label}, line {row.line}: image {row.image!r} is outside the uploaded files")
        if not path.is_file():
            raise PromptImportError(f"{label}, line {row.line}: image {row.image!r} not found")
        _check_image(path, f"{label}, line {row.line}: image {row.image!r}")
        images[row.image] = path
    return images


def _check_image(path: Path, label: str) -> None:
    """A readable image within the pixel limit (JUICE_MAX_IMAGE_PIXELS), checked from its header before
    anything is decoded: a small file can declare billions of pixels (a decompression bomb)."""
    limit = settings.JUICE_MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as img:
            size = img.size
            if size[0] * size[1] <= limit:
                img.verify()
    except Image.DecompressionBombError:
        # Pillow's own guard, for an image so large that it refuses to open it at all.
        raise PromptImportError(f"{label} declares more pixels than an image may have (JUICE_MAX_IMAGE_PIXELS is {limit:,})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = "not an image" if isinstance(exc, UnidentifiedImageError) else f"a damaged image: {exc}"
        raise PromptImportError(f"{label} is {reason}") from None
    if size[0] * size[1] > limit:
        raise PromptImportError(f"{label} is {size[0]}x{size[1]} pixels, more than the {limit:,} allowed (JUICE_MAX_IMAGE_PIXELS)")


def _save(name: str, label: str, rows: list[Row], images: dict[str, Path], created_by) -> PromptSet:
    # Images are copied only now that every row is valid; a failure below removes them again.
    with media_staged(images.values(), folder="prompt_images") as staged, transaction.atomic():
        stored = {relative: stored_name for relative, (stored_name, _) in zip(images, staged, strict=True)}
        try:
            prompt_set = PromptSet.objects.create(name=name, source_name=label[:255], created_by=created_by)
        except IntegrityError:
            raise PromptImportError(f"a prompt set named {name!r} already exists") from None
        Prompt.objects.bulk_create(
            (
                Prompt(
                    prompt_set=prompt_set, key=row.key, position=position, text=row.text,
                    category=row.category, image=stored.get(row.image, ""), rewrites=row.rewrites,
                )
                for position, row in enumerate(rows, start=1)
            ),
            batch_size=BATCH,
        )
    return prompt_set
