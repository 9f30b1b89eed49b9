from django.contrib import admin
from django.urls import include, path

from annotation.raters.views import LoginView, LogoutView
from annotation.urls import annotator_urlpatterns

urlpatterns = [
    *annotator_urlpatterns,
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("", include("generation.urls")),
    path("", include("annotation.urls")),
]
