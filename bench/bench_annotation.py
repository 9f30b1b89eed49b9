"""Load benchmark of the annotator API: gunicorn on PostgreSQL, simulated raters over HTTP, then the invariants.

    .venv/bin/python bench/bench_annotation.py [--raters 100] [--rate 200] [--items 4000] [--seconds 30]

It creates (and afterwards drops) its own database, `<DATABASE_URL's name>_bench`, builds an open
study of `--items` items x 5 raters, serves the site with gunicorn on 127.0.0.1, and runs `--raters`
simulated raters (join, then next / vote until nothing is left or time is up) from a few client
processes. Like the rating page, a rater calls `next` for its first assignment and then votes with
`?next=1`, whose answer holds the next assignment; `--separate-next` has it call `next` after every
vote instead, as a client of the plain interface in CONTRACT.md would. Together the raters offer
`--rate` votes per second, each pacing itself as a person watching videos would; `--rate 0` has
every rater send its next request as soon as the last is answered, which measures the most the
server takes (its latency is then queueing: with N raters and X requests per second answered, a
request waits about N / X seconds). It prints votes per second, the p50/p99 latency of `next` and
`vote` and the CPU each party used, then checks in the database that no item has more votes than
raters, no rater saw an item twice, and every 201 answered is a stored vote. Load goes to 127.0.0.1
only and stops after `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import runpy
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from queue import Empty

import uvloop
from _setup import ROOT, bench_environment, database_drop, django_setup, postgres_url

BENCH_OUT = ROOT / "bench" / "out"
# The floor the annotator API must hold (issue "Architecture"): 1,000 crowd raters at 20 s a rating
# send 50 votes/s; 200 leaves a wide margin.
GOAL_VOTES_PER_S = 200


def build_study(items: int) -> str:
    """Migrate the bench database and build the open study in it; returns its slug."""
    django_setup(migrate=True)
    from tests.support.builders import build_open_study

    study = build_open_study(n_prompts=items, raters=5, copy_files=False, name="Bench study")
    return study.slug


class Browser:
    """A rater's keep-alive HTTP/1.1 connection with its cookies, spoken directly over asyncio
    streams: the load generator shares the CPU with the server it measures, so it spends as little
    as it can per request (no client library, no thread per rater)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; status 0 when the connection failed (it is reopened next time)."""
        try:
            return await self._request(method, path, body)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            if self.streams is not None:
                self.streams[1].close()
                self.streams = None
            return 0, b""

    async def _request(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
        if self.cookies:
            head += "Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()) + "\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nX-CSRFToken: {self.cookies.get('csrftoken', '')}\r\n"
        writer.write(head.encode() + b"\r\n" + data)
        status = int((await reader.readline()).split(b" ", 2)[1])
        length, close = None, False
        for line in (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.lower() == "close"
            elif name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        if length is None:
            raise RuntimeError(f"{method} {path}: the answer has no Content-Length, which this client needs")
        content = await reader.readexactly(length)
        if close:
            writer.close()
            self.streams = None
        return status, content


async def rater_loop(port: int, slug: str, worker: str, start_at: float, deadline: float, interval: float,
                     separate: bool, out: dict) -> None:
    """One rater: join, then from `start_at` next / vote until nothing is left or time is up, one
    vote every `interval` seconds at most (0: as fast as the server answers). As the rating page
    does, each vote asks for the next assignment in its answer (`?next=1`), and `next` is called
    for the first assignment only; with `separate`, the rater calls `next` after every vote."""
    from tests.support.raters import SimulatedRater

    browser, rater = Browser(port), SimulatedRater(worker, watch_ms=5000)
    next_ms, vote_ms, errors, accepted = [], [], Counter(), 0
    slow = out["slow"]  # how many answers over 150 ms ended in each second of the run
    status, _ = await browser.request("GET", f"/s/{slug}/join?worker={worker}")
    if status == 302:
        status, _ = await browser.request("GET", f"/s/{slug}/rate")  # sets the CSRF cookie, as the page does
    if status != 200:
        errors[f"join {status}"] += 1
    vote_query = "" if separate else "?next=1"

    def timed(latencies: list[float], started: float) -> None:
        latencies.append((time.perf_counter() - started) * 1000)
        if latencies[-1] > 150:
            slow[int(time.time() - start_at)] += 1

    async def fetch_next() -> dict | None:
        started = time.perf_counter()
        status, content = await browser.request("GET", f"/api/annotate/{slug}/next")
        timed(next_ms, started)
        if status != 200:
            errors[f"next {status}"] += 1
            return None
        return json.loads(content)

    # Raters start out of phase, as people do, instead of all voting in the same instant: each
    # loads its first assignment at its own moment in the interval before the measured time, as the
    # page does when it opens, and votes on it one interval later.
    due = start_at - interval + random.uniform(0, interval)
    await asyncio.sleep(max(0.0, due - time.time()))
    data = await fetch_next()
    while time.time() < deadline and (data is None or data["assignment"] is not None):
        # A rater behind schedule goes on at once but does not catch up in a burst.
        due = max(due + interval, time.time())
        await asyncio.sleep(max(0.0, due - time.time()))
        if data is not None:
            body = rater.ballot_for_next(data)
            started = time.perf_counter()
            status, content = await browser.request("POST", f"/api/annotate/assignments/{data['assignment']}/vote{vote_query}", body)
            timed(vote_ms, started)
            data = None
            if status == 201:
                accepted += 1
                data = json.loads(content).get("next")
            else:
                errors[f"vote {status}"] += 1
        if data is None:  # the page's next after a vote, when the vote's answer did not hold it
            data = await fetch_next()
    out["next"] += next_ms
    out["vote"] += vote_ms
    out["accepted"] += accepted
    out["errors"].update(errors)


def client_process(port: int, slug: str, workers: list[str], start_at: float, deadline: float, interval: float,
                   separate: bool, queue) -> None:
    out = {"next": [], "vote": [], "accepted": 0, "errors": Counter(), "slow": Counter()}

    async def run_raters() -> None:
        raters = [asyncio.create_task(rater_loop(port, slug, w, start_at, deadline, interval, separate, out)) for w in workers]
        await asyncio.sleep(max(0.0, start_at - time.time()))  # the raters join before the measured time
        out["cpu_s"] = time.process_time()
        await asyncio.gather(*raters)
        out["cpu_s"] = time.process_time() - out["cpu_s"]

    # uvloop spends about a third less CPU per request than asyncio's own loop, CPU the server measured
    # here would otherwise lose to its load generator.
    uvloop.run(run_raters())
    queue.put(out)


def _cpu_seconds(pid: int | str, *, children: bool = False) -> float:
    """User + system CPU seconds of a process, from /proc; with `children`, also those of the
    children it has waited for (ended ones)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (gunicorn's workers), from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(_cpu_seconds(p) for p in [pid, *children])


def wait_until_idle(pid: int, workers: int) -> None:
    """Wait until gunicorn runs all its workers and they are done importing Django, whose CPU is
    not the API's."""
    for _ in range(120):
        before = process_cpu_seconds(pid)
        time.sleep(0.5)
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) == workers and process_cpu_seconds(pid) - before < 0.02:
            return
    sys.exit("error: gunicorn's workers did not settle")


