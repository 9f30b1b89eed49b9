"""Matching two videos: whatever the sources, both outputs have one format every browser plays and seeks."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import ffmpeg
import pytest

from generation.matching.encodes import encode_file
from generation.matching.policy import MatchingError, match_target, policy_parse
from generation.probe import probe_video
from tests.support.media import frame_rgb, make_bands, make_video


def top_level_boxes(path: Path) -> list[str]:
    """The mp4's top-level box types in file order."""
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        offset += size if size else len(data)
    return boxes


def ffprobe(path: Path) -> tuple[dict, list[dict]]:
    meta = ffmpeg.probe(str(path), count_frames=None)
    video = [s for s in meta["streams"] if s["codec_type"] == "video"]
    return video[0], meta["streams"]


def match_pair(tmp_path: Path, a: Path, b: Path, policy: dict | None = None, name: str = "out") -> tuple[dict, Path, Path]:
    params = match_target(probe_video(a), probe_video(b), policy_parse(policy))
    out_a, out_b = tmp_path / f"{name}-a.mp4", tmp_path / f"{name}-b.mp4"
    encode_file(a, params["a"], out_a)
    encode_file(b, params["b"], out_b)
    return params, out_a, out_b


@pytest.fixture(scope="module")
def brief_pair(tmp_path_factory) -> tuple[Path, Path]:
    """The issue's example: 720x480 at 8 fps for 6 s against 832x480 at 16 fps for 5 s (webm)."""
    folder = tmp_path_factory.mktemp("brief")
    a = make_video(folder / "a.mp4", width=720, height=480, fps=8, seconds=6)
    vp8 = {"vcodec": "libvpx", "extra": {"deadline": "realtime", "cpu-used": 8}}  # VP9 takes seconds more to make
    b = make_video(folder / "b.webm", width=832, height=480, fps=16, seconds=5, **vp8)
    return a, b


PAIRS = {
    "sizes-rates-lengths": ("brief_pair", None, {}),
    "gif-odd-size-against-mov": (
        dict(name="a.gif", width=65, height=49, fps=10, seconds=2),
        dict(name="b.mov", width=96, height=54, fps=12, seconds=1.5),
        {"aspect": "pad"},
    ),
    "portrait-mkv-against-rotated-mp4": (
        dict(name="a.mkv", width=144, height=256, fps=24, seconds=1),
        dict(name="b.mp4", width=160, height=120, fps=15, seconds=2, rotate=90),
        {"duration": "loop"},
    ),
    "very-short-against-variable-rate": (
        dict(name="a.mp4", width=64, height=64, fps=8, seconds=0.25),
        dict(name="b.mp4", width=80, height=48, fps=16, seconds=2, vfr=True),
        {"duration": "freeze", "aspect": "1:1"},
    ),
}


@pytest.mark.parametrize("case", PAIRS)
def test_it_gives_both_sides_the_same_browser_friendly_format(tmp_path, request, case):
    spec_a, spec_b, policy = PAIRS[case]
    if spec_b is None:
        a, b = request.getfixturevalue(spec_a)
    else:
        a = make_video(tmp_path / spec_a["name"], **{k: v for k, v in spec_a.items() if k != "name"})
        b = make_video(tmp_path / spec_b["name"], **{k: v for k, v in spec_b.items() if k != "name"})

    params, out_a, out_b = match_pair(tmp_path, a, b, policy)

    (va, streams_a), (vb, streams_b) = ffprobe(out_a), ffprobe(out_b)
    target = params["target"]
    for video, streams, out in ((va, streams_a, out_a), (vb, streams_b, out_b)):
        assert (video["width"], video["height"]) == (target["width"], target["height"])
        assert video["width"] % 2 == 0 and video["height"] % 2 == 0
        assert Fraction(video["r_frame_rate"]) == Fraction(video["avg_frame_rate"]) == Fraction(target["fps"])
        assert int(video["nb_read_frames"]) == target["frames"]
        assert float(video["duration"]) == pytest.approx(target["duration"], abs=1e-3)
        assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
        assert video.get("sample_aspect_ratio", "1:1") == "1:1"
        assert not video.get("side_data_list"), "no rotation left for the player to apply"
        assert [s["codec_type"] for s in streams] == ["video"], "no audio, no other streams"
        boxes = top_level_boxes(out)
        assert boxes.index("moov") < boxes.index("mdat"), f"+faststart: moov before mdat, got {boxes}"
    for key in ("width", "height", "r_frame_rate", "nb_read_frames", "duration"):
        assert va[key] == vb[key], key


def test_it_defaults_to_the_smaller_size_lower_rate_and_shorter_length(brief_pair):
    a, b = brief_pair

    target = match_target(probe_video(a), probe_video(b), policy_parse(None))["target"]

    # 832x480 is center-cropped to 720x480's 3:2; 8 fps by dropping every other frame; 5 s.
    assert target == {"width": 720, "height": 480, "fps": "8", "frames": 40, "duration": 5.0, "fit": "crop"}


def test_it_keeps_the_rotated_video_upright(tmp_path):
    turned = make_video(tmp_path / "turned.mp4", width=160, height=120, rotate=90)
    portrait = make_video(tmp_path / "portrait.mp4", width=120, height=160)

    params, out_a, _ = match_pair(tmp_path, turned, portrait)

    assert (params["target"]["width"], params["target"]["height"]) == (120, 160)
    assert ffprobe(out_a)[0]["width"] == 120


