"""What the study commands share (a module starting with `_` is not a command)."""

from django.core.management.base import CommandError

from annotation.models import Study
from annotation.studies.selectors import study_by_name_or_slug


def study_or_error(name: str) -> Study:
    """A study by its name or public slug, or a CommandError that says which studies exist."""
    study = study_by_name_or_slug(name)
    if study is None:
        known = ", ".join(Study.objects.order_by("name").values_list("name", flat=True)[:10]) or "none"
        raise CommandError(f"no study named {name!r} (studies: {known})")
    return study
