"""Invited accounts: a study's invitation list decides which logged-in accounts may join it without
a worker id; researchers keep it from the study page, the JSON API and `manage.py invite`."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from annotation.models import Assignment, Rater, Study
from annotation.raters.services import study_invite, study_uninvite
from juice.auth import api_token_create
from tests.support.builders import build_open_study
from tests.support.raters import answer

pytestmark = pytest.mark.django_db


def account(username: str, **extra):
    return get_user_model().objects.create_user(username, password=f"{username}-password-1", **extra)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def joined_account(study: Study, username: str):
    """An account invited to `study`, logged in and joined: (the user, its browser)."""
    user = account(username)
    study.invited.add(user)
    client = logged_in(user)
    assert client.get(f"/s/{study.slug}/join").status_code == 302
    return user, client


def test_an_invited_account_joins_and_rates_without_a_worker_id():
    study = build_open_study(n_prompts=1)
    bob = account("bob")
    study.invited.add(bob)
    client = logged_in(bob)
    response = client.get(f"/s/{study.slug}/join")
    assert (response.status_code, response["Location"]) == (302, f"/s/{study.slug}/rate")
    rater = Rater.objects.get(study=study)
    assert (rater.user, rater.source, rater.worker_id) == (bob, Rater.Source.INVITED, f"account/{bob.pk}")
    assert client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    # A second join resumes the same rater.
    assert client.get(f"/s/{study.slug}/join").status_code == 302
    assert Rater.objects.filter(study=study).count() == 1


def test_an_account_not_invited_is_refused_with_a_reason_and_nothing_is_created():
    study = build_open_study(n_prompts=1)
    study.invited.add(account("bob"))
    for user in (account("mallory"), account("root", is_staff=True)):
        response = logged_in(user).get(f"/s/{study.slug}/join")
        assert response.status_code == 403
        page = response.content.decode()
        assert f"Your account {user.username} is not invited to this study" in page
    assert not Rater.objects.filter(study=study).exists()
    # An invitation to another study does not count here.
    other = build_open_study(n_prompts=1, name="Another study")
    other.invited.add(get_user_model().objects.get(username="mallory"))
    assert logged_in(get_user_model().objects.get(username="mallory")).get(f"/s/{study.slug}/join").status_code == 403


def test_a_crowd_link_still_joins_a_study_that_invites_accounts():
    study = build_open_study(n_prompts=1)
    study.invited.add(account("bob"))
    assert Client().get(f"/s/{study.slug}/join", {"PROLIFIC_PID": "P1"}).status_code == 302
    assert Rater.objects.get(study=study).source == Rater.Source.PROLIFIC


def test_an_anonymous_visitor_is_asked_to_log_in_and_lands_on_the_rating_page():
    study = build_open_study(n_prompts=1)
    study.invited.add(account("bob"))
    client = Client()
    response = client.get(f"/s/{study.slug}/join")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/s/{study.slug}/join"
    login = client.get(response["Location"]).content.decode()
    assert "This study is for invited accounts" in login
    response = client.post("/login/", {"username": "bob", "password": "bob-password-1", "next": f"/s/{study.slug}/join"},
                           follow=True)
    assert response.redirect_chain[-1][0] == f"/s/{study.slug}/rate"
    assert response.status_code == 200
    assert Rater.objects.get(study=study).user.username == "bob"


def test_without_invitations_a_join_without_worker_id_says_what_is_missing():
    study = build_open_study(n_prompts=1)
    response = Client().get(f"/s/{study.slug}/join")
    assert response.status_code == 400
    assert "lacks a worker id" in response.content.decode()
    assert logged_in(account("bob")).get(f"/s/{study.slug}/join").status_code == 403


def test_the_study_page_invites_creates_accounts_once_and_withdraws(researcher_client):
    study = build_open_study(n_prompts=1)
    account("bob")
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert "No account is invited." in page and f"http://testserver/s/{study.slug}/join</code>" in page

    # An unknown name refuses the whole list: bob is not invited either.
    response = researcher_client.post(f"/studies/{study.slug}/invitations", {"usernames": "bob, carol", "action": "add"},
                                      follow=True)
    assert "no account named &#x27;carol&#x27;" in response.content.decode()
    assert not study.invited.exists()

    response = researcher_client.post(f"/studies/{study.slug}/invitations",
                                      {"usernames": "bob\ncarol", "create": "on", "action": "add"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Accounts created" in page and "<code>bob</code>, <code>carol</code>" in page
    password = page.split("<tr><td>carol</td><td><code>")[1].split("</code>")[0]
    carol = get_user_model().objects.get(username="carol")
    assert not carol.is_staff and carol.check_password(password)
    assert "bob</td>" not in page  # bob existed: no password of his is made or shown
    assert password not in researcher_client.get(f"/studies/{study.slug}").content.decode()  # shown once

    client = Client()
    assert client.login(username="carol", password=password)
    assert client.get(f"/s/{study.slug}/join").status_code == 302

    researcher_client.post(f"/studies/{study.slug}/invitations", {"usernames": "bob", "action": "remove"})
    assert list(study.invited.values_list("username", flat=True)) == ["carol"]
    assert logged_in(get_user_model().objects.get(username="bob")).get(f"/s/{study.slug}/join").status_code == 403


def test_the_invitation_form_needs_a_researcher_and_escapes_names(researcher_client):
    study = build_open_study(n_prompts=1)
    rater = logged_in(account("dave"))
    assert rater.post(f"/studies/{study.slug}/invitations", {"usernames": "dave", "action": "add"}).status_code == 403
    assert Client().post(f"/studies/{study.slug}/invitations", {"usernames": "dave"})["Location"].startswith("/login/")
    assert not study.invited.exists()
    response = researcher_client.post(f"/studies/{study.slug}/invitations",
                                      {"usernames": "<b>x</b>", "create": "on", "action": "add"}, follow=True)
    page = response.content.decode()
    assert "&#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not a valid username" in page and "<b>x</b>" not in page
    assert not get_user_model().objects.filter(username__contains="<").exists()


def test_the_invitation_form_needs_a_csrf_token(researcher):
    study = build_open_study(n_prompts=1)
    account("bob")
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    assert client.post(f"/studies/{study.slug}/invitations", {"usernames": "bob", "action": "add"}).status_code == 403
    assert not study.invited.exists()


def test_the_api_invites_at_creation_and_afterwards(researcher):
    source = build_open_study(n_prompts=1)
    account("bob")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    body = {"name": "Lab study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]]}
    refused = api.post("/api/studies", json.dumps({**body, "invite": ["bob", "nobody"]}), content_type="application/json")
    assert refused.status_code == 400 and "no account named 'nobody'" in refused.json()["error"]
    assert not Study.objects.filter(name="Lab study").exists()  # nothing half-made

    created = api.post("/api/studies", json.dumps({**body, "invite": ["bob"]}), content_type="application/json")
    assert created.status_code == 201 and created.json()["invited"] == ["bob"]
    slug = created.json()["slug"]
    url = f"/api/studies/{slug}/invitations"
    answer = api.post(url, json.dumps({"add": ["erin"], "create": True, "remove": ["bob"]}), content_type="application/json")
    assert answer.status_code == 200
    assert answer.json()["invited"] == ["erin"]
    assert get_user_model().objects.get(username="erin").check_password(answer.json()["created"]["erin"])
    assert api.get(f"/api/studies/{slug}").json()["invited"] == ["erin"]
    for bad in ({"add": "bob"}, {"add": ["bob"], "create": "yes"}, {"colour": 1}, [1]):
        assert api.post(url, json.dumps(bad), content_type="application/json").status_code == 400
    assert api.post(url, json.dumps({"add": ["zed"]}), content_type="application/json").status_code == 400
    assert api.post("/api/studies/nosuch/invitations", "{}", content_type="application/json").status_code == 404
    annotator = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=get_user_model().objects.get(username='erin'))}")
    assert annotator.post(url, json.dumps({"add": ["erin"]}), content_type="application/json").status_code == 403


def test_the_invite_command(capsys):
    study = build_open_study(n_prompts=1)
    account("bob")
    with pytest.raises(CommandError, match=r"no account named 'carol'.*--create"):
        call_command("invite", study.name, "bob", "carol")
    assert not study.invited.exists()
    call_command("invite", study.slug, "bob", "carol", "--create")
    out = capsys.readouterr().out
    password = out.split("created account carol  password ")[1].split()[0]
    assert get_user_model().objects.get(username="carol").check_password(password)
    assert f"/s/{study.slug}/join" in out and "Invited now: bob, carol" in out
    assert "Invited 2 more account(s)" in out
    call_command("invite", study.name, "carol", "carol", "bob")  # already invited, and named twice
    assert "Invited 0 more account(s)" in capsys.readouterr().out
    call_command("invite", study.name, "bob", "--remove")
    assert "Invited now: carol" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no study named 'nosuch'"):
        call_command("invite", "nosuch", "bob")


def test_no_join_link_can_pose_as_an_account_or_take_its_place():
    study = build_open_study(n_prompts=2)
    bob = account("bob")
    study.invited.add(bob)
    bob_client = logged_in(bob)
    assert bob_client.get(f"/s/{study.slug}/join").status_code == 302
    held = bob_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    # The account's worker id cannot be sent in a link, whatever the parameter.
    for param in ("worker", "PROLIFIC_PID", "workerId"):
        response = Client().get(f"/s/{study.slug}/join", {param: f"account/{bob.pk}"})
        assert response.status_code == 400
    # A crowd id that looks like an account's is a different rater, and never bob's.
    intruder = Client()
    assert intruder.get(f"/s/{study.slug}/join", {"worker": f"user-{bob.pk}"}).status_code == 302
    assert intruder.get(f"/api/annotate/{study.slug}/next").json()["assignment"] != held
    assert Rater.objects.get(study=study, user=bob).worker_id == f"account/{bob.pk}"
    assert Rater.objects.filter(study=study).count() == 2


def test_a_rater_row_of_another_identity_is_never_handed_over():
    study = build_open_study(n_prompts=1)
    bob = account("bob")
    study.invited.add(bob)
    # A row from before accounts had their own worker ids: a crowd worker id held by an account.
    Rater.objects.create(study=study, worker_id="W1", source=Rater.Source.INVITED, user=bob)
    response = Client().get(f"/s/{study.slug}/join", {"worker": "W1"})
    assert response.status_code == 403
    assert "belongs to another rater" in response.content.decode()
    assert "juice_raters" not in response.cookies


def test_a_withdrawn_or_deactivated_account_finishes_its_item_and_gets_no_more():
    study = build_open_study(n_prompts=3)
    bob, carol = account("bob"), account("carol")
    study.invited.add(bob, carol)
    bob_client, carol_client = logged_in(bob), logged_in(carol)
    for client in (bob_client, carol_client):
        assert client.get(f"/s/{study.slug}/join").status_code == 302
    held = bob_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    study_uninvite(study=study, usernames=["bob"])
    assert bob_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] == held  # still his
    response = bob_client.post(f"/api/annotate/assignments/{held}/vote?next=1", json.dumps(answer(study)),
                               content_type="application/json")
    assert response.status_code == 201
    after = response.json()["next"]
    assert after["assignment"] is None and after["completion_code"] is None
    assert "invitation to this study has ended" in after["message"]
    assert bob_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] is None
    assert bob_client.get(f"/s/{study.slug}/join").status_code == 403
    # Deactivating an account in the admin stops it in the same way (its session is gone too, but
    # the rater cookie would still be sent).
    assert carol_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    token = Assignment.objects.get(rater__user=carol, status=Assignment.Status.ACTIVE).token
    assert carol_client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)),
                             content_type="application/json").status_code == 201
    type(carol).objects.filter(pk=carol.pk).update(is_active=False)
    assert carol_client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] is None
    assert Assignment.objects.filter(rater__user__in=[bob, carol]).count() == 2


def test_logging_out_forgets_the_studies_this_browser_rates():
    study = build_open_study(n_prompts=1)
    _, client = joined_account(study, "bob")
    assert client.get(f"/api/annotate/{study.slug}/next").status_code == 200
    response = client.post("/logout/")
    assert response.cookies["juice_raters"].value == ""
    assert client.get(f"/api/annotate/{study.slug}/next").status_code == 403


def test_an_annotator_account_sees_its_studies_without_their_names_and_no_researcher_page():
    study = build_open_study(n_prompts=1)  # named "Study of SecretModelX"
    build_open_study(n_prompts=1, name="Not for bob")
    bob = account("bob")
    study.invited.add(bob)
    client = Client()
    response = client.post("/login/", {"username": "bob", "password": "bob-password-1"}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and "Your studies" in page
    assert page.count("Start rating") == 1 and f"/s/{study.slug}/join" in page
    assert "SecretModel" not in page and "Not for bob" not in page
    for url in ("/studies/new", f"/studies/{study.slug}", f"/studies/{study.slug}/report.html"):
        assert client.get(url).status_code == 403
    assert client.get("/admin/").status_code == 302  # the admin's own login, for staff only
    assert client.get(f"/api/studies/{study.slug}").status_code == 403


def test_the_login_page_sends_nobody_to_another_site():
    account("bob")
    response = Client().post("/login/?next=//evil.example/x", {"username": "bob", "password": "bob-password-1",
                                                                "next": "https://evil.example/x"})
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_withdrawing_names_not_invited_changes_nothing_and_says_which(researcher_client):
    study = build_open_study(n_prompts=1)
    study.invited.add(account("bob"))
    response = researcher_client.post(f"/studies/{study.slug}/invitations", {"usernames": "bob bobby", "action": "remove"},
                                      follow=True)
    assert "not invited to this study: &#x27;bobby&#x27;" in response.content.decode()
    assert study.invited_names() == ["bob"]


def test_names_are_taken_as_django_stores_them():
    study = build_open_study(n_prompts=1)
    bob = account("bob")
    invited = study_invite(study=study, usernames=["\uff42\uff4f\uff42"], create=True)  # full-width "bob"
    assert (invited.added, invited.created) == (1, {})
    assert list(study.invited.all()) == [bob]
    assert get_user_model().objects.count() == 1


def test_invitation_answers_are_never_cached_and_keep_passwords_out_of_cookies(researcher, researcher_client):
    study = build_open_study(n_prompts=1)
    response = researcher_client.post(f"/studies/{study.slug}/invitations", {"usernames": "zoe", "create": "on", "action": "add"})
    password = response.content.decode().split("<tr><td>zoe</td><td><code>")[1].split("</code>")[0]
    assert "no-store" in response["Cache-Control"]
    assert all(password not in morsel.value for morsel in response.cookies.values())
    assert password not in str(dict(researcher_client.session))
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    url = f"/api/studies/{study.slug}/invitations"
    answer_ = api.post(url, json.dumps({"add": ["yan"], "create": True}), content_type="application/json")
    assert "no-store" in answer_["Cache-Control"]
    for bad in ({}, {"add": ["zoe"], "remove": ["zoe"]}, {"remove": ["nobody"]}):
        refused = api.post(url, json.dumps(bad), content_type="application/json")
        assert refused.status_code == 400, bad
    assert study.invited_names() == ["yan", "zoe"]


def test_a_deleted_account_gets_no_new_item_either():
    study = build_open_study(n_prompts=3)
    bob, client = joined_account(study, "bob")
    held = client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    assert client.post(f"/api/annotate/assignments/{held}/vote", json.dumps(answer(study)),
                       content_type="application/json").status_code == 201
    bob.delete()  # the rater stays, with its votes, and no user (SET_NULL); the cookie is still sent
    assert Rater.objects.get(study=study).user is None
    assert client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] is None


def test_logging_in_as_someone_else_forgets_the_raters_of_the_one_before():
    study = build_open_study(n_prompts=2)
    _, client = joined_account(study, "bob")
    account("carol")
    assert client.get(f"/api/annotate/{study.slug}/next").status_code == 200
    response = client.post("/login/", {"username": "carol", "password": "carol-password-1"})
    assert response.status_code == 302 and response.cookies["juice_raters"].value == ""
    assert client.get(f"/api/annotate/{study.slug}/next").status_code == 403  # carol is not bob's rater


def test_one_rater_per_account_and_study_in_the_database():
    from django.db import IntegrityError, transaction

    study = build_open_study(n_prompts=1)
    bob = account("bob")
    Rater.objects.create(study=study, worker_id=f"account/{bob.pk}", source=Rater.Source.INVITED, user=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rater.objects.create(study=study, worker_id="other", source=Rater.Source.INVITED, user=bob)


def test_the_api_sees_the_same_name_in_add_and_remove_however_it_is_typed(researcher):
    study = build_open_study(n_prompts=1)
    account("bob")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    body = {"add": ["bob"], "remove": [" \uff42\uff4f\uff42"]}
    refused = api.post(f"/api/studies/{study.slug}/invitations", json.dumps(body), content_type="application/json")
    assert refused.status_code == 400 and "both added and removed: bob" in refused.json()["error"]
    assert study.invited_names() == []


@pytest.mark.parametrize("invites", [False, True], ids=["no invitations", "invitations"])
def test_a_closed_study_says_so_to_a_visitor_without_worker_id_before_any_login(invites):
    study = build_open_study(n_prompts=1)
    if invites:
        study.invited.add(account("bob"))
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    response = Client().get(f"/s/{study.slug}/join")
    assert response.status_code == 409 and "closed" in response.content.decode()


def test_an_invitation_refusal_repeats_a_few_names_cut_short(researcher):
    """A list of 500 unknown accounts (or one 100 KB name) is refused in a line, not sent back whole."""
    study = build_open_study(n_prompts=1)
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    url = f"/api/studies/{study.slug}/invitations"
    names = [f"nobody{n}" for n in range(500)]
    refused = api.post(url, json.dumps({"add": names}), content_type="application/json")
    assert refused.status_code == 400
    assert "no account named 'nobody0', 'nobody1'" in refused.json()["error"] and "and 490 more" in refused.json()["error"]
    assert len(refused.content) < 1000
    huge = "x" * 100_000
    refused = api.post(url, json.dumps({"add": [huge], "create": True}), content_type="application/json")
    assert refused.status_code == 400 and f"'{'x' * 64}…'" in refused.json()["error"] and len(refused.content) < 1000
    assert not study.invited.exists()
