"""Dynamic evaluation (Study.dynamic): a pair of systems is handed out no more once the sequential test
settles it, while raters rate at once through the real `next` and vote API; the other pairs go on."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from annotation.models import Assignment, Item, StudyPair, Vote
from annotation.rating.dynamic import LOCK_SPACE, pair_states, settle_key, settlement_check, study_pairs_settle
from generation.models import System
from juice.auth import api_token_create
from juice.background import work_run_once
from tests.support.builders import build_open_study
from tests.support.rating import join, next_item, vote
from tests.support.researcher import page_cell, page_cells
from tests.support.settlement import settlement_caught_up, settlement_idle

RATERS_PER_ITEM = 3
WORKERS = 5
PROMPTS = 20
# Each simulated rater's time on an item: far below a person's seconds, far above a settling's milliseconds.
WATCH_SECONDS = 0.05


def preferred(study, pair: StudyPair, prompt_key: str) -> str:
    """The system every rater picks: SecretModelX always wins against SecretModelY (a clear pair); the
    other pairs are a coin flip, balanced: prompts alternate between their two systems."""
    if (pair.system_a.name, pair.system_b.name) == ("SecretModelX", "SecretModelY"):
        return "a"
    return "a" if int(prompt_key[1:]) % 2 else "b"


def rate_until_done(study, worker: str, client: Client, errors: list) -> None:
    """One rater: `next`, then votes with ?next=1 (as the rating page does) until nothing is left."""
    try:
        join(study, worker, client=client)
        offer = next_item(client, study)
        while offer["assignment"] is not None:
            item = Item.objects.select_related("pair__system_a", "pair__system_b", "prompt").get(assignments__token=offer["assignment"])
            side = preferred(study, item.pair, item.prompt.key)
            left = Assignment.objects.get(token=offer["assignment"]).left
            choice = "left" if side == left else "right"
            body = {q: {"choice": choice, "reasons": [study.reasons[q][0]["key"]]} for q in study.questions} | {"watch_ms": 1000}
            time.sleep(WATCH_SECONDS)  # a rater watches before voting; settling a pair takes a moment too
            response = vote(client, offer["assignment"], body, then_next=True)
            assert response.status_code == 201, response.content
            offer = response.json()["next"]
    except Exception as exc:  # reported by the test, which runs in another thread
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager")  # no broker: the server's threads settle in the background, as in the embedded default
def test_a_clear_pair_settles_early_and_is_served_no_more_while_a_coin_flip_goes_on(settings, researcher_client):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent raters need PostgreSQL")
    settings.JUICE_RATE_VOTE_PER_MINUTE = 10_000
    study = build_open_study(n_prompts=PROMPTS, raters=RATERS_PER_ITEM, n_systems=3, name="Dynamic study", seed=4,
                             copy_files=False, dynamic=True)
    errors: list = []
    threads = [threading.Thread(target=rate_until_done, args=(study, f"w{n}", Client(), errors)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    settlement_idle(study)

    clear = StudyPair.objects.get(study=study, system_a__name="SecretModelX", system_b__name="SecretModelY")
    assert clear.status == StudyPair.Status.SETTLED and clear.settled_at is not None
    for question in study.questions:
        figures = clear.figures["questions"][question]
        assert figures["winner"] == "SecretModelX"
        assert figures["items"] <= PROMPTS // 2 + 2  # settled well before its cap of 20 items
        assert figures["repeated_p"] <= figures["level"]
    assert "quality: SecretModelX wins (repeated p" in clear.reason and f"of {PROMPTS}" in clear.reason
    clear_items = Item.objects.filter(pair=clear)
    assert all(item.decided for item in clear_items)
    # No claim on the settled pair's items after it settled; and it was cut short: votes were saved.
    assert not Assignment.objects.filter(item__pair=clear, created_at__gt=clear.settled_at).exists()
    assert sum(item.votes_done for item in clear_items) < PROMPTS * RATERS_PER_ITEM
    # Served depth first: items were finished one after another, so some of the pair's items were never
    # started when it settled (least-claimed-first gives every item of the study its first vote before
    # any item gets a second, so all 20 would have votes). The raters' hands and the settling's own
    # time let a few more start after the deciding look, so the bound is loose.
    started = sum(item.votes_done > 0 for item in clear_items)
    assert started < PROMPTS

    # The coin-flip pairs stay open and are served to the end: every item gets exactly its raters.
    for pair in StudyPair.objects.filter(study=study).exclude(pk=clear.pk):
        assert pair.status == StudyPair.Status.OPEN and pair.settled_at is None
        assert pair.figures["items_finished"] == PROMPTS
        assert [i.votes_done for i in Item.objects.filter(pair=pair)] == [RATERS_PER_ITEM] * PROMPTS
    for item in Item.objects.filter(study=study):
        assert item.votes_done <= item.claimed <= item.raters_needed
        if not item.decided:
            assert item.votes_done == item.raters_needed
        voters = list(item.assignments.filter(status=Assignment.Status.VOTED).values_list("rater_id", flat=True))
        assert len(voters) == len(set(voters))

    # No finished item was missed: recomputed from scratch, the votes give the state stored live.
    study.refresh_from_db()
    assert settlement_check(study=study) == []
    states = pair_states(study=study)
    assert states[clear.pk].status == "settled"
    # Each finished item got its look's place once, in the order the monitor saw it: 1..n, no gaps,
    # and the design file carries that order for the analysis.
    orders = sorted(Item.objects.filter(study=study).exclude(finished_order=None).values_list("finished_order", flat=True))
    assert orders == list(range(1, sum(state.items_finished for state in states.values()) + 1))
    design = researcher_client.get(f"/studies/{study.slug}/design.json").json()
    by_order = Item.objects.filter(study=study).exclude(finished_order=None).order_by("finished_order")
    assert design["order"] == [str(pk) for pk in by_order.values_list("pk", flat=True)]
    assert {pk for pk, state in states.items() if state.status == "open"} == set(
        StudyPair.objects.filter(study=study, status=StudyPair.Status.OPEN).values_list("pk", flat=True))

    # The study page: the pairs' table and the votes saved against the full design.
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    spent = Vote.objects.filter(assignment__item__study=study, question="quality").count()
    full = 3 * PROMPTS * RATERS_PER_ITEM
    saved = full - spent
    assert 'id="pairs"' in page and "SecretModelX vs SecretModelY" in page and "SecretModelX wins at item" in page
    assert page_cells(page, "pair-").count("open") >= 2
    saved_cells = [page_cell(page, f"saved-{k}") for k in ("full", "spent", "saved_pairs", "saved_items")]
    assert saved_cells == [str(full), str(spent), str(saved), "0"]


@pytest.mark.django_db(transaction=True)
def test_items_that_decide_early_stop_early_and_settled_pairs_save_the_rest_on_the_page(researcher_client, researcher):
    """With early stopping too, the page tells the two savings apart; user text is escaped."""
    study = build_open_study(n_prompts=12, raters=5, n_systems=2, name="Both savings", seed=2, early_stop=True, dynamic=True,
                             dynamic_alpha=0.5, questions=("quality",))
    System.objects.filter(name="SecretModelX").update(name="<i>X</i>")
    clients = {f"w{n}": join(study, f"w{n}") for n in range(5)}
    offers = {w: next_item(c, study) for w, c in clients.items()}
    while any(o["assignment"] for o in offers.values()):
        for worker, client in clients.items():  # one vote each per round, always for system A
            if offers[worker]["assignment"] is None:
                continue
            left = Assignment.objects.get(token=offers[worker]["assignment"]).left
            body = {"quality": {"choice": "left" if left == "a" else "right", "reasons": ["pixel_sharpness"]}, "watch_ms": 1000}
            offers[worker] = vote(client, offers[worker]["assignment"], body, then_next=True).json()["next"]
            settlement_caught_up(study)  # the background's run after the vote
    pair = StudyPair.objects.get(study=study)
    assert pair.status == StudyPair.Status.SETTLED
    items = list(Item.objects.filter(study=study))
    # Items stopped at 3 agreeing votes of 5: early stopping saved 2 votes each; the rest of the pair's items were cut.
    by_outcome = sum(5 - i.claimed for i in items if i.votes_done == 3)
    cut = sum(5 - i.claimed for i in items) - by_outcome
    assert by_outcome > 0 and cut > 0
    assert study_pairs_settle(study_id=study.pk) is None  # a second delivery finds nothing new
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    spent = sum(i.votes_done for i in items)
    saved_cells = [page_cell(page, f"saved-{k}") for k in ("full", "spent", "saved_pairs", "saved_items")]
    assert saved_cells == ["60", str(spent), str(cut), str(by_outcome)]
    assert "&lt;i&gt;X&lt;/i&gt; vs SecretModelY" in page and "<i>X</i>" not in page
    # The study's JSON says the same.
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    reported = api.get(f"/api/studies/{study.slug}").json()
    assert reported["votes_saved"] | {"saved_share": None} == {
        "full": 60, "spent": spent, "saved_pairs": cut, "saved_items": by_outcome, "saved": cut + by_outcome, "saved_share": None}
    (state,) = reported["pair_states"]
    assert state["pair"] == ["<i>X</i>", "SecretModelY"] and state["status"] == "settled"
    assert state["questions"]["quality"]["winner"] == "<i>X</i>" and state["reason"].startswith("quality: <i>X</i> wins")


def advisory_waiters(study) -> int:
    """How many sessions wait on the study's settlement lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s AND objid = %s"
                       " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", [LOCK_SPACE, study.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_votes_that_finish_items_return_while_a_settlement_holds_the_study_and_it_catches_up_after(settings):
    """Settlement is off the vote path: raters whose votes finish items while the study's lock is held
    (a settlement in progress, as far as the lock goes) get their 201 at once, without touching the lock;
    the background run they asked for waits behind the lock, then counts every one of those items."""
    if connection.vendor != "postgresql":
        pytest.skip("the study's lock is PostgreSQL's advisory lock")
    study = build_open_study(n_prompts=6, raters=1, name="Held study", copy_files=False, dynamic=True, questions=("quality",))
    clients = {f"w{n}": join(study, f"w{n}") for n in range(4)}
    offers = {worker: next_item(client, study)["assignment"] for worker, client in clients.items()}
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # a settlement in progress, as far as the lock goes
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, study.pk])
            holding.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    body = {"quality": {"choice": "left", "reasons": ["pixel_sharpness"]}, "watch_ms": 1000}
    started = time.monotonic()
    statuses = [vote(clients[worker], offers[worker], body).status_code for worker in clients]
    assert statuses == [201] * 4 and time.monotonic() - started < 10  # answered while the lock is held
    assert advisory_waiters(study) == 0  # no vote waits on a settlement
    assert Item.objects.filter(study=study, settle_due=True).count() == 4  # each finished item marked for it
    assert StudyPair.objects.get(study=study).figures == {}

    # The background's run (here in a thread of the test: the broker's worker would run the same) waits
    # behind the lock, and takes the four items once it is released.
    run = threading.Thread(target=lambda: (work_run_once(settle_key(study.pk)), connection.close()))
    run.start()
    for _ in range(100):
        if advisory_waiters(study) == 1:
            break
        time.sleep(0.05)
    assert advisory_waiters(study) == 1
    release.set()
    for t in (holder, run):
        t.join(30)
    assert StudyPair.objects.get(study=study).figures["items_finished"] == 4
    assert not Item.objects.filter(study=study, settle_due=True).exists()
    assert settlement_check(study=study) == []


