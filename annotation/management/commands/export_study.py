from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._study import study_or_error
from annotation.studies.transfer import study_export
from juice.archive import ArchiveError, archive_megabytes


class Command(BaseCommand):
    help = (
        "Write one study to a new archive for import_study on another deployment: its settings, prompt set, systems' "
        "metadata, source and matched videos (files with their sha256), items, raters, assignments, votes and reports."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("out", help="the archive file to write (must not exist yet), e.g. study.tar")

    def handle(self, *args, study: str, out: str, **options):
        study = study_or_error(study)
        try:
            manifest = study_export(study=study, archive=Path(out), progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        files, size = len(manifest["files"]), archive_megabytes(manifest)
        self.stdout.write(f"Wrote study {study.name!r} to {out} ({files} files, {size:.1f} MB, each with its sha256).")
