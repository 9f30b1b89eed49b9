from django.urls import path

from generation.jobs import views as jobs
from generation.prompts import api as prompts_api
from generation.prompts import views as prompts
from generation.systems import api as systems_api
from generation.systems import views as systems

urlpatterns = [
    path("generation/", jobs.generation_status, name="generation-status"),
    path("generation/start", jobs.generation_start, name="generation-start"),
    path("generation/systems/<int:pk>/retry", jobs.jobs_retry_view, name="generation-retry"),
    path("generation/systems/<int:pk>/cancel", jobs.jobs_cancel_view, name="generation-cancel"),
    path("generation/videos/<int:video_id>/first-frame", jobs.video_first_frame, name="video-first-frame"),
    path("prompt-sets/", prompts.prompt_set_list, name="prompt-sets"),
    path("systems/", systems.system_list, name="systems"),
    path("prompt-sets/new", prompts.prompt_set_upload, name="prompt-set-upload"),
    path("prompt-sets/<int:pk>/media", prompts.prompt_set_media_view, name="prompt-set-media"),
    path("videos/<int:video_id>", systems.video_file, name="video-file"),
    path("prompt-sets/<int:pk>", prompts.prompt_set_detail, name="prompt-set-detail"),
    path("systems/<int:pk>/videos", systems.system_videos_upload, name="system-videos-upload"),
    path("api/prompt-sets", prompts_api.prompt_sets, name="api-prompt-sets"),
    path("api/prompt-sets/<path:name>", prompts_api.prompt_set_detail, name="api-prompt-set"),
    path("api/systems", systems_api.systems, name="api-systems"),
    path("api/systems/<str:name>/videos", systems_api.system_videos, name="api-system-videos"),
]
