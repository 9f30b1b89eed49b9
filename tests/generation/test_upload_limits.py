"""Uploads built to hurt: a zip bomb, a decompression-bomb image, a video too large to decode.
Each is refused with a clear error naming the file, before it is decoded or unpacked, and nothing
is imported or left behind."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.db import connection
from PIL import Image

from generation.models import PromptSet
from generation.systems.services import system_add
from juice.files import UploadError, unzip_cap, zip_extract
from tests.support import ROOT
from tests.support.media import make_video
from tests.support.state import snapshot
from tests.support.uploads import upload

pytestmark = pytest.mark.django_db


def bomb(inflated: int) -> bytes:
    """A zip whose one file is `inflated` bytes of zeros: it weighs about a thousandth of that."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("prompts.txt", "w", force_zip64=True) as entry:
        block = b"\0" * (1 << 20)
        for _ in range(inflated >> 20):
            entry.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(api, media_root, tmp_path):
    archive = bomb(256 << 20)  # 256 MiB of zeros in about 256 KB
    assert len(archive) < 1 << 20
    before = snapshot(media_root)
    response = api.post("/api/prompt-sets", {"name": "bomb", "file": upload("bomb.zip", archive)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "bomb.zip: unpacks to 268,435,456 bytes" in error and "JUICE_MAX_UNZIP_RATIO" in error
    assert snapshot(media_root) == before
    # Unpacked by hand, nothing is written at all: the declared sizes are checked first.
    (tmp_path / "bomb.zip").write_bytes(archive)
    with pytest.raises(UploadError, match="more than the"):
        zip_extract(tmp_path / "bomb.zip", tmp_path / "out", label="bomb.zip")
    assert not (tmp_path / "out").exists()


def test_the_cap_follows_the_archive_up_to_four_times_the_upload_limit(settings):
    settings.JUICE_MAX_UNZIP_RATIO, settings.JUICE_MAX_UPLOAD_BYTES = 100, 1000
    assert (unzip_cap(1), unzip_cap(30), unzip_cap(10_000)) == (100, 3000, 4000)


def test_an_entry_that_holds_more_than_it_declares_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("prompts.txt", b"a cat\n" * 100_000)
    data = bytearray(buffer.getvalue())
    # Declare 600 bytes where 600,000 are: in the entry's local header and in the central directory.
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, 600)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, 600)
    (tmp_path / "liar.zip").write_bytes(data)
    with pytest.raises(UploadError, match=r"liar\.zip: entry 'prompts\.txt' cannot be read"):
        zip_extract(tmp_path / "liar.zip", tmp_path / "out", label="liar.zip")
    assert (tmp_path / "out" / "prompts.txt").stat().st_size <= 600


@pytest.fixture(scope="module")
def image_bomb(tmp_path_factory) -> Path:
    """A zip of a prompt file and a 30000x30000 PNG of about 100 KB: 900 million pixels to decode."""
    folder = tmp_path_factory.mktemp("image-bomb")
    png = io.BytesIO()
    Image.new("1", (30000, 30000)).save(png, format="PNG")
    archive = folder / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("prompts.csv", "id,text,image\ncat,a cat,cat.png\n")
        zf.writestr("cat.png", png.getvalue())
    return archive


def test_a_decompression_bomb_image_is_refused_by_the_command_and_the_api(api, image_bomb, media_root):
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", "MEDIA_ROOT": str(media_root)}
    if connection.vendor != "postgresql":
        pytest.skip("the command runs in its own process, on the PostgreSQL test database")
    out = subprocess.run([sys.executable, "manage.py", "import_prompts", str(image_bomb), "--name", "bombed"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "CommandError: set.zip/prompts.csv, line 2: image 'cat.png' declares more pixels than an image may have "
        "(JUICE_MAX_IMAGE_PIXELS is 50,000,000)"
    ], out.stderr  # one clear line, no traceback
    response = api.post("/api/prompt-sets", {"name": "bombed", "file": upload("set.zip", image_bomb.read_bytes())})
    assert response.status_code == 400
    assert response.json()["error"].startswith("set.zip/prompts.csv, line 2: image 'cat.png' declares more pixels")
    assert not PromptSet.objects.exists()


def test_an_image_over_the_pixel_limit_is_refused_with_its_size(api, settings):
    settings.JUICE_MAX_IMAGE_PIXELS = 1000
    png = io.BytesIO()
    Image.new("RGB", (40, 30)).save(png, format="PNG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("prompts.csv", "id,text,image\ncat,a cat,cat.png\n")
        zf.writestr("cat.png", png.getvalue())
    response = api.post("/api/prompt-sets", {"name": "big", "file": upload("set.zip", archive.getvalue())})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "set.zip/prompts.csv, line 2: image 'cat.png' is 40x30 pixels, more than the 1,000 allowed (JUICE_MAX_IMAGE_PIXELS)"
    )


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"JUICE_MAX_VIDEO_WIDTH": 32}, "cat.mp4: 48x36 is larger than the 32x7680 allowed"),
        ({"JUICE_MAX_VIDEO_HEIGHT": 32}, "cat.mp4: 48x36 is larger than the 7680x32 allowed"),
        ({"JUICE_MAX_VIDEO_FRAMES": 5}, "cat.mp4: 8 frames, more than the 5 allowed (JUICE_MAX_VIDEO_FRAMES)"),
        ({"JUICE_MAX_VIDEO_SECONDS": 0}, "cat.mp4: 1 s long, more than the 0 s allowed (JUICE_MAX_VIDEO_SECONDS)"),
    ],
)
def test_a_video_beyond_the_limits_is_refused_before_it_is_decoded(api, settings, tmp_path, limit, message):
    for name, value in limit.items():
        setattr(settings, name, value)
    prompt_set = PromptSet.objects.create(name="set")
    prompt_set.prompts.create(key="cat", position=1, text="a cat")
    system_add(name="ext", external=True)
    video = make_video(tmp_path / "cat.mp4", width=48, height=36, fps=8, seconds=1.0)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(video, "cat.mp4")
    response = api.post("/api/systems/ext/videos", {"prompt_set": "set", "file": upload("videos.zip", archive.getvalue())})
    assert response.status_code == 400
    assert message in response.json()["error"]
