"""Soak benchmark: 100 raters for 20 minutes beside a generation and matching load, under faults.

    .venv/bin/python bench/bench_soak.py [--minutes 20] [--raters 100] [--rate 20]

Everything runs on this machine, on a private PostgreSQL and a private Redis that the benchmark
starts on their own ports and removes afterwards (tests/support/postgres.py, redis.py), so the
machine's own servers, which other users share, are never restarted. On them: gunicorn (several
workers) serves an open study; Celery workers for the `gpu` and the `media` queue and celery beat
run as in production (short heartbeat and stale settings, so that recovery takes seconds, not
minutes); `--raters` simulated raters (tests/support/raters.py) rate over HTTP as the rating page
does, together offering `--rate` votes per second, retrying as the page does: a vote whose answer
was lost (a dropped connection, a 5xx) is sent again, and a `409 already voted` then confirms it.
Beside them, a prompt set of tiny random-weight text-to-video jobs is queued every minute and a
matched study (encodes on the media worker) is created every 90 seconds.

Faults, while it runs: every few minutes a round SIGKILLs one gunicorn worker (its master forks
another), the gpu worker and the media worker (whole process groups, mid-job when one runs; each
restarted 2 s later, as a supervisor would); once, PostgreSQL is stopped and started again; once,
Redis (which keeps nothing on disk: every waiting message is lost). After the load stops, the
benchmark waits for the queues to drain, then checks the invariants (`soak_invariants`) and prints
the figures: votes/s, latency per endpoint, answers by status, each fault with its time and its
recovery, and each invariant with pass or fail. Exit status 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import uvloop
from _load import Browser, percentile
from _setup import ROOT, bench_environment, database_drop, django_setup
from bench_annotation import check_invariants

# Recovery in seconds rather than the production defaults' minutes: the same code paths, sooner.
FAST_RECOVERY = {"JUICE_HEARTBEAT_SECONDS": "2", "JUICE_STALE_SECONDS": "10", "JUICE_LOST_SECONDS": "20",
                 "JUICE_RETRY_DELAY_SECONDS": "0", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "JUICE_FFMPEG_THREADS": "1"}
GEN_PARAMS = {"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 2, "max_sequence_length": 16, "fps": 8,
              "batch_size": 2}
RETRIED = {0, 500, 502, 503, 504}  # answers after which a vote may or may not be stored: the page sends it again
REQUEST_TIMEOUT = 60.0


def since(t0: float) -> str:
    return f"{time.time() - t0:7.1f} s"


# ---------------------------------------------------------------------------------------------
# Raters (client processes)


async def timed_request(browser: Browser, out: dict, endpoint: str, method: str, path: str, body: dict | None = None):
    """One request with its latency recorded under `endpoint`; status 0 on a dropped connection or a timeout."""
    started = time.perf_counter()
    try:
        status, content = await asyncio.wait_for(browser.request(method, path, body), REQUEST_TIMEOUT)
    except TimeoutError:
        if browser.streams is not None:
            browser.streams[1].close()
            browser.streams = None
        status, content = 0, b""
    out["latency"].setdefault(endpoint, []).append((time.perf_counter() - started) * 1000)
    out["status"][f"{endpoint} {status}"] += 1
    return status, content


async def rater_loop(port: int, slugs: list[str], worker: str, start_at: float, deadline: float, interval: float,
                     out: dict) -> None:
    """Join the studies in turn, then vote until `deadline` (one vote per `interval` seconds at most), as
    the rating page does: the vote asks for the next assignment (?next=1); a vote whose answer was
    lost is sent again. Handed nothing, the rater goes on to the next study (the last one it keeps asking)."""
    from tests.support.raters import SimulatedRater

    rater = SimulatedRater(worker, watch_ms=5000)
    await asyncio.sleep(max(0.0, start_at - interval + random.uniform(0, interval) - time.time()))
    due = time.time()
    for slug in slugs:
        browser = Browser(port)  # a fresh session, as a crowd worker opening the next study's link

        async def retrying(endpoint: str, path: str, ok: int, browser: Browser = browser) -> dict | None:
            while time.time() < deadline:
                status, content = await timed_request(browser, out, endpoint, "GET", path)
                if status == ok:
                    return json.loads(content) if endpoint == "next" else {}
                await asyncio.sleep(2)
            return None

        if await retrying("join", f"/s/{slug}/join?worker={worker}", 302) is None:
            return
        if await retrying("rate page", f"/s/{slug}/rate", 200) is None:  # sets the CSRF cookie, as the page does
            return
        data = await retrying("next", f"/api/annotate/{slug}/next", 200)
        while data is not None and time.time() < deadline:
            due = max(due + interval, time.time())
            await asyncio.sleep(max(0.0, due - time.time()))
            if data["assignment"] is None:
                if slug != slugs[-1]:
                    break
                data = await retrying("next", f"/api/annotate/{slug}/next", 200)  # leases may free items later
                continue
            data = await send_vote(browser, out, (slug, worker, data["assignment"]), rater.ballot_for_next(data), start_at, deadline)
            if data is None:
                data = await retrying("next", f"/api/annotate/{slug}/next", 200)


async def send_vote(browser: Browser, out: dict, vote: tuple[str, str, str], body: dict, start_at: float,
                    deadline: float) -> dict | None:
    """Send the vote (study, worker, assignment) until its fate is known, as the rating page does;
    returns the next assignment of its answer."""
    token, unsure = vote[2], False
    while True:
        status, content = await timed_request(browser, out, "vote", "POST", f"/api/annotate/assignments/{token}/vote?next=1", body)
        if status == 201:
            out["accepted"].append(vote)
            out["per_10s"][int((time.time() - start_at) // 10)] += 1
            return json.loads(content).get("next")
        if status == 409 and unsure and b"already voted" in content:
            out["confirmed"].append(vote)  # its first send was stored; the answer was lost
            return None
        if status not in RETRIED:
            return None  # refused (an expired lease, a closed study): the page asks for the next one
        unsure = True
        if time.time() > deadline + 120:
            out["unsure"].append(vote)  # never learned whether it was stored
            return None
        await asyncio.sleep(2)


def client_process(port: int, slugs: list[str], workers: list[str], start_at: float, deadline: float, interval: float, queue) -> None:
    out = {"latency": {}, "status": Counter(), "accepted": [], "confirmed": [], "unsure": [], "per_10s": Counter()}

    async def run() -> None:
        await asyncio.gather(*(rater_loop(port, slugs, w, start_at, deadline, interval, out) for w in workers))

    uvloop.run(run())
    queue.put(out)


# ---------------------------------------------------------------------------------------------
# Services and processes


@dataclass
class Fault:
    what: str
    at: float  # seconds since the start of the load
    detail: str = ""
    recovery_s: float | None = None
    recovery_of: str = ""
    pending: dict = field(default_factory=dict)  # what was in flight: {"jobs": [...], "encodes": [...]}
    up_at: float | None = None  # when a restarted server was up again (epoch seconds)


class Workers:
    """The Celery workers and beat, each in its own process group (a kill reaches the pool and ffmpeg)."""

    def __init__(self, env: dict, scratch: Path) -> None:
        self.env, self.scratch, self.procs = env, scratch, {}
        self.log = (scratch / "workers.log").open("ab")

    def start(self, name: str) -> None:
        if name == "beat":
            args = ["beat", "-s", str(self.scratch / "beat-schedule"), "-l", "warning"]
        else:
            args = ["worker", "-Q", name, "-c", "1", "-P", "prefork", "-l", "warning", "--without-gossip", "--without-mingle",
                    "-n", f"soak-{name}-{time.time_ns() % 10**6}@%h"]
        self.procs[name] = subprocess.Popen([str(ROOT / ".venv/bin/celery"), "-A", "juice", *args], cwd=ROOT, env=self.env,
                                            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def gunicorn_children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def orm_retry(call, *, tries: int = 60):
    """Run an ORM `call`, retrying through a database outage (the connection is opened again)."""
    from django.db import DatabaseError, close_old_connections, connection

    for attempt in range(tries):
        try:
            return call()
        except DatabaseError:
            if attempt == tries - 1:
                raise
            connection.close()
            close_old_connections()
            time.sleep(1)
    return None


def in_flight() -> dict:
    """Ids of the jobs and encodes not finished now."""
    from generation.models import GenerationJob, MatchedVideo

    return {"jobs": list(GenerationJob.objects.exclude(status__in=["done", "failed", "cancelled"]).values_list("pk", flat=True)),
            "encodes": list(MatchedVideo.objects.filter(status__in=["pending", "running"]).values_list("pk", flat=True))}


def running_work(queue: str) -> list[int]:
    from generation.models import GenerationJob, MatchedVideo

    if queue == "gpu":
        return list(GenerationJob.objects.filter(status="running").values_list("pk", flat=True))
    return list(MatchedVideo.objects.filter(status="running").values_list("pk", flat=True)) + [
        -pk for pk in GenerationJob.objects.filter(status="encoding").values_list("pk", flat=True)]


def finished_at(pending: dict) -> float | None:
    """When the last of `pending`'s jobs and encodes finished (epoch seconds); None while one is not."""
    from generation.models import GenerationJob, MatchedVideo

    jobs = GenerationJob.objects.filter(pk__in=pending.get("jobs", []))
    encodes = MatchedVideo.objects.filter(pk__in=pending.get("encodes", []))
    if jobs.exclude(status__in=["done", "failed"]).exists() or encodes.exclude(status__in=["ready", "failed"]).exists():
        return None
    times = [j.finished_at.timestamp() for j in jobs if j.finished_at]
    times += [m.started_at.timestamp() + (m.encode_seconds or 0) for m in encodes if m.started_at]
    return max(times, default=None)


