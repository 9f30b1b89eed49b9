import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import atomic_writer
from annotation.management.commands._study import study_or_error
from annotation.reports.exports import votes_write


class Command(BaseCommand):
    help = "Write a study's votes as the votes CSV (one row per rating and question)."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("-o", "--output", required=True, help="CSV file to write, or - for standard output")
        parser.add_argument(
            "--all-raters", action="store_true",
            help="keep raters under the study's attention threshold (left out by default)",
        )

    def handle(self, *args, study: str, output: str, all_raters: bool, **options):
        study = study_or_error(study)
        if output == "-":
            count = votes_write(study=study, out=sys.stdout, include_excluded=all_raters)
            self.stderr.write(f"Wrote {count} vote rows of study {study.name!r}.")
            return
        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent}: no such folder")
        with atomic_writer(target) as out:
            count = votes_write(study=study, out=out, include_excluded=all_raters)
        self.stdout.write(f"Wrote {count} vote rows of study {study.name!r} to {target}.")
