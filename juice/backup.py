"""A whole deployment in one archive, and back: its database and its media folder.

The database is copied consistently while the site runs: PostgreSQL by `pg_dump` (one snapshot),
SQLite by its online backup API. The media files follow the database: files are written under a
temporary name and renamed before any row names them, and are never changed afterwards, so every
file the copied database names is in the archive (files made after the copy come along unnamed).
The secret key is not in the archive: it is kept apart (README, "Operations").

A restore checks everything before it changes anything: the archive's engine is the deployment's, its
migrations are known to this code, the database and media folder are empty (or --force), and every
file matches its sha256. The database is then replaced in one transaction and the media moved in.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from juice.archive import (
    ArchiveError,
    ArchiveWriter,
    Progress,
    archive_extract,
    archive_manifest,
    archive_write,
    scratch_folder,
    scratch_remove,
)
from juice.files import disk_full, is_junk

FORMAT = "juice-backup"
DATABASE_MEMBER = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
ENGINE_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
# Rows every migrated database holds: their presence does not make a database "not empty".
MIGRATE_MADE = {"contenttypes.contenttype", "auth.permission"}


def deployment_backup(*, archive: Path, progress: Progress) -> dict:
    """Write the deployment's database and media folder to the new file `archive`; returns its manifest."""
    engine = _engine()
    if engine == "postgresql":
        _pg_client_check("pg_dump")
    media = Path(settings.MEDIA_ROOT)

    def fill(writer: ArchiveWriter) -> dict:
        scratch = scratch_folder(archive.parent, prefix=f".{archive.name}.")
        try:
            progress(f"Copying the {ENGINE_NAMES[engine]} database {_database_label()} ...")
            dump = _database_dump(engine, scratch)
            writer.add_file(dump, DATABASE_MEMBER[engine])
            dumped = dump.stat().st_size
        finally:
            scratch_remove(scratch)
        # Listed after the copy: every file a copied row names is there by now.
        files = media_files(media)
        progress(f"Database copied ({dumped / 1e6:.1f} MB); adding {len(files)} media files ...")
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile: no copied row names it
                writer.add_file(media / name, f"media/{name}")
        return {"format": FORMAT, "format_version": 1, "created_at": datetime.now(UTC).isoformat(), "engine": engine,
                "database": DATABASE_MEMBER[engine], "migrations": applied_migrations(), "juice_commit": _commit(),
                "server_version": _server_version(engine)}

    return archive_write(archive, fill, what="backup")


def deployment_restore(*, archive: Path, force: bool, progress: Progress) -> dict:
    """Rebuild the deployment from `archive`: its database and media folder. Refuses a deployment that
    holds data unless `force`; returns the manifest, with "migrate" True when this code has migrations
    the archive's database has not had yet."""
    manifest = archive_manifest(archive, kind=FORMAT)
    engine = _engine()
    if manifest.get("engine") != engine:
        raise ArchiveError(
            f"{archive} holds a {ENGINE_NAMES.get(manifest.get('engine'), manifest.get('engine'))} database and this "
            f"deployment uses {ENGINE_NAMES[engine]}: restore it on a deployment of the same engine (DATABASE_URL), "
            f"or move its studies one by one with export_study and import_study"
        )
    unknown = sorted(set(manifest.get("migrations", [])) - set(known_migrations()))
    if unknown:
        raise ArchiveError(
            f"{archive} comes from a newer JUICE: its database has migrations this code lacks ({', '.join(unknown[:5])}); "
            f"update the code first"
        )
    if engine == "postgresql":
        _pg_client_check("pg_restore")
        _pg_client_check("psql")
    media = Path(settings.MEDIA_ROOT)
    _refuse_unless_empty(media, force=force)
    scratch = scratch_folder(media.parent, prefix=".juice-restore-")
    try:
        progress(f"Unpacking {archive} ({archive.stat().st_size / 1e6:.1f} MB) ...")
        archive_extract(archive, manifest, scratch, progress=progress)
        progress(f"Every checksum matches; replacing the {ENGINE_NAMES[engine]} database {_database_label()} ...")
        _database_load(engine, scratch / manifest["database"], scratch)
        moved = _media_move(scratch / "media", media)
        progress(f"Database restored; {moved} media files restored under {media}.")
    finally:
        scratch_remove(scratch)
    return {**manifest, "migrate": bool(set(known_migrations()) - set(manifest.get("migrations", [])))}


def media_files(media: Path) -> list[str]:
    """The files under the media folder, relative, in order; temporary files (dot names) left out."""
    if not media.is_dir():
        return []
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file() and not is_junk(p.relative_to(media)))


def applied_migrations() -> list[str]:
    return sorted(f"{app}.{name}" for app, name in MigrationRecorder(connection).applied_migrations())


