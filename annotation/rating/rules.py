"""What every rating statement reads of a study and of its rater: the study's rules (`StudyRules`, read
through STUDY_COLUMNS) and whether the rater may be handed new items (WELCOME)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from django.contrib.auth import get_user_model

from annotation.models import Rater, Study
from annotation.rating.prepared import Row

INVITED = Rater.Source.INVITED.value
INVITATIONS = Study.invited.through._meta.db_table
USERS = get_user_model()._meta.db_table

# Who may be handed new items (alias `r`, a rater): a crowd rater always; an invited account while it
# is active and still invited (a withdrawn invitation lets it finish the item it holds, no more).
# Decided by the rater's source, not its user: a deleted account's rater has no user left.
WELCOME = f"""(r.source <> '{INVITED}' OR EXISTS (
    SELECT 1 FROM {INVITATIONS} v JOIN {USERS} u ON u.id = v.user_id
    WHERE v.study_id = r.study_id AND v.user_id = r.user_id AND u.is_active))"""  # noqa: S608 - table names


@dataclass(frozen=True)
class StudyRules:
    """What rating needs of a study: its questions, reasons and tie policy, and how it hands out items."""

    id: int
    slug: str
    status: str
    questions: list[str]
    reasons: dict[str, list[dict]]
    tie_policy: str
    lease_seconds: int
    completion_code: str
    min_watch_ms: int
    early_stop: bool
    dynamic: bool

    @classmethod
    def from_row(cls, row: Row) -> StudyRules:
        """From a row holding STUDY_COLUMNS (`study_<field>`)."""
        values = {name: row[column] for name, column in COLUMNS.items()}
        for name in JSON_FIELDS:
            values[name] = json.loads(values[name])
        for name in BOOLEAN_FIELDS:
            values[name] = bool(values[name])  # SQLite's are 0 and 1
        return cls(**values)

    @property
    def allow_tie(self) -> bool:
        return self.tie_policy == Study.TiePolicy.ALLOW


# Read as text: the two databases hand JSON columns back differently.
JSON_FIELDS = ("questions", "reasons")
BOOLEAN_FIELDS = ("early_stop", "dynamic")
# Each field of StudyRules, and the column that holds it: `study_<field>`.
COLUMNS = {f.name: f"study_{f.name}" for f in fields(StudyRules)}
# The study's rules (alias `s`), to put in a statement's columns.
STUDY_COLUMNS = ", ".join(
    f"CAST(s.{name} AS TEXT) AS {column}" if name in JSON_FIELDS else f"s.{name} AS {column}" for name, column in COLUMNS.items()
)
