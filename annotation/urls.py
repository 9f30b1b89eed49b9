from django.urls import path

from annotation import api_uploads, media, views, views_uploads

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
    path("prompt-sets/new", views_uploads.prompt_set_upload, name="prompt-set-upload"),
    path("prompt-sets/<int:pk>", views_uploads.prompt_set_detail, name="prompt-set-detail"),
    path("systems/<int:pk>/videos", views_uploads.system_videos_upload, name="system-videos-upload"),
    path("api/prompt-sets", api_uploads.prompt_sets, name="api-prompt-sets"),
    path("api/prompt-sets/<path:name>", api_uploads.prompt_set_detail, name="api-prompt-set"),
    path("api/systems/<str:name>/videos", api_uploads.system_videos, name="api-system-videos"),
]