def known_migrations() -> list[str]:
    return sorted(f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def database_rows() -> dict[str, int]:
    """The models whose tables hold rows, with their counts (tables made by `migrate` itself left out)."""
    tables = set(connection.introspection.table_names())
    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            if model._meta.label_lower in MIGRATE_MADE or table not in tables:
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - a model's table name
            if n := cursor.fetchone()[0]:
                counts[model._meta.label] = n
    return counts


def _refuse_unless_empty(media: Path, *, force: bool) -> None:
    rows, files = database_rows(), media_files(media)
    if force or not (rows or files):
        return
    held = ", ".join(f"{n} {label}" for label, n in sorted(rows.items())[:6]) or "no rows"
    raise ArchiveError(
        f"this deployment is not empty: the database {_database_label()} holds {held} and the media folder {media} "
        f"holds {len(files)} files. A restore replaces the whole database: run it again with --force to replace "
        f"them (media files of the same name are overwritten, others are left), or restore into a fresh database"
    )


def _engine() -> str:
    if connection.vendor not in DATABASE_MEMBER:
        raise ArchiveError(f"the {connection.vendor} database engine cannot be backed up (PostgreSQL or SQLite)")
    return connection.vendor


def _database_label() -> str:
    return str(connection.settings_dict["NAME"])


def _server_version(engine: str) -> str:
    if engine == "sqlite":
        return sqlite3.sqlite_version
    connection.ensure_connection()
    return f"{connection.pg_version // 10000}.{connection.pg_version % 10000}"


def _commit() -> str | None:
    """The code's git commit, where the deployment runs from a clone."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _database_dump(engine: str, scratch: Path) -> Path:
    target = scratch / DATABASE_MEMBER[engine]
    if engine == "postgresql":
        _pg_run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target)])
        return target
    _sqlite_copy(_database_label(), target, single_file=True)
    return target


def _sqlite_copy(source: Path | str, target: Path | str, *, single_file: bool = False) -> None:
    """Copy the SQLite database `source` onto `target` through the online backup API (one transaction on
    `target`); `single_file`: the copy keeps no write-ahead log beside it."""
    try:
        source_db, target_db = sqlite3.connect(source), sqlite3.connect(target, timeout=30)
        try:
            source_db.backup(target_db)
            if single_file:
                target_db.execute("PRAGMA journal_mode=DELETE")
        finally:
            source_db.close()
            target_db.close()
    except sqlite3.Error as exc:
        full = " (no space left on the device)" if disk_full(None, Path(target).parent) else ""
        raise ArchiveError(f"could not copy the SQLite database {source} to {target}{full}: {exc}") from None


def _database_load(engine: str, dump: Path, scratch: Path) -> None:
    """Replace the whole database by `dump`, in one transaction: on an error it is left as it was."""
    connection.close()
    if engine == "sqlite":
        _sqlite_copy(dump, _database_label())
        return
    script = scratch / "restore.sql"
    _pg_run(["pg_restore", "--no-owner", "--no-privileges", "--file", str(script), str(dump)], database=False)
    drop = scratch / "drop.sql"
    tables = connection.introspection.table_names()
    drop.write_text("".join(f"DROP TABLE IF EXISTS {connection.ops.quote_name(t)} CASCADE;\n" for t in tables))
    connection.close()
    _pg_run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(drop), "-f", str(script)])


def _media_move(unpacked: Path, media: Path) -> int:
    """Move the unpacked media files into the media folder (renames: same filesystem)."""
    moved = 0
    for path in sorted(unpacked.rglob("*")) if unpacked.is_dir() else []:
        if path.is_file():
            target = media / path.relative_to(unpacked)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved += 1
    return moved


def _pg_env() -> dict[str, str]:
    db = connection.settings_dict
    given = {"PGHOST": db.get("HOST"), "PGPORT": db.get("PORT"), "PGUSER": db.get("USER"), "PGPASSWORD": db.get("PASSWORD"),
             "PGDATABASE": db.get("NAME")}
    return {**os.environ, **{key: str(value) for key, value in given.items() if value}}


def _pg_run(command: list[str], *, database: bool = True) -> None:
    env = _pg_env() if database else {**os.environ}
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise ArchiveError(f"could not run {command[0]}: {exc}") from None
    if out.returncode != 0:
        raise ArchiveError(f"{command[0]} failed (exit status {out.returncode}): {out.stderr.strip()[-2000:]}")


def _pg_client_check(tool: str) -> None:
    """`tool` is installed and at least the server's major version (an older one refuses a newer server)."""
    if shutil.which(tool) is None:
        raise ArchiveError(
            f"{tool} is not installed: install the PostgreSQL client tools of the server's version "
            f"(Debian: apt-get install postgresql-client)"
        )
    version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"\)\s*(\d+)", version)
    connection.ensure_connection()
    server = connection.pg_version // 10000
    if found is None or int(found.group(1)) < server:
        raise ArchiveError(
            f"{tool} is version {found.group(1) if found else 'unknown'} ({version.strip()}) and the server is PostgreSQL "
            f"{server}: install the client tools of version {server} or later (Debian: postgresql-client-{server})"
        )
