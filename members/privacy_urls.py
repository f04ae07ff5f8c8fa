"""The privacy notice (public) and the log of views of personal data, at /privacy/."""

from django.urls import path

from . import privacy

app_name = "privacy"

urlpatterns = [
    path("", privacy.notice, name="notice"),
    path("views/", privacy.view_log, name="view_log"),
]
