"""Dynamic evaluation (Study.dynamic): a pair of systems is handed out no more once its outcome is settled.

The statistics are analysis/sequential.py's: each item's outcome becomes final at the first vote after
which no way its remaining raters could vote changes any question's majority, or at its last rater's
vote (`item_finished`); after each, every pair's path of item outcomes is checked against a
group-sequential boundary that stays valid however often one looks, with sequential Holm over the
pairs of each question (`settle_study`, no alpha spent before the study's `dynamic_burn_in` share of
a pair's items). A pair settled on every question (or, in a ranking study, one whose order settled
pairs imply by transitivity) stops: its items are marked decided, which the claim never hands out
(annotation/rating/claim.py, CLAIMABLE and the re-check on the locked row). A settlement is final:
later changes (a rater excluded by the attention checks) change the report, which recomputes
everything from the votes CSV, but do not reopen the pair.

When: a vote that makes an item's outcome final asks, once it commits, for the study's pairs to be
settled again (`study_settle_request`, run by annotation/rating/voting.py for dynamic studies only). The
request counts up Study.settle_wanted; the recomputation runs under the study's lock (one at a time
per study), reads that count first and the votes after, and stores the count it covered in
Study.settle_done. A request whose count is covered already stops there. So no finished item is
missed (its votes committed before its request counted, and the recomputation that covers the count
reads the votes after reading it), and raters whose items finish while a recomputation runs wait
for it and at most one more, which covers them all.

Serving order: items of undecided pairs only (a settled pair's items are decided), depth first
(claim.DEPTH_CLAIM_SQL): a rater gets the most-claimed item that still has room, so an item finishes as
soon as its raters can give it their votes and each finished item is a look at once, instead of the
least-claimed-first order of other studies, where an item finishes only once every open item has had
the votes before its deciding one (2 of 5 when raters agree) and the first looks come late. Ties go
by the study's shuffle, which mixes the pairs, so each pair's items come in a random order and the
open pairs progress evenly in expectation. The price: a dynamic study has no per-rater order of its
own (raters move through the shuffle together), so position effects are not spread per rater.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from analysis import sequential
from annotation.models import Item, Study, StudyPair, Vote
from annotation.options import option
from annotation.rating.analysed import analysed_votes
from annotation.rating.prepared import run

# The first key of the study's advisory lock (PostgreSQL); the study's id is the second. SQLite runs
# one writing transaction at a time, which is the lock there.
LOCK_SPACE = 22
# A vote that finished an item asks for the study's pairs to be settled again, and is told the count its
# request has.
SETTLE_WANTED_SQL = "UPDATE annotation_study SET settle_wanted = settle_wanted + 1 WHERE id = %(study)s RETURNING settle_wanted"
STATUS = {sequential.OPEN: StudyPair.Status.OPEN, sequential.SETTLED: StudyPair.Status.SETTLED,
          sequential.NOT_NEEDED: StudyPair.Status.NOT_NEEDED}


def study_settle_request(*, study_id: int) -> None:
    """After a vote that made an item's outcome final has committed: count the request, then settle
    the study's pairs unless a recomputation that began after it has done so already."""
    (wanted,), _ = run(SETTLE_WANTED_SQL, {"study": study_id})
    study_pairs_settle(study_id=study_id, covering=wanted["settle_wanted"])


def study_pairs_settle(*, study_id: int, covering: int | None = None) -> bool:
    """Recompute the pairs' states of dynamic study `study_id` from its votes, store them, and mark the
    items of settled (or not needed) pairs decided; False when there was nothing to do (not dynamic, or
    a recomputation already covered request number `covering`). Takes the study's lock for its
    transaction: one recomputation of a study at a time. Safe to re-run."""
    with transaction.atomic():
        _study_lock(study_id)
        study = Study.objects.get(pk=study_id)  # read after the lock: the counts are those of the last recomputation
        if not study.dynamic or (covering is not None and study.settle_done >= covering):
            return False
        covered = study.settle_wanted  # before the votes: every request counted by now has its votes committed
        systems = _systems(study)
        _pairs_store(study, pair_states(study=study, record_order=True, systems=systems), systems)
        Study.objects.filter(pk=study_id).update(settle_done=covered)
    return True


def _study_lock(study_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, study_id])


