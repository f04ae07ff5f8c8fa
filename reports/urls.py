from django.urls import path

from . import roster, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The roster's member page and export; its list and changes are members.roster_urls'.
    path("roster/<int:pk>/", roster.roster_member, name="roster_member"),
    path("roster/export/", roster.roster_export, name="roster_export"),
]
