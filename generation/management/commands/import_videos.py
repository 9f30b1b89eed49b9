from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.models import PromptSet, System
from generation.systems.videos import VideoImportError, videos_import


class Command(BaseCommand):
    help = "Import an external system's videos from a folder or .zip of <prompt id>.<ext> files."

    def add_arguments(self, parser):
        parser.add_argument("path", help="folder or .zip of <prompt id>.mp4|webm|mov|mkv|gif files")
        parser.add_argument("--system", required=True, help="name of an external system (add_system NAME --external)")
        parser.add_argument("--prompt-set", required=True, help="name of the prompt set the ids refer to")
        parser.add_argument("--replace", action="store_true", help="replace videos these prompts already have")

    def handle(self, *args, path: str, system: str, prompt_set: str, replace: bool, **options):
        target = System.objects.filter(name=system).first()
        if target is None:
            raise CommandError(f"no system named {system!r}; create it with: manage.py add_system {system} --external")
        prompts = PromptSet.objects.filter(name=prompt_set).first()
        if prompts is None:
            raise CommandError(f"no prompt set named {prompt_set!r}; import it with: manage.py import_prompts PATH --name {prompt_set}")

        def bar(items, total):
            return tqdm(items, total=total, desc="probing", unit="video", disable=None)

        try:
            videos = videos_import(system=target, prompt_set=prompts, source=path, replace=replace, progress=bar)
        except VideoImportError as exc:
            raise CommandError(str(exc)) from None
        have = target.videos.filter(prompt__prompt_set=prompts).count()
        self.stdout.write(
            f"Imported {len(videos)} video{'' if len(videos) == 1 else 's'} for system {target.name!r}; "
            f"{have} of {prompts.prompts.count()} prompts of {prompts.name!r} now have one."
        )
