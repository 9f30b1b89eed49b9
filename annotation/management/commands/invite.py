"""`invite STUDY USERNAME... [--create] [--remove]`: the accounts that may join a study without a worker id."""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from annotation.management.commands._study import study_or_error
from annotation.raters.services import InviteError, study_invite, study_uninvite


class Command(BaseCommand):
    help = "Invite accounts to a study (they log in and open its join link without a worker id), or withdraw invitations."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")
        parser.add_argument("--create", action="store_true",
                            help="create the accounts that do not exist yet, with random passwords printed once")
        parser.add_argument("--remove", action="store_true", help="withdraw these invitations instead")

    def handle(self, *args, study: str, usernames: list[str], create: bool, remove: bool, **options):
        study = study_or_error(study)
        if remove:
            if create:
                raise CommandError("--create and --remove do not go together")
            try:
                count = study_uninvite(study=study, usernames=usernames)
            except InviteError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Withdrew {count} invitation(s) to study {study.name!r}.")
        else:
            try:
                invited = study_invite(study=study, usernames=usernames, create=create)
            except InviteError as exc:
                raise CommandError(f"{exc}{' (--create makes them)' if exc.unknown else ''}") from None
            for name, password in invited.created.items():
                self.stdout.write(f"created account {name}  password {password}")
            self.stdout.write(f"Invited {invited.added} more account(s) to study {study.name!r}; they log in and open "
                              f"{reverse('rater-join', args=[study.slug])}")
        self.stdout.write(f"Invited now: {', '.join(study.invited_names()) or 'nobody'}")
