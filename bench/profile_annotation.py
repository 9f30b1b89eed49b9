"""Where the annotator API spends its time: SQL queries and CPU of next + vote, in one process.

    .venv/bin/python bench/profile_annotation.py [--raters 20] [--votes 400] [--profile N]

It builds an open study in its own database (`<DATABASE_URL's name>_profile`, dropped afterwards),
joins `--raters` raters, then drives next + vote through Django's WSGI handler (what gunicorn
calls, without the network), counting the SQL statements of each request and timing the CPU per
vote. `--profile N` prints the N most expensive functions of a cProfile run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

from _load import _cpu_seconds
from _setup import bench_environment, database_drop, postgres_url
from bench_annotation import BENCH_OUT, build_study

if TYPE_CHECKING:
    from tests.support.raters import SimulatedRater


class WsgiBrowser:
    """A rater calling the WSGI application directly, keeping its cookies."""

    def __init__(self, app) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
            "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "HTTP_X_CSRFTOKEN": self.cookies.get("csrftoken", ""),
        }
        status_line = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None) -> None:
            status_line.append(status)
            for name, value in headers:
                if name.lower() == "set-cookie":
                    for key, morsel in SimpleCookie(value).items():
                        self.cookies[key] = morsel.value

        response = self.app(environ, start_response)
        content = b"".join(response)
        response.close()
        return int(status_line[0].split()[0]), content


def cycle(browser: WsgiBrowser, slug: str, rater: SimulatedRater) -> bool:
    """One next + vote, the body from the simulated `rater`; False when the rater has nothing left."""
    status, content = browser.request("GET", f"/api/annotate/{slug}/next")
    data = json.loads(content)
    if status != 200 or data["assignment"] is None:
        return False
    body = rater.ballot_for_next(data)
    status, content = browser.request("POST", f"/api/annotate/assignments/{data['assignment']}/vote", body)
    if status != 201:
        raise SystemExit(f"error: vote answered {status}: {content[:200]!r}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--votes", type=int, default=400)
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a cProfile run")
    args = parser.parse_args()

    url = postgres_url("_profile")
    bench_environment(database=url, broker="", media_root=BENCH_OUT / "media", fast_raters=True)
    database_drop(url, create=True)
    try:
        slug = build_study(args.items)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from tests.support.raters import SimulatedRater

        app = WSGIHandler()
        rater = SimulatedRater("prof", choice="left", watch_ms=5000)  # every rater here picks the left side
        browsers = [WsgiBrowser(app) for _ in range(args.raters)]
        for i, browser in enumerate(browsers):
            assert browser.request("GET", f"/s/{slug}/join?worker=prof-{i}")[0] == 302
            assert browser.request("GET", f"/s/{slug}/rate")[0] == 200
        cycle(browsers[0], slug, rater)  # warm caches and connections

        with CaptureQueriesContext(connection) as queries:
            browser = browsers[1]
            browser.request("GET", f"/api/annotate/{slug}/next")
            after_next = len(queries)
            cycle_next_again = browser.request("GET", f"/api/annotate/{slug}/next")
            after_repeat = len(queries)
            data = json.loads(cycle_next_again[1])
            body = rater.ballot_for_next(data)
            browser.request("POST", f"/api/annotate/assignments/{data['assignment']}/vote", body)
        print(f"SQL statements: next {after_next}, repeated next {after_repeat - after_next}, vote {len(queries) - after_repeat}")
        for q in queries.captured_queries:
            print(f"  {q['time']}s  {q['sql'][:160]}")

        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waiting
        votes = 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_cpu = _cpu_seconds(backend)
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        while votes < args.votes:
            progressed = False
            for browser in browsers:
                if votes < args.votes and cycle(browser, slug, rater):
                    votes += 1
                    progressed = True
            if not progressed:
                break
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        backend_cpu = _cpu_seconds(backend) - backend_cpu
        print(f"{votes} votes; CPU per next + vote in this process (Django only, no HTTP server): {cpu * 1000 / votes:.2f} ms;"
              f" in its PostgreSQL backend: {backend_cpu * 1000 / votes:.2f} ms")
        if profiler:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.profile)
        from django.db import connections

        connections.close_all()
    finally:
        database_drop(url)


if __name__ == "__main__":
    main()
