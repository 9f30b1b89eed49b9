from django.urls import path

from annotation import media, views

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
]