# ---------------------------------------------------------------------------------------------
# Load beside the raters: generation jobs and matched studies


class SideLoad:
    """Queues a prompt set of tiny text-to-video jobs every `gen_every` s and creates a matched study
    (two external systems whose formats differ, so every side is encoded) every `match_every` s."""

    def __init__(self, scratch: Path, gen_prompts: int, match_prompts: int) -> None:
        from generation.systems.services import system_add
        from generation.tiny import tiny_models_create
        from tests.support.builders import external_system
        from tests.support.media import make_video

        model = tiny_models_create(directory=scratch / "models", only=("text-to-video",))["text-to-video"]
        self.system = system_add(name="soak-generated", pipeline="LTXPipeline", model=str(model), params=GEN_PARAMS)
        self.clips = {"soak-A": make_video(scratch / "A.mp4", width=64, height=48),
                      "soak-B": make_video(scratch / "B.mp4", width=48, height=48)}
        self.systems = [external_system(name) for name in self.clips]
        self.gen_prompts, self.match_prompts = gen_prompts, match_prompts
        self.generated_sets: list[int] = []
        self.studies: list[int] = []
        self.errors: Counter = Counter()

    def generate(self, n: object) -> None:
        from generation.jobs.queueing import generation_queue
        from generation.models import Prompt, PromptSet

        prompts = PromptSet.objects.create(name=f"soak-generated-{n}")
        Prompt.objects.bulk_create(Prompt(prompt_set=prompts, key=f"p{i:04d}", position=i, text=f"a cat number {i} in the rain")
                                   for i in range(self.gen_prompts))
        self.generated_sets.append(prompts.pk)
        generation_queue(system=self.system, prompt_set=prompts)

    def match(self, n: object) -> None:
        from tests.support.builders import add_video, create_study, prompt_set

        prompts = prompt_set(name=f"soak-matched-{n}", count=self.match_prompts)
        for system in self.systems:
            for prompt in prompts.prompts.all():
                add_video(system, prompt, self.clips[system.name])
        self.studies.append(create_study(name=f"soak matched {n}", prompt_set=prompts, pairs=[tuple(self.systems)]).pk)

    def burst(self, tag: str) -> None:
        """A prompt set to generate and a study to match at once: messages waiting in the broker."""
        self.generate(tag)
        self.match(tag)

    def opened(self) -> int:
        from annotation.models import Study

        return Study.objects.filter(pk__in=self.studies, status="open").count()

    def run(self, t0: float, stop: threading.Event, gen_every: float, match_every: float) -> None:
        from django.db import DatabaseError, close_old_connections, connection

        due = {"generate": t0, "match": t0 + match_every / 2}
        counts = Counter()
        while not stop.is_set():
            for kind, every in (("generate", gen_every), ("match", match_every)):
                if time.time() < due[kind]:
                    continue
                try:
                    getattr(self, kind)(counts[kind])
                    counts[kind] += 1
                    due[kind] += every
                except DatabaseError as exc:  # PostgreSQL restarting: try again in a few seconds
                    self.errors[f"{kind}: {type(exc).__name__}"] += 1
                    connection.close()
                    close_old_connections()
                    due[kind] = time.time() + 3
            stop.wait(1)


