"""Dynamic evaluation (Study.dynamic): a pair of systems is handed out no more once its outcome is settled.

The statistics are analysis/sequential.py's: each item's outcome becomes final at the first vote after
which no way its remaining raters could vote changes any question's majority, or at its last rater's
vote (`item_finished`); after each, every pair's path of item outcomes is checked against a
group-sequential boundary that stays valid however often one looks, with sequential Holm over the
pairs of each question (`settle_paths`, no alpha spent before the study's `dynamic_burn_in` share of
a pair's items). A pair settled on every question (or, in a ranking study, one whose order settled
pairs imply by transitivity) stops: its items are marked decided, which the claim never hands out
(annotation/rating/claim.py, CLAIMABLE and the re-check on the locked row). A settlement is final:
later changes (a rater excluded by the attention checks) change the report, which recomputes
everything from the votes CSV, but do not reopen the pair.

Off the vote path. A vote that makes an item's outcome final only marks the item (`settle_due`, on
the row its own transaction has locked already) and asks for the study's settlement in the background
(`item_settlement_due`: juice.background, coalesced under `settle:<study>`, at most one run and one
waiting per study); it answers without waiting. So does the item's last vote, in case votes the
analysis leaves out (a rater below the attention threshold) made it look final sooner than it is.
Between a finish and its settlement, claims go on as before.

Incremental. The state is stored: each item's outcome as settlement found it (Item.outcome) and its
look's place (Item.finished_order, given once, in the order the monitor saw it, so that a vote
committing late never reorders looks already taken), and each pair's path per question
(StudyPair.paths: its finished items' outcomes in that order). A run (`study_pairs_settle`, under the
study's lock: an advisory lock on PostgreSQL, SQLite's one writer elsewhere) takes the marked items,
reads their analysed votes only, gives the newly finished ones their places, rebuilds the paths of
the pairs they changed from their items' stored outcomes, and runs sequential Holm over every pair's
stored path. When the raters the analysis leaves out change (attention checks, screening), their
voted items go through the run too. Nothing it reads grows with the study's votes. The sequential
test's numeric state (`sequential.Monitor`, hundreds of kilobytes per pair and question) is not
stored: analysis/sequential.py keeps Monitors per process keyed by their path (`track`) and advances
a kept one by the new outcomes; a process that has none (a fresh worker) rebuilds it from the
stored path, arithmetic only, no vote read. Safe to re-run: a second delivery finds nothing marked.

From scratch: `pair_states` recomputes every pair from all the analysed votes, as the analysis
command does from the votes CSV and the design file; `manage.py settle_study SLUG --check` compares
it with the stored state (`settlement_check`), and without `--check` stores it (`study_pairs_rebuild`).

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
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from analysis import sequential
from annotation.models import Assignment, Item, Rater, Study, StudyPair, Vote
from annotation.options import option
from annotation.rating.analysed import analysed_votes, rater_excluded
from annotation.rating.prepared import run
from juice.background import background_run, background_task

# The first key of the study's advisory lock (PostgreSQL); the study's id is the second. SQLite runs
# one writing transaction at a time, which is the lock there.
LOCK_SPACE = 22
# In the vote's transaction, on the item row it has locked already: settlement has to look at this item.
SETTLE_DUE_SQL = "UPDATE annotation_item SET settle_due = TRUE WHERE id = %(item)s"
STATUS = {sequential.OPEN: StudyPair.Status.OPEN, sequential.SETTLED: StudyPair.Status.SETTLED,
          sequential.NOT_NEEDED: StudyPair.Status.NOT_NEEDED}
# An outcome as stored, one letter per question (Item.outcome, StudyPair.paths), and back.
LETTER = {sequential.A_WINS: "a", sequential.B_WINS: "b", sequential.TIE: "t"}
LABEL = {letter: label for label, letter in LETTER.items()}


def settle_key(study_id: int) -> str:
    """The background work key of a study's settlement: its runs are coalesced under it."""
    return f"settle:{study_id}"


def item_settlement_due(*, study_id: int, item_id: int) -> None:
    """In the transaction of a vote that made item `item_id`'s outcome final (or was its last), or that
    dropped the item: mark the item for settlement and ask for a settlement run once the transaction
    commits. Costs a vote one UPDATE of a row it holds, and one statement after its commit; it never
    waits on a settlement."""
    run(SETTLE_DUE_SQL, {"item": item_id})
    settlement_request(study_id=study_id)


