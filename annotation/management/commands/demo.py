"""`manage.py demo`: the whole platform on one machine, from nothing, in about two minutes on a laptop CPU.

It builds small random-weight pipelines locally (no download), registers two generated systems
(direct text-to-video, and factorized text-to-image then image-to-video) and one external system
whose videos it makes from ffmpeg test patterns and imports as an upload would be, generates the
videos, and creates a study over the three pairs. Every step reuses what an earlier run made.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from pathlib import Path

import ffmpeg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Study
from annotation.studies.schemas import StudySpec
from annotation.studies.services import StudyError, study_create
from generation.models import PromptSet, System
from generation.pipelines.classes import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO
from generation.prompts.importing import prompt_set_import
from generation.systems.services import system_add
from generation.systems.videos import videos_import
from juice.auth import researcher_create
from juice.celery import app

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
USERNAME = "researcher"
PASSWORD = "juice-demo"  # noqa: S105 - the demo's published login, for a local machine only
PROMPT_SET = "demo"
STUDY = "demo"
RATERS = 5
RATER_LINKS = 5

# Small and few steps: the tiny pipelines' output is noise whatever the settings, so the demo
# spends its time on the platform, not on denoising. LTX wants sides in multiples of 32 and
# 8k+1 frames.
VIDEO_PARAMS = {"num_frames": 17, "height": 64, "width": 96, "num_inference_steps": 3, "max_sequence_length": 16, "fps": 8}
# Emu Video's text-to-image stage: zero terminal-SNR schedule with v-prediction.
IMAGE_PARAMS = {
    "num_inference_steps": 3,
    "scheduler": {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction"},
}
T2V, FACTORIZED, EXTERNAL = "demo-t2v", "demo-factorized", "demo-external"
# The external system's videos: another size, aspect and frame rate than the generated ones, so
# matching has work to do (crop to a common aspect, the smaller size, the lower rate, the shorter length).
EXTERNAL_FORMAT = {"size": "160x120", "rate": 12, "duration": 2.5}
PATTERNS = ("testsrc2", "mandelbrot", "life", "smptehdbars")


# What a researcher's instructions look like (Markdown): the task, and an example of each reason.
DEMO_INSTRUCTIONS = """Watch **both videos all the way through**, then answer two questions and tick why.

- **Quality**: which video looks better as a video? For example *pixel sharpness* (crisp, not blurry),
  *motion smoothness* (no stutter), *recognizable objects/scenes*, *frame consistency* (things keep
  their shape), *amount of motion* (something actually happens).
- **Faithfulness**: which video better follows the text? *Spatial text alignment* (the right things,
  in the right places) and *temporal text alignment* (the right actions, in the right order).

