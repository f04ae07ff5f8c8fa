"""Why a version of a record was written: the reasons services store in its history.

The code is stored (`history_change_reason`) and the label is shown, so a history reads in the
reader's language. The codes are the words stored before there were labels, so older rows read
the same. The list is the whole project's, kept here at the bottom of the dependency order so
that every app can use it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import models
from django.utils import formats, timezone
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
    LEAVE_REQUESTED = "leave requested", _("Leave asked for by the member")
    LEAVE_WITHDRAWN = "leave withdrawn", _("Leave request withdrawn by the member")
    LEAVE_APPROVED = "leave approved", _("Leave approved")
    LEAVE_REJECTED = "leave rejected", _("Leave not approved")
    ROTA_FILLED = "rota filled", _("Duty rota filled by rotation")
    ROTA_SET = "rota set by hand", _("Duty rota changed by hand")
    ROTA_CLEARED = "rota cleared", _("Duty rota cleared")
    ACCOUNT_DELETED = "account deleted", _("Account deleted by the member")
    # Written on the participation a verified resident need gives its claimant (the need's own
    # history reads its reasons with activities.services.needs.reason_label).
    NEED_VERIFIED = "need verified", _("Resident need verified")


def change_reason_label(code: str | None) -> str:
    """The label of a stored reason; a reason written by hand is shown as it was written."""
    if not code:
        return NOTHING
    try:
        return ChangeReason(code).label
    except ValueError:
        return code


# How many versions a page shows of one record's history, newest first.
TIMELINE_LIMIT = 20


@dataclass
class Change:
    """One field of a version that differs from the version before it, as the reader sees it."""

    label: str
    old: str
    new: str


@dataclass
class Entry:
    """One version of a record in its visible history: when, by whom, why, and what changed."""

    when: object
    who: str
    reason: str
    kind: str  # "+" created, "~" changed, "-" deleted (simple_history's history_type)
    changes: list = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.kind == "+"


def _shown(model, name: str, value, names: dict) -> str:
    """A field's stored value as a reader sees it: a choice's label, a related row's name, a
    localized date or number, yes/no; NOTHING for an empty value."""
    if value is None or value == "":
        return NOTHING
    model_field = model._meta.get_field(name)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if model_field.is_relation:
        return names.get((model_field.related_model, value), NOTHING)
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(formats.localize(value))


def _attribute(model, name: str) -> str:
    return model._meta.get_field(name).attname


def _related_names(model, fields, versions) -> dict:
    """The names of the rows the versions point at, one query per related model."""
    wanted: dict = {}
    for name in fields:
        model_field = model._meta.get_field(name)
        if model_field.is_relation:
            ids = wanted.setdefault(model_field.related_model, set())
            ids.update(getattr(v, model_field.attname) for v in versions)
    names = {}
    for related, ids in wanted.items():
        ids.discard(None)
        for pk, row in related._default_manager.in_bulk(ids).items():
            label = row.get_full_name() if hasattr(row, "get_full_name") else ""
            names[(related, pk)] = label or str(row)
    return names


def timelines(model, history_rows, fields, *, limit=TIMELINE_LIMIT, label=None) -> dict:
    """Each record's visible history, newest first, by the record's id: who, when, why and the
    tracked fields that changed from the version before, with old and new values as a reader
    sees them. `history_rows` are the records' historical rows (any order); the related names
    cost one query per related model, whatever the number of records and versions. `label`
    turns a stored reason into words (change_reason_label unless the app keeps its own)."""
    label = label or change_reason_label
    by_record: dict = {}
    for version in sorted(history_rows, key=lambda v: (v.history_date, v.history_id)):
        by_record.setdefault(version.id, []).append(version)
    versions = [v for vs in by_record.values() for v in vs]
    names = _related_names(model, fields, versions)
    result = {}
    for pk, history in by_record.items():
        entries = []
        previous = None
        for version in history:
            user = version.history_user
            entry = Entry(
                when=version.history_date,
                who=(user.get_full_name() or user.get_username()) if user else NOTHING,
                reason=label(version.history_change_reason) or NOTHING,
                kind=version.history_type,
            )
            for name in fields:
                attribute = _attribute(model, name)
                new = getattr(version, attribute)
                old = getattr(previous, attribute) if previous is not None else None
                if previous is None and version.history_type == "+" and new in (None, ""):
                    continue
                if previous is None or old != new:
                    entry.changes.append(
                        Change(
                            label=str(model._meta.get_field(name).verbose_name),
                            old=_shown(model, name, old, names) if previous is not None else "",
                            new=_shown(model, name, new, names),
                        )
                    )
            entries.append(entry)
            previous = version
        result[pk] = entries[::-1][:limit]
    return result


def timeline(record, fields, *, limit=TIMELINE_LIMIT, label=None) -> list:
    """One record's visible history (timelines()), from one query and the related names."""
    rows = record.history.select_related("history_user").order_by("-history_date", "-history_id")
    # Read one more than shown so the oldest shown version has the one before to compare with.
    rows = list(rows[: limit + 1])
    return timelines(type(record), rows, fields, limit=limit, label=label).get(record.pk, [])
