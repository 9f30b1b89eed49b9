"""Moving one study to another deployment: `study_export` writes it to an archive, `study_import` reads it.

The archive (juice/archive.py: a tar with the sha256 of every member) holds study.json, the rows of
the study with everything it stands on (its prompt set and prompts, its systems' metadata, the source
and matched videos of its items, its pairs, items, raters, assignments, votes and reported problems,
and its settings), and the files those rows name, under media/. Accounts travel by username: a rater
or invitation whose account does not exist on the other deployment comes without it.

An import checks every checksum, then writes everything in one transaction; its files are stored
under new random names (each written to a temporary name and renamed) and removed again if anything
fails. What exists already is used where it is the same (a prompt set with the same prompts, a system
with the same settings, a video with the same file) and refused, naming it, where it differs. A study
whose name exists is refused; under a new name (`name`) it is a copy, with a new slug and new tokens.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils.dateparse import parse_datetime

from annotation.models import Assignment, Item, Rater, Report, Study, StudyPair, Vote, new_secret, new_slug, new_token
from annotation.rating.dynamic import study_pairs_rebuild
from generation.models import MatchedVideo, Prompt, PromptSet, System, Video
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
from juice.backup import applied_migrations, known_migrations
from juice.files import file_sha256, media_remove, media_store

FORMAT = "juice-study"
DOCUMENT = "study.json"
# A system is the same one where these agree.
SYSTEM_SETTINGS = ("kind", "pipeline", "model", "image_model", "image_pipeline", "video_pipeline", "params")
PROMPT_CONTENT = ("key", "position", "text", "category", "rewrites")


def study_export(*, study: Study, archive: Path, progress: Progress) -> dict:
    """Write `study` with everything it stands on to the new file `archive`; returns the manifest."""
    document = _study_document(study)
    media = Path(settings.MEDIA_ROOT)
    names = sorted(_file_names(document))
    missing = [name for name in names if not (media / name).is_file()]
    if missing:
        raise ArchiveError(f"{len(missing)} files of study {study.name!r} are missing from the media folder {media}, such as {missing[0]}")

    def fill(writer: ArchiveWriter) -> dict:
        writer.add_bytes(json.dumps(document, sort_keys=True).encode(), DOCUMENT)
        progress(f"Adding {len(names)} media files of study {study.name!r} ...")
        for name in names:
            writer.add_file(media / name, f"media/{name}")
        return {"format": FORMAT, "format_version": 1, "created_at": datetime.now(UTC).isoformat(), "study": study.name,
                "migrations": applied_migrations()}

    return archive_write(archive, fill, what="study export")


def study_import(*, archive: Path, name: str | None = None, prompt_set: str | None = None, progress: Progress) -> Study:
    """Create the study of `archive` here (under `name` if given, its prompt set under `prompt_set` if given)."""
    manifest = archive_manifest(archive, kind=FORMAT)
    unknown = sorted(set(manifest.get("migrations", [])) - set(known_migrations()))
    if unknown:
        raise ArchiveError(f"{archive} comes from a newer JUICE (migrations {', '.join(unknown[:5])}): update the code first")
    media = Path(settings.MEDIA_ROOT)
    scratch = scratch_folder(media.parent, prefix=".juice-import-")
    try:
        archive_extract(archive, manifest, scratch, progress=progress)
        document = json.loads((scratch / DOCUMENT).read_text())
        checksums = {member.removeprefix("media/"): entry["sha256"] for member, entry in manifest["files"].items()}
        stored: dict[str, str] = {}
        users = _users(document)
        try:
            with transaction.atomic():
                study = _study_create(document, _Files(scratch / "media", checksums, stored), users, name=name, prompt_set=prompt_set)
                if study.dynamic:  # its raters have new ids here, and an older archive has no stored settlement state
                    study_pairs_rebuild(study_id=study.pk)
        except BaseException:
            media_remove(list(stored.values()))
            raise
    finally:
        scratch_remove(scratch)
    progress(f"Imported study {study.name!r} (slug {study.slug}) with {len(stored)} media files.")
    absent = sorted(_usernames(document) - set(users))
    if absent:
        progress(f"No account here is named {', '.join(absent)}: the study came without them (its votes are all here).")
    return study


# -- export -------------------------------------------------------------------------------------------

def _study_document(study: Study) -> dict:
    items = study.items.all()
    video_ids = set(items.values_list("video_a_id", flat=True)) | set(items.values_list("video_b_id", flat=True))
    matched_ids = set(items.values_list("matched_a_id", flat=True)) | set(items.values_list("matched_b_id", flat=True))
    videos = Video.objects.filter(pk__in=video_ids)
    pairs = study.pairs.all()
    system_ids = {s for pair in pairs for s in (pair.system_a_id, pair.system_b_id)} | set(videos.values_list("system_id", flat=True))
    assignments = Assignment.objects.filter(rater__study=study)
    return {
        "prompt_set": _rows([study.prompt_set])[0],
        "prompts": _rows(study.prompt_set.prompts.all()),
        "systems": _rows(System.objects.filter(pk__in=system_ids)),
        "videos": _rows(videos),
        "matched": _rows(MatchedVideo.objects.filter(pk__in=matched_ids - {None})),
        "study": {**_rows([study])[0], "created_by_id": study.created_by and study.created_by.get_username(),
                  "invited": study.invited_names()},
        "pairs": _rows(pairs),
        "items": _rows(items),
        "raters": _rows(study.raters.select_related("user"), users=True),
        "assignments": _rows(assignments),
        "votes": _rows(Vote.objects.filter(assignment__in=assignments)),
        "reports": _rows(Report.objects.filter(assignment__in=assignments)),
    }


def _rows(objects, *, users: bool = False) -> list[dict]:
    """Each object's concrete fields by attribute name, as JSON values; `users`: its `user_id` as a username."""
    rows = []
    for obj in objects.order_by("pk") if hasattr(objects, "order_by") else objects:
        row = {f.attname: _plain(f.value_from_object(obj)) for f in obj._meta.concrete_fields}
        if users:
            row["user_id"] = obj.user and obj.user.get_username()
        rows.append(row)
    return rows


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    return value