def pair_states(*, study: Study, record_order: bool = False, systems: dict | None = None) -> dict[int, sequential.PairState]:
    """Every pair's state (by pair id) from the votes the analysis counts (`analysed_votes`, the votes
    CSV's), found as the analysis command finds it from that CSV and the design file: each item's
    finish, then the study's pairs with their looks in the items' `finished_order` (those without
    one after, by finish time and item). `record_order` (under the study's lock) gives the items
    found finished for the first time their places: the order is the order the monitor saw, fixed
    once, so a vote committing late never reorders looks already taken."""
    items = Item.objects.filter(study=study, is_attention=False).exclude(status=Item.Status.DROPPED)
    # Every pair of the study, those with no item left too (all dropped): the design file lists them
    # all, so the analysis counts them in Holm's family, and so does this.
    caps = dict.fromkeys(study.pairs.values_list("pk", flat=True), 0)
    caps.update(items.order_by().values_list("pair_id").annotate(n=Count("pk")))
    votes: dict[int, list[tuple]] = defaultdict(list)
    about: dict[int, tuple[int, int]] = {}
    rows = analysed_votes(study=study).values_list(
        "assignment__item_id", "assignment__item__pair_id", "assignment__item__raters_needed", "created_at", "question", "choice"
    )
    for item, pair, raters, at, question, choice in rows.iterator(chunk_size=5000):
        votes[item].append((at, question, choice))  # a, b or tie: stored in the pair's own orientation
        about[item] = (pair, raters)
    finished = []
    for item, given in votes.items():
        pair, raters = about[item]
        done = sequential.item_finished(given, pair=pair, item=item, questions=study.questions, raters=raters,
                                        allow_tie=study.allow_tie)
        if done is not None:
            finished.append(done)
    finished = _in_finished_order(study, finished, record_order)
    return sequential.settle_study(finished, caps, study.questions, alpha=study.dynamic_alpha, ranking=study.dynamic_ranking,
                                   systems=systems if systems is not None else _systems(study),
                                   burn_in=option("dynamic_burn_in").value(study))


def _in_finished_order(study: Study, finished: list[sequential.Finished], record: bool) -> list[sequential.Finished]:
    """The finished items with their looks' places as their `at`: (0, finished_order) for those with
    one; the others after, by finish time and item, given the next places when `record`."""
    orders = dict(Item.objects.filter(study=study).exclude(finished_order=None).values_list("pk", "finished_order"))
    new = sorted((f for f in finished if f.item not in orders), key=lambda f: (f.at, f.item))
    if record and new:
        start = max(orders.values(), default=0) + 1
        for place, f in enumerate(new, start=start):
            Item.objects.filter(pk=f.item, finished_order=None).update(finished_order=place)
            orders[f.item] = place
    return [replace(f, at=(0, orders[f.item])) if f.item in orders else replace(f, at=(1, f.at)) for f in finished]


def _systems(study: Study) -> dict[int, tuple[str, str]]:
    return {pk: (a, b) for pk, a, b in study.pairs.values_list("pk", "system_a__name", "system_b__name")}


def _pairs_store(study: Study, states: dict[int, sequential.PairState], systems: dict[int, tuple[str, str]]) -> None:
    """Mark the items of the pairs that stop decided, then store every open pair's state (a settled one
    keeps the state it settled with)."""
    stopping = [pk for pk, state in states.items() if state.status != sequential.OPEN]
    if stopping:
        # Attention items check raters, not the pair: they keep being handed out.
        # Locked in id order first, as the lease sweep locks items, so the two never deadlock.
        ids = list(Item.objects.filter(pair_id__in=stopping, is_attention=False, decided=False)
                   .select_for_update().order_by("pk").values_list("pk", flat=True))
        Item.objects.filter(pk__in=ids).update(decided=True)
    # After the items are marked: a claim that begins later finds them decided.
    now = timezone.now()
    levels = _open_levels(states, study.questions, study.dynamic_alpha)
    for pk, state in states.items():
        figures = _figures(state, systems[pk], levels)
        fields = {"reason": _reason(state, figures, study.questions), "figures": figures}
        if state.status != sequential.OPEN:
            fields |= {"status": STATUS[state.status], "settled_at": now}
        StudyPair.objects.filter(pk=pk, status=StudyPair.Status.OPEN).update(**fields)


def _open_levels(states: dict, questions: list[str], alpha: float) -> dict[str, float]:
    """Per question, the level an unsettled pair is tested at now: alpha over the pairs not yet settled."""
    return {q: alpha / max(1, sum(not s.questions[q].settled for s in states.values())) for q in questions}


