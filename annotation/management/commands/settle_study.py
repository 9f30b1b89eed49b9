"""`settle_study STUDY [--check]`: a dynamic study's pair states recomputed from scratch, from all its votes.

Settlement normally runs in the background and advances a stored state by the newly finished items
(annotation/rating/dynamic.py). This recomputes every pair from all the votes the analysis counts:
with `--check` it compares that with the stored state and writes nothing (exit 1 and each difference
when they disagree); without, it stores the recomputation (items' outcomes, pairs' paths) and settles.
"""

from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._study import study_or_error
from annotation.rating.dynamic import settlement_check, study_pairs_rebuild


class Command(BaseCommand):
    help = "Recompute a dynamic study's pair states from all its votes; --check compares them with the stored state."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name or slug")
        parser.add_argument("--check", action="store_true", help="compare with the stored state and write nothing; exit 1 if they differ")

    def handle(self, *args, study: str, check: bool, **options):
        study = study_or_error(study)
        if not study.dynamic:
            raise CommandError(f"study {study.name!r} is not dynamic: it has no pair states to settle")
        if check:
            differences = settlement_check(study=study)
            if differences:
                lines = [f"{d.pair}: {d.what}" if d.pair else d.what for d in differences]
                raise CommandError("the stored state differs from the recomputation:\n" + "\n".join(lines))
            self.stdout.write(f"{study.name}: the stored state of {study.pairs.count()} pairs equals the recomputation from all votes")
            return
        states = study_pairs_rebuild(study_id=study.pk)
        stopped = sum(state.status != "open" for state in states.values())
        self.stdout.write(f"{study.name}: {len(states)} pairs recomputed from all votes and stored; {stopped} stopped")
