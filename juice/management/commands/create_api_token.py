from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from juice.auth import api_token_create


class Command(BaseCommand):
    help = "Create a JSON API token for a researcher; the key is printed once and only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to recognise the token by")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}; create one with: manage.py create_researcher {username} --password ...")
        if not user.is_staff or not user.is_active:
            raise CommandError(f"{username!r} is not an active researcher (staff user); the API would refuse its token")
        key = api_token_create(user=user, name=name)
        self.stdout.write(key)
        self.stderr.write(f"API token for {username!r} created; send it as 'Authorization: Token <key>'. It is shown only now.")
