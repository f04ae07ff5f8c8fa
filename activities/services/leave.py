"""Leave (请假): a member who holds a seat asks for leave before the start, with a reason; the
organizer approves or rejects the request; the member is told. DESIGN.md: leave is excused,
its reason required, its decision and decider recorded, and the attendance rate leaves it out.

A request awaiting a decision stays a sign-up (status SIGNED_UP, decision PENDING): it keeps the
seat and counts as leave in no figure. Approved, the row becomes LEAVE and its seat goes to the
first in line (`waitlist_fill`); rejected, the member stays signed up and is expected to come.
The roll call answers requests the same way (services.rollcall) once the activity has started.

Every change locks the activity's row, then the participation's, as sign-up does: a decision
and a withdrawal, or a decision and a cancellation, happen one after the other.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.history import ChangeReason
from members.models import Member
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, Participation
from .review import records_managed_by
from .signup import SignUpResult, waitlist_fill

Status = Participation.Status
Decision = Participation.LeaveDecision
REASON_MAX = Participation._meta.get_field("leave_reason").max_length
NOTE_MAX = Participation._meta.get_field("leave_decision_note").max_length


@dataclass(frozen=True)
class LeaveDecided:
    """What a decision did: the row, who was told, and who got the seat it freed."""

    participation: Participation
    notified: Notified = Notified()
    filled: SignUpResult | None = None


LEAVE_REQUEST_ORDER = ("activity__starts_at", "activity_id", "pk")


def pending_leave_requests(user):
    """The pending requests of the activities `user` organizes (their communities'; the city:
    all), of activities still taking place, soonest first."""
    # Not of a cancelled activity, asked as NOT IN the cancelled ones (read at once from
    # activity_cancelled): the city's requests on cancelled activities outnumber the others
    # three to one, and checking each request's activity was most of the list's 50 ms.
    cancelled = Activity.objects.filter(status=Activity.Status.CANCELLED).values("pk")
    return (
        records_managed_by(user)
        .leave_requests()
        .exclude(activity__in=cancelled)
        .select_related("activity__community", "member__agency")
        .order_by(*LEAVE_REQUEST_ORDER)
    )


def leave_closed_reason(activity: Activity, now: dt.datetime | None = None) -> str | None:
    """Why members cannot ask for leave from (or withdraw a request on) `activity` now, or
    None: until it starts, unless it is a draft or cancelled."""
    now = now or timezone.now()
    if activity.status == Activity.Status.CANCELLED:
        return _("This activity is cancelled.")
    if activity.status == Activity.Status.DRAFT:
        return _("This activity is not open yet.")
    if activity.starts_at <= now:
        return _(
            "This activity has already started: leave can no longer be asked for here. "
            "Tell the organizer."
        )
    return None


def _locked_activity(activity: Activity) -> Activity:
    return (
        Activity.objects.select_for_update(of=("self",))
        .select_related("community")
        .get(pk=activity.pk)
    )


def _mine(activity: Activity, member: Member) -> Participation | None:
    return (
        Participation.objects.select_for_update(of=("self",))
        .filter(activity=activity, member=member)
        .first()
    )


def _save(participation: Participation, fields: list[str], *, by, reason: str, now) -> None:
    participation._change_reason = reason
    participation._history_user = by
    participation._history_date = now
    participation.save(update_fields=fields)


@transaction.atomic
def participation_leave_request(
    *, activity: Activity, member: Member, reason: str, now: dt.datetime | None = None
) -> Participation:
    """The member asks for leave from an activity they hold a seat on, before it starts, with a
    reason (required, at most 200 characters). The request waits for the organizer; the seat
    stays theirs meanwhile. Raises ValidationError, changing nothing, otherwise."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for leave.")})
    if len(reason) > REASON_MAX:
        raise ValidationError(
            {"reason": _("Keep the reason within %(max)s characters.") % {"max": REASON_MAX}}
        )
    activity = _locked_activity(activity)
    closed = leave_closed_reason(activity, now)
    if closed:
        raise ValidationError(closed)
    participation = _mine(activity, member)
    if participation is None or participation.status != Status.SIGNED_UP:
        raise ValidationError(_("You can ask for leave only from an activity you signed up to."))
    if participation.asks_for_leave:
        raise ValidationError(_("You have already asked for leave; the organizer will decide."))
    if participation.leave_not_approved:
        raise ValidationError(
            _("Your leave request was not approved. Please come, or talk to the organizer.")
        )
    participation.leave_reason = reason
    participation.leave_decision = Decision.PENDING
    participation.leave_decision_note = ""
    participation.leave_decided_by = None
    participation.leave_decided_at = None
    _save(
        participation,
        [
            "leave_reason",
            "leave_decision",
            "leave_decision_note",
            "leave_decided_by",
            "leave_decided_at",
        ],
        by=member.user,
        reason=ChangeReason.LEAVE_REQUESTED,
        now=now,
    )
    return participation


