from django.core.management.base import BaseCommand, CommandError

from generation.prompts.importing import PromptImportError, prompt_set_import


class Command(BaseCommand):
    help = "Import a prompt set from a .csv, .jsonl, .txt file or a .zip of one with its images."

    def add_arguments(self, parser):
        parser.add_argument("path", help="prompt file (.csv, .jsonl, .txt) or .zip with images")
        parser.add_argument("--name", required=True, help="name of the new prompt set")

    def handle(self, *args, path: str, name: str, **options):
        try:
            prompt_set = prompt_set_import(name=name, source=path)
        except PromptImportError as exc:
            raise CommandError(str(exc)) from None
        prompts = prompt_set.prompts
        images = prompts.exclude(image="").count()
        categories = prompts.exclude(category="").values("category").distinct().count()
        self.stdout.write(
            f"Imported {prompts.count()} prompts into prompt set {prompt_set.name!r} "
            f"({categories} categories, {images} with images)."
        )
