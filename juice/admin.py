"""Admin for researchers' API tokens: reviewed and revoked here, created only by `create_api_token`."""

from django.contrib import admin

from juice.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by `create_api_token`, which shows the key once; here they can be reviewed and revoked."""

    list_display = ["user", "name", "created_at", "last_used_at"]
    search_fields = ["user__username", "name"]
    readonly_fields = ["user", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request, obj=None):
        return False
