from django.urls import path

from . import evaluation, export_log, review, roster, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path("roster/export/", roster.roster_export, name="roster_export"),
    path("exports/", export_log.export_log, name="export_log"),
    path("review/", review.review_list, name="review"),
    path("review/confirm/", review.review_confirm, name="review_confirm"),
    path("review/<int:pk>/", review.review_record, name="review_record"),
    path("evaluations/", evaluation.evaluation_list, name="evaluations"),
    path("evaluations/member/<int:pk>/", evaluation.evaluation_member, name="evaluation_member"),
    path("evaluations/agency/", evaluation.agency_evaluations, name="agency_evaluations"),
    path("evaluations/mine/", evaluation.evaluations_mine, name="evaluations_mine"),
    path("evaluations/<int:pk>/object/", evaluation.objection_raise, name="objection_raise"),
    path("objections/<int:pk>/", evaluation.objection_answer, name="objection_answer"),
    path("summary/member/<int:pk>/", evaluation.summary_member, name="summary_member"),
    path("summary/agency/", evaluation.summary_agency, name="summary_agency"),
]
