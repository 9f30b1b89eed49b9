"""Prompt sets and prompts move from `annotation` to `generation`, where the data flow starts.

Their tables (`annotation_promptset`, `annotation_prompt`), rows,
constraints and the foreign keys that point at them stay as they are: only Django's state moves:
the models are created here under their old table names, then `annotation` 0005 forgets its own.
Their content types (and so the permissions and admin log entries that name them) move along.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from juice.migration_helpers import content_types_move


def forwards(apps, schema_editor):
    content_types_move(apps, ("promptset", "prompt"), "annotation", "generation")


def backwards(apps, schema_editor):
    content_types_move(apps, ("promptset", "prompt"), "generation", "annotation")


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0001_initial"),
        ("annotation", "0004_study_invited"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="PromptSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("source_name", models.CharField(blank=True, help_text="File the prompts came from", max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                 to=settings.AUTH_USER_MODEL)),
            ],
            options={"db_table": "annotation_promptset"},
        ),
        migrations.CreateModel(
            name="Prompt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=64, verbose_name="id")),
                ("position", models.PositiveIntegerField()),
                ("text", models.TextField(max_length=2000)),
                ("category", models.CharField(blank=True, max_length=200)),
                ("image", models.FileField(blank=True, upload_to="prompt_images/")),
                ("prompt_set", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="prompts",
                                                 to="generation.promptset")),
            ],
            options={
                "db_table": "annotation_prompt",
                "ordering": ["prompt_set", "position"],
                "constraints": [
                    models.UniqueConstraint(fields=("prompt_set", "key"), name="prompt_unique_key"),
                    models.UniqueConstraint(fields=("prompt_set", "position"), name="prompt_unique_position"),
                    models.CheckConstraint(condition=models.Q(("text", ""), _negated=True), name="prompt_text_not_empty"),
                    models.CheckConstraint(condition=models.Q(("key__regex", "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")),
                                           name="prompt_key_format"),
                ],
            },
        ),
        migrations.AlterField(
            model_name="video",
            name="prompt",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="videos", to="generation.prompt"),
        ),
        migrations.AlterField(
            model_name="generationjob",
            name="prompt",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="jobs", to="generation.prompt"),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(forwards, backwards),
    ]
