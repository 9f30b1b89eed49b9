import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import atomic_writer
from annotation.management.commands._study import study_or_error
from annotation.reports.exports import study_design, votes_write


class Command(BaseCommand):
    help = "Write a study's votes as the votes CSV (one row per rating and question), and optionally its design file."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("-o", "--output", required=True, help="CSV file to write, or - for standard output")
        parser.add_argument(
            "--all-raters", action="store_true",
            help="keep raters under the study's attention threshold (left out by default)",
        )
        parser.add_argument(
            "--design", metavar="PATH",
            help="also write the study's design file (JSON), which `python -m analysis report --design` reads beside the CSV",
        )

    def handle(self, *args, study: str, output: str, all_raters: bool, design: str | None, **options):
        study = study_or_error(study)
        if design == "-":
            raise CommandError("--design takes a file path (standard output carries the votes)")
        targets = [Path(path) for path in (output, design) if path not in (None, "-")]
        for target in targets:
            if not target.parent.is_dir():
                raise CommandError(f"{target.parent}: no such folder")
        if design is not None:
            with atomic_writer(Path(design)) as out:
                out.write(json.dumps(study_design(study=study), indent=2) + "\n")
        also = f" and its design file to {design}" if design else ""
        if output == "-":
            count = votes_write(study=study, out=sys.stdout, include_excluded=all_raters)
            self.stderr.write(f"Wrote {count} vote rows of study {study.name!r}{also}.")
            return
        with atomic_writer(Path(output)) as out:
            count = votes_write(study=study, out=out, include_excluded=all_raters)
        self.stdout.write(f"Wrote {count} vote rows of study {study.name!r} to {output}{also}.")
