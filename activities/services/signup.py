"""A member's own sign-up (报名): taking a seat on an activity of a community they are reported in
to, or a place on its waitlist (候补) when it is full; cancelling until the start; a freed seat
offered to the first in line, who is told and may give it back.

Every change locks the activity's row first (SELECT … FOR UPDATE), so that sign-ups and
cancellations of one activity happen one after another: the seats counted are the seats there
are, and forty people tapping at once for ten seats leave ten signed up and thirty waiting.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_update_with_history

from communities.history import ChangeReason
from members.models import Member, Registration
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, Participation

Status = Participation.Status


@dataclass(frozen=True)
class SignUpResult:
    """What a sign-up or a cancellation did: the member's row (None once cancelled), their
    place on the waitlist (None with a seat), and who was given a freed seat."""

    participation: Participation | None
    position: int | None = None
    promoted: tuple = ()
    notified: Notified = Notified()

    @property
    def waitlisted(self) -> bool:
        return self.position is not None


def sign_up_closed_reason(activity: Activity, now: dt.datetime | None = None) -> str | None:
    """Why members cannot sign up to (or cancel on) `activity` now, or None when they can:
    until it starts, unless it is a draft or cancelled."""
    now = now or timezone.now()
    if activity.status == Activity.Status.CANCELLED:
        return _("This activity is cancelled.")
    if activity.status == Activity.Status.DRAFT:
        return _("This activity is not open for sign-up yet.")
    if activity.starts_at <= now:
        return _("This activity has already started; sign-up and cancelling are closed.")
    return None


def is_reported_in(member: Member, activity: Activity) -> bool:
    """An active member with an approved report-in (已报到) to the activity's community: who
    may sign up to its activities."""
    return (
        member.status == Member.Status.ACTIVE
        and Registration.objects.reported_in()
        .filter(member=member, community=activity.community_id)
        .exists()
    )


def sign_up_clashes(*, member: Member, activity: Activity) -> list[Participation]:
    """The member's other sign-ups (seats or waitlist places) whose time overlaps `activity`'s:
    a warning to confirm, not a refusal (a member reported in to two communities is easily
    booked twice)."""
    return list(
        Participation.objects.filter(
            member=member,
            status__in=Participation.SIGNED_UP_OR_WAITING,
            activity__starts_at__lt=activity.ends_at,
            activity__ends_at__gt=activity.starts_at,
        )
        .exclude(activity=activity)
        .exclude(activity__status=Activity.Status.CANCELLED)
        .select_related("activity__community")
        .order_by("activity__starts_at", "pk")
    )


def _locked(activity: Activity) -> Activity:
    """The activity's row, locked until the transaction ends: the seats are counted under it."""
    return (
        Activity.objects.select_for_update(of=("self",))
        .select_related("community")
        .get(pk=activity.pk)
    )


def _seats_taken(activity: Activity) -> int:
    return Participation.objects.filter(
        activity=activity, status__in=Participation.TAKING_A_PLACE
    ).count()


def _position(participation: Participation) -> int:
    return (
        Participation.objects.filter(pk=participation.pk)
        .with_waitlist_position()
        .values_list("waitlist_position", flat=True)
        .get()
    )


