"""QR check-in (签到 / 签退): the organiser shows a QR code of a signed link; a member who opens it
on their phone checks in, and may check out at the end.

The link carries the activity's id, signed (django.core.signing, with its own salt): nobody can
make one for another activity. It works from CHECK_IN_OPENS_BEFORE before the start until the
end, read from the activity at the time it is opened (a rescheduled activity moves its window).
No location is collected.

A member on the activity is marked present with the time; a member not on it but reported in to
the community is added as a walk-in; anyone else is told so and nothing is recorded. Checking in
twice, or out twice, changes nothing. A record the agency office confirmed is locked.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from communities.history import ChangeReason
from members.models import Member, Registration

from ..models import Activity, Participation

Status = Participation.Status
Source = Participation.Source

CHECK_IN_SALT = "activities.check-in"
CHECK_IN_OPENS_BEFORE = dt.timedelta(minutes=30)


class BadCode(Exception):
    """A check-in link that is not one Xiachen made (tampered, cut short, made up)."""


class OtherActivityCode(Exception):
    """A genuine check-in link of another activity than the one its address names."""


def check_in_token(activity: Activity) -> str:
    """The signed part of the activity's check-in link: the same every time, so a printed code
    and one on a phone are the same code."""
    return signing.Signer(salt=CHECK_IN_SALT).sign_object(activity.pk)


def check_in_activity_id(token: str, *, pk: int) -> int:
    """The id the token was made for, checked against the address's `pk`. Raises BadCode for
    anything Xiachen did not sign, OtherActivityCode for another activity's link."""
    try:
        activity_id = signing.Signer(salt=CHECK_IN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError) as exc:
        raise BadCode from exc
    if isinstance(activity_id, bool) or not isinstance(activity_id, int):
        raise BadCode
    if activity_id != pk:
        raise OtherActivityCode
    return activity_id


