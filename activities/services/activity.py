"""Writes to activities: planning, changing and cancelling them; changes and cancellations are
told to those signed up."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy

from communities.models import Agreement, Community, Grid
from members.models import Member
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, ActivityType, Participation
from .signup import waitlist_fill

# What a manager may set an activity to; ongoing and finished come from the clock, and
# cancelling has its own page (it needs a reason and tells people).
PLANNABLE = (Activity.Status.DRAFT, Activity.Status.RECRUITING)

# A change to any of these is news to everyone signed up.
NEWS_FIELDS = ("starts_at", "ends_at", "place")


def is_news(activity: Activity, changed) -> bool:
    """Whether changing the fields `changed` of `activity` is news to those signed up: its
    time or place moved while it is neither cancelled nor over (correcting the record of
    something past is news to no one). The activity pages and the admin both ask this."""
    return (
        bool(set(NEWS_FIELDS) & set(changed))
        and activity.status != Activity.Status.CANCELLED
        and activity.ends_at > timezone.now()
    )


def activity_editable_error(activity: Activity) -> str | None:
    """Why the activity can no longer be edited (or cancelled), or None when it can."""
    status = activity.current_status
    if status == Activity.Status.CANCELLED:
        return gettext_lazy("This activity is cancelled and can no longer be changed.")
    if status == Activity.Status.FINISHED:
        return gettext_lazy(
            "This activity has finished and can no longer be changed. Copy it to plan the next one."
        )
    return None


def _day(value: dt.date) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def agreement_error(agreement: Agreement, day: dt.date) -> str | None:
    """Why an activity on `day` cannot count toward `agreement`, or None when it can."""
    if agreement.status != Agreement.Status.ACTIVE:
        return gettext_lazy(
            "Agreement %(number)s is not in force (%(status)s). Choose one in force, or none."
        ) % {"number": agreement.number, "status": agreement.get_status_display()}
    if not agreement.starts_on <= day <= agreement.ends_on:
        return gettext_lazy(
            "Agreement %(number)s runs from %(start)s to %(end)s; an activity on %(day)s "
            "cannot count toward it."
        ) % {
            "number": agreement.number,
            "start": _day(agreement.starts_on),
            "end": _day(agreement.ends_on),
            "day": _day(day),
        }
    return None


def _check_rules(activity: Activity, *, before: dict | None) -> None:
    """The rules of planning beyond the model's own: raises one ValidationError naming every
    field that breaks one. `before` holds the stored values when it is an edit."""
    errors = {}
    if activity.status not in PLANNABLE:
        errors["status"] = gettext_lazy("Choose draft or recruiting.")
    agreement = activity.agreement
    # An agreement kept as it was on an unmoved activity is not chosen again: it may have
    # ended since, and that must not block correcting a typo in the title.
    chosen = before is None or (
        before["agreement_id"] != activity.agreement_id or before["starts_at"] != activity.starts_at
    )
    if agreement is not None and chosen:
        problem = agreement_error(agreement, timezone.localdate(activity.starts_at))
        if problem:
            errors["agreement"] = problem
    if before is not None and activity.capacity is not None:
        # Those who take a place: the capacity cannot drop below them.
        taken = Participation.objects.filter(
            activity=activity, status__in=Participation.TAKING_A_PLACE
        ).count()
        if activity.capacity < taken:
            errors["capacity"] = gettext_lazy(
                "%(count)s people are already signed up or present; the capacity cannot be "
                "lower than that."
            ) % {"count": taken}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def activity_create(
    *,
    community: Community,
    organizer: AbstractBaseUser | None,
    type: ActivityType,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    description: str = "",
    place: str = "",
    grid: Grid | None = None,
    capacity: int | None = None,
    nature: str = "",
    agreement: Agreement | None = None,
    status: str = Activity.Status.RECRUITING,
) -> Activity:
    """Plans a new activity of `community`; its nature defaults to the type's usual one."""
    activity = Activity(
        community=community,
        organizer=organizer,
        type=type,
        title=title,
        description=description,
        place=place,
        grid=grid,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        nature=nature or type.default_nature,
        agreement=agreement,
        status=status,
    )
    activity.full_clean()
    _check_rules(activity, before=None)
    activity.save()
    return activity


