from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from juice.archive import ArchiveError
from juice.backup import deployment_restore


class Command(BaseCommand):
    help = (
        "Rebuild the deployment from an archive written by `backup`: every checksum is verified first, then the "
        "database is replaced (one transaction) and the media files restored. Refuses a deployment that holds data "
        "unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="an archive written by manage.py backup")
        parser.add_argument("--force", action="store_true", help="replace a database that holds data (all of it is lost)")

    def handle(self, *args, archive: str, force: bool, **options):
        try:
            manifest = deployment_restore(archive=Path(archive), force=force, progress=self.stdout.write)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Restored the deployment as it was at {manifest['created_at']}.")
        if manifest["migrate"]:
            self.stdout.write("This code has newer migrations than the archive's database: run `manage.py migrate` now.")
