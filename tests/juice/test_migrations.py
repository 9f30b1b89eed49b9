"""A database made before prompt sets moved to `generation` and API tokens to `juice` migrates
forward with its data, and the site works on it: nothing is copied, every row and link stays."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

# The last migrations of the layout before: prompt sets and API tokens in `annotation`, no `juice` app.
BEFORE = [("annotation", "0004_study_invited"), ("generation", "0001_initial"), ("juice", None)]
KEY = "an-api-key-made-before-the-move"


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def fill(apps) -> None:
    """One of everything, through the models as they were then."""
    model = apps.get_model
    user = get_user_model().objects.create_user("old-researcher", is_staff=True)
    prompt_set = model("annotation", "PromptSet").objects.create(name="old set", source_name="old.csv")
    prompts = [model("annotation", "Prompt").objects.create(prompt_set=prompt_set, key=f"p{i}", position=i, text=f"prompt {i}")
               for i in (1, 2)]
    systems = [model("generation", "System").objects.create(name=name, kind="external") for name in ("A", "B")]
    videos = {
        (s.name, p.key): model("generation", "Video").objects.create(
            system=s, prompt=p, file=f"videos/{s.name}{p.key}.mp4", sha256="0" * 64, width=64, height=48, fps=8,
            frame_count=8, duration=1, codec="h264",
        )
        for s in systems for p in prompts
    }
    study = model("annotation", "Study").objects.create(name="old study", prompt_set=prompt_set, questions=["quality"],
                                                         reasons={"quality": [{"key": "sharp", "label": "Sharp"}]}, status="open")
    pair = model("annotation", "StudyPair").objects.create(study=study, system_a=systems[0], system_b=systems[1])
    item = model("annotation", "Item").objects.create(study=study, pair=pair, prompt=prompts[0], video_a=videos[("A", "p1")],
                                                      video_b=videos[("B", "p1")], raters_needed=5, status="ready",
                                                      claimed=1, votes_done=1)
    rater = model("annotation", "Rater").objects.create(study=study, worker_id="w1", votes_done=1)
    assignment = model("annotation", "Assignment").objects.create(rater=rater, item=item, left="a", status="voted",
                                                                  leased_until=timezone.now() + timedelta(minutes=10))
    model("annotation", "Vote").objects.create(assignment=assignment, question="quality", choice="a", reasons=["sharp"])
    model("annotation", "ApiToken").objects.create(user_id=user.pk, name="old", key_hash=hashlib.sha256(KEY.encode()).hexdigest())
    # The content types as such a database has them, with a permission granted on one of them.
    content_types = model("contenttypes", "ContentType").objects
    content_types.filter(app_label__in=["generation", "juice"], model__in=["promptset", "prompt", "apitoken"]).delete()
    promptset = content_types.get_or_create(app_label="annotation", model="promptset")[0]
    content_types.get_or_create(app_label="annotation", model="apitoken")
    permission = model("auth", "Permission").objects.create(content_type=promptset, codename="review_promptset", name="Can review")
    model("auth", "User").objects.get(pk=user.pk).user_permissions.add(permission)


@pytest.mark.django_db(transaction=True)
def test_a_database_of_the_previous_layout_migrates_forward_with_its_data():
    from annotation.models import Item, Study, Vote
    from generation.models import Prompt, PromptSet, Video
    from juice.models import ApiToken

    executor = migrate(BEFORE)
    try:
        moved = {app for app, _ in BEFORE}
        others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in moved]
        fill(executor.loader.project_state([node for node in BEFORE if node[1]] + others).apps)
    finally:
        migrate(executor.loader.graph.leaf_nodes())

    prompt_set = PromptSet.objects.get(name="old set")
    assert list(prompt_set.prompts.values_list("key", flat=True)) == ["p1", "p2"]
    assert Study.objects.get(name="old study").prompt_set == prompt_set
    item = Item.objects.get()
    assert (item.prompt.key, item.video_a.prompt.key, item.video_b.system.name) == ("p1", "p1", "B")
    assert Video.objects.filter(prompt__prompt_set=prompt_set).count() == 4
    assert Prompt.objects.get(key="p2").videos.count() == 2
    assert Vote.objects.get().assignment.item == item
    assert ApiToken.objects.get().user.username == "old-researcher"
    # The token still opens the API, which lists the prompt set.
    response = Client(HTTP_AUTHORIZATION=f"Token {KEY}").get("/api/prompt-sets")
    assert response.status_code == 200
    assert response.json()["prompt_sets"] == [{"name": "old set", "count": 2, "created_at": prompt_set.created_at.isoformat()}]
    # Permissions granted on the moved models follow them.
    assert get_user_model().objects.get(username="old-researcher").has_perm("generation.review_promptset")
    assert not ContentType.objects.filter(app_label="annotation", model__in=["promptset", "prompt", "apitoken"]).exists()
    assert ContentType.objects.get_for_model(ApiToken).app_label == "juice"
    # And the moved models keep their constraints: a duplicate prompt id is still refused by the database.
    with pytest.raises(IntegrityError, match="prompt_unique_key"):
        Prompt.objects.create(prompt_set=prompt_set, key="p1", position=9, text="again")


# The last migrations before several samples per prompt.
BEFORE_SAMPLES = [("generation", "0004_job_traceback_cancelled"), ("annotation", "0012_dynamic_evaluation")]


@pytest.mark.django_db(transaction=True)
def test_a_database_made_before_samples_keeps_its_videos_jobs_and_items_as_sample_0():
    from annotation.models import Item
    from generation.models import GenerationJob, Video

    executor = migrate(BEFORE_SAMPLES)
    try:
        others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in {"generation", "annotation"}]
        model = executor.loader.project_state(BEFORE_SAMPLES + others).apps.get_model
        prompt_set = model("generation", "PromptSet").objects.create(name="set")
        prompt = model("generation", "Prompt").objects.create(prompt_set=prompt_set, key="p1", position=0, text="a cat")
        videos = []
        for name in ("A", "B"):
            system = model("generation", "System").objects.create(name=name, kind="external")
            videos.append(model("generation", "Video").objects.create(
                system=system, prompt=prompt, file=f"videos/{name}.mp4", sha256="0" * 64, width=64, height=48, fps=8,
                frame_count=8, duration=1, codec="h264",
            ))
        model("generation", "GenerationJob").objects.create(system=system, prompt=prompt, seed=5, status="done", video=videos[1])
        study = model("annotation", "Study").objects.create(name="s", prompt_set=prompt_set, questions=["quality"], status="open")
        pair = model("annotation", "StudyPair").objects.create(study=study, system_a=videos[0].system, system_b=system)
        model("annotation", "Item").objects.create(study=study, pair=pair, prompt=prompt, video_a=videos[0], video_b=videos[1],
                                                   raters_needed=1, status="ready")
    finally:
        migrate(executor.loader.graph.leaf_nodes())

    assert list(Video.objects.values_list("sample", flat=True)) == [0, 0]
    assert (GenerationJob.objects.get().sample, GenerationJob.objects.get().seed) == (0, 5)
    assert (Item.objects.get().sample, Item.objects.get().study.samples, Item.objects.get().study.sample_unit) == (0, 1, "item")
    old = Video.objects.get(system__name="A")
    Video.objects.create(system=old.system, prompt=old.prompt, sample=1, file="videos/A1.mp4", sha256="0" * 64, width=64,
                         height=48, fps=8, frame_count=8, duration=1, codec="h264")
    with pytest.raises(IntegrityError, match="video_unique_system_prompt_sample"):
        Video.objects.create(system=old.system, prompt=old.prompt, sample=1, file="videos/A2.mp4", sha256="0" * 64, width=64,
                             height=48, fps=8, frame_count=8, duration=1, codec="h264")