# ---------------------------------------------------------------------------------------------
# Faults


class Faults:
    def __init__(self, t0: float, server: subprocess.Popen, workers: Workers, postgres, redis, side: SideLoad, outage_s: float) -> None:
        self.t0, self.server, self.workers, self.postgres, self.redis = t0, server, workers, postgres, redis
        self.side, self.outage_s, self.log, self.skipped = side, outage_s, [], []

    def note(self, fault: Fault) -> None:
        self.log.append(fault)
        print(f"[{since(self.t0)}] {fault.what}: {fault.detail}", flush=True)

    def kill_gunicorn_worker(self) -> None:
        children = gunicorn_children(self.server.pid)
        victim = random.choice(children)
        started = time.time()
        os.kill(victim, signal.SIGKILL)
        while True:  # the master notices and forks a new one
            now = gunicorn_children(self.server.pid)
            if len(now) == len(children) and victim not in now:
                break
            time.sleep(0.05)
        self.note(Fault("SIGKILL gunicorn worker", started - self.t0, f"pid {victim}",
                        time.time() - started, "master forked a new worker"))

    def kill_celery_worker(self, queue: str) -> None:
        # Mid-job: when this queue's worker is idle, the side load sends it work, and the kill waits for it to start.
        running, waited = orm_retry(lambda: running_work(queue)), time.time()
        if not running:
            tag = f"kill-{queue}-{len(self.log)}"
            orm_retry(lambda: self.side.generate(tag) if queue == "gpu" else self.side.match(tag), tries=5)
        while not running and time.time() - waited < 60:
            time.sleep(0.1)
            running = orm_retry(lambda: running_work(queue))
        started = time.time()
        self.workers.kill(queue)
        pending = {"jobs": [abs(pk) for pk in running if queue == "gpu" or pk < 0],
                   "encodes": [pk for pk in running if queue == "media" and pk > 0]}
        time.sleep(2)  # a supervisor's restart delay
        self.workers.start(queue)
        what = ", ".join(f"{len(v)} {k}" for k, v in pending.items() if v) or "idle"
        self.note(Fault(f"SIGKILL {queue} worker", started - self.t0, f"process group; running: {what}; restarted after 2 s",
                        recovery_of="its running work finished again" if running else "", pending=pending if running else {}))

    def restart_postgres(self) -> None:
        started = time.time()
        self.postgres.stop()
        time.sleep(self.outage_s)
        self.postgres.start()
        self.note(Fault("PostgreSQL restart", started - self.t0, f"stopped (fast), down {time.time() - started:.1f} s, started",
                        recovery_of="from its start to the probe's first 200 after its last failure", up_at=time.time()))

    def restart_redis(self) -> None:
        # Work just queued, so that messages wait in the broker when it goes.
        orm_retry(lambda: self.side.burst("before-redis-restart"), tries=5)
        pending = orm_retry(in_flight)
        started = time.time()
        self.redis.stop()
        time.sleep(self.outage_s)
        self.redis.start()
        self.note(Fault("Redis restart", started - self.t0,
                        f"down {time.time() - started:.1f} s; lost its messages; "
                        f"{len(pending['jobs'])} jobs and {len(pending['encodes'])} encodes unfinished then",
                        recovery_of="those jobs and encodes finished", pending=pending))

    def schedule(self, seconds: float, every: float) -> list[tuple[float, str]]:
        """Rounds of kills every `every` s from `every` / 2; PostgreSQL at 40% of the run, Redis at 70%."""
        plan = [(seconds * 0.4, "restart_postgres"), (seconds * 0.7, "restart_redis")]
        at = every / 2
        while at < seconds - 60:
            plan += [(at, "kill_gunicorn_worker"), (at + 15, "kill_gpu"), (at + 30, "kill_media")]
            at += every
        return sorted(plan)

    def run(self, plan: list[tuple[float, str]], stop: threading.Event) -> None:
        for n, (at, name) in enumerate(plan):
            if stop.wait(max(0.0, self.t0 + at - time.time())):
                self.skipped = [name for _, name in plan[n:]]
                return
            try:
                if name in ("kill_gpu", "kill_media"):
                    self.kill_celery_worker(name.removeprefix("kill_"))
                else:
                    getattr(self, name)()
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                self.note(Fault(name, time.time() - self.t0, f"could not be injected: {exc!r}"))


