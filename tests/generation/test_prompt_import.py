"""Prompt sets from .csv, .jsonl, .txt and .zip: every format, generated ids, and each bad input
rejected with its file and line while nothing is imported."""

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from generation.models import PromptSet
from generation.prompts.importing import PromptImportError, prompt_set_import
from tests.support.state import snapshot

pytestmark = pytest.mark.django_db


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def png(path: Path, color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def prompts_of(prompt_set: PromptSet) -> list[tuple[str, str, str]]:
    return list(prompt_set.prompts.order_by("position").values_list("key", "text", "category"))


def test_it_imports_a_csv_with_a_bom_and_categories(tmp_path):
    source = write(tmp_path / "prompts.csv", "\ufeffid,text,category\ncat,A cat on a piano,animals\ndog,\"A dog, surfing\",animals\n")
    prompt_set = prompt_set_import(name="set", source=source)
    assert prompts_of(prompt_set) == [("cat", "A cat on a piano", "animals"), ("dog", "A dog, surfing", "animals")]
    assert prompt_set.source_name == "prompts.csv"


def test_it_imports_jsonl(tmp_path):
    lines = [{"id": "a", "text": "A red ball", "category": "objects"}, {"text": "Rain on a window"}, {"id": 7, "text": "Seven"}]
    source = write(tmp_path / "p.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert prompts_of(prompt_set_import(name="set", source=source)) == [
        ("a", "A red ball", "objects"), ("p0002", "Rain on a window", ""), ("7", "Seven", ""),
    ]


def test_it_imports_txt_skipping_blank_lines_and_generates_ids_in_file_order(tmp_path):
    source = write(tmp_path / "p.txt", "A horse galloping\r\n\n   \nA waterfall\nA city at night\n")
    assert prompts_of(prompt_set_import(name="set", source=source)) == [
        ("p0001", "A horse galloping", ""), ("p0002", "A waterfall", ""), ("p0003", "A city at night", ""),
    ]


def test_it_imports_a_zip_with_images_stored_under_media_root(tmp_path, media_root):
    folder = tmp_path / "src"
    write(folder / "set" / "prompts.csv", "id,text,image\nred,A red square,img/red.png\nblue,A blue square,img/blue.png\nnone,No image,\n")
    png(folder / "set" / "img" / "red.png", "red")
    png(folder / "set" / "img" / "blue.png", "blue")
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.rglob("*"):
            zf.write(f, f.relative_to(folder).as_posix())
        zf.writestr("__MACOSX/set/._prompts.csv", b"junk")
    prompt_set = prompt_set_import(name="set", source=archive)
    red, blue, none = prompt_set.prompts.order_by("position")
    assert none.image.name == ""
    assert (media_root / red.image.name).is_file() and (media_root / blue.image.name).is_file()
    assert red.image.name != blue.image.name
    with Image.open(media_root / blue.image.name) as img:
        assert img.getpixel((0, 0)) == (0, 0, 255)


def test_it_reads_images_relative_to_a_local_prompt_file(tmp_path, media_root):
    png(tmp_path / "images" / "cat.png")
    source = write(tmp_path / "prompts" / "p.csv", "text,image\nA cat,../images/cat.png\n")
    prompt = prompt_set_import(name="set", source=source).prompts.get()
    assert (media_root / prompt.image.name).is_file()


def test_it_refuses_a_name_already_taken(tmp_path):
    source = write(tmp_path / "p.txt", "A cat\n")
    prompt_set_import(name="set", source=source)
    with pytest.raises(PromptImportError, match="a prompt set named 'set' already exists"):
        prompt_set_import(name="set", source=source)


def many(n: int) -> str:
    return "text\n" + "".join(f"prompt {i}\n" for i in range(n))


BAD_FILES = [
    ("empty.csv", b"", "empty.csv: the file is empty"),
    ("bom-only.txt", b"\xef\xbb\xbf\n\n", "bom-only.txt: the file is empty"),
    ("header-only.csv", "id,text\n", "header-only.csv: no prompts in the file"),
    ("notext.csv", "id,prompt\np1,A cat\n", "notext.csv, line 1: no 'text' column in the header (found: id, prompt)"),
    ("dup.csv", "id,text\np1,a\np2,b\np3,c\np1,d\n", "dup.csv, line 5: duplicate id 'p1' (first on line 2)"),
    ("dup.jsonl", '{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', "dup.jsonl, line 2: duplicate id 'x' (first on line 1)"),
    ("clash.csv", "id,text\n,first\np0001,second\n", "clash.csv, line 2: has no id, and its generated id 'p0001' is taken by line 3"),
    ("blank.csv", "id,text\np1,a cat\np2,   \n", "blank.csv, line 3: empty prompt"),
    ("blank.jsonl", '{"text": "a"}\n{"text": ""}\n', "blank.jsonl, line 2: empty prompt"),
    ("long.txt", "short\n" + "x" * 2001 + "\n", "long.txt, line 2: the prompt has 2,001 characters; the limit is 2,000"),
    ("latin1.csv", "text\ncaf\xe9\n".encode("latin-1"), "latin1.csv, line 2: not valid UTF-8 (byte 0xe9)"),
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "photo.csv, line 3: contains a NUL byte; this looks like a binary file"),
    ("syntax.jsonl", '{"text": "ok"}\n{"text": "broken",}\n', "syntax.jsonl, line 2: invalid JSON"),
    ("array.jsonl", '["text"]\n', "array.jsonl, line 1: expected a JSON object"),
    ("badid.csv", "id,text\n.hidden,a\n", "badid.csv, line 2: invalid id '.hidden'"),
    ("spaceid.csv", "id,text\na b,a\n", "spaceid.csv, line 2: invalid id 'a b'"),
    ("wide.csv", "id,text\np1,a,extra\n", "wide.csv, line 2: 3 fields but the header has 2"),
    ("huge.csv", many(100_001), "huge.csv, line 100002: more than 100,000 prompts"),
    ("prompts.xlsx", "text\na\n", "prompts.xlsx: unsupported file type '.xlsx'"),
]


