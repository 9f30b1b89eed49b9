"""`join_links STUDY WORKER... [--file PATH] [--site URL]`: each worker's join link, signed when the study wants it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from annotation.management.commands._study import study_or_error
from annotation.raters.services import JoinError, join_links, usernames_parse


class Command(BaseCommand):
    help = "Print each worker's join link (with sig when the study has signed links), one 'worker<TAB>link' a line."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("workers", nargs="*", metavar="WORKER")
        parser.add_argument("--file", help="a file of worker ids, separated by lines, spaces or commas")
        parser.add_argument("--site", default="http://127.0.0.1:8000", help="the site's address as raters reach it")

    def handle(self, *args, study: str, workers: list[str], file: str | None, site: str, **options):
        study = study_or_error(study)
        if file:
            try:
                workers = [*workers, *usernames_parse(Path(file).read_text(encoding="utf-8-sig"))]
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"--file {file}: cannot read it ({exc})") from None
        if not workers:
            raise CommandError("name at least one worker id (or --file)")
        try:
            links = join_links(study=study, worker_ids=workers, base_url=site.rstrip("/") + reverse("rater-join", args=[study.slug]))
        except JoinError as exc:
            raise CommandError(str(exc)) from None
        for worker, link in links.items():
            self.stdout.write(f"{worker}\t{link}")
