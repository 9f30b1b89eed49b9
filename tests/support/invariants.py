"""The annotation invariants (CONTRACT.md, "Invariants") read back from the database: what any sequence
of requests, valid or not, must leave true. `annotation_problems` names each one that does not hold."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from annotation.models import Assignment, Item, Rater, Report, Study, Vote

VOTED, ACTIVE, REPORTED = Assignment.Status.VOTED, Assignment.Status.ACTIVE, Assignment.Status.REPORTED


def annotation_problems(studies: QuerySet[Study] | None = None) -> list[str]:
    """Each broken invariant of `studies` (every study by default), one line each; [] when all hold."""
    studies = Study.objects.all() if studies is None else studies
    return _item_problems(studies) + _rater_problems(studies) + _vote_problems(studies)


def _item_problems(studies: QuerySet[Study]) -> list[str]:
    """No item has more votes or claims than its raters; its counts are those of its assignments; no rater votes on it twice."""
    items = Item.objects.filter(study__in=studies).annotate(
        voted=Count("assignments", filter=Q(assignments__status=VOTED)),
        live=Count("assignments", filter=Q(assignments__status=ACTIVE)),
        voters=Count("assignments__rater", filter=Q(assignments__status=VOTED), distinct=True),
    )
    problems = [f"{item}: more votes or claims ({item.voted}, {item.claimed}) than its {item.raters_needed} raters"
                for item in items.filter(Q(voted__gt=F("raters_needed")) | Q(claimed__gt=F("raters_needed")))]
    problems += [f"{item}: votes_done {item.votes_done} but {item.voted} voted assignments"
                 for item in items.exclude(votes_done=F("voted"))]
    # A claim is a live lease or a vote (annotation/rating/lease.py).
    problems += [f"{item}: claimed {item.claimed} but {item.live} live and {item.voted} voted assignments"
                 for item in items.exclude(claimed=F("voted") + F("live"))]
    problems += [f"{item}: a rater voted on it twice" for item in items.exclude(voters=F("voted"))]
    return problems


def _rater_problems(studies: QuerySet[Study]) -> list[str]:
    """A rater's count is that of their votes; they hold one live assignment at most, of their own study's items."""
    raters = Rater.objects.filter(study__in=studies).annotate(
        voted=Count("assignments", filter=Q(assignments__status=VOTED)),
        live=Count("assignments", filter=Q(assignments__status=ACTIVE)),
    )
    problems = [f"rater {r.pk}: votes_done {r.votes_done} but {r.voted} voted assignments" for r in raters.exclude(votes_done=F("voted"))]
    problems += [f"rater {r.pk}: {r.live} live assignments at once" for r in raters.filter(live__gt=1)]
    if Assignment.objects.filter(item__study__in=studies).exclude(rater__study=F("item__study")).exists():
        problems.append("an assignment's rater belongs to another study than its item")
    return problems


def _vote_problems(studies: QuerySet[Study]) -> list[str]:
    """A vote belongs to a voted assignment, which has one per question of its study with the study's reasons;
    a report belongs to a reported assignment, which has one."""
    problems = []
    if Vote.objects.filter(assignment__item__study__in=studies).exclude(assignment__status=VOTED).exists():
        problems.append("a vote on an assignment that is not voted (live, expired, reported or practice)")
    for study in studies:
        voted = Assignment.objects.filter(item__study=study, status=VOTED).annotate(
            answered=Count("votes", filter=Q(votes__question__in=study.questions)), total=Count("votes"))
        if voted.exclude(answered=len(study.questions), total=len(study.questions)).exists():
            problems.append(f"{study.slug}: a voted assignment without exactly one vote per question")
        offered = {q: {r["key"] for r in study.reasons.get(q, [])} for q in study.questions}
        problems += [f"{study.slug}: vote {vote.pk} gives reasons {vote.reasons} the study does not offer"
                     for vote in Vote.objects.filter(assignment__item__study=study).only("question", "reasons")
                     if not set(vote.reasons) <= offered.get(vote.question, set())]
    assignments = Assignment.objects.filter(item__study__in=studies)
    if (Report.objects.filter(assignment__item__study__in=studies).exclude(assignment__status=REPORTED).exists()
            or assignments.filter(status=REPORTED, report__isnull=True).exists()):
        problems.append("a report without a reported assignment, or a reported assignment without its report")
    return problems
