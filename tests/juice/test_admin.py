"""The admin lists every model; the rows that record what raters did cannot be edited there."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

OWN_MODELS = [m for app in ("annotation", "generation") for m in apps.get_app_config(app).get_models()]


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="root-password-1"))
    return client


@pytest.mark.parametrize("model", OWN_MODELS, ids=[m.__name__ for m in OWN_MODELS])
def test_it_lists_every_model(admin_client, model):
    assert admin.site.is_registered(model)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("name", ["vote", "assignment"])
def test_it_keeps_votes_and_assignments_read_only(admin_client, name):
    assert admin_client.get(reverse(f"admin:annotation_{name}_add")).status_code == 403
    model_admin = admin.site._registry[apps.get_model("annotation", name)]
    assert not model_admin.has_change_permission(None) and not model_admin.has_delete_permission(None)


def test_saving_a_rater_keeps_its_counted_votes(admin_client):
    """A rater's counters are kept by the vote statements: the change form neither shows them as
    inputs nor writes back the values it was opened with."""
    from annotation.models import Rater
    from tests.support.builders import build_open_study

    study = build_open_study(n_prompts=1)
    rater = Rater.objects.create(study=study, worker_id="W1")
    url = reverse("admin:annotation_rater_change", args=[rater.pk])
    form = admin_client.get(url).context["adminform"].form
    assert {"votes_done", "attention_passed", "attention_failed"}.isdisjoint(form.fields)
    Rater.objects.filter(pk=rater.pk).update(votes_done=3)  # votes stored while the form was open
    response = admin_client.post(url, {"source": "prolific", "user": "", "votes_done": "0"})
    assert response.status_code == 302
    rater.refresh_from_db()
    assert (rater.source, rater.votes_done) == ("prolific", 3)
