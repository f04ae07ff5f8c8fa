from django.urls import path

from . import charts, export_log, jobs, me, records, review, roster, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path("roster/export/", roster.roster_export, name="roster_export"),
    path("exports/", export_log.export_log, name="export_log"),
    path("exports/<int:pk>/", jobs.export_job, name="export_job"),
    path("exports/<int:pk>/download/", jobs.export_download, name="export_download"),
    path("review/", review.review_list, name="review"),
    path("review/export/", records.records_export, name="records_export"),
    path("review/confirm/", review.review_confirm, name="review_confirm"),
    path("review/<int:pk>/", review.review_record, name="review_record"),
    path("charts/", charts.charts, name="charts"),
    # A member's own record, contact details, calendar and data (我的记录).
    path("me/", me.my_record, name="my_record"),
    path("me/contact/", me.my_contact, name="my_contact"),
    path("me/calendar/", me.my_calendar, name="my_calendar"),
    path("me/data.json", me.my_data_json, name="my_data_json"),
    path("me/data.csv", me.my_data_csv, name="my_data_csv"),
    # The calendar address a phone reads (no sign-in: the token is the key).
    path("calendar/<str:token>.ics", me.calendar_feed, name="calendar_feed"),
]
