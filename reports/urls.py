from django.urls import path

from . import attendance, export_log, review, roster, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path("roster/export/", roster.roster_export, name="roster_export"),
    path("exports/", export_log.export_log, name="export_log"),
    path("review/", review.review_list, name="review"),
    path("attendance/", attendance.attendance_report, name="attendance"),
    path("attendance/export/", attendance.attendance_export, name="attendance_export"),
    path("review/confirm/", review.review_confirm, name="review_confirm"),
    path("review/<int:pk>/", review.review_record, name="review_record"),
]