def settlement_request(*, study_id: int) -> None:
    """Ask for study `study_id`'s settlement once the caller's transaction commits (coalesced)."""
    background_run(study_settle, study_id, key=settle_key(study_id))


@background_task
def study_settle(study_id: int) -> None:
    """The background run: advance the study's stored pair states by what changed since the last run."""
    study_pairs_settle(study_id=study_id)


def study_pairs_settle(*, study_id: int) -> dict[int, sequential.PairState] | None:
    """Advance dynamic study `study_id`'s stored pair states by the items marked since the last run (and
    the items of raters whose exclusion changed), store them, and mark the items of the pairs that stop
    decided. Returns the states, or None when there was nothing to do (not dynamic, nothing new). Takes
    the study's lock for its transaction: runs of one study never interleave. Safe to re-run."""
    with transaction.atomic():
        _study_lock(study_id)
        study = Study.objects.get(pk=study_id)  # read after the lock: the state of the last run
        if not study.dynamic:
            return None
        excluded = raters_left_out(study=study)
        changed = excluded ^ set(study.settle_excluded)
        # Locked in id order (as the lease sweep and _pairs_store lock items); an item a vote holds is left
        # marked: that vote asks for a run of its own once it commits.
        due = set(Item.objects.filter(study=study, settle_due=True).select_for_update(skip_locked=True)
                  .order_by("pk").values_list("pk", flat=True))
        if not due and not changed:
            return None
        Item.objects.filter(pk__in=due).update(settle_due=False)
        if changed:
            due |= set(Assignment.objects.filter(rater_id__in=changed, status=Assignment.Status.VOTED, item__study=study,
                                                 item__is_attention=False).values_list("item_id", flat=True))
            Study.objects.filter(pk=study_id).update(settle_excluded=sorted(excluded))
        _paths_advance(study, _items_advance(study, due, excluded))
        systems = _systems(study)
        states = _stored_states(study, systems)
        _pairs_store(study, states, systems)
    return states


def study_pairs_rebuild(*, study_id: int) -> dict[int, sequential.PairState]:
    """Recompute dynamic study `study_id`'s stored state from all its analysed votes (items' outcomes,
    places for finished items that lack one, every pair's path), store it and settle: the repair that
    `settle_study SLUG` runs. Under the study's lock."""
    with transaction.atomic():
        _study_lock(study_id)
        study = Study.objects.get(pk=study_id)
        excluded = raters_left_out(study=study)
        Item.objects.filter(study=study, settle_due=True).update(settle_due=False)
        Study.objects.filter(pk=study_id).update(settle_excluded=sorted(excluded))
        _items_advance(study, None, excluded)
        _paths_advance(study, set(), every=True)
        systems = _systems(study)
        states = _stored_states(study, systems)
        _pairs_store(study, states, systems)
    return states


def _study_lock(study_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, study_id])


def raters_left_out(*, study: Study) -> set[int]:
    """The raters whose votes the analysis leaves out (`analysed_votes`): screened out, or below the
    attention threshold (only a rater who failed a check can be)."""
    raters = Rater.objects.filter(Q(screened_out=True) | Q(attention_failed__gt=0), study=study)
    return {r.pk for r in raters if r.screened_out or rater_excluded(rater=r, study=study)}


def _finished(study: Study, items: set[int] | None, excluded: set[int] | None = None) -> dict[int, sequential.Finished]:
    """The finished items (of `items`, or all) from the votes the analysis counts, by item."""
    votes = analysed_votes(study=study) if excluded is None else (
        analysed_votes(study=study, include_excluded=True).exclude(assignment__rater__in=excluded))
    if items is not None:
        votes = votes.filter(assignment__item_id__in=items)
    given: dict[int, list[tuple]] = defaultdict(list)
    about: dict[int, tuple[int, int]] = {}
    rows = votes.values_list("assignment__item_id", "assignment__item__pair_id", "assignment__item__raters_needed", "created_at",
                             "question", "choice")
    for item, pair, raters, at, question, choice in rows.iterator(chunk_size=5000):
        given[item].append((at, question, choice))  # a, b or tie: stored in the pair's own orientation
        about[item] = (pair, raters)
    finished = {}
    for item, votes_of in given.items():
        pair, raters = about[item]
        done = sequential.item_finished(votes_of, pair=pair, item=item, questions=study.questions, raters=raters,
                                        allow_tie=study.allow_tie)
        if done is not None:
            finished[item] = done
    return finished


