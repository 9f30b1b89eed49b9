from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from juice.archive import ArchiveError, archive_megabytes
from juice.backup import deployment_backup


class Command(BaseCommand):
    help = (
        "Write the deployment's database (pg_dump, or SQLite's online backup) and media folder to a new archive, "
        "with the sha256 of every file; the site may keep running. The secret key is not included: keep it apart."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the archive file to write (must not exist yet), e.g. juice-2026-01-31.tar")

    def handle(self, *args, archive: str, **options):
        try:
            manifest = deployment_backup(archive=Path(archive), progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        media = sum(1 for name in manifest["files"] if name.startswith("media/"))
        size = archive_megabytes(manifest)
        self.stdout.write(f"Wrote {archive}: the {manifest['engine']} database and {media} media files, {size:.1f} MB, "
                          f"each with its sha256.")
