"""An external system's videos from a folder or zip: probed, stored under random names, all or nothing."""

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from annotation.models import Item, Study, StudyPair
from generation.models import Prompt, PromptSet, System, Video
from generation.systems.videos import VideoImportError, videos_import
from tests.support.media import make_video
from tests.support.state import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt_set():
    prompt_set = PromptSet.objects.create(name="set")
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, key=key, position=i, text=f"prompt {key}") for i, key in enumerate(["cat", "dog", "p.3"], 1)
    )
    return prompt_set


@pytest.fixture
def gen2():
    return System.objects.create(name="gen2-secret", kind="external")


def folder_of(tmp_path: Path, sample_videos: dict, names: dict[str, str]) -> Path:
    """A folder holding copies of the sample videos: {file name: sample extension}."""
    folder = tmp_path / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    for name, ext in names.items():
        shutil.copy(sample_videos[ext], folder / name)
    return folder


def zip_of(path: Path, entries: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data.read_bytes() if isinstance(data, Path) else data)
    return path


def test_it_imports_a_folder_of_videos_in_every_container(tmp_path, media_root, sample_videos, prompt_set, gen2):
    folder = folder_of(tmp_path, sample_videos, {"cat.mp4": "mp4", "dog.webm": "webm", "p.3.gif": "gif"})
    videos = videos_import(system=gen2, prompt_set=prompt_set, source=folder)
    assert sorted(v.prompt.key for v in videos) == ["cat", "dog", "p.3"]
    cat = Video.objects.get(system=gen2, prompt__key="cat")
    assert (cat.width, cat.height, cat.codec) == (64, 48, "h264")
    assert cat.fps == pytest.approx(8) and cat.frame_count == 4
    assert cat.sha256 == hashlib.sha256((folder / "cat.mp4").read_bytes()).hexdigest()
    stored = media_root / cat.file.name
    assert stored.read_bytes() == (folder / "cat.mp4").read_bytes()
    # Annotators see files, never the system or the prompt id: the stored names carry neither.
    for video in Video.objects.all():
        assert "gen2" not in video.file.name and video.prompt.key not in Path(video.file.name).stem
    assert [p.name for p in media_root.rglob("*.part")] == []


def test_it_imports_a_zip_whose_videos_sit_in_a_folder(tmp_path, sample_videos, prompt_set, gen2):
    archive = zip_of(
        tmp_path / "gen2.zip",
        {
            "out/cat.mov": sample_videos["mov"], "out/dog.mkv": sample_videos["mkv"],
            "__MACOSX/out/._cat.mov": b"junk", "out/.DS_Store": b"x",
        },
    )
    videos = videos_import(system=gen2, prompt_set=prompt_set, source=archive)
    assert sorted(v.prompt.key for v in videos) == ["cat", "dog"]


def test_it_refuses_a_generated_system(tmp_path, sample_videos, prompt_set):
    system = System.objects.create(name="svd", kind="generated", pipeline="StableVideoDiffusionPipeline", model="/models/svd")
    folder = folder_of(tmp_path, sample_videos, {"cat.mp4": "mp4"})
    with pytest.raises(VideoImportError, match="system 'svd' is generated: only an external system's videos are uploaded"):
        videos_import(system=system, prompt_set=prompt_set, source=folder)


