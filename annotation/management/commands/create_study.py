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

from annotation.models import Item, Study
from annotation.options import GROUPS, MATCHING_PARTS, OPTIONS, Option
from annotation.studies.schemas import study_spec_model
from annotation.studies.services import study_create
from generation.matching.policy import POLICY_HELP
from generation.models import Prompt
from generation.tasks import match_video
from juice.celery import app
from juice.http import validation_message
from juice.refusals import Invalid


class Command(BaseCommand):
    help = "Create a study: match both videos of every (pair, prompt) item, then open it for raters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--prompt-set", required=True)
        parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"), help="two systems; repeat for more")
        groups = {group: parser.add_argument_group(title.lower(), text) for group, (title, text) in GROUPS.items()}
        for declared in OPTIONS:
            _add_flags(groups.get(declared.group, parser), declared)
        parser.add_argument("--wait", action="store_true", help="with a broker: block until the study is open, with a progress bar")
        parser.add_argument("--timeout", type=float, help="with --wait: give up waiting after this many seconds")

    def handle(self, *args, **options) -> None:
        try:
            given = {d.name: _given(d, options) for d in OPTIONS}
            # As JSON, as the API reads it: the same value is refused with the same message.
            spec = study_spec_model().model_validate_json(json.dumps({
                "name": options["name"], "prompt_set": options["prompt_set"], "pairs": options["pair"],
                **{name: value for name, value in given.items() if value is not None},
            }))
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
        except Invalid as exc:  # the study's, or an invitation's (an unknown account)
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


# Options whose value is a file's text, or a JSON file's content, on the command line.
FILE_KINDS = {"longtext": "FILE", "json": "JSON_FILE", "reasons": "JSON_FILE"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_flags(parser, declared: Option) -> None:
    """The flag (or, for the matching policy, the flags) of one declared option; given nothing, the
    option keeps the schema's default."""
    help_text = declared.full_help.replace("%", "%%")
    names = [_flag(declared.name), *(_flag(alias) for alias in declared.aliases)]
    if declared.kind == "parts":
        for part in MATCHING_PARTS:
            parser.add_argument(_flag(part), dest=f"{declared.name}_{part}", metavar=part.upper(), help=POLICY_HELP[part])
    elif declared.kind == "bool":
        parser.add_argument(*names, dest=declared.name, action="store_true", default=None, help=help_text)
    elif declared.kind == "names":
        parser.add_argument(*names, dest=declared.name, action="append", metavar="NAME", help=help_text)
    else:
        metavar = FILE_KINDS.get(declared.kind) or ("|".join(declared.choices) if declared.kind == "choice" else
                                                    ",".join(declared.choices) if declared.kind == "multichoice" else "VALUE")
        parser.add_argument(*names, dest=declared.name, metavar=metavar, help=help_text)


def _given(declared: Option, options: dict):
    """The value of one option on the command line, or None for its default; files are read."""
    if declared.kind == "parts":
        return {part: options[f"{declared.name}_{part}"] for part in MATCHING_PARTS if options[f"{declared.name}_{part}"]}
    value = options[declared.name]
    if value is None:
        return None
    if declared.kind in FILE_KINDS:
        text = _read(value, declared.name)
        return text if declared.kind == "longtext" else _json(text, value, declared.name)
    return _typed(declared, value)


def _typed(declared: Option, value):
    """A flag's text as the option's type (the schema refuses it with its own message otherwise)."""
    try:
        if declared.kind == "int":
            return int(value)
        if declared.kind == "float":
            return float(value)
    except ValueError:
        raise CommandError(f"{_flag(declared.name)}: {value!r} is not a number") from None
    if declared.kind == "multichoice":
        return [v.strip() for v in value.split(",") if v.strip()]
    if declared.kind == "samples":
        return int(value) if value.isdigit() else value
    return value


def _json(text: str, path: str, option: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{_flag(option)} {path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _read(path: str, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{_flag(option)} {path}: cannot read it ({exc})") from None


def _counts(study_name: str) -> dict[str, int]:
    counts = dict.fromkeys(Item.Status.values, 0)
    counts.update(Item.objects.filter(study__name=study_name).order_by().values_list("status").annotate(n=Count("pk")))
    return counts


def _following(bar: tqdm, study_name: str):
    def advance(**_) -> None:
        counts = _counts(study_name)
        bar.update(counts[Item.Status.READY] + counts[Item.Status.DROPPED] - bar.n)

    return advance
