from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from juice.auth import researcher_create


class Command(BaseCommand):
    help = "Create a researcher (staff) login, or reset an existing one's password; safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)

    def handle(self, *args, username: str, password: str, **options):
        try:
            user, created = researcher_create(username=username, password=password)
        except ValidationError as exc:
            raise CommandError(f"password refused: {' '.join(exc.messages)}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{'Created' if created else 'Updated'} researcher {user.username!r}; log in at /login/.")
