"""Admin for researchers' API tokens: reviewed and revoked here; created by `create_api_token` or on /tokens/."""

from django.contrib import admin

from juice.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by `create_api_token` or the tokens page, which show the key once; here they are reviewed and revoked."""

    list_display = ["user", "name", "created_at", "last_used_at"]
    search_fields = ["user__username", "name"]
    readonly_fields = ["user", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        """A researcher sees only its own tokens; a superuser sees everyone's."""
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)
