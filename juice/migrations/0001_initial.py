"""ApiToken moves from `annotation` to `juice` without touching the database: its table,
`annotation_apitoken`, was made by annotation's first migration and keeps its name and rows; its
content type (and the permissions and admin log entries that name it) moves along."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from juice.migration_helpers import content_types_move


def forwards(apps, schema_editor):
    content_types_move(apps, ("apitoken",), "annotation", "juice")


def backwards(apps, schema_editor):
    content_types_move(apps, ("apitoken",), "juice", "annotation")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("annotation", "0004_study_invited"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(blank=True, max_length=100)),
                        ("key_hash", models.CharField(max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens",
                                                   to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "annotation_apitoken"},
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
