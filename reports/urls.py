from django.urls import path

from . import export_log, review, roster, rota, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path("roster/export/", roster.roster_export, name="roster_export"),
    path("rota/<int:pk>/export/", rota.rota_export, name="rota_export"),
    path("exports/", export_log.export_log, name="export_log"),
    path("review/", review.review_list, name="review"),
    path("review/confirm/", review.review_confirm, name="review_confirm"),
    path("review/<int:pk>/", review.review_record, name="review_record"),
]
