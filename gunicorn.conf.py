"""gunicorn settings for JUICE (gunicorn reads ./gunicorn.conf.py by itself): `gunicorn juice.wsgi`.

Annotators' requests are short and spend most of their time waiting on PostgreSQL: a vote with
`?next=1` is 10 round trips (a read, then BEGIN, 6 statements, COMMIT, and the report's request after
it), a `next` 5. One worker process per core, each with 4 threads to overlap those waits.
Measured with bench/bench_annotation.py (100 raters, 3,000 items, 20 s, 2 workers) on this project's
2-core host on 2026-12-08 between 01:51 and 02:00 UTC, 2 against 4 threads interleaved, in two rounds,
with other sessions' tests sharing the cores (load average 8.5-13, the machine 100% busy):
- paced, 200 votes/s offered: 2 threads 43.2 / 18.7 votes/s (vote p99 4.6 / 6.4 s), 4 threads
  56.8 / 48.1 votes/s (vote p99 2.0 / 3.0 s); server CPU per vote 15.5 / 17.5 ms against 10.6 / 11.6;
- as fast as answered (`--rate 0`): 2 threads 51.0 / 7.0 votes/s, 4 threads 71.4 / 74.7; server CPU per
  vote 16.9 / 32.3 ms against 11.2 / 10.1.
4 threads answered 1.3-2.6 times the votes of 2 paced and 1.4-10 times unpaced, for 30-70% less
server CPU per vote, as issue 30's runs found (1.3-1.8x). The figures written here before (2026-12-02,
unpaced on a quiet machine: 2 threads 196-208 votes/s, 4 threads 164-187) say the opposite; they were
taken with nothing else running. Where PostgreSQL, the worker and other work share the cores, a thread
often waits on a starved database, and 2 threads per process leave the process idle while both wait.
A quiet-machine rerun of the same pairs (`--threads 2` / `--threads 4`, `--rate 200` and `--rate 0`)
was not possible in this session. More processes than cores cost more than they give:
4 processes x 2 threads spent about 20% more CPU per vote than 2 x 4 (2026-12-02; their switching and
cache misses also slow PostgreSQL). gunicorn's gevent worker did no better (3-12% more server CPU per
vote, a higher p99). A thread is busy while it reads a request's body: put nginx (which buffers uploads)
in front, as the README's deployment does. JUICE_WEB_WORKERS and JUICE_WEB_THREADS override the defaults.
"""

import gc
import os

from juice.env import env_int

bind = os.environ.get("JUICE_WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = env_int("JUICE_WEB_WORKERS", os.cpu_count() or 1, minimum=1)
threads = env_int("JUICE_WEB_THREADS", 4, minimum=1)
# Raters send their next request seconds apart; keep their connections open in between.
keepalive = 30
# Django and its URLconf (which brings the analysis stack: pandas, scipy, matplotlib) load once, in
# the master: workers start ready and share those pages, instead of each importing them for
# seconds on its first request while raters wait.
preload_app = True


def when_ready(server) -> None:
    """Before the workers fork: import every view now, and hold no database connection they would share."""
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf is the point
    connections.close_all()
    # The imported modules live as long as the process: keep them out of the garbage collector's
    # full passes, which would otherwise walk them all in a worker mid-request (and copy their pages).
    gc.freeze()
