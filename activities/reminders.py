"""The reminder rules of DESIGN.md. Each rule finds what is due at `now` and queues it through
`notify_each`; the outbox's unique key makes running a rule again harmless. `sweep(now)` runs
them all: beat calls it every minute, `manage.py send_reminders` by hand.

A rule selects in SQL only the people it still has to tell (`unsent`: nothing in the outbox
under their key for the slot, or only the record that no channel reached them while none does
yet), within its window, so that a sweep with nothing to do costs a query or two per rule
however many people there are; what is due is read and written a chunk at a time, a few
queries per thousand (tests/activities/test_sweep_queries.py).
"""

import datetime as dt
from collections import Counter, defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, CharField, Count, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone, translation

from communities.dates import local_midnight
from communities.models import Agency, StaffRole
from members.models import Member
from notifications.models import Notification
from notifications.notify import Outgoing, in_chunks, notify_each, unsent
from notifications.recipients import login_key_sql

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
    activities = Activity.objects.taking_place().filter(
        starts_at__gt=now, starts_at__lte=now + dt.timedelta(hours=max(stages))
    )
    # The stage reached: the nearest one whose moment has come.
    stage = Case(
        *(
            When(activity__starts_at__lte=now + dt.timedelta(hours=h), then=Value(f"{h}h"))
            for h in stages
        ),
        output_field=CharField(),
    )
    signed_up = (
        Participation.objects.filter(activity__in=activities).still_coming().annotate(stage=stage)
    )
    due = unsent(
        signed_up,
        kind=Notification.Kind.UPCOMING,
        about=Activity,
        object_id="activity",
        recipient_key=Member.recipient_key_sql("member__"),
        slot=F("stage"),
        user="member__user",
        robot_url="activity__community__robot_webhook_url",
    )
    rows = signed_up.select_related("activity__community", "member__user__notification_preference")
    return notify_each(
        Notification.Kind.UPCOMING,
        (
            Outgoing(
                p.member,
                p.activity,
                slot=p.stage,
                robot=p.activity.community,
                deadline=p.activity.starts_at,
            )
            for p in in_chunks(due, rows)
        ),
        due_at=now,
        enqueue=enqueue,
    )


def roll_call_due(now: dt.datetime, *, enqueue: bool = False) -> int:
    """To the organizer and the community's staff, once the roll call is due
    (ActivityQuerySet.roll_call_due: REMINDER_ROLL_CALL_AFTER_HOURS after the end, while anyone
    is still signed up). Activities that ended long ago are left alone."""
    kind, slot = Notification.Kind.ROLL_CALL_DUE, "roll-call"
    activities = Activity.objects.roll_call_due(now).filter(
        ends_at__gt=now - dt.timedelta(days=settings.REMINDER_ROLL_CALL_WITHIN_DAYS)
    )
    # Active logins only; the organizer may be from elsewhere.
    organizers = unsent(
        activities.filter(organizer__is_active=True),
        kind=kind,
        about=Activity,
        object_id="pk",
        recipient_key=login_key_sql("organizer"),
        slot=slot,
        user="organizer",
        robot_url="community__robot_webhook_url",
    ).values_list("organizer", "pk")
    staff = unsent(
        StaffRole.objects.filter(
            kind=StaffRole.Kind.COMMUNITY_STAFF,
            user__is_active=True,
            community__activities__in=activities,
        ).annotate(activity=F("community__activities")),
        kind=kind,
        about=Activity,
        object_id="activity",
        recipient_key=login_key_sql("user"),
        slot=slot,
        user="user",
        robot_url="community__robot_webhook_url",
    ).values_list("user", "activity")
    # Who still has to be told of which activity: a few per activity, a few hundred activities.
    pairs = sorted({*organizers, *staff}, key=lambda pair: (pair[1], pair[0]))
    if not pairs:
        return 0
    about = activities.filter(pk__in={activity for _user, activity in pairs}).annotate(
        pending=Count(
            "participations", filter=Q(participations__status=Participation.Status.SIGNED_UP)
        )
    )
    about = {a.pk: a for a in about.select_related("community")}
    users = get_user_model().objects.select_related("notification_preference")
    users = users.in_bulk({user for user, _activity in pairs})
    return notify_each(
        kind,
        (
            Outgoing(
                users[user],
                about[activity],
                slot=slot,
                robot=about[activity].community,
                context={"pending": about[activity].pending},
            )
            for user, activity in pairs
        ),
        due_at=now,
        enqueue=enqueue,
    )


def inactive_members(now: dt.datetime):
    """All inactive members at `now` (activities.figures.inactive_members, DESIGN.md)."""
    return figures.inactive_members(Member.objects.all(), now)


