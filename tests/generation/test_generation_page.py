"""The generation page: start generation for a system and a prompt set, follow it, read failed jobs
grouped by error with their traceback, retry or cancel one job or all failed ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.jobs.queueing import generation_queue
from generation.models import GenerationJob, System
from tests.support.generation import SMALL, add_system, make_prompts

pytestmark = pytest.mark.django_db


@pytest.fixture
def ltx(tiny_models):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL)
    return System.objects.get(name="ltx")


def fail(job: GenerationJob, error: str) -> None:
    trace = f'Traceback (most recent call last):\n  File "pipeline.py", line 7, in __call__\nValueError: {error}\n'
    GenerationJob.objects.filter(pk=job.pk).update(status="failed", attempts=3, error=f"ValueError: {error}", traceback=trace)


def test_it_starts_generation_from_the_page(researcher_client, ltx, empty_queues):
    prompt_set = make_prompts("set", ["a cat", "a dog"])
    response = researcher_client.post(reverse("generation-start"), {"system": "ltx", "prompt_set": "set", "seed": "7"})
    assert response.status_code == 302 and response.url == reverse("generation-status") + "?prompt_set=set"
    jobs = GenerationJob.objects.filter(system=ltx, prompt__prompt_set=prompt_set).order_by("prompt__position")
    assert [(j.status, j.seed) for j in jobs] == [("queued", 7), ("queued", 8)]
    page = researcher_client.get(response.url).content.decode()
    assert "ltx: queued 2 job(s), skipped 0" in page
    assert '<td class="queued">2</td>' in page and 'id="generation-progress" data-live' in page and "juice/live.js" in page

    researcher_client.post(reverse("generation-cancel", args=[ltx.pk]), {"job": "pending", "prompt_set": "set"})
    assert set(jobs.values_list("status", flat=True)) == {"cancelled"}
    assert "juice/live.js" not in researcher_client.get(response.url).content.decode()  # nothing left to follow
    researcher_client.post(reverse("generation-start"), {"system": "ltx", "prompt_set": "set"})
    assert set(jobs.values_list("status", flat=True)) == {"queued"}  # generating again starts them over


def test_failed_jobs_are_grouped_by_error_with_the_traceback(researcher_client, ltx, empty_queues):
    prompt_set = make_prompts("set", ["a cat", "a dog", "a <b>bird</b>"])
    first, second, third = (GenerationJob.objects.get(pk=i) for i in generation_queue(system=ltx, prompt_set=prompt_set).job_ids)
    fail(first, "height must be divisible by 32")
    fail(second, "height must be divisible by 32")
    fail(third, "out of <memory>")
    page = researcher_client.get(reverse("generation-status")).content.decode()
    assert page.count('<details class="error-group"') == 2
    assert "ValueError: height must be divisible by 32</span> (2 jobs)" in page
    assert "ValueError: out of &lt;memory&gt;</span> (1 job)" in page and "<memory>" not in page
    assert 'File &quot;pipeline.py&quot;, line 7, in __call__' in page
    assert "Retry all 3 failed" in page and 'aria-label="Retry p0001"' in page


def test_retry_and_cancel_one_job_or_all_failed(researcher_client, ltx, empty_queues):
    prompt_set = make_prompts("set", ["a cat", "a dog", "a bird"])
    ids = generation_queue(system=ltx, prompt_set=prompt_set).job_ids
    for job in GenerationJob.objects.filter(pk__in=ids):
        fail(job, "boom")
    retry, cancel = reverse("generation-retry", args=[ltx.pk]), reverse("generation-cancel", args=[ltx.pk])

    assert researcher_client.post(retry, {"job": str(ids[0])}).status_code == 302
    job = GenerationJob.objects.get(pk=ids[0])
    assert (job.status, job.attempts, job.error, job.traceback) == ("queued", 0, "", "")
    researcher_client.post(cancel, {"job": str(ids[1])})
    assert GenerationJob.objects.get(pk=ids[1]).status == "cancelled"
    researcher_client.post(retry, {"job": "failed"})
    assert dict(GenerationJob.objects.values_list("pk", "status")) == {ids[0]: "queued", ids[1]: "cancelled", ids[2]: "queued"}

    fail(GenerationJob.objects.get(pk=ids[2]), "again")
    researcher_client.post(cancel, {"job": "failed"})
    assert dict(GenerationJob.objects.values_list("pk", "status")) == {ids[0]: "queued", ids[1]: "cancelled", ids[2]: "cancelled"}
    other = System.objects.create(name="other", kind="external")
    assert researcher_client.post(reverse("generation-retry", args=[other.pk]), {"job": "failed"}).status_code == 404
    assert researcher_client.post(retry, {"job": "12345678"}).status_code == 404
    assert researcher_client.get(retry).status_code == 405


def test_a_cancelled_job_is_not_made_and_a_running_one_stores_nothing(ltx, empty_queues, monkeypatch, media_root,
                                                                      django_capture_on_commit_callbacks):
    from generation.jobs import worker
    from generation.jobs.queueing import jobs_cancel

    prompt_set = make_prompts("set", ["a cat", "a dog"])
    queued, running = generation_queue(system=ltx, prompt_set=prompt_set).job_ids
    jobs_cancel(system=ltx, job_id=queued)
    assert worker.jobs_run(job_ids=[queued]) == 0  # no worker claims a cancelled job
    assert GenerationJob.objects.get(pk=queued).status == "cancelled"

    generate = worker.videos_generate

    def cancelled_meanwhile(**kwargs):
        jobs_cancel(system=ltx, job_id=running)  # the researcher clicks Cancel while the model runs
        return generate(**kwargs)

    monkeypatch.setattr(worker, "videos_generate", cancelled_meanwhile)
    with django_capture_on_commit_callbacks() as callbacks:
        worker.jobs_run(job_ids=[running])
    assert callbacks == []  # nothing sent to encoding
    assert GenerationJob.objects.get(pk=running).status == "cancelled"
    assert not list((media_root / "generation" / "frames").glob("*.npy"))


@pytest.mark.django_db(transaction=True)
def test_a_failure_keeps_the_last_lines_of_its_traceback(tiny_models, settings, eager):
    settings.JUICE_RETRY_DELAY_SECONDS = 0
    add_system("broken", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]),
               "--param", "num_frames=9", "--param", "num_inference_steps=1")
    # add_system refuses a size the model cannot make: the row is changed behind its back, as a model
    # replaced on disk after registration would do, so that the pipeline itself fails.
    System.objects.filter(name="broken").update(params={"num_frames": 9, "height": 30, "width": 30, "num_inference_steps": 1})
    generation_queue(system=System.objects.get(), prompt_set=make_prompts("set", ["a cat"]))
    job = GenerationJob.objects.get()
    assert job.status == "failed" and "divisible by 32" in job.error
    lines = job.traceback.splitlines()
    assert len(lines) <= 30 and "divisible by 32" in lines[-1] and any("diffusers" in line for line in lines)


def test_the_page_starts_several_samples_per_prompt_and_retries_or_cancels_each_job(researcher_client, ltx, empty_queues):
    make_prompts("set", ["a cat", "a dog"])
    response = researcher_client.post(reverse("generation-start"), {"system": "ltx", "prompt_set": "set", "seed": "7", "samples": "2"})
    assert response.status_code == 302
    jobs = GenerationJob.objects.filter(system=ltx).order_by("prompt__position", "sample")
    assert [(j.prompt.key, j.sample, j.seed) for j in jobs] == [
        ("p0001", 0, 7), ("p0001", 1, 1_000_007), ("p0002", 0, 8), ("p0002", 1, 1_000_008),
    ]
    assert "ltx: queued 4 job(s), skipped 0" in researcher_client.get(response.url).content.decode()

    fail(jobs[1], "out of memory")
    page = researcher_client.get(response.url).content.decode()
    assert 'aria-label="Retry p0001 (sample 1)"' in page
    researcher_client.post(reverse("generation-retry", args=[ltx.pk]), {"job": str(jobs[1].pk), "prompt_set": "set"})
    assert [j.status for j in jobs.all()] == ["queued"] * 4
    researcher_client.post(reverse("generation-cancel", args=[ltx.pk]), {"job": str(jobs[3].pk), "prompt_set": "set"})
    assert [j.status for j in jobs.all()] == ["queued", "queued", "queued", "cancelled"]

    bad = researcher_client.post(reverse("generation-start"), {"system": "ltx", "prompt_set": "set", "samples": "0"}, follow=True)
    assert "samples: Ensure this value is greater than or equal to 1." in bad.content.decode()
