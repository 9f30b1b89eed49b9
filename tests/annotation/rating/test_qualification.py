"""The qualification: practice pairs with known answers before the first item, feedback after each; a
rater within the mistakes allowed is admitted, one beyond them is screened out and never counts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from annotation.models import Assignment, Item, Rater
from annotation.reports.exports import votes_write
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote

pytestmark = pytest.mark.django_db

QUALIFICATION = {
    "items": [
        {"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"],
         "answers": {"quality": "SecretModelX", "faithfulness": "SecretModelY"}},
        {"prompt": "p0002", "pair": ["SecretModelY", "SecretModelX"],
         "answers": {"quality": "SecretModelY", "faithfulness": "SecretModelY"}},
    ],
    "mistakes_allowed": 0,
}


def qualification_study(**options):
    return build_open_study(n_prompts=3, raters=3, qualification=QUALIFICATION, **options)


def shown_pair(client: Client, study) -> dict:
    response = client.get(f"/api/annotate/{study.slug}/qualification")
    assert response.status_code == 200
    return response.json()


def right_answers(pair: dict, index: int) -> dict:
    """The sides that show the expected systems, worked out from the video URLs the page got."""
    left_token = pair["videos"]["left"].rsplit("/", 1)[1]
    item = Item.objects.select_related("pair__system_a", "pair__system_b").get(token_a=left_token) \
        if Item.objects.filter(token_a=left_token).exists() else Item.objects.get(token_b=left_token)
    left_name = item.pair.system_a.name if item.token_a == left_token else item.pair.system_b.name
    return {q: {"choice": "left" if name == left_name else "right"} for q, name in QUALIFICATION["items"][index]["answers"].items()}


def post(client: Client, study, body: dict):
    return client.post(f"/api/annotate/{study.slug}/qualification", json.dumps(body), content_type="application/json")


def test_a_rater_who_answers_right_is_admitted_after_the_practice_pairs():
    study = qualification_study()
    client = join(study, "good")
    waiting = next_item(client, study)
    assert waiting["assignment"] is None and "qualification" in waiting["message"]
    for index in range(2):
        pair = shown_pair(client, study)["pair"]
        assert (pair["index"], pair["total"]) == (index, 2)
        assert "SecretModel" not in json.dumps(pair)
        feedback = post(client, study, {"index": index, **right_answers(pair, index)})
        assert feedback.status_code == 201
        assert feedback.json()["correct"] is True
    assert feedback.json()["admitted"] is True
    assert shown_pair(client, study) == {"admitted": True, "screened_out": False, "pair": None}
    rater = Rater.objects.get(worker_id="good")
    assert [entry["correct"] for entry in rater.qualification] == [True, True]
    # The practice pairs, whose answers the rater now knows, are never handed to them to vote on.
    voted = []
    while (token := next_item(client, study)["assignment"]) is not None:
        voted.append(Assignment.objects.get(token=token).item.prompt.key)
        assert vote(client, token, answer(study)).status_code == 201
    assert voted == ["p0003"]
    practice = Assignment.objects.filter(rater=rater, status="practice")
    assert sorted(practice.values_list("item__prompt__key", flat=True)) == ["p0001", "p0002"]
    assert vote(client, practice.first().token, answer(study)).status_code == 409


def test_a_rater_beyond_the_mistakes_allowed_is_screened_out_and_never_counts():
    study = qualification_study()
    client = join(study, "careless")
    pair = shown_pair(client, study)["pair"]
    wrong = {q: {"choice": "right" if a["choice"] == "left" else "left"} for q, a in right_answers(pair, 0).items()}
    feedback = post(client, study, {"index": 0, **wrong}).json()
    assert feedback["correct"] is False and feedback["screened_out"] is True
    assert feedback["expected"] == {q: a["choice"] for q, a in right_answers(pair, 0).items()}  # the feedback says what was right
    assert shown_pair(client, study)["screened_out"] is True
    assert "did not match" in shown_pair(client, study)["message"]
    assert post(client, study, {"index": 1, **wrong}).status_code == 409
    assert next_item(client, study)["assignment"] is None
    # The export holds the admitted rater's votes only.
    good = join(study, "good")
    for index in range(2):
        pair = shown_pair(good, study)["pair"]
        post(good, study, {"index": index, **right_answers(pair, index)})
    vote(good, next_item(good, study)["assignment"], answer(study))
    out = io.StringIO()
    votes_write(study=study, out=out)
    raters = {row["rater"] for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert raters == {"good"}


def test_a_study_without_qualification_admits_everyone_at_once():
    study = build_open_study(n_prompts=1)
    client = join(study, "anyone")
    assert next_item(client, study)["assignment"] is not None
    assert shown_pair(client, study) == {"admitted": True, "screened_out": False, "pair": None}


@pytest.mark.django_db(transaction=True)
def test_a_qualification_answer_locks_only_its_rater_not_the_study():
    """100 raters answering at once must not queue on the study row: an answer goes through while
    another transaction holds the study locked (it used to wait, as `FOR UPDATE` without `OF` took
    the joined study row too)."""
    import threading

    from django.db import connection, transaction

    from annotation.models import Study

    study = qualification_study()
    client = join(study, "keen")
    pair = shown_pair(client, study)["pair"]
    locked, release = threading.Event(), threading.Event()

    def hold_the_study():
        with transaction.atomic():
            Study.objects.select_for_update().get(pk=study.pk)
            locked.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold_the_study)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        response = post(client, study, {"index": 0, **right_answers(pair, 0)})
        assert response.status_code == 201, response.content
        assert response.json()["correct"] is True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        release.set()
        holder.join()
