"""Configuration: embedded defaults, real services under `make test`, one clear line on a bad value,
a secret key of the site's own, and what a deployment behind TLS needs."""

import os
import re
import secrets
import stat
import subprocess
import sys

import pytest
from django.db import connection

from tests.support import ROOT
from tests.support.commands import CONFIGURATION, run_manage


@pytest.mark.django_db
def test_it_runs_the_suite_on_postgresql():
    assert connection.vendor == "postgresql", "make test runs on PostgreSQL; set DATABASE_URL=postgres://..."


def test_it_uses_celery_on_redis_under_make_test():
    from django.conf import settings

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.CELERY_TASK_ALWAYS_EAGER is False


def test_it_defaults_to_sqlite_and_in_process_tasks():
    out = run_manage(
        "shell", "--no-imports", "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["django.db.backends.sqlite3", "True"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL='mysql://root@localhost/x': unsupported scheme 'mysql'"),
        ({"DATABASE_URL": "postgres://localhost"}, "names no database"),
        ({"CELERY_BROKER_URL": "amqp://guest@localhost//"}, "CELERY_BROKER_URL='amqp://guest@localhost//': unsupported scheme"),
        ({"JUICE_DEBUG": "maybe"}, "JUICE_DEBUG='maybe' is not a boolean"),
        ({"JUICE_SECRET_KEY": "s" * 49}, "JUICE_SECRET_KEY must be at least 50 characters"),
        ({"JUICE_SECRET_KEY": "s" * 49, "JUICE_DATA_DIR": "/srv/juice-data"}, "made and kept in /srv/juice-data/secret_key"),
        ({"JUICE_TRUSTED_PROXIES": "10.0.0.0/8,nginx"}, "JUICE_TRUSTED_PROXIES: 'nginx' is not an IP address or network"),
    ],
)
def test_it_stops_with_one_clear_line_on_a_bad_value(env, message):
    out = run_manage("check", **env)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("juice: configuration error:")
    assert message in lines[0]


PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def test_without_a_configured_key_the_site_makes_one_and_keeps_it(tmp_path):
    data = tmp_path / "data"
    # Several processes starting at once (web and Celery workers) all end up with the same key.
    env = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_KEY]
    starting = [subprocess.Popen(command, cwd=ROOT, env={**env, "JUICE_DATA_DIR": str(data)}, stdout=subprocess.PIPE, text=True)
                for _ in range(6)]
    keys = {process.communicate(timeout=120)[0].strip() for process in starting}
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 50 and "insecure" not in key
    kept = data / "secret_key"
    assert kept.read_text() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # readable by its owner only
    assert run_manage("shell", "--no-imports", "-c", PRINT_KEY, JUICE_DATA_DIR=str(data)).stdout.strip() == key
    # Another data folder, another site: another key.
    assert run_manage("shell", "--no-imports", "-c", PRINT_KEY, JUICE_DATA_DIR=str(tmp_path / "other")).stdout.strip() != key


def test_a_short_key_is_only_for_development():
    out = run_manage("shell", "--no-imports", "-c", PRINT_KEY, JUICE_SECRET_KEY="dev-key", JUICE_DEBUG="1")
    assert (out.returncode, out.stdout.strip()) == (0, "dev-key"), out.stderr


def deploy_warnings(**env: str) -> list[str]:
    """The warning ids of `check --deploy` for a production-like setup with `env` on top."""
    production = {"JUICE_SECRET_KEY": secrets.token_urlsafe(60), "JUICE_ALLOWED_HOSTS": "eval.example.org"}
    out = run_manage("check", "--deploy", "--fail-level", "CRITICAL", **production, **env)
    assert out.returncode == 0, out.stderr
    return sorted(re.findall(r"\((security\.W\d+)\)", out.stderr + out.stdout))


def test_behind_tls_check_deploy_is_clean_but_for_the_operators_choices():
    assert deploy_warnings() == ["security.W004", "security.W008", "security.W010", "security.W016"]
    assert deploy_warnings(JUICE_HTTPS="1") == ["security.W005", "security.W021"]
    assert deploy_warnings(JUICE_HTTPS="1", JUICE_HSTS_INCLUDE_SUBDOMAINS="1", JUICE_HSTS_PRELOAD="1") == []


def test_behind_tls_cookies_are_secure_and_the_proxy_says_the_scheme():
    show = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS)")
    out = run_manage("shell", "--no-imports", "-c", show, JUICE_HTTPS="1", JUICE_HSTS_SECONDS="600")
    assert out.stdout.strip() == "True True True ('HTTP_X_FORWARDED_PROTO', 'https') 600", out.stderr
