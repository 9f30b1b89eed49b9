"""Researcher accounts' API tokens; the accounts themselves are Django's users."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A researcher's token for the JSON API (`Authorization: Token <key>`); only its hash is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="api_tokens", on_delete=models.CASCADE)
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Created by annotation's first migration, before tokens moved here; the table kept its name.
        db_table = "annotation_apitoken"

    def __str__(self) -> str:
        return f"{self.user} {self.name}".strip()


class BackgroundWork(models.Model):
    """One coalesced piece of background work (juice/background.py), such as a study's report: at most
    one run at a time and one waiting. A request sets `waiting` and sends the task unless a run already
    waits; a run clears `waiting` as it starts and holds `running_until`, a lease that a killed worker
    lets expire. `task` and `args` say what to run, so that a lost message can be sent again."""

    key = models.CharField(max_length=200, unique=True)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    waiting = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)
    running_until = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.key