def postgres_cpu_seconds() -> float:
    """CPU seconds of PostgreSQL on this machine (other databases' queries included): its live
    processes, plus what the postmaster counts for the backends it has reaped, so that the
    difference of two readings keeps the CPU of connections that closed in between (Django closes
    them after CONN_MAX_AGE)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                total += _cpu_seconds(proc.name, children=True)
        except OSError:
            continue  # the process ended meanwhile
    return total


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU jiffies of the whole machine, from /proc/stat. Stolen time is what a
    virtual machine's host gave to other guests (busy counts it)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[7]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


def check_invariants(slug: str, accepted: int) -> list[str]:
    from django.db.models import Count, F, Q

    from annotation.models import Assignment, Item, Rater, Vote

    problems = []
    items = Item.objects.filter(study__slug=slug)
    if items.filter(votes_done__gt=F("raters_needed")).exists() or items.filter(claimed__gt=F("raters_needed")).exists():
        problems.append("an item has more raters than it needs")
    voted = Assignment.objects.filter(item__study__slug=slug, status="voted")
    per_item = voted.values("item").annotate(n=Count("pk"), raters=Count("rater", distinct=True))
    if any(row["n"] != row["raters"] or row["n"] > 5 for row in per_item):
        problems.append("a rater voted twice on an item, or an item has more than 5 votes")
    if voted.count() != accepted:
        problems.append(f"{accepted} votes answered 201 but {voted.count()} are stored")
    if Vote.objects.filter(assignment__item__study__slug=slug).count() != 2 * voted.count():
        problems.append("a voted assignment lacks a question's vote")
    counted = items.annotate(voted=Count("assignments", filter=Q(assignments__status="voted")))
    if counted.exclude(votes_done=F("voted")).exists():
        problems.append("an item's votes_done disagrees with its stored votes")
    raters = Rater.objects.filter(study__slug=slug).annotate(voted=Count("assignments", filter=Q(assignments__status="voted")))
    if raters.exclude(votes_done=F("voted")).exists():
        problems.append("a rater's votes_done disagrees with its stored votes")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument("--items", type=int, default=4000, help="enough for over a minute at 300 votes/s")
    parser.add_argument("--seconds", type=float, default=30, help="stop the load after this long even if items remain")
    parser.add_argument("--rate", type=float, default=GOAL_VOTES_PER_S,
                        help="votes per second the raters offer together (each rater paces itself); 0: as fast as answered")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--separate-next", action="store_true",
                        help="call next after every vote instead of asking for it in the vote's answer (?next=1) as the rating page does")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    url = postgres_url("_bench")
    BENCH_OUT.mkdir(parents=True, exist_ok=True)
    sizes = {"JUICE_WEB_WORKERS": str(args.workers)} if args.workers else {}
    if args.threads:
        sizes["JUICE_WEB_THREADS"] = str(args.threads)
    env = bench_environment(database=url, broker="", media_root=BENCH_OUT / "media", fast_raters=True, **sizes)
    from tests.support.servers import free_port, wait_for_port

    gunicorn_conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    database_drop(url, create=True)
    started = time.time()
    slug = build_study(args.items)
    print(f"built a study of {args.items} items x 5 raters in {time.time() - started:.1f} s")

    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-c", str(ROOT / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        try:
            wait_for_port(port, server)
        except RuntimeError as exc:
            sys.exit(f"error: gunicorn did not start: {exc}")
        wait_until_idle(server.pid, gunicorn_conf["workers"])
        workers = [f"bench-{i:03d}" for i in range(args.raters)]
        interval = args.raters / args.rate if args.rate else 0.0
        queue = multiprocessing.Queue()
        start_at = time.time() + 5
        deadline = start_at + args.seconds
        clients = [
            multiprocessing.Process(
                target=client_process,
                args=(port, slug, workers[i :: args.clients], start_at, deadline, interval, args.separate_next, queue),
            )
            for i in range(args.clients)
        ]
        for c in clients:
            c.start()
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before, busy_before, pg_before = process_cpu_seconds(server.pid), machine_busy(), postgres_cpu_seconds()
        try:
            results = [queue.get(timeout=args.seconds + 120) for _ in clients]
        except Empty:
            sys.exit("error: a load-generator process did not report; see its traceback above")
        elapsed = time.time() - start_at
        cpu_after, busy_after, pg_after = process_cpu_seconds(server.pid), machine_busy(), postgres_cpu_seconds()
        for c in clients:
            c.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    next_ms = [v for r in results for v in r["next"]]
    vote_ms = [v for r in results for v in r["vote"]]
    accepted = sum(r["accepted"] for r in results)
    errors = sum((r["errors"] for r in results), Counter())
    slow = sum((r["slow"] for r in results), Counter())
    server_s = cpu_after - cpu_before
    postgres_s = pg_after - pg_before
    generator_s = sum(r["cpu_s"] for r in results)
    figures = {
        "raters": args.raters, "items": args.items, "offered_votes_per_s": args.rate or "as fast as answered",
        "gunicorn": f"{gunicorn_conf['workers']} workers x {gunicorn_conf['threads']} threads",
        "next": "after every vote" if args.separate_next else "in the vote's answer (?next=1), as the rating page asks",
        "next_calls": len(next_ms), "vote_calls": len(vote_ms),
        "seconds": round(elapsed, 1), "votes": accepted, "votes_per_s": round(accepted / elapsed, 1),
        "next_p50_ms": round(percentile(next_ms, 50), 1), "next_p99_ms": round(percentile(next_ms, 99), 1),
        "vote_p50_ms": round(percentile(vote_ms, 50), 1), "vote_p99_ms": round(percentile(vote_ms, 99), 1),
        "next_mean_ms": round(statistics.fmean(next_ms), 1) if next_ms else None, "errors": dict(errors),
        # Answers over 150 ms by the second of the run they ended in: a few seconds holding most of
        # them is an episode (a stall somewhere), many seconds with a few each is steady queueing.
        "over_150_ms_by_second": {str(second): slow[second] for second in sorted(slow)},
        # When the measured time began (UTC), to set against system logs and samplers.
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_at)) + f".{int(start_at % 1 * 1000):03d}Z",
        # What one next + vote costs the web server, and how busy the whole (shared) machine was.
        "server_cpu_ms_per_vote": round(server_s * 1000 / accepted, 2) if accepted else None,
        # PostgreSQL's figure counts every database on the machine: other users' queries included.
        "postgres_cpu_ms_per_vote": round(postgres_s * 1000 / accepted, 2) if accepted else None,
        "generator_cpu_ms_per_vote": round(generator_s * 1000 / accepted, 2) if accepted else None,
        "cores_used": {"server": round(server_s / elapsed, 2), "postgres": round(postgres_s / elapsed, 2),
                       "generator": round(generator_s / elapsed, 2)},
        "machine_busy_percent": round(100 * (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]), 1),
        "stolen_by_host_percent": round(100 * (busy_after[2] - busy_before[2]) / (busy_after[1] - busy_before[1]), 1),
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(figures, indent=2))
    problems = check_invariants(slug, accepted)
    print("invariants: " + ("OK" if not problems else "; ".join(problems)))
    from django.db import connections

    connections.close_all()
    if not args.keep_db:
        database_drop(url)
    # Paced raters start out of phase (up to one interval late), so the rate answered trails the
    # rate offered by about a percent even when the server keeps up.
    offered = args.rate or GOAL_VOTES_PER_S
    kept_up = figures["votes_per_s"] >= (0.99 * offered if args.rate else GOAL_VOTES_PER_S) and offered >= GOAL_VOTES_PER_S
    goal = args.raters >= 100 and kept_up and figures["next_p99_ms"] < 150 and figures["vote_p99_ms"] < 150
    print(f"goal (100 raters, {GOAL_VOTES_PER_S} votes/s, p99 < 150 ms for next and vote): {'met' if goal else 'not met'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
