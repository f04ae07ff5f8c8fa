"""The reminder rules of DESIGN.md. Each rule finds what is due at `now` and queues it through
`notify`; the outbox's unique key makes running a rule again harmless. `sweep(now)` runs them
all: beat calls it every minute, `manage.py send_reminders` by hand.
"""

import datetime as dt
from collections import Counter, defaultdict

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone, translation

from communities.dates import local_midnight
from communities.models import Agreement, StaffRole
from members.models import Member
from notifications.models import Notification
from notifications.notify import notify

from . import figures
from .models import Activity, DutyAssignment, Participation


def week_slot(day: dt.date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def in_weekly_slot(now: dt.datetime) -> bool:
    """Whether `now` is in the week's slot for weekly messages: the configured weekday, from the
    configured hour to the end of that day (REMINDER_WEEKLY_WEEKDAY, REMINDER_WEEKLY_HOUR). Not
    later in the week: a member found inactive on a Tuesday, or a robot set up then, waits for
    the next slot instead of setting off a burst of weekly posts on a working day."""
    local = timezone.localtime(now)
    weekday, hour = settings.REMINDER_WEEKLY_WEEKDAY, settings.REMINDER_WEEKLY_HOUR
    return local.weekday() == weekday and local.hour >= hour


def upcoming(now: dt.datetime, *, enqueue: bool = False) -> int:
    """To members signed up (not on leave, still with their agency), 24 h and 2 h before the
    start. Only the latest stage reached is sent: who signs up an hour before gets the 2 h one."""
    stages = sorted(settings.REMINDER_UPCOMING_HOURS)
    # Whatever else is stored (an activity saved as "ongoing" before it starts), it takes place.
    activities = (
        Activity.objects.taking_place()
        .filter(
            starts_at__gt=now,
            starts_at__lte=now + dt.timedelta(hours=max(stages)),
        )
        .select_related("community")
    )
    queued = 0
    for activity in activities.iterator(chunk_size=200):
        stage = next(h for h in stages if activity.starts_at - dt.timedelta(hours=h) <= now)
        members = activity.signed_up_members()
        if not members:
            continue
        queued += notify(
            kind=Notification.Kind.UPCOMING,
            recipients=members,
            obj=activity,
            slot=f"{stage}h",
            robot=activity.community,
            deadline=activity.starts_at,
            due_at=now,
            enqueue=enqueue,
        ).queued
    return queued


def roll_call_due(now: dt.datetime, *, enqueue: bool = False) -> int:
    """To the organizer and the community's staff, once the roll call is due
    (ActivityQuerySet.roll_call_due: REMINDER_ROLL_CALL_AFTER_HOURS after the end, while anyone
    is still signed up). Activities that ended long ago are left alone."""
    activities = list(
        Activity.objects.roll_call_due(now)
        .filter(ends_at__gt=now - dt.timedelta(days=settings.REMINDER_ROLL_CALL_WITHIN_DAYS))
        .annotate(
            pending=Count(
                "participations",
                filter=Q(participations__status=Participation.Status.SIGNED_UP),
            )
        )
        .select_related("community", "organizer")
    )
    staff = defaultdict(list)
    for role in StaffRole.objects.filter(
        kind=StaffRole.Kind.COMMUNITY_STAFF,
        community__in={a.community_id for a in activities},
        user__is_active=True,
    ).select_related("user"):
        staff[role.community_id].append(role.user)
    queued = 0
    for activity in activities:
        users = {u.pk: u for u in staff[activity.community_id]}
        if activity.organizer is not None and activity.organizer.is_active:
            users[activity.organizer.pk] = activity.organizer
        queued += notify(
            kind=Notification.Kind.ROLL_CALL_DUE,
            recipients=users.values(),
            obj=activity,
            slot="roll-call",
            context={"pending": activity.pending},
            robot=activity.community,
            due_at=now,
            enqueue=enqueue,
        ).queued
    return queued


def inactive_members(now: dt.datetime):
    """All inactive members at `now` (activities.figures.inactive_members, DESIGN.md)."""
    return figures.inactive_members(Member.objects.all(), now)


def inactivity(now: dt.datetime, *, enqueue: bool = False) -> int:
    """Weekly, in the week's slot, once per member per ISO week, to inactive members."""
    if not in_weekly_slot(now):
        return 0
    slot = week_slot(timezone.localdate(now))
    already = Notification.objects.filter(
        kind=Notification.Kind.INACTIVITY,
        content_type=ContentType.objects.get_for_model(Member),
        object_id=OuterRef("pk"),
        slot=slot,
    )
    members = inactive_members(now).exclude(Exists(already)).select_related("user", "agency")
    queued = 0
    for member in members.iterator(chunk_size=500):
        queued += notify(
            kind=Notification.Kind.INACTIVITY,
            recipients=[member],
            obj=member,
            slot=slot,
            robot=member.agency,
            due_at=now,
            enqueue=enqueue,
        ).queued
    return queued


def agency_digest(now: dt.datetime, *, enqueue: bool = False) -> int:
    """Weekly, in the week's slot, to each agency party office: last week's attendance of its
    members and who is inactive."""
    if not in_weekly_slot(now):
        return 0
    today = timezone.localdate(now)
    slot = week_slot(today)
    this_monday = today - dt.timedelta(days=today.weekday())
    start = local_midnight(this_monday - dt.timedelta(days=7))
    end = start + dt.timedelta(days=7)
    offices = defaultdict(list)
    for role in StaffRole.objects.filter(
        kind=StaffRole.Kind.AGENCY_OFFICE, user__is_active=True
    ).select_related("user", "agency"):
        offices[role.agency].append(role.user)
    queued = 0
    for agency, users in offices.items():
        already = Notification.objects.filter(
            kind=Notification.Kind.AGENCY_DIGEST, object_id=agency.pk, slot=slot
        ).values("recipient_id")
        users = [u for u in users if u.pk not in {row["recipient_id"] for row in already}]
        if not users:
            continue
        week = figures.attendance(
            Participation.objects.filter(
                member__agency=agency, activity__starts_at__gte=start, activity__starts_at__lt=end
            )
        )
        inactive = inactive_members(now).filter(agency=agency).order_by("name")
        names = list(inactive.values_list("name", flat=True)[:10])
        inactive_count = inactive.count()
        context = {
            "start": start.date(),
            "end": (end - dt.timedelta(days=1)).date(),
            "present": week.present,
            "absent": week.absent,
            "leave": week.leaves,
            "hours": week.hours,
            "rate": figures.format_rate(week.attendance_rate),
            "inactive_names": names,
            "inactive_count": inactive_count,
        }
        queued += notify(
            kind=Notification.Kind.AGENCY_DIGEST,
            recipients=users,
            obj=agency,
            slot=slot,
            context=context,
            robot=agency,
            due_at=now,
            enqueue=enqueue,
        ).queued
    return queued


def duty_roster(now: dt.datetime, *, enqueue: bool = False) -> int:
    """The day before, from REMINDER_DUTY_ROSTER_HOUR, to the member on tomorrow's duty, under an
    agreement still in force that day."""
    local = timezone.localtime(now)
    if local.hour < settings.REMINDER_DUTY_ROSTER_HOUR:
        return 0
    tomorrow = local.date() + dt.timedelta(days=1)
    # "Tomorrow" must not reach them on the day itself: quiet hours never hold it past midnight.
    deadline = local_midnight(tomorrow)
    assignments = DutyAssignment.objects.filter(
        date=tomorrow,
        member__status=Member.Status.ACTIVE,
        agreement__in=Agreement.objects.in_force(tomorrow),
    ).select_related("member__user", "agreement__community")
    queued = 0
    for assignment in assignments:
        community = assignment.agreement.community
        queued += notify(
            kind=Notification.Kind.DUTY_ROSTER,
            recipients=[assignment.member],
            obj=assignment,
            slot=tomorrow.isoformat(),
            robot=community,
            deadline=deadline,
            due_at=now,
            enqueue=enqueue,
        ).queued
    return queued


RULES = {
    Notification.Kind.UPCOMING: upcoming,
    Notification.Kind.ROLL_CALL_DUE: roll_call_due,
    Notification.Kind.INACTIVITY: inactivity,
    Notification.Kind.AGENCY_DIGEST: agency_digest,
    Notification.Kind.DUTY_ROSTER: duty_roster,
}


def sweep(now: dt.datetime | None = None, *, enqueue: bool = False) -> Counter:
    """Runs every rule once; returns how many messages each queued. Messages are written in
    the site's language, whoever's request (if any) is active, and are due from `now` (moved out
    of the quiet hours), so that a sweep for a given moment queues the same whenever it runs."""
    now = now or timezone.now()
    queued = Counter()
    with translation.override(settings.LANGUAGE_CODE):
        for kind, rule in RULES.items():
            queued[kind] = rule(now, enqueue=enqueue)
    return queued
