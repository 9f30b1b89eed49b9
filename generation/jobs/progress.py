"""What the generation page shows of each generated system's jobs: counts by state, errors grouped, steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from generation.jobs.queueing import Status
from generation.models import GenerationJob, PromptSet, System


@dataclass
class ErrorGroup:
    """Failed jobs of one system that failed the same way."""

    error: str
    traceback: str  # of the first of them
    jobs: list[tuple[int, str]]  # (job id, prompt id with its sample when not 0)


@dataclass
class RunningJob:
    """A job a worker is making, and where its pipeline call is (step_count 0: not known, or not reported)."""

    label: str  # the prompt id, with its sample when not 0
    phase: str
    step: int
    step_count: int


@dataclass
class Progress:
    system: System
    total: int
    queued: int
    running: int
    done: int
    failed: int
    errors: list[tuple[str, str]]  # (prompt id, with its sample when not 0; error) of failed jobs
    cancelled: int = 0
    error_groups: list[ErrorGroup] = field(default_factory=list)  # the failed jobs grouped by their error
    running_jobs: list[RunningJob] = field(default_factory=list)  # the jobs being generated (not those encoding)

    @property
    def finished(self) -> bool:
        return self.queued == 0 and self.running == 0


def _job_label(job: GenerationJob) -> str:
    return job.prompt.key + (f" (sample {job.sample})" if job.sample else "")


def _running_jobs(jobs, systems: list[System]) -> dict[int, list[RunningJob]]:
    """Per system, its running jobs with their step, in prompt order."""
    running: dict[int, list[RunningJob]] = {}
    for job in jobs.filter(system__in=systems, status=Status.RUNNING).select_related("prompt").order_by("prompt__position", "sample"):
        running.setdefault(job.system_id, []).append(RunningJob(_job_label(job), job.step_phase, job.step, job.step_count))
    return running


def generation_progress(*, systems: list[System] | None = None, prompt_set: PromptSet | None = None) -> list[Progress]:
    """Per generated system: how many jobs are queued, running (or encoding), done and failed, with the errors,
    and the step each running job is at."""
    jobs = GenerationJob.objects.all()
    if prompt_set is not None:
        jobs = jobs.filter(prompt__prompt_set=prompt_set)
    systems = systems if systems is not None else list(System.objects.filter(kind=System.Kind.GENERATED).order_by("name"))
    counts = {
        row["system_id"]: row
        for row in jobs.filter(system__in=systems).values("system_id").annotate(
            total=Count("id"),
            queued=Count("id", filter=Q(status=Status.QUEUED)),
            running=Count("id", filter=Q(status__in=[Status.RUNNING, Status.ENCODING])),
            done=Count("id", filter=Q(status=Status.DONE)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
        )
    }
    errors: dict[int, list] = {}
    groups: dict[int, dict[str, ErrorGroup]] = {}
    for job in jobs.filter(system__in=systems, status=Status.FAILED).select_related("prompt").order_by("prompt__position", "sample"):
        label = _job_label(job)
        errors.setdefault(job.system_id, []).append((label, job.error))
        group = groups.setdefault(job.system_id, {}).setdefault(job.error, ErrorGroup(job.error, job.traceback, []))
        group.jobs.append((job.pk, label))
    empty = {"total": 0, "queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
    running = _running_jobs(jobs, systems)
    return [
        Progress(system=s, **{k: counts.get(s.pk, empty)[k] for k in empty}, errors=errors.get(s.pk, []),
                 error_groups=list(groups.get(s.pk, {}).values()), running_jobs=running.get(s.pk, []))
        for s in systems
    ]
