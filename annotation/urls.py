from django.urls import path

from annotation import (
    api_annotate,
    api_studies,
    api_uploads,
    media,
    views,
    views_matching,
    views_rating,
    views_reports,
    views_studies,
    views_uploads,
)

# The annotator API answers most of the site's requests: juice/urls.py lists it first, so resolving
# one of its URLs tries two patterns instead of walking the whole list.
annotator_urlpatterns = [
    path("api/annotate/<str:slug>/next", api_annotate.annotate_next, name="annotate-next"),
    path("api/annotate/assignments/<str:token>/vote", api_annotate.annotate_vote, name="annotate-vote"),
]

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
    path("prompt-sets/new", views_uploads.prompt_set_upload, name="prompt-set-upload"),
    path("prompt-sets/<int:pk>", views_uploads.prompt_set_detail, name="prompt-set-detail"),
    path("systems/<int:pk>/videos", views_uploads.system_videos_upload, name="system-videos-upload"),
    path("api/prompt-sets", api_uploads.prompt_sets, name="api-prompt-sets"),
    path("api/prompt-sets/<path:name>", api_uploads.prompt_set_detail, name="api-prompt-set"),
    path("api/systems/<str:name>/videos", api_uploads.system_videos, name="api-system-videos"),
    path("s/<str:slug>/join", views_rating.rater_join_view, name="rater-join"),
    path("s/<str:slug>/rate", views_rating.rating_page, name="rating-page"),
    path("s/<str:slug>/img/<str:token>", views_rating.rating_image, name="rating-image"),
    path("studies/new", views_studies.study_new, name="study-new"),
    path("studies/<str:slug>", views_studies.study_detail, name="study-detail"),
    path("studies/<str:slug>/status", views_studies.study_status, name="study-status"),
    path("studies/<str:slug>/attention", views_studies.study_attention, name="study-attention"),
    path("studies/<str:slug>/invitations", views_studies.study_invitations, name="study-invitations"),
    path("api/studies", api_studies.studies_create, name="api-studies"),
    path("api/studies/<str:slug>", api_studies.studies_detail, name="api-study"),
    path("api/studies/<str:slug>/invitations", api_studies.studies_invitations, name="api-study-invitations"),
    path("studies/<str:slug>/report.<str:fmt>", views_reports.study_report_view, name="study-report"),
    path("studies/<str:slug>/votes.csv", views_reports.study_votes_view, name="study-votes"),
    path("api/studies/<str:slug>/report", views_reports.api_study_report, name="api-study-report"),
    path("studies/<str:slug>/matching", views_matching.study_matching, name="study-matching"),
    path("studies/<str:slug>/matching/<int:item_id>/retry", views_matching.matching_item_retry, name="study-matching-retry"),
    path("studies/<str:slug>/matching/<int:item_id>/drop", views_matching.matching_item_drop, name="study-matching-drop"),
]