class Probe:
    """A rater's session asking `next` every 0.25 s: when the site answered, and with what."""

    def __init__(self, site: str, slug: str) -> None:
        self.site, self.slug, self.answers = site, slug, []

    def run(self, stop: threading.Event) -> None:
        session = requests.Session()
        joined = False
        while not stop.is_set():
            try:
                if not joined:
                    joined = session.get(f"{self.site}/s/{self.slug}/join?worker=soak-probe", timeout=10).status_code == 200
                status = session.get(f"{self.site}/api/annotate/{self.slug}/next", timeout=10).status_code
            except requests.RequestException:
                status = 0
            self.answers.append((time.time(), status))
            stop.wait(0.25)

    def recovered_after(self, at: float) -> float | None:
        """Seconds from `at` to the first 200 that follows the last failure within 2 minutes of `at`."""
        window = [(t, s) for t, s in self.answers if at <= t <= at + 120]
        failures = [t for t, s in window if s != 200]
        last = max(failures, default=at)
        ok = [t for t, s in window if s == 200 and t > last]
        return ok[0] - at if ok else None


# ---------------------------------------------------------------------------------------------
# Invariants


def soak_invariants(slugs: list[str], accepted: set, confirmed: set, unsure: set, side: SideLoad) -> list[tuple[str, bool, str]]:
    """Every invariant the soak checks, as (name, held, detail). A vote is (study slug, worker id, assignment)."""
    from django.db.models import Count, F, Q

    from annotation.models import Assignment, Item
    from generation.models import GenerationJob, MatchedVideo, Video
    from juice.files import file_sha256

    results = []
    known = accepted | confirmed
    stored = {tuple(v) for v in Assignment.objects.filter(item__study__slug__in=slugs, status="voted").values_list(
        "item__study__slug", "rater__worker_id", "token")}
    problems = [f"{slug}: {problem}" for slug in slugs
                for problem in check_invariants(slug, sum(1 for v in known | (unsure & stored) if v[0] == slug))]
    results.append(("rating counters: no item past its raters, no rater twice on an item, every 201 stored, "
                    "votes_done true (bench_annotation.check_invariants, per study)", not problems, "; ".join(problems) or "ok"))
    lost, unknown = known - stored, stored - known - unsure
    results.append(("no vote lost: each vote a rater was told is stored (201, or 409 on its resend) is in the database",
                    not lost, f"{len(lost)} lost of {len(known)}"))
    results.append(("no vote duplicated or unknown: each stored vote is one a rater sent and was told of",
                    not unknown, f"{len(unknown)} unknown; {len(unsure)} sends never confirmed either way"))
    items = Item.objects.filter(study__slug__in=slugs).annotate(
        voted=Count("assignments", filter=Q(assignments__status="voted")),
        distinct=Count("assignments__rater", filter=Q(assignments__status="voted"), distinct=True))
    complete = items.filter(voted__gte=F("raters_needed"))
    wrong = complete.exclude(voted=F("raters_needed")).count() + complete.exclude(distinct=F("raters_needed")).count()
    results.append(("each complete item has exactly its rater count of votes, from distinct raters", not wrong,
                    f"{complete.count()} complete items of {items.count()}, {wrong} wrong"))

    jobs = GenerationJob.objects.filter(system=side.system)
    by_status = dict(Counter(jobs.values_list("status", flat=True)))
    videos = Video.objects.filter(system=side.system)
    expected = side.gen_prompts * len(side.generated_sets)
    done = jobs.filter(status="done", video__isnull=False).count()
    results.append(("every generation job done exactly once: one job and one video per prompt, none queued, running or failed",
                    done == expected == jobs.count() == videos.count(),
                    f"{expected} queued by the load; jobs by status {by_status}; {videos.count()} videos; "
                    f"{jobs.filter(attempts__gt=1).count()} jobs ran more than once"))
    bad_video = [v.pk for v in videos if not Path(v.file.path).is_file() or file_sha256(v.file.path) != v.sha256]
    results.append(("every generated video's file is present and matches its sha256", not bad_video, f"{len(bad_video)} bad"))
    encodes = MatchedVideo.objects.filter(source__system__in=side.systems)
    encode_status = dict(Counter(encodes.values_list("status", flat=True)))
    bad_encode = [m.pk for m in encodes.filter(status="ready") if not Path(m.file.path).is_file() or file_sha256(m.file.path) != m.sha256]
    expected_encodes = 2 * side.match_prompts * len(side.studies)
    results.append(("every encode done: ready (none pending, running or failed), its file present, sha256 consistent",
                    encode_status == {"ready": expected_encodes} and not bad_encode,
                    f"{expected_encodes} expected; by status {encode_status}; {len(bad_encode)} bad files"))
    opened = side.opened()
    results.append(("every matched study opened by itself", opened == len(side.studies), f"{opened} of {len(side.studies)}"))
    stuck = GenerationJob.objects.filter(status__in=["queued", "running", "encoding"]).count() + MatchedVideo.objects.filter(
        status__in=["pending", "running"]).count()
    results.append(("no job or encode left queued, running or pending", not stuck, f"{stuck} stuck"))
    return results


