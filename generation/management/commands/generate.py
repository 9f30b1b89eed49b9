import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.jobs.progress import generation_progress
from generation.jobs.queueing import JobError, generation_queue
from generation.jobs.reconcile import jobs_requeue_stale
from generation.models import PromptSet, System


class Command(BaseCommand):
    help = "Queue generation jobs of a system for a prompt set (videos already made are skipped)."

    def add_arguments(self, parser):
        parser.add_argument("--system", help="name of a generated system")
        parser.add_argument("--prompt-set", help="name of the prompt set")
        parser.add_argument("--seed", type=int, help="base seed (video seed = base + prompt position); default: the system's")
        parser.add_argument("--samples", type=int, default=1, metavar="K",
                            help="videos per prompt, samples 0..K-1, each with its own seed "
                                 "(base + position + sample * 1,000,000); default 1")
        parser.add_argument("--wait", action="store_true", help="block until every job is done or failed, with a progress bar")
        parser.add_argument("--requeue-stale", action="store_true", help="first re-queue jobs whose worker stopped (no heartbeat)")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks with --wait")

    def handle(self, *args, **opts):
        if opts["requeue_stale"]:
            self.stdout.write(f"Re-queued {jobs_requeue_stale()} job(s) of lost workers.")
            if not opts["system"]:
                return
        if not opts["system"] or not opts["prompt_set"]:
            raise CommandError("give --system NAME and --prompt-set NAME")
        system = System.objects.filter(name=opts["system"]).first()
        if system is None:
            raise CommandError(f"no system named {opts['system']!r} (add it with add_system)")
        prompt_set = PromptSet.objects.filter(name=opts["prompt_set"]).first()
        if prompt_set is None:
            raise CommandError(f"no prompt set named {opts['prompt_set']!r} (import it with import_prompts)")
        try:
            queued = generation_queue(system=system, prompt_set=prompt_set, seed=opts["seed"], samples=opts["samples"])
        except JobError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{system.name}: queued {queued.queued} job(s), skipped {queued.skipped} already generated or running.")
        if opts["wait"]:
            self._wait(system, prompt_set, opts["poll"])

    def _wait(self, system, prompt_set, poll):
        with tqdm(desc=system.name, unit="video", file=sys.stderr) as bar:
            while True:
                (progress,) = generation_progress(systems=[system], prompt_set=prompt_set)
                bar.total = progress.total
                bar.n = progress.done + progress.failed
                bar.set_postfix(running=progress.running, queued=progress.queued, failed=progress.failed)
                bar.refresh()
                if progress.finished:
                    break
                time.sleep(poll)
        self.stdout.write(f"{system.name}: {progress.done} done, {progress.failed} failed of {progress.total}.")
        if progress.failed:
            for key, error in progress.errors:
                self.stderr.write(f"  {key}: {error}")
            raise CommandError(f"{progress.failed} video(s) of {system.name} failed")