If a video does not play, or the two videos do not show the same prompt, use **Report a problem**.
"""


class Command(BaseCommand):
    help = (
        "Build the demo (idempotent): tiny local pipelines, systems demo-t2v, demo-factorized and demo-external, "
        "their videos for the 8-prompt set 'demo', the study 'demo' (5 raters per item), a researcher login."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the site is served, for the printed links")
        parser.add_argument("--models", type=Path, default=Path(settings.BASE_DIR) / "var" / "tiny",
                            help="folder of the tiny pipelines (built there when missing; default var/tiny)")

    def handle(self, *args, base_url: str, models: Path, **options):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny pipelines are local; nothing is fetched
        started = time.monotonic()
        researcher, _ = researcher_create(username=USERNAME, password=PASSWORD)
        prompt_set = PromptSet.objects.filter(name=PROMPT_SET).first()
        if prompt_set is None:
            prompt_set = prompt_set_import(name=PROMPT_SET, source=DEMO_DIR / "prompts.csv", created_by=researcher)
        tiny = self._tiny_models(models.resolve())
        systems = {
            T2V: self._system(name=T2V, pipeline="LTXPipeline", model=str(tiny[TEXT_TO_VIDEO]), params=VIDEO_PARAMS),
            FACTORIZED: self._system(
                name=FACTORIZED, pipeline="factorized", model=str(tiny[IMAGE_TO_VIDEO]),
                image_model=str(tiny[TEXT_TO_IMAGE]), params={**VIDEO_PARAMS, "image": IMAGE_PARAMS},
            ),
            EXTERNAL: self._system(name=EXTERNAL, external=True),
        }
        for name in (T2V, FACTORIZED):
            self._generate(name, prompt_set)
        self._external_videos(systems[EXTERNAL], prompt_set)
        study = self._study(prompt_set, [(systems[T2V], systems[FACTORIZED]), (systems[T2V], systems[EXTERNAL]),
                                         (systems[FACTORIZED], systems[EXTERNAL])], researcher)
        self._say(f"Demo data ready in {time.monotonic() - started:.0f} s.")
        self._print_links(base_url.rstrip("/"), prompt_set, study)

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _tiny_models(self, directory: Path) -> dict[str, Path]:
        paths = {kind: directory / kind for kind in (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, TEXT_TO_IMAGE)}
        if all((path / "model_index.json").is_file() for path in paths.values()):
            return paths
        # Imported here: torch and diffusers take seconds to load, and a second run needs neither.
        from generation.tiny import tiny_models_create

        self._say(f"Building the tiny random-weight pipelines under {directory} (no download) ...")
        _quiet_libraries()
        return tiny_models_create(directory=directory)

    def _system(self, *, name: str, **config) -> System:
        system = System.objects.filter(name=name).first()
        if system is None:
            system = system_add(name=name, **config)
            self._say(f"Added system {name} ({system.pipeline or system.kind}).")
        return system

    def _generate(self, name: str, prompt_set: PromptSet) -> None:
        system = System.objects.get(name=name)
        if system.videos.filter(prompt__prompt_set=prompt_set).count() == prompt_set.prompts.count():
            return
        where = "in this process" if app.conf.task_always_eager else "on the gpu and media workers"
        self._say(f"Generating the videos of {name} {where} ...")
        _quiet_libraries()
        step = time.monotonic()
        # The generate command's --wait: a progress bar, and the failures named if any.
        call_command("generate", "--system", name, "--prompt-set", prompt_set.name, "--wait", "--poll", "0.5",
                     stdout=self.stdout, stderr=self.stderr)
        self._say(f"  took {time.monotonic() - step:.0f} s")

    def _external_videos(self, system: System, prompt_set: PromptSet) -> None:
        have = set(system.videos.filter(prompt__prompt_set=prompt_set).values_list("prompt__key", flat=True))
        missing = [p.key for p in prompt_set.prompts.order_by("position") if p.key not in have]
        if not missing:
            return
        self._say(f"Making {len(missing)} videos of {system.name} from ffmpeg test patterns and importing them as an upload ...")
        with tempfile.TemporaryDirectory(prefix="juice-demo-") as scratch:
            archive = Path(scratch) / f"{system.name}.zip"
            with zipfile.ZipFile(archive, "w") as zipped:
                for index, key in enumerate(missing):
                    path = Path(scratch) / f"{key}.mp4"
                    _test_pattern(path, PATTERNS[index % len(PATTERNS)])
                    zipped.write(path, path.name)
            videos_import(system=system, prompt_set=prompt_set, source=archive)

    def _study(self, prompt_set: PromptSet, pairs: list[tuple[System, System]], researcher) -> Study:
        study = Study.objects.filter(name=STUDY).first()
        if study is None:
            self._say(f"Creating the study {STUDY!r}: matching {len(pairs) * prompt_set.prompts.count()} pairs of videos ...")
            step = time.monotonic()
            try:
                spec = StudySpec(
                    name=STUDY, prompt_set=prompt_set.name, pairs=[(a.name, b.name) for a, b in pairs], raters=RATERS,
                    instructions=DEMO_INSTRUCTIONS,
                )
                study = study_create(spec=spec, created_by=researcher)
            except StudyError as exc:
                raise CommandError(str(exc)) from None
            study.refresh_from_db()
            self._say(f"  took {time.monotonic() - step:.0f} s")
        if study.status == Study.Status.PREPARING and not app.conf.task_always_eager:
            self._say("  matching runs on the media workers; the study opens when every item is ready.")
        return study

    def _print_links(self, base: str, prompt_set: PromptSet, study: Study) -> None:
        tasks = (
            "Tasks run in this process (no CELERY_BROKER_URL): the web server is the worker."
            if app.conf.task_always_eager
            else f"Tasks go to Celery workers on {settings.CELERY_BROKER_URL} (queues gpu and media)."
        )
        lines = [
            "",
            f"Prompt set {prompt_set.name!r}: {prompt_set.prompts.count()} prompts. Study {study.name!r}: "
            f"{study.items.count()} items, {study.raters_per_item} raters per item ({study.status}).",
            "The tiny pipelines have random weights: their videos are noise. demo-external shows ffmpeg test patterns.",
            tasks,
            "",
            f"Researcher login:  {base}/login/   username {USERNAME!r}, password {PASSWORD!r}",
            f"The study:         {base}/studies/{study.slug}",
            f"Report:            {base}/studies/{study.slug}/report.html",
            f"Admin:             {base}/admin/",
            "Annotator join links (one per rater; each rates every item once):",
            *(f"  {base}/s/{study.slug}/join?worker=demo-rater-{i}" for i in range(1, RATER_LINKS + 1)),
            "",
        ]
        self._say("\n".join(lines))


def _quiet_libraries() -> None:
    # The tiny tokenizers truncate the prompts and every load draws bars: noise to a newcomer.
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for library in (diffusers_logging, transformers_logging):
        library.set_verbosity_error()
        library.disable_progress_bar()


def _test_pattern(path: Path, pattern: str) -> None:
    size, rate, duration = EXTERNAL_FORMAT["size"], EXTERNAL_FORMAT["rate"], EXTERNAL_FORMAT["duration"]
    (
        ffmpeg.input(f"{pattern}=size={size}:rate={rate}", f="lavfi", t=duration)
        .output(str(path), vcodec="libx264", pix_fmt="yuv420p", preset="ultrafast", an=None)
        .overwrite_output()
        .run(quiet=True)
    )