def _time(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def check_in_opens_at(activity: Activity) -> dt.datetime:
    return activity.starts_at - CHECK_IN_OPENS_BEFORE


def check_in_closed_reason(activity: Activity, now=None) -> str | None:
    """Why the activity's check-in link does not work at `now`, or None when it does: from
    CHECK_IN_OPENS_BEFORE before the start until the end, for an activity taking place."""
    now = now or timezone.now()
    if activity.status == Activity.Status.CANCELLED:
        return _("This activity was cancelled; there is no check-in.")
    if activity.status == Activity.Status.DRAFT:
        return _("This activity is not published yet; there is no check-in.")
    if now < check_in_opens_at(activity):
        return _(
            "Check-in has not opened yet: it opens at %(time)s, 30 minutes before the start."
        ) % {"time": _time(check_in_opens_at(activity))}
    if now > activity.ends_at:
        return _("This check-in code has expired: the activity ended at %(time)s.") % {
            "time": _time(activity.ends_at)
        }
    return None


def hours_between(start: dt.datetime, end: dt.datetime) -> Decimal:
    """Hours from check-in to check-out, to a tenth as the roll call counts an activity's
    length (Activity.duration_hours), within the record's range [0, MAX_HOURS]."""
    seconds = max(0.0, (end - start).total_seconds())
    return min(Participation.MAX_HOURS, Decimal(seconds / 3600).quantize(Decimal("0.1")))


@dataclass(frozen=True)
class CheckIn:
    """What opening the link did: the member's record, and whether it changed (`added` for a
    walk-in, False throughout for a second opening)."""

    participation: Participation
    changed: bool
    added: bool = False


def _locked_activity(activity: Activity) -> Activity:
    """The activity re-read under a row lock: its status and times as they are now, and
    check-ins (and sign-ups) of it one after another."""
    return (
        Activity.objects.select_for_update(of=("self",))
        .select_related("community")
        .get(pk=activity.pk)
    )


def _record(activity: Activity, member: Member) -> Participation | None:
    return (
        Participation.objects.select_for_update(of=("self",))
        .filter(activity=activity, member=member)
        .first()
    )


def _save(p: Participation, *, by, now, reason, fields=None) -> None:
    p._change_reason = reason
    p._history_date = now
    p._history_user = by
    if fields is None:
        p.save()
    else:
        p.save(update_fields=fields)


def _refuse(message, code) -> ValidationError:
    return ValidationError(message, code=code)


@transaction.atomic
def participation_check_in(*, activity: Activity, member: Member, now=None) -> CheckIn:
    """Checks `member` in to `activity` at `now`: present, with the time and, until they check
    out, the activity's length as hours. A walk-in reported in to the community is added.
    Raises ValidationError (nothing recorded) when the link does not work now, the member may
    not check in here, or the agency office has confirmed their record."""
    now = now or timezone.now()
    activity = _locked_activity(activity)
    closed = check_in_closed_reason(activity, now)
    if closed:
        raise _refuse(closed, "closed")
    p = _record(activity, member)
    by = member.user
    if p is None:
        return _add_walk_in(activity, member, by=by, now=now)
    if p.is_locked:
        raise _refuse(Participation.LOCKED, "locked")
    if p.status == Status.PRESENT:
        # Checked in already, or marked present at the roll call: either stands as it is.
        return CheckIn(p, changed=False)
    if p.status == Status.WAITLISTED and not _reported_in(activity, member):
        # On the waitlist (候补) they held no seat: they come in as a walk-in does (the roll
        # call's rule, walk_in_candidates).
        raise _not_reported_in(activity)
    if p.status == Status.LEAVE or p.asks_for_leave:
        # They came after all: the leave stays in the history only.
        p.leave_reason, p.leave_decision = "", ""
        p.leave_decided_by, p.leave_decided_at = None, None
    p.status = Status.PRESENT
    p.hours = activity.duration_hours
    p.checked_in_at, p.checked_out_at = now, None
    p.source, p.recorded_by, p.recorded_at = Source.QR, by, now
    _save(p, by=by, now=now, reason=ChangeReason.QR_CHECK_IN)
    return CheckIn(p, changed=True)


def _reported_in(activity: Activity, member: Member) -> bool:
    """Whether `member` may come in as a walk-in: active, and reported in to the activity's
    community (RegistrationQuerySet.reported_in)."""
    return (
        member.status == Member.Status.ACTIVE
        and Registration.objects.reported_in()
        .filter(member=member, community=activity.community_id)
        .exists()
    )


def _not_reported_in(activity: Activity) -> ValidationError:
    return _refuse(
        _(
            "You are not on this activity and not reported in to %(community)s, so you "
            "cannot check in here. Report in to the community first, or ask the organiser."
        )
        % {"community": activity.community.name},
        "not_reported_in",
    )


def _add_walk_in(activity: Activity, member: Member, *, by, now) -> CheckIn:
    if not _reported_in(activity, member):
        raise _not_reported_in(activity)
    p = Participation(
        activity=activity,
        member=member,
        status=Status.PRESENT,
        hours=activity.duration_hours,
        checked_in_at=now,
        source=Source.QR,
        recorded_by=by,
        recorded_at=now,
    )
    try:
        with transaction.atomic():
            _save(p, by=by, now=now, reason=ChangeReason.QR_CHECK_IN)
    except IntegrityError:
        # Added meanwhile (a second tap on another tab): that record stands.
        return CheckIn(_record(activity, member), changed=False)
    return CheckIn(p, changed=True, added=True)


@transaction.atomic
def participation_check_out(*, activity: Activity, member: Member, now=None) -> CheckIn:
    """Checks `member` out of `activity` at `now`: the hours become the time from check-in to
    now (hours_between). Only a record checked in by QR and not yet checked out; a second
    check-out changes nothing. Raises ValidationError (nothing recorded) otherwise."""
    now = now or timezone.now()
    activity = _locked_activity(activity)
    closed = check_in_closed_reason(activity, now)
    if closed:
        raise _refuse(closed, "closed")
    p = _record(activity, member)
    if p is None or p.status != Status.PRESENT or p.checked_in_at is None:
        raise _refuse(_("Check in first; then you can check out."), "not_checked_in")
    if p.is_locked:
        raise _refuse(Participation.LOCKED, "locked")
    if p.checked_out_at is not None:
        return CheckIn(p, changed=False)
    p.checked_out_at = now
    p.hours = hours_between(p.checked_in_at, now)
    p.recorded_at = now
    _save(
        p,
        by=member.user,
        now=now,
        reason=ChangeReason.QR_CHECK_OUT,
        fields=["checked_out_at", "hours", "recorded_at"],
    )
    return CheckIn(p, changed=True)
