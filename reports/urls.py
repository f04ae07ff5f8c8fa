from django.urls import path

from . import (
    attendance,
    certificates,
    charts,
    evaluation,
    export_log,
    jobs,
    me,
    overview,
    records,
    review,
    roster,
    rota,
    views,
)

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path(
        "roster/<int:pk>/certificate/",
        certificates.roster_certificate,
        name="roster_certificate",
    ),
    path("roster/export/", roster.roster_export, name="roster_export"),
    path("rota/<int:pk>/export/", rota.rota_export, name="rota_export"),
    path("exports/", export_log.export_log, name="export_log"),
    path("exports/<int:pk>/", jobs.export_job, name="export_job"),
    path("exports/<int:pk>/download/", jobs.export_download, name="export_download"),
    path("review/", review.review_list, name="review"),
    path("review/export/", records.records_export, name="records_export"),
    path("attendance/", attendance.attendance_report, name="attendance"),
    path("attendance/export/", attendance.attendance_export, name="attendance_export"),
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
    path("charts/", charts.charts, name="charts"),
    # A member's own record, contact details, calendar and data (我的记录).
    path("me/", me.my_record, name="my_record"),
    path("me/contact/", me.my_contact, name="my_contact"),
    path("me/calendar/", me.my_calendar, name="my_calendar"),
    path("me/delete/", me.my_account_delete, name="my_account_delete"),
    path("me/data.json", me.my_data_json, name="my_data_json"),
    path("me/data.csv", me.my_data_csv, name="my_data_csv"),
    # Service-hour certificates (志愿服务证明): issued, downloaded again, verified by anyone.
    path("me/certificate/", certificates.my_certificate, name="my_certificate"),
    path(
        "certificates/<int:pk>.pdf",
        certificates.certificate_pdf_download,
        name="certificate_pdf",
    ),
    path("verify/", certificates.certificate_verify, name="certificate_verify"),
    # The calendar address a phone reads (no sign-in: the token is the key).
    path("calendar/<str:token>.ics", me.calendar_feed, name="calendar_feed"),
    path("overview/street/", overview.street_overview, name="overview_street"),
    path("overview/city/", overview.city_overview, name="overview_city"),
]
