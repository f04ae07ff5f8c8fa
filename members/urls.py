from django.urls import path

from . import activation_views, views

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
    path("report-ins/<int:pk>/return/", views.registration_return_view, name="registration_return"),
]
