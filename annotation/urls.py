from django.urls import path

from annotation import api_annotate, api_studies, media, views, views_rating, views_studies

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
    path("s/<str:slug>/join", views_rating.rater_join_view, name="rater-join"),
    path("s/<str:slug>/rate", views_rating.rating_page, name="rating-page"),
    path("s/<str:slug>/img/<str:token>", views_rating.rating_image, name="rating-image"),
    path("api/annotate/<str:slug>/next", api_annotate.annotate_next, name="annotate-next"),
    path("api/annotate/assignments/<str:token>/vote", api_annotate.annotate_vote, name="annotate-vote"),
    path("studies/new", views_studies.study_new, name="study-new"),
    path("studies/<str:slug>", views_studies.study_detail, name="study-detail"),
    path("studies/<str:slug>/status", views_studies.study_status, name="study-status"),
    path("studies/<str:slug>/attention", views_studies.study_attention, name="study-attention"),
    path("api/studies", api_studies.studies_create, name="api-studies"),
    path("api/studies/<str:slug>", api_studies.studies_detail, name="api-study"),
]