def inactivity(now: dt.datetime, *, enqueue: bool = False) -> int:
    """Weekly, in the week's slot, once per member per ISO week, to inactive members."""
    if not in_weekly_slot(now):
        return 0
    slot = week_slot(timezone.localdate(now))
    inactive = inactive_members(now)
    due = unsent(
        inactive,
        kind=Notification.Kind.INACTIVITY,
        about=Member,
        object_id="pk",
        recipient_key=Member.recipient_key_sql(),
        slot=slot,
        user="user",
        robot_url="agency__robot_webhook_url",
    )
    # Read by id, not re-checked for inactivity: a chunk costs no anti-join of its own.
    rows = Member.objects.select_related("agency", "user__notification_preference")
    return notify_each(
        Notification.Kind.INACTIVITY,
        (
            Outgoing(member, member, slot=slot, robot=member.agency)
            for member in in_chunks(due, rows)
        ),
        due_at=now,
        enqueue=enqueue,
    )


# How many inactive members a digest names; the rest are counted.
DIGEST_NAMES = 10


def agency_digest(now: dt.datetime, *, enqueue: bool = False) -> int:
    """Weekly, in the week's slot, to each agency party office: last week's attendance of its
    members, who is inactive, and how many records it has left unreviewed too long."""
    if not in_weekly_slot(now):
        return 0
    kind = Notification.Kind.AGENCY_DIGEST
    today = timezone.localdate(now)
    slot = week_slot(today)
    this_monday = today - dt.timedelta(days=today.weekday())
    start = local_midnight(this_monday - dt.timedelta(days=7))
    end = start + dt.timedelta(days=7)
    offices = unsent(
        StaffRole.objects.filter(kind=StaffRole.Kind.AGENCY_OFFICE, user__is_active=True),
        kind=kind,
        about=Agency,
        object_id="agency",
        recipient_key=login_key_sql("user"),
        slot=slot,
        user="user",
        robot_url="agency__robot_webhook_url",
    )
    # An office per agency or two: a few thousand at city size, at most.
    offices = list(
        offices.select_related("agency", "user__notification_preference").order_by("agency", "user")
    )
    if not offices:
        return 0
    agencies = {role.agency_id for role in offices}
    week = figures.attendance_by(
        Participation.objects.filter(
            member__agency__in=agencies,
            activity__starts_at__gte=start,
            activity__starts_at__lt=end,
        ),
        "member__agency",
    )
    inactive = inactive_members(now).filter(agency__in=agencies)
    inactive_counts = dict(
        inactive.order_by().values("agency").annotate(n=Count("pk")).values_list("agency", "n")
    )
    named = defaultdict(list)
    first_names = inactive.annotate(
        place=Window(RowNumber(), partition_by=F("agency"), order_by=F("name").asc())
    ).filter(place__lte=DIGEST_NAMES)
    for agency, name in first_names.order_by("agency", "name").values_list("agency", "name"):
        named[agency].append(name)
    # DESIGN.md, "review overdue": the records each office has left unreviewed too long.
    overdue = dict(
        Participation.objects.review_overdue(now)
        .filter(member__agency__in=agencies)
        .order_by()
        .values("member__agency")
        .annotate(n=Count("pk"))
        .values_list("member__agency", "n")
    )
    context = {}
    for agency in agencies:
        attendance = week.get(agency, figures.NO_ATTENDANCE)
        context[agency] = {
            "start": start.date(),
            "end": (end - dt.timedelta(days=1)).date(),
            "present": attendance.present,
            "absent": attendance.absent,
            "leave": attendance.leaves,
            "hours": attendance.hours,
            "rate": figures.format_rate(attendance.attendance_rate),
            "inactive_names": named[agency],
            "inactive_count": inactive_counts.get(agency, 0),
            "review_overdue": overdue.get(agency, 0),
        }
    return notify_each(
        kind,
        (
            Outgoing(
                role.user,
                role.agency,
                slot=slot,
                robot=role.agency,
                context=context[role.agency_id],
            )
            for role in offices
        ),
        due_at=now,
        enqueue=enqueue,
    )


def duty_roster(now: dt.datetime, *, enqueue: bool = False) -> int:
    """The day before, from REMINDER_DUTY_ROSTER_HOUR, to the member on tomorrow's duty, under an
    agreement still in force that day."""
    local = timezone.localtime(now)
    if local.hour < settings.REMINDER_DUTY_ROSTER_HOUR:
        return 0
    tomorrow = local.date() + dt.timedelta(days=1)
    # "Tomorrow" must not reach them on the day itself: quiet hours never hold it past midnight.
    deadline = local_midnight(tomorrow)
    slot = tomorrow.isoformat()
    assignments = DutyAssignment.objects.on_duty(tomorrow)
    due = unsent(
        assignments,
        kind=Notification.Kind.DUTY_ROSTER,
        about=DutyAssignment,
        object_id="pk",
        recipient_key=Member.recipient_key_sql("member__"),
        slot=slot,
        user="member__user",
        robot_url="agreement__community__robot_webhook_url",
    )
    rows = DutyAssignment.objects.select_related(
        "member__user__notification_preference", "agreement__community"
    )
    return notify_each(
        Notification.Kind.DUTY_ROSTER,
        (
            Outgoing(
                assignment.member,
                assignment,
                slot=slot,
                robot=assignment.agreement.community,
                deadline=deadline,
            )
            for assignment in in_chunks(due, rows)
        ),
        due_at=now,
        enqueue=enqueue,
    )


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
