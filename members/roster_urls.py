"""The agency party office's roster (党员名册), at /roster/. The member's page and the export are
reports' (reports/urls.py), under the same prefix."""

from django.urls import path

from . import activation_views, roster

app_name = "roster"

urlpatterns = [
    path("", roster.roster_list, name="list"),
    path("add/", roster.member_add, name="member_add"),
    path("<int:pk>/edit/", roster.member_edit, name="member_edit"),
    path("<int:pk>/leave/", roster.member_leave_view, name="member_leave"),
    path("<int:pk>/rejoin/", roster.member_rejoin_view, name="member_rejoin"),
    path(
        "<int:pk>/activation/send/", activation_views.activation_send_view, name="activation_send"
    ),
    path(
        "<int:pk>/activation/slip/", activation_views.activation_slip_view, name="activation_slip"
    ),
    path(
        "<int:pk>/activation/revoke/",
        activation_views.activation_revoke_view,
        name="activation_revoke",
    ),
    path("import/", roster.roster_import, name="import"),
    path("import/preview/", roster.import_preview, name="import_preview"),
    path("import/template.xlsx", roster.import_template, name="import_template"),
]
