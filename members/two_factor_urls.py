from django.urls import path

from . import two_factor

app_name = "two_factor"

urlpatterns = [
    path("", two_factor.verify, name="verify"),
    path("enrol/", two_factor.enrol, name="enrol"),
    path("mine/", two_factor.account, name="account"),
    path(
        "mine/recovery-codes/",
        two_factor.recovery_codes_regenerate,
        name="recovery_codes_regenerate",
    ),
]
