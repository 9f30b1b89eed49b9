"""The one study builder of the tests and benchmarks: prompt sets, systems, their videos and studies in
the database.

Two ways to a study: `create_study` goes through study_create (matching and all), from rows made with
`prompt_set`, `external_system` and `add_video` (real, probed files); `build_open_study` writes an open
study with ready items directly (no matching), for the annotation tests and the benchmarks. Its systems
get distinctive names and the stored files carry them, so a test can check that none of them reaches an
annotator.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import ffmpeg
from django.conf import settings

from annotation.models import DEFAULT_REASONS, QUESTIONS, Item, Study, StudyPair
from annotation.raters.order import item_shuffle
from generation.models import MatchedVideo, Prompt, PromptSet, System, Video
from generation.probe import probe_video
from tests.support.media import make_video

SYSTEM_NAMES = ("SecretModelX", "SecretModelY", "SecretModelZ")
# One look per system, so the two sides of an item differ visibly.
SOURCES = ("testsrc2", "smptebars", "rgbtestsrc")


def prompt_set(name: str = "prompts", count: int = 2) -> PromptSet:
    """A prompt set of `count` prompts, p0001 "prompt number 1" onwards."""
    prompts = PromptSet.objects.create(name=name)
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompts, key=f"p{n + 1:04d}", position=n, text=f"prompt number {n + 1}") for n in range(count)
    )
    return prompts


def external_system(name: str) -> System:
    return System.objects.create(name=name, kind=System.Kind.EXTERNAL)


def add_video(system: System, prompt: Prompt, source: Path, *, probe_like: Path | None = None, sample: int = 0) -> Video:
    """Import `source` as the system's video for the prompt (its sample `sample`), probed as the import does.

    `probe_like` records another file's format instead: a source that went bad after its import.
    """
    name = f"videos/{system.name}/{prompt.key}{f'-{sample}' if sample else ''}{source.suffix}"
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    info = probe_video(probe_like or target)
    return Video.objects.create(
        system=system, prompt=prompt, sample=sample, file=name, sha256="0" * 64, width=info.width, height=info.height,
        fps=info.fps, frame_count=info.frame_count, duration=info.duration, codec=info.codec,
    )


def video_rows(system: System, prompts: Iterable[Prompt], *, width: int, height: int, fps: float, seconds: float) -> list[Video]:
    """The system's video of each prompt as a row of that format, without a file (in bulk: a benchmark
    has thousands)."""
    return Video.objects.bulk_create(
        Video(system=system, prompt=prompt, file=f"videos/{system.name}/{prompt.key}.mp4", sha256="0" * 64, width=width,
              height=height, fps=fps, frame_count=int(fps * seconds), duration=seconds, codec="h264")
        for prompt in prompts
    )


def create_study(*, name: str, prompt_set: PromptSet, pairs: list[tuple[System, System]], **options) -> Study:
    """study_create as the API, the page and the command call it, from the rows a test made."""
    from annotation.studies.schemas import StudySpec
    from annotation.studies.services import study_create

    spec = StudySpec(name=name, prompt_set=prompt_set.name, pairs=[(a.name, b.name) for a, b in pairs], **options)
    return study_create(spec=spec)


def _media(name: str) -> Path:
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def build_open_study(
    *,
    n_prompts: int = 4,
    raters: int = 5,
    n_systems: int = 2,
    questions: tuple[str, ...] = QUESTIONS,
    allow_tie: bool = False,
    lease_seconds: int = 600,
    seconds: float = 1.0,
    image: bool = False,
    name: str = "Study of SecretModelX",
    completion_code: str = "DONE1234",
    attention_threshold: float | None = None,
    copy_files: bool = True,
    seed: int | None = None,
    **options,
) -> Study:
    """An open study: every pair of the first `n_systems` systems on `n_prompts` prompts, items ready.

    With `copy_files` each matched video is its own file named after its system and prompt (as a
    careless matcher might name them); without, all of a system's items share one file (benchmarks).
    Items are shuffled as study_create shuffles them, by `seed` (random if None); `options` are more
    Study fields (the crowd options).
    """
    prompt_set = PromptSet.objects.create(name=f"prompts for {name}")
    prompts = []
    for i in range(n_prompts):
        text = f"<b>a cat</b> number {i + 1} & a dog"  # markup in user data: the page must show it as text
        prompt = Prompt(prompt_set=prompt_set, key=f"p{i + 1:04d}", position=i, text=text, category="animals")
        if image:
            png = _media(f"prompt_images/{prompt.key}.png")
            ffmpeg.input("testsrc2=size=64x48:rate=1:duration=1", f="lavfi").output(str(png), vframes=1).overwrite_output().run(quiet=True)
            prompt.image = str(png.relative_to(settings.MEDIA_ROOT))
        prompts.append(prompt)
    Prompt.objects.bulk_create(prompts)
    prompts = list(prompt_set.prompts.order_by("position"))
    names = [SYSTEM_NAMES[i] if i < len(SYSTEM_NAMES) else f"SecretModel{i + 1}" for i in range(n_systems)]  # more: benchmarks
    systems = [System.objects.get_or_create(name=name, defaults={"kind": System.Kind.EXTERNAL})[0] for name in names]
    study = Study.objects.create(
        name=name, prompt_set=prompt_set, questions=list(questions), reasons={q: DEFAULT_REASONS[q] for q in questions},
        raters_per_item=raters, tie_policy=Study.TiePolicy.ALLOW if allow_tie else Study.TiePolicy.FORCED,
        lease_seconds=lease_seconds, completion_code=completion_code, status=Study.Status.OPEN,
        attention_threshold=attention_threshold,
        **({"seed": seed} if seed is not None else {}), **options,
    )
    matched = {}
    for index, system in enumerate(systems):
        base = make_video(_media(f"sources/{system.name}.mp4"), seconds=seconds, source=SOURCES[index % len(SOURCES)])
        names = {}
        for prompt in prompts:
            names[prompt.pk] = f"matched/{system.name}_{prompt.key}.mp4"
            if copy_files:
                shutil.copyfile(base, _media(names[prompt.pk]))
            else:
                names[prompt.pk] = str(base.relative_to(settings.MEDIA_ROOT))
        videos = video_rows(system, prompts, width=64, height=48, fps=8, seconds=seconds)
        made = MatchedVideo.objects.bulk_create(
            MatchedVideo(source=video, target_key="t" * 64, file=names[video.prompt_id], status=MatchedVideo.Status.READY,
                         width=64, height=48, fps=8, frame_count=int(8 * seconds), duration=seconds)
            for video in videos
        )
        matched.update({(system.pk, m.source.prompt_id): m for m in made})
    items = []
    for i, a in enumerate(systems):
        for b in systems[i + 1 :]:
            pair = StudyPair.objects.create(study=study, system_a=a, system_b=b)
            items += [
                Item(
                    study=study, pair=pair, prompt=p, video_a=matched[(a.pk, p.pk)].source, video_b=matched[(b.pk, p.pk)].source,
                    matched_a=matched[(a.pk, p.pk)], matched_b=matched[(b.pk, p.pk)], status=Item.Status.READY, raters_needed=raters,
                    shuffle=item_shuffle(seed=study.seed, prompt_key=p.key, system_a=a.name, system_b=b.name),
                )
                for p in prompts
            ]
    Item.objects.bulk_create(items)
    return study

