"""What migrations that move models between apps share. Kept small and stable: old migrations import it."""

from __future__ import annotations


def content_types_move(apps, models: tuple[str, ...], old: str, new: str) -> None:
    """Give the moved models' content types their new app, so that the permissions and admin log
    entries that name them follow. A new database has none yet (post_migrate makes them later)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)