TRUNCATED = "truncated"  # the index is whole, frames are missing: only decoding every frame finds out
TRUNCATED_INDEX = "truncated-index"  # cut before the index at the end of the file


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"../x.mp4": "mp4"}, "gen2.zip: entry '../x.mp4' would escape the target folder"),
        ({"ok/../../cat.mp4": "mp4"}, "gen2.zip: entry 'ok/../../cat.mp4' would escape the target folder"),
        ({"/tmp/cat.mp4": "mp4"}, "gen2.zip: entry '/tmp/cat.mp4' would escape the target folder"),
        ({"cat.mp4": b"this is a text file that says it is an mp4\n"}, "gen2.zip/cat.mp4: not a readable video"),
        ({"cat.mp4": TRUNCATED}, "gen2.zip/cat.mp4: the video is damaged or truncated"),
        ({"cat.mp4": TRUNCATED_INDEX}, "gen2.zip/cat.mp4: not a readable video"),
        ({"cat.mp4": b""}, "gen2.zip/cat.mp4: empty file, not a video"),
        ({"cat.mp4": "mp4", "horse.mp4": "mp4"}, "gen2.zip/horse.mp4: no prompt with id 'horse' in prompt set 'set'"),
        ({"cat.mp4": "mp4", "cat.webm": "webm"}, "gen2.zip/cat.webm: a second video for prompt 'cat' (also gen2.zip/cat.mp4)"),
        ({"cat.mp4": "mp4", "notes.txt": b"hello"}, "gen2.zip/notes.txt: not a video file name"),
        ({}, "gen2.zip: contains no files"),
    ],
)
def test_it_rejects_a_bad_zip_naming_the_entry_and_imports_nothing(tmp_path, media_root, sample_videos, prompt_set, gen2, entries, message):
    contents = {}
    for name, data in entries.items():
        if data in (TRUNCATED, TRUNCATED_INDEX):
            extra = {"movflags": "+faststart"} if data == TRUNCATED else None
            whole = make_video(tmp_path / "whole.mp4", extra=extra).read_bytes()
            contents[name] = whole[: len(whole) * 2 // 3]
        elif isinstance(data, str):
            contents[name] = sample_videos[data]
        else:
            contents[name] = data
    archive = zip_of(tmp_path / "gen2.zip", contents)
    before = snapshot(media_root)
    with pytest.raises(VideoImportError) as error:
        videos_import(system=gen2, prompt_set=prompt_set, source=archive)
    assert message in str(error.value)
    assert snapshot(media_root) == before


def test_it_lists_every_bad_file_at_once(tmp_path, media_root, sample_videos, prompt_set, gen2):
    folder = folder_of(tmp_path, sample_videos, {"cat.mp4": "mp4"})
    (folder / "dog.mp4").write_bytes(b"")
    (folder / "zebra.gif").write_bytes(sample_videos["gif"].read_bytes())
    with pytest.raises(VideoImportError) as error:
        videos_import(system=gen2, prompt_set=prompt_set, source=folder)
    lines = str(error.value).splitlines()
    assert lines[0] == "videos: nothing imported; 2 problems:"
    assert sorted(lines[1:]) == ["dog.mp4: empty file, not a video", "zebra.gif: no prompt with id 'zebra' in prompt set 'set'"]
    assert Video.objects.count() == 0


def test_it_refuses_to_reimport_a_prompt_unless_asked_to_replace(
    tmp_path, media_root, sample_videos, prompt_set, gen2, django_capture_on_commit_callbacks
):
    videos_import(system=gen2, prompt_set=prompt_set, source=folder_of(tmp_path / "a", sample_videos, {"cat.mp4": "mp4"}))
    first = Video.objects.get()
    second = folder_of(tmp_path / "b", sample_videos, {"cat.webm": "webm", "dog.mp4": "mp4"})
    before = snapshot(media_root)
    with pytest.raises(VideoImportError, match=r"cat\.webm: system 'gen2-secret' already has a video for prompt 'cat'"):
        videos_import(system=gen2, prompt_set=prompt_set, source=second)
    assert snapshot(media_root) == before

    with django_capture_on_commit_callbacks(execute=True):
        videos_import(system=gen2, prompt_set=prompt_set, source=second, replace=True)
    cat = Video.objects.get(prompt__key="cat")
    assert cat.codec == "vp9" and cat.file.name.endswith(".webm")
    assert not (media_root / first.file.name).exists(), "the replaced file is removed"
    assert Video.objects.count() == 2


def test_it_never_replaces_a_video_a_study_uses(tmp_path, sample_videos, prompt_set, gen2):
    other = System.objects.create(name="pika", kind="external")
    videos_import(system=gen2, prompt_set=prompt_set, source=folder_of(tmp_path / "a", sample_videos, {"cat.mp4": "mp4"}))
    videos_import(system=other, prompt_set=prompt_set, source=folder_of(tmp_path / "b", sample_videos, {"cat.mp4": "mp4"}))
    study = Study.objects.create(name="s", prompt_set=prompt_set)
    pair = StudyPair.objects.create(study=study, system_a=gen2, system_b=other)
    cat = Prompt.objects.get(key="cat")
    Item.objects.create(
        study=study, pair=pair, prompt=cat, video_a=gen2.videos.get(), video_b=other.videos.get(), raters_needed=5
    )
    with pytest.raises(VideoImportError, match=r"cat\.gif: the video of prompt 'cat' is used in a study and cannot be replaced"):
        videos_import(
            system=gen2, prompt_set=prompt_set, source=folder_of(tmp_path / "c", sample_videos, {"cat.gif": "gif"}), replace=True
        )
    assert gen2.videos.get().codec == "h264"