@transaction.atomic
def activity_update(
    *,
    activity: Activity,
    type: ActivityType,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    description: str = "",
    place: str = "",
    grid: Grid | None = None,
    capacity: int | None = None,
    nature: str = "",
    agreement: Agreement | None = None,
    status: str = Activity.Status.RECRUITING,
) -> Activity:
    """Changes a planned activity. When its time or place changed, those signed up (not those
    on leave) are told; the returned activity's `notified` says what was queued and who no
    channel reaches.

    The stored row is read again (and locked), so a form that has already written the new
    values onto `activity` does not hide what changed."""
    stored = (
        Activity.objects.select_for_update(of=("self",))
        .select_related("community")
        .get(pk=activity.pk)
    )
    reason = activity_editable_error(stored)
    if reason:
        raise ValidationError(reason)
    before = {name: getattr(stored, name) for name in (*NEWS_FIELDS, "agreement_id", "capacity")}
    values = {
        "type": type,
        "title": title,
        "description": description,
        "place": place,
        "grid": grid,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "capacity": capacity,
        "nature": nature or type.default_nature,
        "agreement": agreement,
        "status": status,
    }
    for name, value in values.items():
        setattr(stored, name, value)
    stored.full_clean()
    _check_rules(stored, before=before)
    stored.save()
    stored.notified = Notified()
    changed = [name for name in NEWS_FIELDS if before[name] != getattr(stored, name)]
    if is_news(stored, changed):
        stored.notified = activity_notify_changed(activity=stored)
    if stored.capacity != before["capacity"]:
        # More seats (or none to count): those waiting get them, first in line first.
        waitlist_fill(activity=stored)
    return stored


@transaction.atomic
def activity_notify_changed(*, activity: Activity) -> Notified:
    """Tells those signed up that the time or place changed; once per saved version."""
    return notify(
        kind=Notification.Kind.ACTIVITY_CHANGED,
        recipients=activity.signed_up_members(),
        obj=activity,
        slot=activity.updated_at.strftime("%Y%m%d%H%M%S%f"),
        robot=activity.community,
        deadline=activity.starts_at,
    )


@transaction.atomic
def activity_cancel(*, activity: Activity, reason: str, now: dt.datetime | None = None) -> Activity:
    """Cancels an activity and tells those signed up and those on its waitlist, once (`notified`
    on the returned activity says who no channel reaches). A finished one stays as it was: its
    attendance is a record.
    `now` is when it is cancelled (default: the clock); the demo passes the moment of its
    story."""
    reason = (reason or "").strip()
    if activity.status == Activity.Status.CANCELLED:
        raise ValidationError(gettext_lazy("This activity is already cancelled."))
    if activity.live_status_at(now or timezone.now()) == Activity.Status.FINISHED:
        raise ValidationError(gettext_lazy("A finished activity cannot be cancelled."))
    if not reason:
        raise ValidationError(gettext_lazy("Give the reason for cancelling."))
    activity.status = Activity.Status.CANCELLED
    activity.cancel_reason = reason
    activity.save(update_fields=["status", "cancel_reason", "updated_at"])
    # Those waiting for a seat (候补) are told too: they kept the time free in case.
    waiting = [
        p.member
        for p in Participation.objects.filter(
            activity=activity, member__status=Member.Status.ACTIVE
        )
        .waitlist()
        .select_related("member__user")
    ]
    activity.notified = notify(
        kind=Notification.Kind.ACTIVITY_CANCELLED,
        recipients=activity.signed_up_members() + waiting,
        obj=activity,
        context={"reason": reason},
        slot="cancelled",
        robot=activity.community,
    )
    return activity
