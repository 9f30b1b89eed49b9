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
