from django.contrib import admin
from django.urls import include, path

from annotation.raters.views import LoginView, LogoutView
from annotation.urls import annotator_urlpatterns
from juice import openapi, tokens

urlpatterns = [
    *annotator_urlpatterns,
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("tokens/", tokens.api_tokens, name="api-tokens"),
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    path("tokens/<int:pk>/revoke", tokens.api_token_revoke_view, name="api-token-revoke"),
    path("", include("generation.urls")),
    path("", include("annotation.urls")),
]

# JSON on the APIs, pages elsewhere; 503 while the database cannot be reached (juice/errors.py).
handler400 = "juice.errors.bad_request"
handler403 = "juice.errors.permission_denied"
handler404 = "juice.errors.page_not_found"
handler500 = "juice.errors.server_error"
