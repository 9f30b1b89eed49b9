from pathlib import Path

from django.core.management.base import BaseCommand

from annotation.auth import researcher_create
from annotation.models import PromptSet
from annotation.prompt_import import prompt_set_import

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
USERNAME = "researcher"
PASSWORD = "juice-demo"  # noqa: S105 - the demo's published login, for a local machine only
PROMPT_SET = "demo"


class Command(BaseCommand):
    help = "Build the demo data (idempotent): a researcher login and the 8-prompt 'demo' prompt set."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the site is served, for the printed links")

    def handle(self, *args, base_url: str, **options):
        researcher, _ = researcher_create(username=USERNAME, password=PASSWORD)
        prompt_set = PromptSet.objects.filter(name=PROMPT_SET).first()
        if prompt_set is None:
            prompt_set = prompt_set_import(name=PROMPT_SET, source=DEMO_DIR / "prompts.csv", created_by=researcher)
        base = base_url.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    f"Demo ready: prompt set {prompt_set.name!r} with {prompt_set.prompts.count()} prompts.",
                    f"  Researcher login: {base}/login/  username {USERNAME!r}, password {PASSWORD!r}",
                    f"  Admin:            {base}/admin/",
                ]
            )
        )
