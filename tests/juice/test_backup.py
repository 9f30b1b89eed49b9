"""`manage.py backup` and `restore`: a deployment restored on a fresh database and media folder from its
archive is the deployment it was (every row, every study's report, every file by sha256), on PostgreSQL
and on SQLite; a damaged archive is refused before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deployments import corrupt, media_state, postgres_deployment, sqlite_deployment

pytestmark = pytest.mark.worker


def backup_restore_and_compare(original, fresh, archive: Path) -> dict:
    original.populate()
    made = original.manage("backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert "Copying the" in made.stdout and f"Wrote {archive}" in made.stdout
    again = original.manage("backup", str(archive))
    assert again.returncode != 0 and "already exists" in again.stderr
    restored = fresh.manage("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "Every checksum matches" in restored.stdout
    before, after = original.describe(), fresh.describe()
    assert after == before
    assert len(after["rows"]["annotation.Vote"]) > 0 and len(after["rows"]["annotation.Report"]) == 1
    assert after["reports"] and after["files"]["matched"] and after["files"]["images"]
    # A restore never replaces data it was not told to: the restored deployment now holds some.
    refused = fresh.manage("restore", str(archive))
    assert refused.returncode != 0 and "not empty" in refused.stderr and "--force" in refused.stderr
    return after


def test_backup_then_restore_on_a_fresh_postgresql_database_gives_the_same_deployment(tmp_path):
    with postgres_deployment(tmp_path / "a") as original, postgres_deployment(tmp_path / "b") as fresh:
        backup_restore_and_compare(original, fresh, tmp_path / "juice.tar")


def test_backup_then_restore_on_a_fresh_sqlite_file_gives_the_same_deployment(tmp_path):
    backup_restore_and_compare(sqlite_deployment(tmp_path / "a"), sqlite_deployment(tmp_path / "b"), tmp_path / "juice.tar")
    # An archive of one engine is refused by a deployment of the other, in words.
    with postgres_deployment(tmp_path / "c") as other:
        refused = other.manage("restore", str(tmp_path / "juice.tar"))
    assert refused.returncode != 0 and "holds a SQLite database and this deployment uses PostgreSQL" in refused.stderr


def test_a_damaged_archive_is_refused_and_nothing_changes_even_with_force(tmp_path):
    with postgres_deployment(tmp_path / "a") as original, postgres_deployment(tmp_path / "b") as target:
        original.populate()
        assert original.manage("backup", str(tmp_path / "juice.tar")).returncode == 0
        member = corrupt(tmp_path / "juice.tar", tmp_path / "damaged.tar", member="media/matched/")
        target.populate(name="Another study")
        before, files = target.describe(), media_state(target)
        refused = target.manage("restore", "--force", str(tmp_path / "damaged.tar"))
        assert refused.returncode != 0
        assert f"{member} does not match the checksum in its manifest; nothing was changed" in refused.stderr
        assert target.describe() == before and media_state(target) == files
        assert not [p for p in target.data.iterdir() if p.name.startswith(".juice-restore-")]  # its scratch folder is gone
        # With --force an intact archive replaces everything the deployment held, in one transaction.
        replaced = target.manage("restore", "--force", str(tmp_path / "juice.tar"))
        assert replaced.returncode == 0, replaced.stderr
        restored = target.describe()
        assert restored == original.describe()
        assert "Another study" not in restored["reports"]


def test_backup_says_when_pg_dump_is_missing_or_older_than_the_server(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    (fake / "pg_dump").chmod(0o755)
    with postgres_deployment(tmp_path / "a") as deployment:
        deployment.migrate()
        deployment.env["PATH"] = str(tmp_path / "nothing")
        missing = deployment.manage("backup", str(tmp_path / "juice.tar"))
        deployment.env["PATH"] = str(fake)
        older = deployment.manage("backup", str(tmp_path / "juice.tar"))
    assert missing.returncode != 0 and "pg_dump is not installed" in missing.stderr
    assert older.returncode != 0 and "pg_dump is version 9 (pg_dump (PostgreSQL) 9.6.24) and the server is PostgreSQL" in older.stderr
    assert not (tmp_path / "juice.tar").exists()