def _figures(state: sequential.PairState, names: tuple[str, str], levels: dict[str, float]) -> dict:
    """What the study page shows of a pair: per question its winner, at which item, its repeated p-value
    against its Holm level; and its items finished of its cap."""
    questions = {}
    for q, settled in state.questions.items():
        questions[q] = {
            "winner": settled.winner(names), "implied": state.known[q][0] if q in state.known else None,
            "known_by": state.known[q][1] if q in state.known else None,
            "items": settled.items if settled.settled else None,
            "repeated_p": state.repeated_p[q], "adjusted_p": state.adjusted_p[q],
            "level": settled.level if settled.settled else levels[q], "interval": list(state.interval[q]),
            "drift_p": state.drift.get(q), "drift_flagged": state.drift_flagged(q),
        }
    return {"questions": questions, "items_finished": state.items_finished, "cap": state.cap}


def _reason(state: sequential.PairState, figures: dict, questions: list[str]) -> str:
    """Why the pair stands where it does, in words: "quality: X wins (repeated p 0.0004, Holm level
    0.0167) at item 11 of 24; faithfulness: open (repeated p 0.31, Holm level 0.025)"."""
    parts = []
    for q in questions:
        f = figures["questions"][q]
        evidence = f"repeated p {f['repeated_p']:.2g}, Holm level {f['level']:.2g}"
        if f["winner"]:
            halves = (f"; its early and late items DISAGREE (drift p {f['drift_p']:.2g}): raters may have changed, "
                      "check before relying on it" if f["drift_flagged"] else
                      f"; early and late items agree (drift p {f['drift_p']:.2g})")
            parts.append(f"{q}: {f['winner']} wins ({evidence}) at item {f['items']} of {state.cap}{halves}")
        elif f["implied"]:
            parts.append(f"{q}: {f['implied']} ahead by the settled pairs ({evidence})")
        else:
            parts.append(f"{q}: open ({evidence})")
    text = "; ".join(parts)
    if state.status == sequential.NOT_NEEDED:
        return f"not needed: settled pairs imply its order; {text}"
    return text


def votes_saved(*, study: Study) -> dict:
    """The study's votes against its full design (every item with all its raters, attention items and
    dropped items left out): votes spent so far, and votes that will not be asked for, saved by pairs
    settled (dynamic evaluation) and by items stopped early (early stopping), separately. An item of a
    settled pair whose own votes had decided it is counted as stopped early when the study stops items early."""
    rows = list(
        Item.objects.filter(study=study, is_attention=False).exclude(status=Item.Status.DROPPED)
        .values_list("pk", "pair__status", "decided", "raters_needed", "claimed", "votes_done")
    )
    full = sum(r[3] for r in rows)
    cut = [r for r in rows if r[2] and r[1] != StudyPair.Status.OPEN]
    by_outcome = _decided_by_outcome(study, {r[0]: r[3] - r[5] for r in cut}) if study.early_stop else set()
    saved = Counter()
    for pk, status, decided, needed, claimed, _done in rows:
        if decided:
            saved["pairs" if status != StudyPair.Status.OPEN and pk not in by_outcome else "items"] += needed - claimed
    spent = sum(r[5] for r in rows)
    return {
        "full": full, "spent": spent, "saved_pairs": saved["pairs"], "saved_items": saved["items"],
        "saved": saved["pairs"] + saved["items"], "saved_share": (saved["pairs"] + saved["items"]) / full if full else None,
    }


def _decided_by_outcome(study: Study, remaining: dict[int, int]) -> set[int]:
    """Of these items (id: votes still to come), those whose own votes decide their outcome (early stopping's rule)."""
    tallies: dict[int, dict[str, Counter]] = defaultdict(dict)
    votes = (Vote.objects.filter(assignment__item_id__in=list(remaining)).order_by()
             .values_list("assignment__item_id", "question", "choice").annotate(n=Count("pk")))
    for item, question, choice, n in votes:
        tallies[item].setdefault(question, Counter())[choice] = n
    return {pk for pk in tallies if sequential.outcome_final(tallies=tallies[pk], questions=study.questions,
                                                            allow_tie=study.allow_tie, remaining=remaining[pk])}


def pair_rows(*, study: Study) -> list[dict]:
    """The study page's table of pairs: names, status, when it settled, and per question its figures."""
    pairs = study.pairs.select_related("system_a", "system_b").order_by("pk")
    return [
        {"pair": pair, "status": pair.get_status_display(), "settled_at": pair.settled_at, "reason": pair.reason,
         "items_finished": pair.figures.get("items_finished"), "cap": pair.figures.get("cap"),
         "questions": [(q, pair.figures.get("questions", {}).get(q)) for q in study.questions]}
        for pair in pairs
    ]
