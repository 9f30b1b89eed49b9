from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

import analysis.render
from analysis import atomic_writer
from annotation.management.commands._study import study_or_error
from annotation.reports.services import report_render


class Command(BaseCommand):
    help = "Write a study's report (win rates, agreement, reasons, ranking) as JSON, CSV or HTML, or its win tables in LaTeX or Markdown."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("--format", choices=analysis.render.FORMATS, default="json")
        parser.add_argument("-o", "--output", required=True, help="file to write, or - for standard output")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the ranking intervals")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, study: str, format: str, output: str, bootstrap: int, seed: int, **options):
        study = study_or_error(study)
        if bootstrap < 0:
            raise CommandError("--bootstrap must be 0 or more")
        text = report_render(study=study, fmt=format, bootstrap=bootstrap, seed=seed)
        if output == "-":
            self.stdout.write(text, ending="")
            return
        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent}: no such folder")
        with atomic_writer(target) as out:
            out.write(text)
        self.stdout.write(f"Wrote the {format} report of study {study.name!r} to {target}.")