def wait_drained(side: SideLoad, timeout: float) -> float:
    """Wait until every job and encode is finished and every matched study open; returns seconds waited."""
    from generation.models import GenerationJob, MatchedVideo

    started = time.time()
    while time.time() - started < timeout:
        busy = orm_retry(lambda: GenerationJob.objects.exclude(status__in=["done", "failed", "cancelled"]).exists()
                         or MatchedVideo.objects.filter(status__in=["pending", "running"]).exists()
                         or side.opened() < len(side.studies))
        if not busy:
            break
        time.sleep(2)
    return time.time() - started


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20, help="how long the raters and the side load run")
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20, help="votes per second the raters offer together")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--fault-every", type=float, default=3, help="minutes between rounds of worker kills")
    parser.add_argument("--outage-seconds", type=float, default=10, help="how long PostgreSQL and Redis stay down")
    parser.add_argument("--gen-prompts", type=int, default=4, help="videos queued each minute")
    parser.add_argument("--match-prompts", type=int, default=4, help="items of each matched study (two encodes each)")
    parser.add_argument("--studies", type=int, default=4, help="studies sized to be completed (then a spare one)")
    parser.add_argument("--drain-minutes", type=float, default=10, help="longest wait for the queues to drain at the end")
    args = parser.parse_args()
    seconds = args.minutes * 60

    from tests.support.postgres import PrivatePostgres
    from tests.support.redis import PrivateRedis
    from tests.support.servers import free_port, wait_for_port

    scratch = Path(tempfile.mkdtemp(prefix="juice-soak-"))
    postgres, redis = PrivatePostgres(), PrivateRedis()
    server = workers = None
    stop = threading.Event()
    try:
        postgres.start()
        redis.start()
        database = postgres.url.rsplit("/", 1)[0] + "/juice_soak"
        database_drop(database, create=True)
        env = bench_environment(database=database, broker=redis.url, media_root=scratch / "media", fast_raters=True,
                                JUICE_DATA_DIR=str(scratch / "data"), JUICE_WEB_WORKERS=str(args.web_workers), **FAST_RECOVERY)
        django_setup(migrate=True)
        from tests.support.builders import build_open_study

        # Studies in turn, as a crowd works through them: --studies sized to be completed in 15% of the
        # run each at the offered rate, then a spare one, large enough that the raters never run out.
        sized = max(10, int(args.rate * seconds * 0.15 / 5))
        sizes = [sized] * args.studies + [int(args.rate * seconds / 5) + 100]
        slugs = [build_open_study(n_prompts=n, raters=5, copy_files=False, name=f"Soak study {i + 1}").slug
                 for i, n in enumerate(sizes)]
        side = SideLoad(scratch, args.gen_prompts, args.match_prompts)
        print(f"built {len(sizes)} studies of {'+'.join(map(str, sizes))} items x 5 raters, the tiny pipeline and the "
              f"matching sources; PostgreSQL on :{postgres.port}, Redis on :{redis.port}", flush=True)
        # A send that the broker's outage refused is logged by Django's on_commit with its traceback;
        # the rows say what is left to send and beat sends it again: the soak counts, it does not print.
        logging.getLogger("django.db.backends.base").setLevel(logging.CRITICAL)

        port = free_port()
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-c", str(ROOT / "gunicorn.conf.py"),
                                   "-b", f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env,
                                  stdout=(scratch / "gunicorn.log").open("ab"), stderr=subprocess.STDOUT)
        wait_for_port(port, server, timeout=60)
        workers = Workers(env, scratch)
        for name in ("gpu", "media", "beat"):
            workers.start(name)

        names = [f"soak-{i:03d}" for i in range(args.raters)]
        queue = multiprocessing.get_context("fork").Queue()
        t0 = time.time() + 5
        deadline = t0 + seconds
        clients = [multiprocessing.get_context("fork").Process(
            target=client_process, args=(port, slugs, names[i::2], t0, deadline, args.raters / args.rate, queue))
            for i in range(2)]
        for c in clients:
            c.start()
        time.sleep(max(0.0, t0 - time.time()))
        faults = Faults(t0, server, workers, postgres, redis, side, args.outage_seconds)
        probe = Probe(f"http://127.0.0.1:{port}", slugs[-1])
        plan = faults.schedule(seconds, min(args.fault_every * 60, seconds / 2))
        threads = [threading.Thread(target=side.run, args=(t0, stop, 60, 90), daemon=True),
                   threading.Thread(target=faults.run, args=(plan, stop), daemon=True),
                   threading.Thread(target=probe.run, args=(stop,), daemon=True)]
        for t in threads:
            t.start()
        print(f"[{since(t0)}] load started: {args.raters} raters offering {args.rate} votes/s for {args.minutes} min; "
              f"{len(plan)} faults planned", flush=True)
        results = [queue.get(timeout=seconds + 600) for _ in clients]
        for c in clients:
            c.join()
        stop.set()
        for t in threads:
            t.join(timeout=300)
        print(f"[{since(t0)}] raters done; waiting for the jobs and encodes to finish", flush=True)
        from django.db import connections

        connections.close_all()
        drained_s = wait_drained(side, args.drain_minutes * 60)

        for fault in faults.log:
            if fault.pending:
                end = orm_retry(lambda f=fault: finished_at(f.pending))
                fault.recovery_s = None if end is None else max(0.0, end - (t0 + fault.at))
            elif fault.up_at is not None:
                fault.recovery_s = probe.recovered_after(fault.up_at)
        accepted = {tuple(v) for r in results for v in r["accepted"]}
        confirmed = {tuple(v) for r in results for v in r["confirmed"]}
        unsure = {tuple(v) for r in results for v in r["unsure"]}
        invariants = soak_invariants(slugs, accepted, confirmed, unsure, side)
        report(args, drained_s, results, faults, side, invariants, accepted | confirmed, slugs)
        sys.exit(0 if all(ok for _, ok, _ in invariants) else 1)
    finally:
        stop.set()
        if workers is not None:
            workers.stop_all()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        redis.stop()
        postgres.remove()
        shutil.rmtree(scratch, ignore_errors=True)


