"""Studies: create one (one item per pair, prompt and sample, matched before anyone looks), pause,
resume or close it, and retry or drop an item whose matching failed."""

from __future__ import annotations

from django.db import transaction

from annotation.models import DEFAULT_REASONS, Item, Study, StudyPair, new_seed
from annotation.options import OPTIONS
from annotation.raters.order import item_shuffle
from annotation.raters.services import study_invite
from annotation.rating.analysed import report_outdated
from annotation.rating.dynamic import item_settlement_due
from annotation.studies.matching import encodes_send, items_refresh, matching_enqueue
from annotation.studies.schemas import StudyBase
from generation.matching.policy import MatchingError, match_target, policy_parse
from generation.models import MatchedVideo, Prompt, PromptSet, System, Video
from juice.refusals import Invalid


class StudyError(Invalid):
    """A study that cannot be created or changed as asked; the message says why."""


class ItemStateError(StudyError):
    """The item is not in a state that allows this action (say, retrying an item that did not fail)."""


Pair = tuple[System, System]
Videos = dict[tuple[int, int, int], Video]  # (system id, prompt id, sample) -> video


@transaction.atomic
def study_create(*, spec: StudyBase, created_by=None, background: bool = False) -> Study:
    """Create a study and its items, all or nothing; matching starts after commit and opens the study
    when every item is ready. Its accounts (`spec.invite`) are invited in the same transaction.
    `background`: the caller answers at once even with tasks in-process (a web request); the command
    leaves it off, so that it returns when the study is open."""
    name = spec.name.strip()
    if not name:
        raise StudyError("a study needs a name")
    if Study.objects.filter(name=name).exists():
        raise StudyError(f"a study named {name!r} already exists")
    prompt_set = PromptSet.objects.filter(name=spec.prompt_set).first()
    if prompt_set is None:
        raise StudyError(f"no prompt set named {spec.prompt_set!r}")
    prompts = list(prompt_set.prompts.order_by("position"))
    if not prompts:
        raise StudyError(f"prompt set {prompt_set.name!r} has no prompts")
    pairs = _pairs(spec.pairs)
    videos, samples = _videos(prompt_set, prompts, pairs, spec.samples)
    try:
        policy = policy_parse(spec.matching)
    except MatchingError as exc:
        raise StudyError(f"matching: {exc}") from None
    # Targets are computed now, from the probed formats, so that a policy that cannot apply to some
    # item (an fps above a source's) is refused before anything is written.
    targets = {(a.pk, b.pk, p.pk, i): _target(a, b, p, i, videos, policy) for a, b in pairs for p in prompts for i in range(samples)}
    study = Study.objects.create(
        name=name, prompt_set=prompt_set, created_by=created_by,
        **_stored(spec, questions=list(dict.fromkeys(spec.questions)), reasons=_reasons(spec), matching=policy, samples=samples,
                  sample_unit=spec.report_unit, qualification=_qualification(spec, prompt_set),
                  seed=new_seed() if spec.seed is None else spec.seed),
    )
    for a, b in pairs:
        pair = StudyPair.objects.create(study=study, system_a=a, system_b=b)
        Item.objects.bulk_create(
            Item(study=study, pair=pair, prompt=p, sample=i, video_a=videos[(a.pk, p.pk, i)], video_b=videos[(b.pk, p.pk, i)],
                 raters_needed=spec.raters, matching_params=targets[(a.pk, b.pk, p.pk, i)],
                 shuffle=item_shuffle(seed=study.seed, prompt_key=p.key, system_a=a.name, system_b=b.name, sample=i))
            for p in prompts
            for i in range(samples)
        )
    if spec.invite:
        study_invite(study=study, usernames=spec.invite)
    matching_enqueue(study_id=study.pk, background=background)
    return study


# Options stored otherwise than as their value in a field of their name (annotation/options.py).
STORED_AS = {
    "allow_tie": lambda allow: {"tie_policy": Study.TiePolicy.ALLOW if allow else Study.TiePolicy.FORCED},
    "completion_code": lambda code: {"completion_code": code} if code else {},  # blank: the model makes one
    "invite": lambda names: {},  # accounts, invited once the study exists
}


def _stored(spec: StudyBase, **checked) -> dict:
    """The study's fields from its options: `checked` holds the values the service worked out (the
    matching policy parsed, the qualification checked, the samples counted); options without a field
    of their own go in `Study.options`."""
    fields, extra = {}, {}
    for declared in OPTIONS:
        value = checked.get(declared.name, getattr(spec, declared.name))
        if declared.name in STORED_AS:
            fields.update(STORED_AS[declared.name](value))
        elif declared.column is None:
            extra[declared.name] = value
        else:
            fields[declared.column or declared.name] = value
    return {**fields, "options": extra}


def _qualification(spec: StudyBase, prompt_set: PromptSet) -> dict:
    """The qualification items checked against the prompt set, the systems' videos and the study's
    questions; {} for none."""
    if spec.qualification is None:
        return {}
    items = []
    for number, item in enumerate(spec.qualification.items, start=1):
        where = f"qualification item {number}"
        try:
            ((a, b),) = _pairs([item.pair])
        except StudyError as exc:
            raise StudyError(f"{where}: {exc}") from None
        if {frozenset(p) for p in spec.pairs}.isdisjoint({frozenset(item.pair)}):
            raise StudyError(f"{where}: the pair {item.pair[0]} / {item.pair[1]} is not one of the study's pairs")
        prompt = prompt_set.prompts.filter(key=item.prompt).first()
        if prompt is None:
            raise StudyError(f"{where}: no prompt {item.prompt!r} in prompt set {prompt_set.name!r}")
        if Video.objects.filter(prompt=prompt, system__in=[a, b], sample=0).count() != 2:
            raise StudyError(f"{where}: {a.name} and {b.name} need a video of prompt {item.prompt!r}")
        for question, answer in item.answers.items():
            if question not in spec.questions:
                raise StudyError(f"{where}: the study does not ask {question!r}")
            if answer not in (*item.pair, *(["tie"] if spec.allow_tie else [])):
                raise StudyError(f"{where}: the answer to {question!r} must be {item.pair[0]!r} or {item.pair[1]!r}")
        items.append(item.model_dump(mode="json"))
    return {"items": items, "mistakes_allowed": spec.qualification.mistakes_allowed}


