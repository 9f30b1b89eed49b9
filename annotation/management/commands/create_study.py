"""`create_study NAME --prompt-set NAME --pair A B [...]`: build the matched pairs and open the study."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from tqdm import tqdm

from annotation.models import QUESTIONS, Item, PromptSet, Study
from annotation.studies import StudyError, study_create
from generation.models import System


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
        parser.add_argument("--wait", action="store_true", help="with a broker: block until the study is open, with a progress bar")

    def handle(self, *args, **options) -> None:
        prompt_set = PromptSet.objects.filter(name=options["prompt_set"]).first()
        if prompt_set is None:
            raise CommandError(f"no prompt set named {options['prompt_set']!r} (import it with import_prompts)")
        names = {n for pair in options["pair"] for n in pair}
        systems = {s.name: s for s in System.objects.filter(name__in=names)}
        unknown = sorted(names - set(systems))
        if unknown:
            raise CommandError(f"unknown system {', '.join(unknown)} (add it with add_system)")
        matching = {k: options[k] for k in ("aspect", "resolution", "fps", "duration") if options[k]}
        try:
            study = study_create(
                name=options["name"],
                prompt_set=prompt_set,
                pairs=[(systems[a], systems[b]) for a, b in options["pair"]],
                raters_per_item=options["raters"],
                questions=[q.strip() for q in options["questions"].split(",") if q.strip()],
                allow_tie=options["allow_tie"],
                matching=matching,
            )
        except StudyError as exc:
            raise CommandError(str(exc)) from None

        from juice.celery import app

        in_process = app.conf.task_always_eager
        total = study.items.count()
        self.stdout.write(f"study {study.name!r}: {total} items, matching {study.matching}")
        if not in_process and not options["wait"]:
            self.stdout.write("matching queued on the media workers; the study opens when every item is ready")
        elif not in_process:
            self._wait(study, total)
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

    def _wait(self, study: Study, total: int) -> None:
        """Poll until the study opens or an item fails; workers do the work."""
        with tqdm(total=total, unit="item", desc="matching", file=self.stderr._out) as bar:
            while True:
                counts = dict.fromkeys(Item.Status.values, 0)
                counts.update(study.items.order_by().values_list("status").annotate(n=Count("pk")))
                bar.update(counts[Item.Status.READY] + counts[Item.Status.DROPPED] - bar.n)
                status = Study.objects.values_list("status", flat=True).get(pk=study.pk)
                if status != Study.Status.PREPARING or (counts[Item.Status.FAILED] and not counts[Item.Status.PENDING]):
                    return
                time.sleep(0.5)