def _letters(study: Study, finished: sequential.Finished) -> str:
    return "".join(LETTER[finished.outcomes[q]] for q in study.questions)


def _items_advance(study: Study, items: set[int] | None, excluded: set[int]) -> set[int]:
    """Find `items`' outcomes (every item's, for None) from their analysed votes, store those that changed
    (the newly finished ones get the next places, by finish time then item) and return the pairs whose
    paths changed."""
    if items is not None and not items:
        return set()
    finished = _finished(study, items, excluded)
    rows = Item.objects.filter(study=study, is_attention=False) if items is None else Item.objects.filter(pk__in=items)
    stored = {pk: (pair, outcome, order) for pk, pair, outcome, order in rows.values_list("pk", "pair_id", "outcome", "finished_order")}
    changed = {pk: _letters(study, finished[pk]) if pk in finished else "" for pk in stored}
    changed = {pk: outcome for pk, outcome in changed.items() if outcome != stored[pk][1]}
    new = sorted((finished[pk] for pk in changed if stored[pk][2] is None and pk in finished), key=lambda f: (f.at, f.item))
    start = (Item.objects.filter(study=study).aggregate(last=Max("finished_order"))["last"] or 0) + 1
    places = {f.item: place for place, f in enumerate(new, start=start)}
    rows = [Item(pk=pk, outcome=outcome, finished_order=places.get(pk, stored[pk][2])) for pk, outcome in changed.items()]
    Item.objects.bulk_update(sorted(rows, key=lambda i: i.pk), ["outcome", "finished_order"], batch_size=500)
    return {stored[pk][0] for pk in changed}


def _paths_advance(study: Study, pairs: set[int], every: bool = False) -> None:
    """Store the paths of `pairs` (of every pair, with `every`) from their items' stored outcomes in order."""
    targets = list(study.pairs.values_list("pk", flat=True)) if every else sorted(pairs)
    if not targets:
        return
    paths = {pk: {q: [] for q in study.questions} for pk in targets}
    rows = (Item.objects.filter(pair_id__in=targets, is_attention=False).exclude(status=Item.Status.DROPPED).exclude(outcome="")
            .order_by("finished_order", "pk").values_list("pair_id", "outcome"))
    for pair, outcome in rows:
        for q, letter in zip(study.questions, outcome, strict=True):
            paths[pair][q].append(letter)
    for pk, path in paths.items():
        StudyPair.objects.filter(pk=pk).update(paths={q: "".join(letters) for q, letters in path.items()})


def _caps(study: Study) -> dict[int, int]:
    """Each pair's item count: its items, attention and dropped ones left out. Every pair of the study, those
    with no item left too (all dropped): the design file lists them all, so the analysis counts them in
    Holm's family, and so does this."""
    items = Item.objects.filter(study=study, is_attention=False).exclude(status=Item.Status.DROPPED)
    caps = dict.fromkeys(study.pairs.values_list("pk", flat=True), 0)
    caps.update(items.order_by().values_list("pair_id").annotate(n=Count("pk")))
    return caps


def _settled(study: Study, paths: dict[int, dict[str, list[str]]], systems: dict) -> dict[int, sequential.PairState]:
    return sequential.settle_paths(paths, _caps(study), study.questions, alpha=study.dynamic_alpha, ranking=study.dynamic_ranking,
                                   systems=systems, burn_in=option("dynamic_burn_in").value(study))


def stored_paths(*, study: Study) -> dict[int, dict[str, list[str]]]:
    """Every pair's stored path per question, as outcome labels (sequential.A_WINS, ...)."""
    return {pk: {q: [LABEL[letter] for letter in stored.get(q, "")] for q in study.questions}
            for pk, stored in study.pairs.values_list("pk", "paths")}


def _stored_states(study: Study, systems: dict) -> dict[int, sequential.PairState]:
    return _settled(study, stored_paths(study=study), systems)


