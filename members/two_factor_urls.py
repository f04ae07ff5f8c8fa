from django.urls import path

from . import two_factor
from .privacy import privacy_notice_exempt

app_name = "two_factor"

urlpatterns = [
    # The second factor comes before the privacy notice (the notice's page would send an
    # unverified session back here).
    path("", privacy_notice_exempt(two_factor.verify), name="verify"),
    path("enrol/", privacy_notice_exempt(two_factor.enrol), name="enrol"),
    path("mine/", two_factor.account, name="account"),
    path(
        "mine/recovery-codes/",
        two_factor.recovery_codes_regenerate,
        name="recovery_codes_regenerate",
    ),
]