@pytest.mark.parametrize(("filename", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_it_rejects_a_bad_file_naming_file_and_line_and_imports_nothing(tmp_path, media_root, filename, content, message):
    before = snapshot(media_root)
    with pytest.raises(PromptImportError) as error:
        prompt_set_import(name="bad", source=write(tmp_path / filename, content))
    assert message in str(error.value)
    assert snapshot(media_root) == before


def test_it_accepts_exactly_100000_prompts(tmp_path):
    assert prompt_set_import(name="big", source=write(tmp_path / "big.csv", many(100_000))).prompts.count() == 100_000


def test_it_rejects_a_missing_image_and_writes_no_image_at_all(tmp_path, media_root):
    png(tmp_path / "ok.png")
    source = write(tmp_path / "p.csv", "text,image\nfine,ok.png\nbroken,missing.png\n")
    before = snapshot(media_root)
    with pytest.raises(PromptImportError, match=r"p.csv, line 3: image 'missing.png' not found"):
        prompt_set_import(name="bad", source=source)
    assert snapshot(media_root) == before


def test_it_rejects_an_image_that_is_not_an_image(tmp_path, media_root):
    write(tmp_path / "fake.png", "this is text, not a picture")
    source = write(tmp_path / "p.jsonl", '{"text": "a", "image": "fake.png"}\n')
    before = snapshot(media_root)
    with pytest.raises(PromptImportError, match=r"p.jsonl, line 1: image 'fake.png' is not an image"):
        prompt_set_import(name="bad", source=source)
    assert snapshot(media_root) == before


def zip_of(path: Path, entries: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_it_rejects_a_zip_image_outside_the_archive(tmp_path, media_root):
    png(tmp_path / "secret.png")
    archive = zip_of(tmp_path / "set.zip", {"p.csv": "text,image\na,../../secret.png\n"})
    before = snapshot(media_root)
    with pytest.raises(PromptImportError, match=r"set.zip/p.csv, line 2: image '../../secret.png' is outside the uploaded files"):
        prompt_set_import(name="bad", source=archive)
    assert snapshot(media_root) == before


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"a.csv": "text\na\n", "b.txt": "b\n"}, "set.zip: needs exactly one prompt file (.csv, .jsonl or .txt), found 2: a.csv, b.txt"),
        ({"readme.md": "hi"}, "set.zip: needs exactly one prompt file (.csv, .jsonl or .txt), found 0"),
        ({"../p.csv": "text\na\n"}, "set.zip: entry '../p.csv' would escape the target folder"),
    ],
)
def test_it_checks_the_zip_itself(tmp_path, media_root, entries, message):
    archive = zip_of(tmp_path / "set.zip", entries)
    before = snapshot(media_root)
    with pytest.raises(PromptImportError) as error:
        prompt_set_import(name="bad", source=archive)
    assert message in str(error.value)
    assert snapshot(media_root) == before


def test_it_rejects_a_file_that_is_not_a_zip(tmp_path):
    with pytest.raises(PromptImportError, match=r"fake.zip: not a readable zip archive"):
        prompt_set_import(name="bad", source=write(tmp_path / "fake.zip", "text\na\n"))
