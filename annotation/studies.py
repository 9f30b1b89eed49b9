"""Creating studies: validate the settings, make one item per (pair, prompt), then match the videos."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.db import transaction

from annotation.models import DEFAULT_REASONS, QUESTIONS, REASON_KEY, Item, PromptSet, Study, StudyPair
from generation.matching import MatchingError, items_refresh, match_target, policy_parse
from generation.models import MatchedVideo, System, Video


class StudyError(ValueError):
    """A study that cannot be created as asked; the message says why."""


def _check_reasons(questions: Sequence[str], reasons: dict | None) -> dict:
    reasons = {q: (reasons or {}).get(q) or DEFAULT_REASONS[q] for q in questions}
    for question, items in reasons.items():
        keys = [r.get("key") for r in items]
        if not keys or len(set(keys)) != len(keys):
            raise StudyError(f"reasons for {question!r} need distinct keys")
        bad = [k for k in keys if not isinstance(k, str) or not re.fullmatch(REASON_KEY, k)]
        if bad:
            raise StudyError(f"reason key {bad[0]!r} of {question!r}: use 1-64 lowercase letters, digits or _")
        for r in items:
            r.setdefault("label", r["key"].replace("_", " ").capitalize())
    return reasons


@transaction.atomic
def study_create(
    *,
    name: str,
    prompt_set: PromptSet,
    pairs: Iterable[tuple[System, System]],
    raters_per_item: int = 5,
    questions: Sequence[str] = QUESTIONS,
    reasons: dict | None = None,
    allow_tie: bool = False,
    lease_seconds: int = 600,
    completion_code: str | None = None,
    instructions: str = "",
    matching: dict | None = None,
    attention_items: int = 0,
    attention_threshold: float | None = None,
    created_by=None,
) -> Study:
    """Create a study and its items; matching starts after commit and opens the study when done."""
    name = name.strip()
    if not name:
        raise StudyError("a study needs a name")
    if Study.objects.filter(name=name).exists():
        raise StudyError(f"a study named {name!r} already exists")
    questions = list(dict.fromkeys(questions))
    unknown = [q for q in questions if q not in QUESTIONS]
    if not questions or unknown:
        raise StudyError(f"questions must be among {', '.join(QUESTIONS)}; got {', '.join(unknown) or 'none'}")
    if raters_per_item < 1:
        raise StudyError("raters per item must be at least 1")
    if lease_seconds < 10:
        raise StudyError("the lease must be at least 10 seconds")
    if attention_items < 0:
        raise StudyError("the number of attention items cannot be negative")
    if attention_threshold is not None and not 0 <= attention_threshold <= 1:
        raise StudyError("the attention threshold is a pass rate between 0 and 1")
    pairs = list(pairs)
    if not pairs:
        raise StudyError("a study needs at least one pair of systems")
    seen = set()
    for a, b in pairs:
        if a.pk == b.pk:
            raise StudyError(f"a pair needs two different systems, got {a.name} twice")
        if frozenset((a.pk, b.pk)) in seen:
            raise StudyError(f"the pair {a.name} / {b.name} is given twice")
        seen.add(frozenset((a.pk, b.pk)))

    prompts = list(prompt_set.prompts.order_by("position"))
    if not prompts:
        raise StudyError(f"prompt set {prompt_set.name!r} has no prompts")
    systems = {s.pk for pair in pairs for s in pair}
    videos = {(v.system_id, v.prompt_id): v for v in Video.objects.filter(system__in=systems, prompt__prompt_set=prompt_set)}
    missing = [f"{s.name}/{p.key}" for a, b in pairs for s in (a, b) for p in prompts if (s.pk, p.pk) not in videos]
    if missing:
        shown = ", ".join(sorted(set(missing))[:10])
        raise StudyError(f"{len(set(missing))} videos are missing (generate or import them first): {shown}")
    try:
        policy = policy_parse(matching)
    except MatchingError as exc:
        raise StudyError(f"matching: {exc}") from None
    # Targets are computed now, from the probed formats, so that a policy that cannot apply to
    # some item (an fps above a source's) is refused before anything is written.
    params = {}
    for a, b in pairs:
        for p in prompts:
            va, vb = videos[(a.pk, p.pk)], videos[(b.pk, p.pk)]
            try:
                params[(a.pk, b.pk, p.pk)] = {"policy": policy, **match_target(va, vb, policy)}
            except MatchingError as exc:
                raise StudyError(f"matching {a.name}/{p.key} with {b.name}/{p.key}: {exc}") from None

    study = Study.objects.create(
        name=name,
        prompt_set=prompt_set,
        questions=questions,
        reasons=_check_reasons(questions, reasons),
        raters_per_item=raters_per_item,
        tie_policy=Study.TiePolicy.ALLOW if allow_tie else Study.TiePolicy.FORCED,
        lease_seconds=lease_seconds,
        instructions=instructions,
        matching=policy,
        attention_items=attention_items,
        attention_threshold=attention_threshold,
        created_by=created_by,
        **({"completion_code": completion_code} if completion_code is not None else {}),
    )
    items = []
    for a, b in pairs:
        pair = StudyPair.objects.create(study=study, system_a=a, system_b=b)
        items += [
            Item(
                study=study, pair=pair, prompt=p, video_a=videos[(a.pk, p.pk)], video_b=videos[(b.pk, p.pk)],
                raters_needed=raters_per_item, matching_params=params[(a.pk, b.pk, p.pk)],
            )
            for p in prompts
        ]
    Item.objects.bulk_create(items)
    _enqueue_matching(study.pk)
    return study


def _enqueue_matching(study_id: int) -> None:
    # Matching encodes both sides of each item on the media queue, then opens the study.
    from generation.tasks import match_study

    transaction.on_commit(lambda: match_study.delay(study_id))


class ItemStateError(StudyError):
    """The item is not in a state that allows this action (say, retrying an item that did not fail)."""


@transaction.atomic
def item_retry(*, item: Item) -> Item:
    """Match a failed item again: its failed encodes go back to pending and matching runs again."""
    if not Item.objects.filter(pk=item.pk, status=Item.Status.FAILED).update(status=Item.Status.PENDING, error=""):
        raise ItemStateError(f"item {item.pk} has not failed, there is nothing to retry")
    MatchedVideo.objects.filter(pk__in=[item.matched_a_id, item.matched_b_id], status=MatchedVideo.Status.FAILED).update(
        status=MatchedVideo.Status.PENDING, error=""
    )
    _enqueue_matching(item.study_id)
    item.refresh_from_db()
    return item


@transaction.atomic
def item_drop(*, item: Item) -> Item:
    """Leave a failed item out of the study; the study opens if it was the last one in the way."""
    if not Item.objects.filter(pk=item.pk, status=Item.Status.FAILED).update(status=Item.Status.DROPPED):
        raise ItemStateError(f"item {item.pk} has not failed; only failed items can be dropped")
    transaction.on_commit(lambda: items_refresh(study_id=item.study_id))
    item.refresh_from_db()
    return item


# Which status a researcher may move a study to, from which.
STATUS_MOVES = {
    Study.Status.PAUSED: {Study.Status.OPEN},
    Study.Status.OPEN: {Study.Status.PAUSED},
    Study.Status.CLOSED: {Study.Status.OPEN, Study.Status.PAUSED},
}


def study_status_set(*, study: Study, status: str) -> Study:
    """Pause, resume or close a study; a paused study hands out no new items, a closed one takes no votes."""
    allowed = STATUS_MOVES.get(status)
    if allowed is None:
        raise StudyError(f"unknown study status {status!r}")
    moved = Study.objects.filter(pk=study.pk, status__in=allowed).update(status=status)
    if not moved:
        raise StudyError(f"a {study.status} study cannot become {status}")
    study.refresh_from_db(fields=["status"])
    return study