@transaction.atomic
def participation_leave_withdraw(
    *, activity: Activity, member: Member, now: dt.datetime | None = None
) -> Participation:
    """The member withdraws their request while it waits for a decision, before the start: they
    are simply signed up again. The history keeps the request."""
    now = now or timezone.now()
    activity = _locked_activity(activity)
    closed = leave_closed_reason(activity, now)
    if closed:
        raise ValidationError(closed)
    participation = _mine(activity, member)
    if participation is None or not participation.asks_for_leave:
        raise ValidationError(_("You have no leave request awaiting a decision here."))
    participation.leave_reason = ""
    participation.leave_decision = ""
    _save(
        participation,
        ["leave_reason", "leave_decision"],
        by=member.user,
        reason=ChangeReason.LEAVE_WITHDRAWN,
        now=now,
    )
    return participation


@transaction.atomic
def participation_leave_decide(
    *,
    participation: Participation,
    by,
    decision: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> LeaveDecided:
    """The organizer approves or rejects a pending request (`decision`: APPROVED or REJECTED;
    `note`, optional, says why not). The decision, its decider and time are kept; the member is
    told; an approved leave frees the seat for the first in line. The caller checks that `by`
    may manage the activity's community. Raises ValidationError, changing nothing, for a
    request that is no longer pending or an activity that will not take place."""
    now = now or timezone.now()
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValidationError({"decision": _("Approve or reject the leave request.")})
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError(
            {"note": _("Keep the note within %(max)s characters.") % {"max": NOTE_MAX}}
        )
    activity = _locked_activity(participation.activity)
    if activity.status == Activity.Status.CANCELLED:
        raise ValidationError(_("This activity is cancelled."))
    row = (
        Participation.objects.select_for_update(of=("self",))
        .select_related("member__user")
        .filter(pk=participation.pk, activity=activity)
        .first()
    )
    if row is None or not row.asks_for_leave:
        raise ValidationError(
            _("This leave request is no longer waiting for a decision (withdrawn or decided).")
        )
    if row.is_locked:
        raise ValidationError(Participation.LOCKED)
    approved = decision == Decision.APPROVED
    row.leave_decision = decision
    row.leave_decision_note = "" if approved else note
    row.leave_decided_by = by
    row.leave_decided_at = now
    fields = ["leave_decision", "leave_decision_note", "leave_decided_by", "leave_decided_at"]
    if approved:
        # On leave (请假): a record of its own, as the roll call would write it.
        row.status = Status.LEAVE
        row.hours = None
        row.recorded_by = by
        row.recorded_at = now
        fields += ["status", "hours", "recorded_by", "recorded_at"]
    _save(
        row,
        fields,
        by=by,
        reason=ChangeReason.LEAVE_APPROVED if approved else ChangeReason.LEAVE_REJECTED,
        now=now,
    )
    row.activity = activity  # the message names the activity
    notified = notify(
        kind=Notification.Kind.LEAVE_DECIDED,
        recipients=[row.member],
        obj=row,
        slot=decision,
        robot=activity.community,
    )
    filled = waitlist_fill(activity=activity, now=now) if approved else None
    return LeaveDecided(participation=row, notified=notified, filled=filled)
