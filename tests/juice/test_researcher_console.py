"""Every researcher page carries the navigation; a researcher keeps its own API tokens on a page
(the key shown once), revokes them there, and sees no one else's; `create_researcher` gives what the
admin's tokens page needs."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from generation.models import PromptSet, System
from juice.auth import api_token_create
from juice.models import ApiToken

pytestmark = pytest.mark.django_db

NAV = ["researcher-home", "prompt-sets", "systems", "generation-status", "api-tokens"]


def test_every_researcher_page_has_the_navigation(researcher_client):
    prompt_set = PromptSet.objects.create(name="set")
    external = System.objects.create(name="ext", kind="external")
    pages = [reverse(n) for n in NAV] + [
        reverse("prompt-set-upload"), reverse("prompt-set-detail", args=[prompt_set.pk]),
        reverse("system-videos-upload", args=[external.pk]), reverse("study-new"),
    ]
    for url in pages:
        page = researcher_client.get(url).content.decode()
        nav = re.search(r'<nav class="researcher".*?</nav>', page, re.S)
        assert nav, url
        for name in NAV:
            assert f'href="{reverse(name)}"' in nav.group(0), (url, name)
    tokens_page = researcher_client.get(reverse("api-tokens")).content.decode()
    assert f'href="{reverse("api-tokens")}" aria-current="page"' in tokens_page


def test_annotators_see_no_navigation_and_no_console_page(client):
    client.force_login(get_user_model().objects.create_user("rater", password="rater-password-1"))
    assert '<nav class="researcher"' not in client.get(reverse("researcher-home")).content.decode()
    for name in NAV[1:]:
        assert client.get(reverse(name)).status_code == 403, name
    client.logout()
    for name in NAV:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith("/login/"), name


def test_a_researcher_creates_a_token_sees_it_once_and_revokes_it(researcher_client, researcher):
    page = researcher_client.post(reverse("api-tokens"), {"name": "<b>laptop</b>"}).content.decode()
    key = re.search(r'id="new-token".*?<code>([^<]+)</code>', page, re.S).group(1)
    assert "&lt;b&gt;laptop&lt;/b&gt;" in page and "<b>laptop" not in page
    api = Client()
    assert api.get(reverse("api-prompt-sets"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert key not in researcher_client.get(reverse("api-tokens")).content.decode()  # shown once only

    token = ApiToken.objects.get(user=researcher)
    response = researcher_client.post(reverse("api-token-revoke", args=[token.pk]))
    assert response.status_code == 302 and not ApiToken.objects.exists()
    assert api.get(reverse("api-prompt-sets"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_a_researcher_cannot_see_or_revoke_another_researchers_token(researcher_client):
    bob = get_user_model().objects.create_user("bob", password="bob-password-1", is_staff=True)
    api_token_create(user=bob, name="bobs-secret-script")
    token = ApiToken.objects.get()
    assert "bobs-secret-script" not in researcher_client.get(reverse("api-tokens")).content.decode()
    assert researcher_client.post(reverse("api-token-revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert researcher_client.get(reverse("api-token-revoke", args=[token.pk])).status_code == 405


def test_create_researcher_gives_the_admin_tokens_page_with_only_ones_own_tokens(client):
    call_command("create_researcher", "carol", "--password", "carol-password-1")
    carol = get_user_model().objects.get(username="carol")
    bob = get_user_model().objects.create_user("bob", password="bob-password-1", is_staff=True)
    api_token_create(user=carol, name="carols-token")
    api_token_create(user=bob, name="bobs-token")
    client.force_login(carol)
    page = client.get(reverse("admin:juice_apitoken_changelist"))
    assert page.status_code == 200
    assert "carols-token" in page.content.decode() and "bobs-token" not in page.content.decode()
    bobs = ApiToken.objects.get(user=bob)
    assert client.get(reverse("admin:juice_apitoken_change", args=[bobs.pk])).status_code == 302  # not found: back to the list
    assert client.post(reverse("admin:juice_apitoken_delete", args=[ApiToken.objects.get(user=carol).pk]),
                       {"post": "yes"}).status_code == 302
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["bobs-token"]


@pytest.mark.django_db(transaction=True)
def test_researchers_made_before_get_the_token_permissions_by_migration():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    MigrationExecutor(connection).migrate([("juice", "0001_initial")])
    old = get_user_model().objects.create_user("old-researcher", is_staff=True)
    rater = get_user_model().objects.create_user("rater")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert set(old.user_permissions.values_list("codename", flat=True)) == {"view_apitoken", "delete_apitoken"}
    assert not rater.user_permissions.exists()