@transaction.atomic
def participation_sign_up(
    *, activity: Activity, member: Member, now: dt.datetime | None = None
) -> SignUpResult:
    """Signs `member` up to `activity`: a seat while there is one, else the end of the waitlist.
    Raises ValidationError, changing nothing, when sign-up is closed, when the member is not
    reported in to the community, or when they are on the activity already."""
    now = now or timezone.now()
    activity = _locked(activity)
    closed = sign_up_closed_reason(activity, now)
    if closed:
        raise ValidationError(closed)
    if not is_reported_in(member, activity):
        raise ValidationError(
            _("You can sign up once your report-in to %(community)s is approved.")
            % {"community": activity.community.name}
        )
    existing = Participation.objects.filter(activity=activity, member=member).first()
    if existing is not None:
        if existing.status == Status.WAITLISTED:
            raise ValidationError(_("You are already on the waitlist of this activity."))
        if existing.status == Status.SIGNED_UP:
            raise ValidationError(_("You have already signed up to this activity."))
        raise ValidationError(
            _("You are already on this activity (%(status)s).")
            % {"status": existing.get_status_display()}
        )
    # A seat left free with people waiting (the capacity was raised) is theirs first.
    promoted, notified = _fill(activity, now=now)
    full = activity.capacity is not None and _seats_taken(activity) >= activity.capacity
    participation = Participation(
        activity=activity,
        member=member,
        status=Status.WAITLISTED if full else Status.SIGNED_UP,
        waitlisted_at=now if full else None,
        source=Participation.Source.SIGN_UP,
        recorded_by=member.user,
        recorded_at=now,
    )
    participation._change_reason = ChangeReason.WAITLISTED if full else ChangeReason.SIGNED_UP
    try:
        with transaction.atomic():
            participation.save()
    except IntegrityError as exc:
        # The same member's second tap, let in after the first had written its row.
        raise ValidationError(_("You have already signed up to this activity.")) from exc
    return SignUpResult(
        participation=participation,
        position=_position(participation) if full else None,
        promoted=promoted,
        notified=notified,
    )


@transaction.atomic
def participation_cancel(
    *, activity: Activity, member: Member, now: dt.datetime | None = None
) -> SignUpResult:
    """Cancels the member's sign-up, or takes them off the waitlist, until the start. A seat
    freed goes to the first in line, who is told (their way of giving it back is this same
    cancellation, which passes it on). The row goes; its history keeps who signed up and
    cancelled when."""
    now = now or timezone.now()
    activity = _locked(activity)
    closed = sign_up_closed_reason(activity, now)
    if closed:
        raise ValidationError(closed)
    participation = Participation.objects.filter(
        activity=activity, member=member, status__in=Participation.SIGNED_UP_OR_WAITING
    ).first()
    if participation is None:
        raise ValidationError(_("You are not signed up to this activity."))
    participation._change_reason = ChangeReason.SIGN_UP_CANCELLED
    participation.delete()
    promoted, notified = _fill(activity, now=now)
    return SignUpResult(participation=None, promoted=promoted, notified=notified)


@transaction.atomic
def waitlist_fill(*, activity: Activity, now: dt.datetime | None = None) -> SignUpResult:
    """Gives the activity's free seats to the first in line, each told once: after a
    cancellation, an approved leave, or a raised capacity. Nothing once the activity has
    started (the seat is no use then) or when it will not take place."""
    now = now or timezone.now()
    promoted, notified = _fill(_locked(activity), now=now)
    return SignUpResult(participation=None, promoted=promoted, notified=notified)


def _fill(activity: Activity, *, now: dt.datetime) -> tuple[tuple, Notified]:
    """The seats free on the locked `activity` given to the first in line."""
    if sign_up_closed_reason(activity, now):
        return (), Notified()
    waitlist = Participation.objects.filter(activity=activity).waitlist()
    if activity.capacity is not None:
        free = activity.capacity - _seats_taken(activity)
        if free <= 0:
            return (), Notified()
        waitlist = waitlist[:free]
    promoted = list(waitlist.select_related("member__user"))
    if not promoted:
        return (), Notified()
    for participation in promoted:
        participation.status = Status.SIGNED_UP
        participation.recorded_at = now
    bulk_update_with_history(
        promoted,
        Participation,
        ["status", "recorded_at"],
        default_change_reason=ChangeReason.SEAT_GIVEN,
        default_date=now,
    )
    notified = notify(
        kind=Notification.Kind.SEAT_FREED,
        recipients=[p.member for p in promoted],
        obj=activity,
        # Once per seat given: a member given a seat again later is told again.
        slot=now.strftime("%Y%m%d%H%M%S%f"),
        robot=activity.community,
        deadline=activity.starts_at,
    )
    return tuple(promoted), notified
