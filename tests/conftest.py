"""Shared fixtures: named users, a logged-in researcher client."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1", is_staff=True)


@pytest.fixture
def researcher_client(client, researcher):
    client.force_login(researcher)
    return client
