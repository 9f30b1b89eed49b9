import os

from django.core.management.base import BaseCommand

from generation.tiny import TINY_MORE, TINY_PIPELINES, tiny_models_create


class Command(BaseCommand):
    help = "Write small random-weight pipelines (text-to-video, image-to-video, text-to-image) built from configs; no download."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
        parser.add_argument("--all", action="store_true", help=f"also {', '.join(TINY_MORE.values())}")

    def handle(self, *args, **opts):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        paths = tiny_models_create(directory=opts["directory"], seed=opts["seed"], more=opts["all"])
        classes = {**TINY_PIPELINES, **TINY_MORE}
        for kind, path in paths.items():
            self.stdout.write(f"{kind:15} {classes[kind]:30} {path.resolve()}")
