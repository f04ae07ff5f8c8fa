from django.urls import path

from . import account, activation_views, report_in, views

app_name = "members"

urlpatterns = [
    path("", views.member_list, name="member_list"),
    path("<int:pk>/grid/", views.member_grid, name="member_grid"),
    path("report-ins/", views.registration_review, name="registration_review"),
    path(
        "report-ins/<int:pk>/approve/",
        views.registration_approve_view,
        name="registration_approve",
    ),
    # The activation link's page: public, the token is the key.
    path("activate/<str:token>/", activation_views.activate, name="activate"),
    path("report-ins/<int:pk>/", views.registration_detail, name="registration_detail"),
    path("report-ins/<int:pk>/return/", views.registration_return_view, name="registration_return"),
    path("report-ins/poster/", report_in.report_in_poster, name="report_in_poster"),
    path("report-ins/poster.svg", report_in.report_in_poster_svg, name="report_in_poster_svg"),
    # A member's own report-ins (报到), and the page a community's poster opens.
    path("report-in/", report_in.my_report_ins, name="report_in"),
    path("report-in/<int:pk>/", report_in.community_report_in, name="report_in_community"),
    path("report-in/withdraw/<int:pk>/", report_in.report_in_withdraw, name="report_in_withdraw"),
    # A person's own sign-ins (我的登录设备), and ending them.
    path("account/sessions/", account.my_sessions, name="my_sessions"),
    path("account/sessions/end/", account.session_end, name="session_end"),
]
