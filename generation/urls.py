from django.urls import path

from generation import views

urlpatterns = [
    path("", views.generation_status, name="generation-status"),
    path("videos/<int:video_id>/first-frame", views.video_first_frame, name="video-first-frame"),
]
