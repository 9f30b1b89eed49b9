"""A matching policy and the common target it gives two videos (Emu Video, Appendix D).

Raters must compare models, not encodings: both videos of an item are cropped or padded to a
common aspect, scaled to a common resolution, brought to a common frame rate by dropping frames
(never synthesizing them) and cut or extended to a common length.

A policy (what the researcher asked for: `policy_parse` checks it, POLICY_HELP and `policy_describe`
put it in words) and the two sources give a common target (`match_target`); each side gets a spec,
the target plus how this source gets there, which encodes.py turns into a file. Plain Python: no
database, no ffmpeg.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

ASPECTS = ("crop", "pad")
DURATIONS = ("shortest", "loop", "freeze")
DEFAULT_POLICY = {"aspect": "crop", "resolution": None, "fps": None, "duration": "shortest"}
RATIO = re.compile(r"^\s*(\d+)\s*[:/]\s*(\d+)\s*$")
SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class MatchingError(ValueError):
    """A matching policy that cannot be applied; the message says which setting and why."""


@dataclass(frozen=True)
class SourceFormat:
    """What matching needs to know of a source: its displayed size (rotation applied), rate and length."""

    width: int
    height: int
    fps: float
    duration: float
    codec: str = ""

    @classmethod
    def of(cls, info) -> SourceFormat:
        """From a `Video` row or a `probe.VideoInfo`."""
        return cls(int(info.width), int(info.height), float(info.fps), float(info.duration), str(info.codec))


def _fps(value) -> Fraction:
    """A frame rate as an exact fraction; NTSC rates such as 23.976 become 24000/1001."""
    try:
        rate = Fraction(str(value).strip()).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise MatchingError(f"fps: {value!r} is not a frame rate (use a number such as 8 or 24000/1001)") from None
    if rate <= 0 or rate > 240:
        raise MatchingError(f"fps: {value!r} must be above 0 and at most 240")
    return rate


def _source_fps(source: SourceFormat) -> Fraction:
    """A source's measured (average) rate as the rate it was made at.

    NTSC rates (n x 1000/1001) are kept exactly; a rate within 2% of a whole number is that number.
    GIF frame delays are whole centiseconds (an 8 fps GIF alternates 12 and 13), so a GIF whose
    frame period is within half a centisecond of a whole rate's is that rate.
    """
    value = source.fps
    ntsc = Fraction(round(value * 1.001) * 1000, 1001)
    if ntsc and abs(value - ntsc) / ntsc < 1e-4:
        return ntsc
    whole = round(value)
    if whole and abs(value - whole) / whole <= 0.02:
        return Fraction(whole)
    if whole and source.codec == "gif" and abs(1 / value - 1 / whole) <= 0.0055:
        return Fraction(whole)
    return _fps(value)


def policy_parse(matching: dict | None) -> dict:
    """Validate a matching policy and fill in the defaults; returns the canonical policy.

    aspect: "crop" (center crop to the common aspect), "pad" (keep everything, add bars) or a
    ratio "W:H" (center crop to it). resolution: "WxH" with even sides, or None for the smaller
    of the two. fps: a rate not above either source's, or None for the lower of the two.
    duration: "shortest", or "loop"/"freeze" to extend the shorter video to the longer one.
    """
    matching = dict(matching or {})
    unknown = sorted(set(matching) - set(DEFAULT_POLICY))
    if unknown:
        raise MatchingError(f"unknown matching setting {', '.join(unknown)}; use {', '.join(DEFAULT_POLICY)}")
    policy = {**DEFAULT_POLICY, **{k: v for k, v in matching.items() if v not in (None, "", "auto")}}

    aspect = str(policy["aspect"]).strip().lower()
    if aspect not in ASPECTS:
        ratio = RATIO.match(aspect)
        if not ratio or int(ratio[1]) == 0 or int(ratio[2]) == 0:
            raise MatchingError(f"aspect: {policy['aspect']!r} is not crop, pad or a ratio such as 1:1 or 16:9")
        aspect = f"{int(ratio[1])}:{int(ratio[2])}"
    policy["aspect"] = aspect

    if policy["resolution"] is not None:
        size = SIZE.match(str(policy["resolution"]))
        if not size:
            raise MatchingError(f"resolution: {policy['resolution']!r} is not WIDTHxHEIGHT, such as 512x512")
        width, height = int(size[1]), int(size[2])
        # H.264 in yuv420p needs even sides; rounding silently would change what was asked for.
        if width < 2 or height < 2 or width % 2 or height % 2 or max(width, height) > 8192:
            raise MatchingError(f"resolution: {width}x{height} needs even sides between 2 and 8192")
        if aspect not in ASPECTS and Fraction(width, height) != _ratio(aspect):
            raise MatchingError(f"resolution {width}x{height} does not have the aspect {aspect}")
        policy["resolution"] = f"{width}x{height}"

    if policy["fps"] is not None:
        rate = _fps(policy["fps"])
        policy["fps"] = str(rate)

    duration = str(policy["duration"]).strip().lower()
    if duration not in DURATIONS:
        raise MatchingError(f"duration: {policy['duration']!r} is not one of {', '.join(DURATIONS)}")
    policy["duration"] = duration
    return policy


# One line each, for the study creation form: what each setting does and its default.
POLICY_HELP = {
    "aspect": "crop (default): both center-cropped to the aspect they share; pad: nothing cut, black bars added; "
              "or a ratio such as 16:9 to crop both to it",
    "resolution": "blank (default): the smaller of the two videos' sizes, never upscaled; or WIDTHxHEIGHT with even sides",
    "fps": "blank (default): the lower of the two frame rates, by dropping frames (frames are never invented); or a rate "
           "no higher than either video's",
    "duration": "shortest (default): both cut to the shorter video; loop or freeze: the shorter one is looped or holds "
                "its last frame to the longer's length",
}


def policy_describe(policy: dict) -> str:
    """A matching policy in words, for researchers' pages (canonical policies, see `policy_parse`)."""
    policy = {**DEFAULT_POLICY, **(policy or {})}
    aspect = {"crop": "center-cropped to the aspect ratio they share", "pad": "padded with black bars to a common aspect ratio"}.get(
        policy["aspect"], f"center-cropped to {policy['aspect']}")
    size = f"scaled to {policy['resolution']}" if policy["resolution"] else "scaled to the smaller of the two sizes (never upscaled)"
    fps = (f"brought to {float(Fraction(policy['fps'])):g} fps by dropping frames" if policy["fps"]
           else "brought to the lower of the two frame rates by dropping frames")
    duration = {"shortest": "cut to the shorter duration", "loop": "the shorter one looped to the longer duration",
                "freeze": "the shorter one holding its last frame to the longer duration"}[policy["duration"]]
    return f"Both videos of an item are {aspect}, {size}, {fps}, and {duration}."