def scratch_paths(*, study: Study) -> tuple[dict[int, dict[str, list[str]]], dict[int, str]]:
    """Every pair's path per question recomputed from all the analysed votes, and every finished item's
    outcome letters: the looks in the items' `finished_order` (finished items without one after, by
    finish time and item)."""
    finished = _finished(study, None)
    orders = dict(Item.objects.filter(study=study).exclude(finished_order=None).values_list("pk", "finished_order"))
    ordered = sorted(finished.values(), key=lambda f: (0, orders[f.item], f.item) if f.item in orders else (1, f.at, f.item))
    paths = {pk: {q: [] for q in study.questions} for pk in study.pairs.values_list("pk", flat=True)}
    for f in ordered:
        for q in study.questions:
            paths[f.pair][q].append(f.outcomes[q])
    return paths, {pk: _letters(study, f) for pk, f in finished.items()}


def pair_states(*, study: Study, systems: dict | None = None) -> dict[int, sequential.PairState]:
    """Every pair's state recomputed from scratch from the votes the analysis counts (`analysed_votes`,
    the votes CSV's), found as the analysis command finds it from that CSV and the design file."""
    return _settled(study, scratch_paths(study=study)[0], systems if systems is not None else _systems(study))


@dataclass(frozen=True)
class Difference:
    """Where the stored state and the recomputation from scratch disagree."""

    pair: str  # "A vs B", or "" for an item
    what: str


def settlement_check(*, study: Study) -> list[Difference]:
    """Recompute `study`'s pairs from all its analysed votes and compare with the stored state: each pair's
    path per question, each item's stored outcome, and the states (status, winner, repeated p-value,
    items) the stored paths and the recomputed ones give; a pair stored open must be open in the
    recomputation (a settlement is final, so a stopped pair may differ later). Empty when they agree.
    Items still marked for settlement are reported as such: the state is behind, not wrong."""
    differences = []
    behind = Item.objects.filter(study=study, settle_due=True).count()
    if behind or raters_left_out(study=study) != set(study.settle_excluded):
        differences.append(Difference("", f"behind: {behind} items wait for settlement, or the raters left out changed"))
    paths, outcomes = scratch_paths(study=study)
    stored = stored_paths(study=study)
    names = {pk: f"{a} vs {b}" for pk, (a, b) in _systems(study).items()}
    for pk in paths:
        for q in study.questions:
            if paths[pk][q] != stored[pk][q]:
                differences.append(Difference(names[pk], f"{q}: stored path {_path(stored[pk][q])!r}, recomputed {_path(paths[pk][q])!r}"))
    kept = dict(Item.objects.filter(study=study).exclude(outcome="").values_list("pk", "outcome"))
    if kept != outcomes:
        wrong = sorted(set(kept.items()) ^ set(outcomes.items()))[:5]
        differences.append(Difference("", f"item outcomes differ (item, outcome): {wrong}"))
    systems = _systems(study)
    mine, theirs = _settled(study, stored, systems), _settled(study, paths, systems)
    status = dict(study.pairs.values_list("pk", "status"))
    for pk in paths:
        if state_summary(mine[pk], systems[pk]) != state_summary(theirs[pk], systems[pk]):
            differences.append(Difference(names[pk], f"stored paths give {state_summary(mine[pk], systems[pk])}, "
                                                     f"recomputed {state_summary(theirs[pk], systems[pk])}"))
        if status[pk] == StudyPair.Status.OPEN and theirs[pk].status != sequential.OPEN:
            differences.append(Difference(names[pk], f"stored open, but the recomputation stops it ({theirs[pk].status})"))
    return differences


def _path(labels: list[str]) -> str:
    return "".join(LETTER[label] for label in labels)


def state_summary(state: sequential.PairState, names: tuple[str, str]) -> dict:
    """What a pair's state decides: its status, items finished, and per question its winner, the item it
    settled at and its repeated p-value."""
    return {"status": state.status, "items_finished": state.items_finished,
            "questions": {q: (s.winner(names), s.items if s.settled else None, state.repeated_p[q]) for q, s in state.questions.items()}}


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
    # After the items are marked: a claim that begins later finds them decided. Only the open pairs whose
    # figures changed are written (a run that finishes one item changes one pair's, mostly).
    now = timezone.now()
    levels = _open_levels(states, study.questions, study.dynamic_alpha)
    stored = dict(study.pairs.filter(status=StudyPair.Status.OPEN).values_list("pk", "figures"))
    for pk, state in states.items():
        figures = _figures(state, systems[pk], levels)
        if pk not in stored or (figures == stored[pk] and state.status == sequential.OPEN):
            continue
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
