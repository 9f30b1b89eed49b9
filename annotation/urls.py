from django.urls import path

from annotation.raters import api as raters_api
from annotation.raters import views as raters
from annotation.rating import api as rating_api
from annotation.rating import media
from annotation.rating import views as rating
from annotation.reports import views as reports
from annotation.studies import api as studies_api
from annotation.studies import views as studies

# The annotator API answers most of the site's requests: juice/urls.py lists it first, so resolving
# one of its URLs tries two patterns instead of walking the whole list.
annotator_urlpatterns = [
    path("api/annotate/<str:slug>/next", rating_api.annotate_next, name="annotate-next"),
    path("api/annotate/assignments/<str:token>/vote", rating_api.annotate_vote, name="annotate-vote"),
    path("api/annotate/assignments/<str:token>/report", rating_api.annotate_report, name="annotate-report"),
]

urlpatterns = [
    path("", studies.researcher_home, name="researcher-home"),
    path("s/<str:slug>/join", raters.rater_join_view, name="rater-join"),
    path("api/annotate/<str:slug>/consent", rating_api.annotate_consent, name="annotate-consent"),
    path("api/annotate/<str:slug>/qualification", rating_api.annotate_qualification, name="annotate-qualification"),
    path("s/<str:slug>/rate", rating.rating_page, name="rating-page"),
    path("s/<str:slug>/v/<str:token>", media.study_video, name="study-video"),
    path("s/<str:slug>/img/<str:token>", rating.rating_image, name="rating-image"),
    path("studies/new", studies.study_new, name="study-new"),
    path("studies/<str:slug>", studies.study_detail, name="study-detail"),
    path("studies/<str:slug>/live", studies.study_live, name="study-live"),
    path("studies/<str:slug>/status", studies.study_status, name="study-status"),
    path("studies/<str:slug>/attention", studies.study_attention, name="study-attention"),
    path("studies/<str:slug>/invitations", studies.study_invitations, name="study-invitations"),
    path("studies/<str:slug>/items", studies.study_items, name="study-items"),
    path("studies/<str:slug>/items/<int:item_id>/<str:side>.mp4", studies.item_video, name="study-item-video"),
    path("studies/<str:slug>/matching", studies.study_matching, name="study-matching"),
    path("studies/<str:slug>/matching/resend", studies.matching_resend, name="study-matching-resend"),
    path("studies/<str:slug>/matching/<int:item_id>/retry", studies.matching_item_retry, name="study-matching-retry"),
    path("studies/<str:slug>/matching/<int:item_id>/drop", studies.matching_item_drop, name="study-matching-drop"),
    path("studies/<str:slug>/items/<int:item_id>/drop", studies.reported_item_drop, name="study-item-drop"),
    path("studies/<str:slug>/items/<int:item_id>/rematch", studies.reported_item_rematch, name="study-item-rematch"),
    path("studies/<str:slug>/report.<str:fmt>", reports.study_report_view, name="study-report"),
    path("studies/<str:slug>/report/status", reports.study_report_status, name="study-report-status"),
    path("studies/<str:slug>/report/refresh", reports.study_report_refresh, name="study-report-refresh"),
    path("studies/<str:slug>/votes.csv", reports.study_votes_view, name="study-votes"),
    path("studies/<str:slug>/raters.csv", reports.study_raters_view, name="study-raters"),
    path("studies/<str:slug>/design.json", reports.study_design_view, name="study-design"),
    path("api/studies", studies_api.studies_create, name="api-studies"),
    path("api/studies/<str:slug>", studies_api.studies_detail, name="api-study"),
    path("api/studies/<str:slug>/invitations", raters_api.studies_invitations, name="api-study-invitations"),
    path("api/studies/<str:slug>/links", raters_api.studies_links, name="api-study-links"),
    path("studies/<str:slug>/links", studies.study_links, name="study-links"),
    path("api/studies/<str:slug>/report", reports.api_study_report, name="api-study-report"),
    path("api/studies/<str:slug>/design", reports.api_study_design, name="api-study-design"),
]
