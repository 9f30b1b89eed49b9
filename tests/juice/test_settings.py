"""Configuration: embedded defaults, real services under `make test`, one clear line on a bad value."""


import pytest
from django.db import connection

from tests.support.commands import run_manage


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
        ({"JUICE_SECRET_KEY": "short"}, "JUICE_SECRET_KEY must be at least 32 characters"),
    ],
)
def test_it_stops_with_one_clear_line_on_a_bad_value(env, message):
    out = run_manage("check", **env)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("juice: configuration error:")
    assert message in lines[0]