def report(args, drained_s: float, results: list[dict], faults: Faults, side: SideLoad, invariants: list, votes: set,
           slugs: list[str]) -> None:
    from django.db.models import F

    from annotation.models import Item

    seconds = args.minutes * 60
    latency: dict[str, list[float]] = {}
    status: Counter = Counter()
    per_10s: Counter = Counter()
    for r in results:
        for endpoint, values in r["latency"].items():
            latency.setdefault(endpoint, []).extend(values)
        status.update(r["status"])
        per_10s.update(r["per_10s"])
    completed = sum(1 for slug in slugs if not Item.objects.filter(study__slug=slug, votes_done__lt=F("raters_needed")).exists())
    print()
    print(f"machine: {os.uname().nodename}, {os.cpu_count()} cores shared with other users (load average "
          f"{os.getloadavg()[0]:.1f} at the end); {args.web_workers} gunicorn workers x 2 threads, one gpu and one media "
          f"worker (concurrency 1), beat; private PostgreSQL and Redis")
    print(f"load: {args.raters} raters offering {args.rate} votes/s for {args.minutes:g} min over {len(slugs)} studies "
          f"({completed} completed); {len(side.generated_sets)} prompt sets of {side.gen_prompts} tiny generation jobs, "
          f"{len(side.studies)} matched studies of {side.match_prompts} items; side-load retries {dict(side.errors) or 'none'}")
    windows = [per_10s[i] / 10 for i in range(int(seconds // 10))]
    print(f"votes: {len(votes)} stored and confirmed to their raters, {len(votes) / seconds:.1f} votes/s; "
          f"10 s windows from {min(windows, default=0):.1f} to {max(windows, default=0):.1f} votes/s; "
          f"queues drained {drained_s:.0f} s after the load stopped")
    print(f"{'endpoint':10} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for endpoint, values in sorted(latency.items()):
        print(f"{endpoint:10} {len(values):9d} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
              f"{percentile(values, 99):8.1f} {max(values):8.1f}")
    print("answers by status (0: the connection dropped): " + ", ".join(f"{k}: {v}" for k, v in sorted(status.items())))
    print("faults (seconds from the start of the load):")
    for f in faults.log:
        recovery = f"{f.recovery_s:.1f} s ({f.recovery_of})" if f.recovery_s is not None else (
            f"not measured ({f.recovery_of})" if f.recovery_of else "-")
        print(f"  {f.at:7.1f} s  {f.what}: {f.detail}; recovery {recovery}")
    if faults.skipped:
        print(f"  not injected (the load ended first): {', '.join(faults.skipped)}")
    print("invariants:")
    for name, ok, detail in invariants:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")


if __name__ == "__main__":
    main()
