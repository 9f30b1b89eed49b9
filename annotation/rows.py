"""Model instances from the rows of hand-written SQL on the annotator's hot path.

`next` and `vote` run on every rating; their reads and writes are single statements of raw SQL on
PostgreSQL (the ORM would spend more CPU building each query than the database spends on it). The
rows come back here as instances the rest of the code uses as if the ORM had loaded them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction
from django.db.models import Model

from annotation.models import Study

# The study columns the annotator API reads, in the order study_from_row takes them (alias `s`).
STUDY_COLUMNS = "s.id, s.slug, s.questions::text, s.reasons::text, s.tie_policy, s.lease_seconds, s.completion_code, s.status"


def loaded(model: type[Model], **values: object) -> Model:
    """An instance as the ORM would load it with only these fields (the others deferred)."""
    fields = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, fields, [values[f] for f in fields])


def study_from_row(values: Sequence[object]) -> Study:
    """The study from the values of STUDY_COLUMNS."""
    study_id, slug, questions, reasons, tie_policy, lease_seconds, completion_code, status = values
    return loaded(
        Study, id=study_id, slug=slug, questions=json.loads(questions), reasons=json.loads(reasons), tie_policy=tie_policy,
        lease_seconds=lease_seconds, completion_code=completion_code, status=status,
    )


def one_statement() -> AbstractContextManager:
    """Around a single writing statement: alone it is atomic, so it needs no transaction; inside a
    caller's transaction a savepoint keeps its failure (a refused constraint) from aborting it."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
