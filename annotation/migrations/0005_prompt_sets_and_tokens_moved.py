"""`annotation` lets go of the models that moved: prompt sets and prompts (now `generation`'s) and
API tokens (now `juice`'s). State only: the tables, their rows and every foreign key stay in place."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0004_study_invited"),
        ("generation", "0002_prompt_sets"),
        ("juice", "0001_initial"),
    ]

    state_operations = [
        migrations.AlterField(
            model_name="study",
            name="prompt_set",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="studies", to="generation.promptset"),
        ),
        migrations.AlterField(
            model_name="item",
            name="prompt",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="items", to="generation.prompt"),
        ),
        migrations.DeleteModel(name="Prompt"),
        migrations.DeleteModel(name="PromptSet"),
        migrations.DeleteModel(name="ApiToken"),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
