"""The systems page and API: the list, and adding a generated or an external system through the
service behind `add_system`, with its checks and messages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from generation.models import System
from juice.auth import api_token_create
from tests.support.generation import add_system

pytestmark = pytest.mark.django_db


def post(client, **fields):
    return client.post(reverse("systems"), {"kind": "generated", "pipeline": "", "model": "", "image_model": "", "params": "",
                                            **fields})


def test_it_adds_a_generated_system_with_its_parameters(researcher_client, tiny_models):
    response = post(researcher_client, name="ltx", pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]),
                    params="num_frames=9\nheight=32\n\nfps=8\nscheduler.shift=2")
    assert response.status_code == 302 and response.url == reverse("systems")
    system = System.objects.get(name="ltx")
    assert (system.kind, system.pipeline, system.params) == ("generated", "LTXPipeline",
                                                             {"num_frames": 9, "height": 32, "fps": 8, "scheduler": {"shift": 2}})
    page = researcher_client.get(reverse("systems")).content.decode()
    assert "LTXPipeline" in page and "<code>num_frames=9</code>" in page and "<code>scheduler.shift=2</code>" in page


def test_it_adds_a_factorized_system(researcher_client, tiny_models):
    response = post(researcher_client, name="emu", pipeline="factorized", model=str(tiny_models["image-to-video"]),
                    image_model=str(tiny_models["text-to-image"]))
    assert response.status_code == 302
    system = System.objects.get(name="emu")
    assert (system.image_pipeline, system.video_pipeline) == ("StableDiffusionPipeline", "LTXImageToVideoPipeline")


@pytest.mark.parametrize("params", ["num_frame=9", "fps=0", "dtype=float8"])
def test_it_refuses_what_add_system_refuses_with_the_same_message(researcher_client, tiny_models, params):
    model = str(tiny_models["text-to-video"])
    with pytest.raises(CommandError) as command:
        add_system("bad", "--pipeline", "LTXPipeline", "--model", model, "--param", params)
    response = post(researcher_client, name="bad", pipeline="LTXPipeline", model=model, params=params)
    assert response.status_code == 400
    assert str(command.value).replace("'", "&#x27;") in response.content.decode()
    assert not System.objects.exists()


def test_it_offers_only_the_supported_pipelines(researcher_client):
    response = post(researcher_client, name="x", pipeline="os.system", model="m")
    assert response.status_code == 400 and not System.objects.exists()
    page = researcher_client.get(reverse("systems")).content.decode()
    assert '<option value="CogVideoXPipeline">' in page and '<option value="factorized">' in page


def test_an_external_system_goes_on_to_its_video_upload(researcher_client):
    response = post(researcher_client, name="<i>pika</i>", kind="external")
    system = System.objects.get()
    assert response.status_code == 302 and response.url == reverse("system-videos-upload", args=[system.pk])
    page = researcher_client.get(reverse("systems")).content.decode()
    assert "&lt;i&gt;pika&lt;/i&gt;" in page and "<i>pika" not in page
    assert post(researcher_client, name="pika2", kind="external", model="m").status_code == 400


def test_the_api_adds_and_lists_systems_through_the_same_service(tiny_models):
    key = api_token_create(user=get_user_model().objects.create_user("api", is_staff=True))
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    model = str(tiny_models["text-to-video"])
    body = {"name": "ltx", "pipeline": "LTXPipeline", "model": model, "params": {"num_frames": 9, "scheduler": {"shift": 2}}}
    response = api.post(reverse("api-systems"), body, content_type="application/json")
    assert response.status_code == 201 and response.json()["params"] == {"num_frames": 9, "scheduler": {"shift": 2}}
    with pytest.raises(CommandError) as command:
        add_system("bad", "--pipeline", "LTXPipeline", "--model", model, "--param", "num_frame=9")
    bad = api.post(reverse("api-systems"), {**body, "name": "bad", "params": {"num_frame": 9}}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == str(command.value)
    assert api.post(reverse("api-systems"), {"name": "x", "colour": "red"}, content_type="application/json").status_code == 400
    assert api.post(reverse("api-systems"), {"name": "pika", "external": True}, content_type="application/json").status_code == 201
    assert [s["name"] for s in api.get(reverse("api-systems")).json()["systems"]] == ["ltx", "pika"]
    assert Client().get(reverse("api-systems")).status_code == 401
