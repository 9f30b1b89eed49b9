from django.db import migrations, models

# Raters who voted before the counter existed start from their stored votes.
BACKFILL = """
UPDATE annotation_rater SET votes_done = (
    SELECT COUNT(*) FROM annotation_assignment a WHERE a.rater_id = annotation_rater.id AND a.status = 'voted'
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="rater",
            name="votes_done",
            field=models.PositiveIntegerField(default=0, db_default=0),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
