from django.urls import path

from annotation import views

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
]