def _pairs(names: list[tuple[str, str]]) -> list[Pair]:
    """The pairs of systems named, each of two different systems and none given twice."""
    systems = {s.name: s for s in System.objects.filter(name__in={n for pair in names for n in pair})}
    pairs, seen = [], set()
    for number, (a, b) in enumerate(names, start=1):
        unknown = [n for n in (a, b) if n not in systems]
        if unknown:
            raise StudyError(f"pair {number}: no system named {unknown[0]!r}")
        if a == b:
            raise StudyError(f"a pair needs two different systems, got {a} twice")
        if frozenset((a, b)) in seen:
            raise StudyError(f"the pair {a} / {b} is given twice")
        seen.add(frozenset((a, b)))
        pairs.append((systems[a], systems[b]))
    return pairs


def _videos(prompt_set: PromptSet, prompts: list[Prompt], pairs: list[Pair], samples: int | str) -> tuple[Videos, int]:
    """Every video the items need, and the number of samples per prompt compared; all of them must
    exist. `samples` "matched" or "items" compares every sample the pairs' systems have."""
    systems = {s.pk for pair in pairs for s in pair}
    found = Video.objects.filter(system__in=systems, prompt__prompt_set=prompt_set)
    videos = {(v.system_id, v.prompt_id, v.sample): v for v in found}
    if isinstance(samples, str):
        samples = 1 + max((sample for _s, _p, sample in videos), default=0)
    missing = sorted({
        f"{s.name}/{p.key}" + (f" sample {i}" if samples > 1 else "")
        for pair in pairs for s in pair for p in prompts for i in range(samples) if (s.pk, p.pk, i) not in videos
    })
    if missing:
        raise StudyError(f"{len(missing)} videos are missing (generate or import them first): {', '.join(missing[:10])}")
    return videos, samples


def _target(a: System, b: System, prompt: Prompt, sample: int, videos: Videos, policy: dict) -> dict:
    """An item's matching parameters: the policy, the common target and each side's spec."""
    try:
        return {"policy": policy, **match_target(videos[(a.pk, prompt.pk, sample)], videos[(b.pk, prompt.pk, sample)], policy)}
    except MatchingError as exc:
        which = f" (sample {sample})" if sample else ""
        raise StudyError(f"matching {a.name}/{prompt.key} with {b.name}/{prompt.key}{which}: {exc}") from None


def _reasons(spec: StudyBase) -> dict:
    """The reasons offered per question: the study's own, or the JUICE reasons of the Emu Video paper."""
    reasons = {}
    for question in spec.questions:
        given = [{"key": r.key, "label": r.label or r.key.replace("_", " ").capitalize()} for r in spec.reasons.get(question, [])]
        if len({r["key"] for r in given}) != len(given):
            raise StudyError(f"reasons for {question!r} need distinct keys")
        reasons[question] = given or DEFAULT_REASONS[question]
    return reasons


@transaction.atomic
def item_retry(*, item: Item) -> Item:
    """Match a failed item again: its failed encodes go back to pending and matching runs again."""
    if not Item.objects.filter(pk=item.pk, status=Item.Status.FAILED).update(status=Item.Status.PENDING, error=""):
        raise ItemStateError(f"item {item.pk} has not failed, there is nothing to retry")
    MatchedVideo.objects.filter(pk__in=[item.matched_a_id, item.matched_b_id], status=MatchedVideo.Status.FAILED).update(
        status=MatchedVideo.Status.PENDING, error=""
    )
    matching_enqueue(study_id=item.study_id)
    item.refresh_from_db()
    return item


@transaction.atomic
def item_drop(*, item: Item) -> Item:
    """Leave an item out of the study: one whose matching failed (the study opens if it was the last one
    in the way), or a ready one a rater reported (it is handed out no more, and its votes leave the
    export and the report)."""
    droppable = [Item.Status.FAILED, Item.Status.READY, Item.Status.PENDING]
    if not Item.objects.filter(pk=item.pk, status__in=droppable).update(status=Item.Status.DROPPED):
        raise ItemStateError(f"item {item.pk} was dropped already")
    transaction.on_commit(lambda: items_refresh(study_id=item.study_id))
    report_outdated(study_id=item.study_id)
    if item.study.dynamic and not item.is_attention:  # its votes leave the pair's path, and the item its cap
        item_settlement_due(study_id=item.study_id, item_id=item.pk)
    item.refresh_from_db()
    return item


@transaction.atomic
def item_rematch(*, item: Item) -> Item:
    """Make a ready item's two encodes again (a rater reported that a video does not play): the item is
    not handed out meanwhile, and is again once both are ready. Votes it has keep counting."""
    if not Item.objects.filter(pk=item.pk, status=Item.Status.READY).update(status=Item.Status.PENDING, error=""):
        raise ItemStateError(f"item {item.pk} is not ready; only a ready item can be matched again")
    encodes = [item.matched_a_id, item.matched_b_id]
    MatchedVideo.objects.filter(pk__in=encodes, status__in=[MatchedVideo.Status.READY, MatchedVideo.Status.FAILED]).update(
        status=MatchedVideo.Status.PENDING, error=""
    )
    encodes_send(encodes)
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
