"""Faults an operator meets, for real: the database restarts under a serving site (on a private
PostgreSQL that the test stops and starts; the machine's own server is never touched)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import ROOT
from tests.support.postgres import private_postgres
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.worker

# Migrate the private database and build an open study with a researcher's token in it.
SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from juice.auth import api_token_create, researcher_create
from tests.support.builders import build_open_study
study = build_open_study(n_prompts=3, copy_files=False)
user, _ = researcher_create(username="alice", password="alice-password-1")
print(study.slug, api_token_create(user=user))
"""


def vote_body() -> dict:
    return {"quality": {"choice": "left", "reasons": ["pixel_sharpness"]},
            "faithfulness": {"choice": "right", "reasons": ["spatial_alignment"]}, "watch_ms": 4000}


def test_a_database_restart_answers_503_with_retry_after_then_the_site_carries_on(tmp_path: Path):
    with private_postgres() as database:
        env = {**os.environ, "DATABASE_URL": database.url, "MEDIA_ROOT": str(tmp_path / "media"),
               "JUICE_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "juice.settings"}
        env.pop("CELERY_BROKER_URL", None)
        setup = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert setup.returncode == 0, setup.stderr
        slug, key = setup.stdout.split()
        port = free_port()
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env)
        try:
            wait_for_port(port, server)
            site = f"http://127.0.0.1:{port}"
            rater = requests.Session()
            assert rater.get(f"{site}/s/{slug}/join?worker=W1").status_code == 200  # redirected to the page
            headers = {"X-CSRFToken": rater.cookies["csrftoken"]}
            token = rater.get(f"{site}/api/annotate/{slug}/next").json()["assignment"]

            database.stop()
            down = rater.get(f"{site}/api/annotate/{slug}/next")
            assert (down.status_code, down.headers["Retry-After"]) == (503, "5")
            assert "cannot be reached" in down.json()["error"]
            refused = rater.post(f"{site}/api/annotate/assignments/{token}/vote?next=1", json=vote_body(), headers=headers)
            assert refused.status_code == 503 and "error" in refused.json()
            api = requests.get(f"{site}/api/prompt-sets", headers={"Authorization": f"Token {key}"}, timeout=30)
            assert api.status_code == 503 and "error" in api.json()
            page = rater.get(f"{site}/s/{slug}/rate")
            assert page.status_code == 503 and "nothing you did is lost" in page.text

            database.start()
            # Nothing was lost: the same assignment, and the vote the page sends again is stored once.
            assert rater.get(f"{site}/api/annotate/{slug}/next").json()["assignment"] == token
            voted = rater.post(f"{site}/api/annotate/assignments/{token}/vote?next=1", json=vote_body(), headers=headers)
            assert voted.status_code == 201 and voted.json()["next"]["assignment"] not in (None, token)
            assert requests.get(f"{site}/api/prompt-sets", headers={"Authorization": f"Token {key}"}, timeout=30).status_code == 200
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_queues")
def test_jobs_and_encodes_whose_messages_a_broker_restart_lost_are_sent_again(tiny_models, media_root, tmp_path):
    """Redis keeps nothing on disk: a restart loses every waiting message. Jobs and encodes stay
    queued or pending in the database, and the reconcilers (celery beat) send them again."""
    from annotation.models import Study
    from generation.models import GenerationJob, System
    from tests.support.builders import add_video, external_system, prompt_set
    from tests.support.generation import SMALL, add_system, make_prompts
    from tests.support.media import make_video
    from tests.support.redis import private_redis
    from tests.support.workers import run_django, wait_for, worker

    add_system("tiny", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL)
    prompts = make_prompts("generated", ["a cat", "a dog"])
    clips = prompt_set("matched", count=2)
    for name, size in (("A", (64, 48)), ("B", (48, 48))):
        system = external_system(name)
        for prompt in clips.prompts.all():
            add_video(system, prompt, make_video(tmp_path / f"{name}{prompt.key}.mp4", width=size[0], height=size[1]))
    log = tmp_path / "worker.log"
    with private_redis() as broker:
        # Sent while no worker runs, the messages wait in the broker...
        run_django(f"from generation.jobs.queueing import generation_queue; from generation.models import *\n"
                   f"generation_queue(system=System.objects.get(name='tiny'), prompt_set=PromptSet.objects.get(pk={prompts.pk}))",
                   media_root, broker.url)
        run_django("from annotation.studies.schemas import StudySpec; from annotation.studies.services import study_create\n"
                   "study_create(spec=StudySpec(name='lost', prompt_set='matched', pairs=[('A', 'B')]))", media_root, broker.url)
        broker.stop()  # ... and a restart loses them all.
        broker.start()
        with worker(media_root, log, broker=broker.url):
            waiting = "from juice.queue import queue_length; print(queue_length('gpu'), queue_length('media'))"
            assert run_django(waiting, media_root, broker.url).split() == ["0", "0"]
            assert set(GenerationJob.objects.values_list("status", flat=True)) == {"queued"}
            # Beat's reconcilers, once the messages have been waiting longer than JUICE_LOST_SECONDS.
            resent = run_django("from generation.tasks import requeue_stale_jobs; from annotation.tasks import studies_refresh_all\n"
                                "print(requeue_stale_jobs(), studies_refresh_all())", media_root, broker.url, JUICE_LOST_SECONDS="1")
            assert resent.split()[0] == "2"
            wait_for(lambda: set(GenerationJob.objects.values_list("status", flat=True)) == {"done"}, 180, "the jobs to run", log)
            wait_for(lambda: Study.objects.filter(name="lost", status="open").exists(), 120, "the study to open", log)
    assert System.objects.get(name="tiny").videos.count() == 2