def _file_names(document: dict) -> set[str]:
    """The media files the document's rows name."""
    named = [(Prompt, document["prompts"]), (Video, document["videos"]), (MatchedVideo, document["matched"])]
    return {row[f.attname] for model, rows in named for row in rows for f in _file_fields(model) if row.get(f.attname)}


def _file_fields(model) -> list[models.FileField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


# -- import -------------------------------------------------------------------------------------------

class _Files:
    """The archive's unpacked media files, stored under MEDIA_ROOT as rows come to name them."""

    def __init__(self, unpacked: Path, checksums: dict[str, str], stored: dict[str, str]):
        self.unpacked, self.checksums, self.stored = unpacked, checksums, stored

    def store(self, name: str) -> str:
        if not name:
            return name
        if name not in self.checksums:
            raise ArchiveError(f"the archive names the file {name} but does not hold it")
        if name not in self.stored:
            self.stored[name] = media_store(self.unpacked / name, folder=PurePosixPath(name).parts[0])[0]
        return self.stored[name]

    def same(self, name: str, field_file) -> bool:
        """Whether the archive's file `name` has the content of an existing row's file."""
        if not name or not field_file:
            return not name and not field_file
        path = Path(settings.MEDIA_ROOT) / field_file.name
        return path.is_file() and file_sha256(path) == self.checksums.get(name)


def _study_create(document: dict, files: _Files, users: dict[str, int], *, name: str | None, prompt_set: str | None) -> Study:
    row = document["study"]
    name = name or row["name"]
    if Study.objects.filter(name=name).exists():
        raise ArchiveError(f"a study named {name!r} exists here already: import it under another name with --name")
    prompts = _prompts_get_or_create(document, files, name=prompt_set or document["prompt_set"]["name"])
    systems = _systems_get_or_create(document["systems"])
    videos = _videos_get_or_create(document, files, prompts=prompts, systems=systems)
    matched = _matched_get_or_create(document["matched"], files, videos=videos)
    copy = Study.objects.filter(slug=row["slug"]).exists()
    fresh = {"slug": new_slug(), "link_secret": new_secret()} if copy else {}
    study_ids = _create(Study, [row], {"prompt_set_id": {row["prompt_set_id"]: prompts["set"]}},
                        lambda r: {"name": name, "created_by_id": users.get(r["created_by_id"]), **fresh})
    study = Study.objects.get(pk=study_ids[row["id"]])
    study.invited.set([users[u] for u in row["invited"] if u in users])
    pairs = _create(StudyPair, document["pairs"], {"study_id": study_ids, "system_a_id": systems, "system_b_id": systems})
    tokens = (lambda r: {"token_a": new_token(), "token_b": new_token()}) if copy else None
    items = _create(Item, document["items"], {"study_id": study_ids, "pair_id": pairs, "prompt_id": prompts, "video_a_id": videos,
                                              "video_b_id": videos, "matched_a_id": matched, "matched_b_id": matched}, tokens)
    raters = _create(Rater, document["raters"], {"study_id": study_ids}, lambda r: {"user_id": users.get(r["user_id"])})
    tokens = (lambda r: {"token": new_token()}) if copy else None
    assignments = _create(Assignment, document["assignments"], {"rater_id": raters, "item_id": items}, tokens)
    _create(Vote, document["votes"], {"assignment_id": assignments})
    _create(Report, document["reports"], {"assignment_id": assignments})
    return study


def _usernames(document: dict) -> set[str]:
    """The accounts the document names: the study's author, its invited accounts and raters' accounts."""
    return {document["study"]["created_by_id"], *document["study"]["invited"], *(r["user_id"] for r in document["raters"])} - {None}


def _users(document: dict) -> dict[str, int]:
    """Accounts of this deployment by the usernames the document names."""
    model = get_user_model()
    found = model.objects.filter(**{f"{model.USERNAME_FIELD}__in": _usernames(document)})
    return dict(found.values_list(model.USERNAME_FIELD, "pk"))


def _prompts_get_or_create(document: dict, files: _Files, *, name: str) -> dict:
    """Old prompt id -> new (and "set" -> the prompt set's id): an existing prompt set of that name if its
    prompts are the same, else a new one."""
    rows = document["prompts"]
    existing = PromptSet.objects.filter(name=name).first()
    if existing is None:
        made = _create(PromptSet, [document["prompt_set"]], {}, lambda r: {"name": name, "created_by_id": None})
        set_id = made[document["prompt_set"]["id"]]
        return {**_create(Prompt, rows, {"prompt_set_id": made}, files=files), "set": set_id}
    here = {p.key: p for p in existing.prompts.all()}
    same = len(here) == len(rows) and all(
        r["key"] in here and all(getattr(here[r["key"]], f) == r[f] for f in PROMPT_CONTENT)
        and files.same(r["image"], here[r["key"]].image)
        for r in rows
    )
    if not same:
        raise ArchiveError(f"a prompt set named {name!r} exists here with other prompts: import with --prompt-set NEW_NAME")
    return {**{r["id"]: here[r["key"]].pk for r in rows}, "set": existing.pk}


def _systems_get_or_create(rows: list[dict]) -> dict[int, int]:
    here = {s.name: s for s in System.objects.filter(name__in=[r["name"] for r in rows])}
    for row in rows:
        if row["name"] in here:
            differ = [f for f in SYSTEM_SETTINGS if getattr(here[row["name"]], f) != row[f]]
            if differ:
                raise ArchiveError(f"a system named {row['name']!r} exists here with other settings ({', '.join(differ)}): "
                                   f"rename one of them before the import")
    made = _create(System, [r for r in rows if r["name"] not in here], {})
    return {**made, **{r["id"]: here[r["name"]].pk for r in rows if r["name"] in here}}


def _videos_get_or_create(document: dict, files: _Files, *, prompts: dict, systems: dict) -> dict[int, int]:
    rows, new = document["videos"], []
    found, ids = {}, {}
    for v in Video.objects.filter(prompt_id__in=[prompts[r["prompt_id"]] for r in rows]):
        found[(v.system_id, v.prompt_id, v.sample)] = v
    for row in rows:
        video = found.get((systems[row["system_id"]], prompts[row["prompt_id"]], row["sample"]))
        if video is None:
            new.append(row)
        elif files.same(row["file"], video.file):
            ids[row["id"]] = video.pk
        else:
            raise ArchiveError(f"the video of {video} exists here with another file: import with --prompt-set NEW_NAME")
    return {**ids, **_create(Video, new, {"system_id": systems, "prompt_id": prompts}, files=files)}


def _matched_get_or_create(rows: list[dict], files: _Files, *, videos: dict) -> dict[int, int]:
    found = {(m.source_id, m.target_key): m for m in MatchedVideo.objects.filter(source_id__in=[videos[r["source_id"]] for r in rows])}
    new, ids = [], {}
    for row in rows:
        matched = found.get((videos[row["source_id"]], row["target_key"]))
        if matched is None:
            new.append(row)
        elif matched.status == row["status"] and files.same(row["file"], matched.file):
            ids[row["id"]] = matched.pk
        else:
            raise ArchiveError(f"an encode of {matched.source} exists here and differs: import with --prompt-set NEW_NAME")
    return {**ids, **_create(MatchedVideo, new, {"source_id": videos}, files=files)}


# Fields that archives of earlier versions carry and this one no longer has (dynamic settlement's request
# counters, before the state was stored incrementally): ignored.
RETIRED = {"settle_wanted", "settle_done"}


def _create(model, rows: list[dict], remap: dict[str, dict], extra=None, *, files: _Files | None = None) -> dict[int, int]:
    """Create `model`'s rows, their foreign keys mapped through `remap` (attribute -> old id -> new id), `extra`
    (a row -> attribute values) set on each and their files stored; the dates they were made kept. Returns
    old id -> new id."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    objects = []
    for row in rows:
        unknown = set(row) - set(fields) - {"invited"} - RETIRED
        if unknown:
            raise ArchiveError(f"the archive's {model._meta.verbose_name} rows have fields this JUICE lacks ({', '.join(sorted(unknown))})")
        values = {a: _python(fields[a], v) for a, v in row.items() if a in fields and a != "id"}
        values.update({a: ids[row[a]] for a, ids in remap.items() if row.get(a) is not None})
        values.update(extra(row) if extra else {})
        for f in _file_fields(model) if files else []:
            values[f.attname] = files.store(row.get(f.attname) or "")
        objects.append(model(**values))
    made = model.objects.bulk_create(objects, batch_size=500)
    stamped = [f.attname for f in fields.values() if getattr(f, "auto_now_add", False) and f.attname in (rows[0] if rows else {})]
    if stamped:
        for obj, row in zip(made, rows, strict=True):
            for attname in stamped:
                setattr(obj, attname, parse_datetime(row[attname]))
        model.objects.bulk_update(made, stamped, batch_size=500)
    return {row["id"]: obj.pk for row, obj in zip(rows, made, strict=True)}


def _python(field, value):
    if value is not None and isinstance(field, models.DateTimeField):
        return parse_datetime(value)
    return value
