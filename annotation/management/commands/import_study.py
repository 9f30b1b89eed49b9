from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.studies.transfer import study_import
from juice.archive import ArchiveError


class Command(BaseCommand):
    help = (
        "Create a study here from an archive written by export_study. Every checksum is verified first and the "
        "import is one transaction: on any error nothing is left. A study of the same name is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="an archive written by manage.py export_study")
        parser.add_argument("--name", help="import the study under this name (a copy: new slug, new links)")
        parser.add_argument("--prompt-set", help="create its prompt set under this name (where one of its name exists with other prompts)")

    def handle(self, *args, file: str, name: str | None, prompt_set: str | None, **options):
        try:
            study = study_import(archive=Path(file), name=name, prompt_set=prompt_set, progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Study {study.name!r} is at /s/{study.slug}/ ({study.items.count()} items, {study.raters.count()} raters).")
