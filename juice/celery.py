"""The Celery app. Workers: `celery -A juice worker -Q gpu` for generation, `-Q media` for ffmpeg."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")

app = Celery("juice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