def pixel(frame: tuple[int, int, bytes], x: int, y: int) -> tuple[int, int, int]:
    width, _, raw = frame
    at = (y * width + x) * 3
    return tuple(raw[at : at + 3])


def near(color: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(c - e) <= 40 for c, e in zip(color, expected, strict=True))


RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 128, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


@pytest.fixture
def bands_and_square(tmp_path):
    # 128x64: four 32-pixel bands red | green | blue | white, against a 64x64 video (1:1 is closer to square).
    bands = make_bands(tmp_path / "bands.mp4", colors=["red", "green", "blue", "white"], band_width=32, height=64)
    square = make_video(tmp_path / "square.mp4", width=64, height=64)
    return bands, square


def test_it_center_crops_to_the_common_aspect(tmp_path, bands_and_square):
    params, out, _ = match_pair(tmp_path, *bands_and_square)

    assert (params["target"]["width"], params["target"]["height"]) == (64, 64)
    frame = frame_rgb(out)
    # The middle 64 columns survive: green on the left half, blue on the right; red and white are cut.
    for y in (4, 32, 60):
        assert near(pixel(frame, 8, y), GREEN) and near(pixel(frame, 24, y), GREEN)
        assert near(pixel(frame, 40, y), BLUE) and near(pixel(frame, 56, y), BLUE)


def test_it_pads_with_bars_keeping_all_content(tmp_path, bands_and_square):
    params, out, _ = match_pair(tmp_path, *bands_and_square, {"aspect": "pad"})

    assert (params["target"]["width"], params["target"]["height"]) == (64, 64)
    frame = frame_rgb(out)
    # Scaled to 64x32 in the middle, black bars of 16 rows above and below.
    for x in (4, 32, 60):
        assert near(pixel(frame, x, 6), BLACK) and near(pixel(frame, x, 57), BLACK)
    assert [near(pixel(frame, x, 32), c) for x, c in ((7, RED), (23, GREEN), (40, BLUE), (56, WHITE))] == [True] * 4


def difference(a: tuple[int, int, bytes], b: tuple[int, int, bytes]) -> float:
    return sum(abs(x - y) for x, y in zip(a[2], b[2], strict=True)) / len(a[2])


def test_it_loops_or_freezes_the_shorter_video(tmp_path):
    # 4 frames of a colour whose hue turns 45 degrees a frame: every frame differs, the same on every
    # run (ffmpeg's gradients source draws random colours, whose frames sometimes barely differ).
    short = tmp_path / "short.gif"
    ffmpeg.input("color=c=red:size=64x48:rate=8:duration=0.5", f="lavfi").filter("hue", h="t*360").output(
        str(short), vcodec="gif"
    ).overwrite_output().run(quiet=True)
    long = make_video(tmp_path / "long.mp4", width=64, height=48, fps=8, seconds=2)

    loop, looped, _ = match_pair(tmp_path, short, long, {"duration": "loop"})
    freeze, frozen, _ = match_pair(tmp_path, short, long, {"duration": "freeze"}, name="frozen")

    for params, out in ((loop, looped), (freeze, frozen)):
        assert params["target"]["frames"] == 16 and params["b"]["extend"] is None
        assert int(ffprobe(out)[0]["nb_read_frames"]) == 16
    # Mean absolute difference per byte: tens between the source's frames, a few from encoding alone.
    frames = {i: frame_rgb(looped, index=i) for i in (0, 1, 3, 4, 5, 15)}
    assert difference(frames[0], frames[1]) > 10, "the source moves"
    assert difference(frames[4], frames[0]) < 5 and difference(frames[5], frames[1]) < 5 and difference(frames[15], frames[3]) < 5
    frames = {i: frame_rgb(frozen, index=i) for i in (0, 3, 4, 15)}
    assert difference(frames[3], frames[0]) > 10
    assert difference(frames[4], frames[3]) < 5 and difference(frames[15], frames[3]) < 5


@pytest.mark.parametrize(
    ("matching", "message"),
    [
        ({"aspect": "wide"}, "aspect: 'wide' is not crop, pad or a ratio"),
        ({"resolution": "513x512"}, "needs even sides"),
        ({"resolution": "big"}, "is not WIDTHxHEIGHT"),
        ({"aspect": "1:1", "resolution": "640x480"}, "does not have the aspect 1:1"),
        ({"duration": "longest"}, "duration: 'longest' is not one of shortest, loop, freeze"),
        ({"fps": "fast"}, "fps: 'fast' is not a frame rate"),
        ({"speed": 2}, "unknown matching setting speed"),
    ],
)
def test_it_refuses_a_bad_policy_saying_why(matching, message):
    with pytest.raises(MatchingError, match=message):
        policy_parse(matching)


def test_it_never_synthesizes_frames(tmp_path):
    a = make_video(tmp_path / "a.mp4", fps=8)
    b = make_video(tmp_path / "b.mp4", fps=16)

    with pytest.raises(MatchingError, match="above a source's frame rate"):
        match_target(probe_video(a), probe_video(b), policy_parse({"fps": 12}))
    assert match_target(probe_video(a), probe_video(b), policy_parse({"fps": 7.5}))["target"]["fps"] == "15/2"
