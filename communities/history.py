"""Why a version of a record was written: the reasons services store in its history.

The code is stored (`history_change_reason`) and the label is shown, so a history reads in the
reader's language. The codes are the words stored before there were labels, so older rows read
the same. The list is the whole project's, kept here at the bottom of the dependency order so
that every app can use it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

# What a history shows where there is nothing: no reason, no user, an empty value.
NOTHING = "—"


class ChangeReason(models.TextChoices):
    SIGNED = "signed", _("Signed")
    TERMINATED = "terminated", _("Terminated early")
    EXPIRED = "expired by date", _("Expired at the end of its term")
    ROLL_CALL = "roll call", _("Roll call")
    DEMO = "demo data", _("Demo data")
    IMPORTED = "roster import", _("Imported from a spreadsheet")
    LEFT = "left the agency", _("Left the agency")
    REJOINED = "rejoined the agency", _("Back with the agency")
    REVIEW_CONFIRMED = "review confirmed", _("Confirmed by the agency office")
    REVIEW_DISPUTED = "review disputed", _("Disputed by the agency office")
    DISPUTE_ANSWERED = "dispute answered", _("Dispute answered by the community")
    BACKFILL = "backfill", _("Backfill")
    QR_CHECK_IN = "qr check-in", _("Checked in by QR code")
    QR_CHECK_OUT = "qr check-out", _("Checked out by QR code")
    SIGNED_UP = "signed up", _("Signed up by the member")
    WAITLISTED = "waitlisted", _("Joined the waitlist")
    SIGN_UP_CANCELLED = "sign-up cancelled", _("Sign-up cancelled by the member")
    SEAT_GIVEN = "seat from the waitlist", _("Seat given from the waitlist")
    ROTA_FILLED = "rota filled", _("Duty rota filled by rotation")
    ROTA_SET = "rota set by hand", _("Duty rota changed by hand")
    ROTA_CLEARED = "rota cleared", _("Duty rota cleared")
    ACCOUNT_DELETED = "account deleted", _("Account deleted by the member")


def change_reason_label(code: str | None) -> str:
    """The label of a stored reason; a reason written by hand is shown as it was written."""
    if not code:
        return NOTHING
    try:
        return ChangeReason(code).label
    except ValueError:
        return code