@pytest.mark.django_db(transaction=True)
def test_a_ranking_study_stops_a_pair_whose_order_the_settled_pairs_imply(settings, researcher_client):
    """X always beats Y and Y always beats Z; X against Z is a coin flip. Once the first two pairs settle,
    X against Z is not needed: its order follows, and its items are handed out no more."""
    settings.JUICE_RATE_VOTE_PER_MINUTE = 10_000
    study = build_open_study(n_prompts=PROMPTS, raters=1, n_systems=3, name="Ranking study", seed=6, copy_files=False,
                             dynamic=True, dynamic_ranking=True, dynamic_alpha=0.2)
    wins = {("SecretModelX", "SecretModelY"): "a", ("SecretModelY", "SecretModelZ"): "a"}
    client = join(study, "solo")
    offer = next_item(client, study)["assignment"]
    while offer is not None:
        item = Item.objects.select_related("pair__system_a", "pair__system_b", "prompt").get(assignments__token=offer)
        names = (item.pair.system_a.name, item.pair.system_b.name)
        side = wins.get(names, "a" if int(item.prompt.key[1:]) % 2 else "b")
        choice = "left" if Assignment.objects.get(token=offer).left == side else "right"
        body = {q: {"choice": choice, "reasons": [study.reasons[q][0]["key"]]} for q in study.questions} | {"watch_ms": 1000}
        offer = vote(client, offer, body, then_next=True).json()["next"]["assignment"]
        settlement_caught_up(study)  # the background's run after each finished item
    statuses = {(p.system_a.name, p.system_b.name): p for p in StudyPair.objects.filter(study=study).select_related("system_a", "system_b")}
    assert statuses[("SecretModelX", "SecretModelY")].status == StudyPair.Status.SETTLED
    assert statuses[("SecretModelY", "SecretModelZ")].status == StudyPair.Status.SETTLED
    implied = statuses[("SecretModelX", "SecretModelZ")]
    assert implied.status == StudyPair.Status.NOT_NEEDED and implied.settled_at is not None
    assert implied.reason.startswith("not needed: settled pairs imply its order; quality: SecretModelX ")
    # It stopped before its cap, and none of its items is handed out after.
    assert implied.figures["items_finished"] < PROMPTS
    assert Item.objects.filter(pair=implied, votes_done=0).exists()
    assert not Item.objects.filter(pair=implied, decided=False).exists()
    assert not Assignment.objects.filter(item__pair=implied, created_at__gt=implied.settled_at).exists()
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert page_cell(page, f"pair-{implied.pk}-why").startswith("not needed") and "SecretModelX ahead (" in page


