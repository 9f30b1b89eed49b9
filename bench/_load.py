"""The load of the annotator API's benchmarks (bench_annotation.py, bench_scale.py): simulated raters over
HTTP from a few client processes, each pacing itself, and the CPU each party spends while they rate.

`load_measure` runs `raters` raters (join, then next / vote until nothing is left or time is up) against
a server on 127.0.0.1 and returns the figures: votes per second, the p50/p99 latency of `next` and
`vote`, and the CPU of the server's processes, of PostgreSQL and of the load generator per vote.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from queue import Empty

import uvloop


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
                     separate: bool, out: dict, qualify: bool = False) -> None:
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
    if qualify:  # before the measured time, as a rater reads the instructions first
        errors.update(await qualification_pass(browser, slug))
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


async def qualification_pass(browser: Browser, slug: str) -> Counter:
    """Answer the study's qualification pairs (left on every question), as a rater does before the first
    item; returns the refusals met. The study must allow as many mistakes as it has pairs."""
    errors = Counter()
    while True:
        status, content = await browser.request("GET", f"/api/annotate/{slug}/qualification")
        pair = json.loads(content)["pair"] if status == 200 else None
        if pair is None:
            if status != 200:
                errors[f"qualification {status}"] += 1
            return errors
        body = {"index": pair["index"], **{q["key"]: {"choice": "left"} for q in pair["questions"]}}
        status, _ = await browser.request("POST", f"/api/annotate/{slug}/qualification", body)
        if status != 201:
            errors[f"qualification answer {status}"] += 1
            return errors


def client_process(port: int, slug: str, workers: list[str], start_at: float, deadline: float, interval: float,
                   separate: bool, queue, qualify: bool = False) -> None:
    out = {"next": [], "vote": [], "accepted": 0, "errors": Counter(), "slow": Counter()}

    async def run_raters() -> None:
        raters = [asyncio.create_task(rater_loop(port, slug, w, start_at, deadline, interval, separate, out, qualify))
                  for w in workers]
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


def database_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to `database` now (autovacuum's included), by pid:
    that database's share of PostgreSQL's CPU, where other work on the machine uses other databases."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        pids = [pid for (pid,) in cursor.fetchall()]
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = _cpu_seconds(pid)
        except OSError:
            continue  # it ended meanwhile
    return cpu


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU jiffies of the whole machine, from /proc/stat. Stolen time is what a
    virtual machine's host gave to other guests (busy counts it)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[7]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


def load_measure(*, port: int, slug: str, raters: int, rate: float, seconds: float, server_pids: list[int],
                 clients: int = 2, separate: bool = False, qualify: bool = False, database: str | None = None) -> tuple[dict, int]:
    """Run `raters` raters offering `rate` votes per second in all (0: each as fast as answered) for
    `seconds` against the server on `port`, with the CPU of `server_pids` (and their live children) counted
    as the server's; returns (figures, votes accepted). With `database`, PostgreSQL's CPU is that of the
    backends connected to it (persistent connections: a backend that ends during the run is missed),
    otherwise all of PostgreSQL's on the machine."""
    workers = [f"bench-{i:03d}" for i in range(raters)]
    interval = raters / rate if rate else 0.0
    queue = multiprocessing.Queue()
    # With a qualification to answer first, the raters need longer before the measured time.
    start_at = time.time() + (5 + raters * 0.15 if qualify else 5)
    deadline = start_at + seconds
    processes = [
        multiprocessing.Process(target=client_process,
                                args=(port, slug, workers[i::clients], start_at, deadline, interval, separate, queue, qualify))
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))

    def server_cpu() -> float:
        return sum(process_cpu_seconds(pid) for pid in server_pids)

    backends_before = database_backends_cpu(database) if database else {}
    cpu_before, busy_before, pg_before = server_cpu(), machine_busy(), postgres_cpu_seconds()
    try:
        results = [queue.get(timeout=seconds + 120) for _ in processes]
    except Empty:
        sys.exit("error: a load-generator process did not report; see its traceback above")
    elapsed = time.time() - start_at
    cpu_after, busy_after, pg_after = server_cpu(), machine_busy(), postgres_cpu_seconds()
    if database:
        pg_before, pg_after = 0.0, sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in database_backends_cpu(database).items())
    for process in processes:
        process.join()

    next_ms = [v for r in results for v in r["next"]]
    vote_ms = [v for r in results for v in r["vote"]]
    accepted = sum(r["accepted"] for r in results)
    errors = sum((r["errors"] for r in results), Counter())
    slow = sum((r["slow"] for r in results), Counter())
    server_s, postgres_s = cpu_after - cpu_before, pg_after - pg_before
    generator_s = sum(r["cpu_s"] for r in results)

    def per_vote(cpu_s: float) -> float | None:
        return round(cpu_s * 1000 / accepted, 2) if accepted else None

    figures = {
        "raters": raters, "offered_votes_per_s": rate or "as fast as answered",
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
        # What one next + vote costs the server's processes, and how busy the whole (shared) machine was.
        "server_cpu_ms_per_vote": per_vote(server_s),
        # PostgreSQL's figure counts every database on the machine (other users' queries included) unless
        # `database` names the server's.
        "postgres_cpu_ms_per_vote": per_vote(postgres_s),
        "generator_cpu_ms_per_vote": per_vote(generator_s),
        "cores_used": {"server": round(server_s / elapsed, 2), "postgres": round(postgres_s / elapsed, 2),
                       "generator": round(generator_s / elapsed, 2)},
        "machine_busy_percent": round(100 * (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]), 1),
        "stolen_by_host_percent": round(100 * (busy_after[2] - busy_before[2]) / (busy_after[1] - busy_before[1]), 1),
        "load_average_1min": os.getloadavg()[0],
    }
    return figures, accepted
