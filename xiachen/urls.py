from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from members import account, password_reset
from members.auth import SignInView

from . import security, views

admin.site.site_header = _("Xiachen administration")
admin.site.site_title = _("Xiachen")
admin.site.index_title = _("City administration")

urlpatterns = [
    path("", include("reports.urls")),
    path("login/", SignInView.as_view(), name="login"),
    path("password/reset/", password_reset.ResetRequestView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/", password_reset.ResetDoneView.as_view(), name="password_reset_done"
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        password_reset.ResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        password_reset.ResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("password/change/", account.PasswordChangeView.as_view(), name="password_change"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The second factor after the password (issue 11): the code page, enrolment, one's own page.
    path("second-factor/", include("members.two_factor_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("communities/", include("communities.urls")),
    path("activities/", include("activities.urls")),
    path("members/", include("members.urls")),
    # The agency's roster; its member pages and export come from reports.urls (included first).
    path("roster/", include("members.roster_urls")),
    path("notifications/", include("notifications.urls")),
    path("privacy/", include("members.privacy_urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    # Where browsers report what the Content Security Policy refused (VIOLATION_REPORT_PATH).
    path("csp-report/", security.csp_report, name="csp_report"),
]