@pytest.mark.django_db(transaction=True)
def test_a_burn_in_holds_a_clear_pair_until_its_share_of_items_has_finished(settings, researcher_client):
    """X beats Y on every item; with `dynamic_burn_in` 0.6 the pair spends no alpha before 12 of its 20
    items have finished, so it settles later than it would at once, and the page says its early and
    late items agree (no drift)."""
    settings.JUICE_RATE_VOTE_PER_MINUTE = 10_000
    study = build_open_study(n_prompts=PROMPTS, raters=1, n_systems=3, name="Burn-in study", seed=6, copy_files=False,
                             dynamic=True, dynamic_alpha=0.2, options={"dynamic_burn_in": 0.6})
    client = join(study, "solo")
    offer = next_item(client, study)["assignment"]
    while offer is not None:
        item = Item.objects.select_related("pair__system_a", "pair__system_b", "prompt").get(assignments__token=offer)
        side = preferred(study, item.pair, item.prompt.key)
        choice = "left" if Assignment.objects.get(token=offer).left == side else "right"
        body = {q: {"choice": choice, "reasons": [study.reasons[q][0]["key"]]} for q in study.questions} | {"watch_ms": 1000}
        offer = vote(client, offer, body, then_next=True).json()["next"]["assignment"]
        settlement_caught_up(study)  # the background's run after each finished item
    clear = StudyPair.objects.get(study=study, system_a__name="SecretModelX", system_b__name="SecretModelY")
    assert clear.status == StudyPair.Status.SETTLED
    for question in study.questions:
        figures = clear.figures["questions"][question]
        assert 12 < figures["items"] < PROMPTS and figures["drift_flagged"] is False
    assert "early and late items agree" in clear.reason
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert "Dynamic burn-in" in page and "0.6" in page
