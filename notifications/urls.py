from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", views.inbox_read, name="inbox_read"),
    path("inbox/read-all/", views.inbox_read_all, name="inbox_read_all"),
    path("settings/", views.notification_preferences, name="preferences"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox_retry"),
]
