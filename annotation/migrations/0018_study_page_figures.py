# The study page's per-rater figures, kept by the background (annotation/studies/figures.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0017_settle_incremental'),
    ]

    operations = [
        migrations.CreateModel(
            name='RaterFigures',
            fields=[
                ('rater', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='figures', serialize=False, to='annotation.rater')),
                ('votes', models.PositiveIntegerField()),
                ('median_watch_ms', models.FloatField(null=True)),
                ('left_share', models.FloatField(null=True)),
                ('handed', models.PositiveIntegerField()),
                ('reported', models.PositiveIntegerField()),
                ('computed_at', models.DateTimeField()),
            ],
        ),
    ]