def target_describe(params: dict) -> str:
    """An item's common target in words: '256x256, 8 fps, 16 frames (2 s), center-cropped'."""
    target = params.get("target") or {}
    if not target:
        return ""
    fit = "center-cropped" if target["fit"] == "crop" else "padded"
    return (f"{target['width']}x{target['height']}, {float(Fraction(target['fps'])):g} fps, {target['frames']} frames "
            f"({target['duration']:g} s), {fit}")


def _ratio(text: str) -> Fraction:
    w, h = text.split(":")
    return Fraction(int(w), int(h))


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _common_ratio(a: SourceFormat, b: SourceFormat) -> Fraction:
    """The aspect closer to square of the two: the other video loses (crop) or gains (pad) the least."""
    ratios = [Fraction(a.width, a.height), Fraction(b.width, b.height)]
    return min(ratios, key=lambda r: (abs(math.log(r)), r))


def _fitted(source: SourceFormat, ratio: Fraction, fit: str) -> tuple[float, float]:
    """The source's frame brought to `ratio`: the largest centered window (crop) or the smallest canvas (pad)."""
    wider = Fraction(source.width, source.height) > ratio
    if (fit == "crop") == wider:
        return float(source.height * ratio), float(source.height)
    return float(source.width), float(source.width / ratio)


def match_target(info_a, info_b, policy: dict) -> dict:
    """The common target of two sources under `policy` (canonical, see `policy_parse`).

    Returns {"target": {...}, "a": spec, "b": spec}: the target is what both outputs will be
    (width, height, fps, frames, duration, fit); each spec is what one side's encode does.
    """
    a, b = SourceFormat.of(info_a), SourceFormat.of(info_b)
    fit = "pad" if policy["aspect"] == "pad" else "crop"
    if policy["resolution"]:
        width, height = (int(x) for x in policy["resolution"].split("x"))
        ratio = Fraction(width, height)
    else:
        ratio = _ratio(policy["aspect"]) if policy["aspect"] not in ASPECTS else _common_ratio(a, b)
        # The smaller of the two (same aspect now, so heights compare), never upscaling either.
        height = _even(min(_fitted(a, ratio, fit)[1], _fitted(b, ratio, fit)[1]))
        width = _even(height * ratio)

    lowest = min(_source_fps(a), _source_fps(b))
    if policy["fps"]:
        fps = Fraction(policy["fps"])
        if fps > lowest:
            raise MatchingError(
                f"fps: {fps} is above a source's frame rate ({float(lowest):g} fps); matching drops frames, it never synthesizes them"
            )
    else:
        fps = lowest

    seconds = min(a.duration, b.duration) if policy["duration"] == "shortest" else max(a.duration, b.duration)
    # Whole frames only, so both outputs have exactly the same frame count.
    frames = max(1, math.floor(seconds * fps + 1e-6))
    target = {
        "width": width,
        "height": height,
        "fps": str(fps),
        "frames": frames,
        "duration": round(float(frames / fps), 6),
        "fit": fit,
    }
    return {"target": target, "a": _side_spec(a, target, policy), "b": _side_spec(b, target, policy)}


def _side_spec(source: SourceFormat, target: dict, policy: dict) -> dict:
    """How one source reaches the target; deterministic, so equal specs give equal files."""
    width, height, fps = target["width"], target["height"], Fraction(target["fps"])
    ratio = Fraction(width, height)
    spec = {"source": [source.width, source.height], **{k: target[k] for k in ("width", "height", "fps", "frames", "fit")}}
    if target["fit"] == "crop":
        cw, ch = (min(max(round(v), 2), lim) for v, lim in zip(_fitted(source, ratio, "crop"), (source.width, source.height), strict=True))
        spec["crop"] = [cw, ch, (source.width - cw) // 2, (source.height - ch) // 2]
    else:
        if Fraction(source.width, source.height) > ratio:
            sw, sh = width, min(height, _even(width * source.height / source.width))
        else:
            sw, sh = min(width, _even(height * source.width / source.height)), height
        spec["pad"] = [sw, sh, (width - sw) // 4 * 2, (height - sh) // 4 * 2]
    available = math.floor(source.duration * fps + 1e-6)
    spec["extend"] = policy["duration"] if policy["duration"] != "shortest" and available < target["frames"] else None
    if spec["extend"] == "loop":
        spec["loop_frames"] = max(available, 1)
    return spec
