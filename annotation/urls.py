from django.urls import path

from annotation import media, views, views_matching

urlpatterns = [
    path("", views.researcher_home, name="researcher-home"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
    path("studies/<str:slug>/matching", views_matching.study_matching, name="study-matching"),
    path("studies/<str:slug>/matching/<int:item_id>/retry", views_matching.matching_item_retry, name="study-matching-retry"),
    path("studies/<str:slug>/matching/<int:item_id>/drop", views_matching.matching_item_drop, name="study-matching-drop"),
]
