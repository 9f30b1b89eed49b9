"""`create_study NAME --prompt-set NAME --pair A B [...]`: build the matched pairs and open the study."""

from __future__ import annotations

import json
import time
from pathlib import Path

from celery.signals import task_postrun
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from pydantic import ValidationError
from tqdm import tqdm

from annotation.models import QUESTIONS, Item, Study
from annotation.studies.schemas import StudySpec
from annotation.studies.services import StudyError, study_create
from generation.models import Prompt
from generation.tasks import match_video
from juice.celery import app
from juice.http import validation_message


class Command(BaseCommand):
    help = "Create a study: match both videos of every (pair, prompt) item, then open it for raters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--prompt-set", required=True)
        parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"), help="two systems; repeat for more")
        parser.add_argument("--raters", type=int, default=5, help="distinct raters per item (default 5)")
        parser.add_argument("--questions", default=",".join(QUESTIONS), help="comma-separated (default quality,faithfulness)")
        parser.add_argument("--allow-tie", action="store_true", help='offer "no preference"')
        matching = parser.add_argument_group("matching (default: crop to the common aspect, smaller size, lower fps, shorter)")
        matching.add_argument("--aspect", help="crop, pad, or a ratio W:H (center crop to it)")
        matching.add_argument("--resolution", help="WxH with even sides (default: the smaller of the two)")
        matching.add_argument("--fps", help="frame rate, not above either source's (default: the lower of the two)")
        matching.add_argument("--duration", choices=["shortest", "loop", "freeze"], help="default shortest")
        crowd = parser.add_argument_group("crowd options (the JSON API's names, with dashes)")
        crowd.add_argument("--instructions", help="Markdown file shown before the first item")
        crowd.add_argument("--consent", help="text file a rater agrees to before the first item")
        crowd.add_argument("--qualification", help='JSON file: {"items": [...], "mistakes_allowed": 0}')
        crowd.add_argument("--min-watch-ms", type=int, default=0, help="refuse votes reporting less watch time")
        crowd.add_argument("--completion-url", default="", help="where a rater who finished is sent; {code} is replaced")
        crowd.add_argument("--screenout-url", default="", help="where a screened-out rater is sent; {code} is replaced")
        crowd.add_argument("--signed-links", action="store_true", help="join links must carry sig (see join_links)")
        crowd.add_argument("--early-stop", action="store_true", help="stop handing out an item once its outcome is decided")
        crowd.add_argument("--dynamic", action="store_true", help="stop handing out a pair's items once its outcome is settled")
        crowd.add_argument("--dynamic-alpha", "--alpha", type=float, default=0.05, dest="dynamic_alpha",
                           help="family-wise alpha over the pairs of each question (default 0.05, at most 0.5; --alpha is the same)")
        crowd.add_argument("--dynamic-ranking", action="store_true", help="also stop pairs whose order is known (ranking)")
        crowd.add_argument("--seed", type=int, help="the seed of each rater's order of items (default: random)")
        crowd.add_argument("--samples", default="1", metavar="K",
                           help="samples per prompt compared, sample i against sample i (default 1); "
                                "'matched' or 'items': every sample the systems have")
        crowd.add_argument("--sample-unit", choices=["item", "prompt"],
                           help="the report's unit: each sample's item, or a prompt's majority over its samples "
                                "(default item; prompt with --samples matched)")
        parser.add_argument("--wait", action="store_true", help="with a broker: block until the study is open, with a progress bar")
        parser.add_argument("--timeout", type=float, help="with --wait: give up waiting after this many seconds")

    def handle(self, *args, **options) -> None:
        try:
            spec = StudySpec(
                name=options["name"], prompt_set=options["prompt_set"], pairs=[tuple(p) for p in options["pair"]],
                raters=options["raters"], questions=[q.strip() for q in options["questions"].split(",") if q.strip()],
                allow_tie=options["allow_tie"],
                matching={k: options[k] for k in ("aspect", "resolution", "fps", "duration") if options[k]},
                **_crowd_options(options),
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        in_process = app.conf.task_always_eager
        prompts = Prompt.objects.filter(prompt_set__name=spec.prompt_set).count()
        samples = spec.samples if isinstance(spec.samples, int) else 1  # "matched"/"items": counted once the study exists
        bar = tqdm(total=len(spec.pairs) * prompts * samples, unit="item", desc="matching", file=self.stderr._out,
                   disable=not in_process and not options["wait"], delay=0.5)
        # In-process, the encodes run inside study_create (on commit): the bar follows them as they finish.
        advance = _following(bar, spec.name.strip())
        task_postrun.connect(advance, sender=match_video, weak=False)
        try:
            study = study_create(spec=spec)
            if not in_process and options["wait"]:
                self._wait(study, bar, options["timeout"])
        except StudyError as exc:
            raise CommandError(str(exc)) from None
        finally:
            task_postrun.disconnect(advance, sender=match_video)
            bar.close()
        self._report(study, queued=not in_process and not options["wait"])

    def _report(self, study: Study, *, queued: bool) -> None:
        total = study.items.count()
        self.stdout.write(f"study {study.name!r}: {total} items, matching {study.matching}")
        if queued:
            self.stdout.write("matching queued on the media workers; the study opens when every item is ready")
        study.refresh_from_db()
        failed = study.items.filter(status=Item.Status.FAILED)
        if failed.exists():
            lines = "\n".join(f"  item {i.pk} ({i.prompt.key}): {i.error}" for i in failed.select_related("prompt")[:20])
            raise CommandError(
                f"study {study.name!r} was created but {failed.count()} of {total} items failed matching; "
                f"retry or drop them on /studies/{study.slug}/matching, then it opens:\n{lines}"
            )
        if study.status == Study.Status.OPEN:
            self.stdout.write(self.style.SUCCESS(f"study {study.name!r} is open"))
        self.stdout.write(f"join link: /s/{study.slug}/join")

    def _wait(self, study: Study, bar: tqdm, timeout: float | None) -> None:
        """Poll until the study opens or no item is left pending; the workers do the work."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            counts = _counts(study.name)
            bar.update(counts[Item.Status.READY] + counts[Item.Status.DROPPED] - bar.n)
            if not (Study.objects.filter(pk=study.pk, status=Study.Status.PREPARING).exists() and counts[Item.Status.PENDING]):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(
                    f"study {study.name!r}: {counts[Item.Status.PENDING]} items still matching after {timeout:g} s; "
                    f"are media workers running (celery -A juice worker -Q media)? It opens when they finish: /s/{study.slug}/join"
                )
            time.sleep(0.5)


def _crowd_options(options: dict) -> dict:
    """The crowd options given; the texts and the qualification are read from their files."""
    given = {k: options[k] for k in (
        "min_watch_ms", "completion_url", "screenout_url", "signed_links", "early_stop", "dynamic", "dynamic_alpha",
        "dynamic_ranking", "seed")}
    given["samples"] = int(options["samples"]) if options["samples"].isdigit() else options["samples"]
    if options["sample_unit"]:
        given["sample_unit"] = options["sample_unit"]
    for key in ("instructions", "consent"):
        if options[key]:
            given[key] = _read(options[key], key)
    if options["qualification"]:
        try:
            given["qualification"] = json.loads(_read(options["qualification"], "qualification"))
        except json.JSONDecodeError as exc:
            raise CommandError(f"--qualification {options['qualification']}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return given


def _read(path: str, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"--{option} {path}: cannot read it ({exc})") from None


def _counts(study_name: str) -> dict[str, int]:
    counts = dict.fromkeys(Item.Status.values, 0)
    counts.update(Item.objects.filter(study__name=study_name).order_by().values_list("status").annotate(n=Count("pk")))
    return counts


def _following(bar: tqdm, study_name: str):
    def advance(**_) -> None:
        counts = _counts(study_name)
        bar.update(counts[Item.Status.READY] + counts[Item.Status.DROPPED] - bar.n)

    return advance
