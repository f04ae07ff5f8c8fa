"""The dashboard's figures (activities/figures.py, as reports/views.py asks for them), each
beside a hand-written SQL reference: equal values, and within 1.5× of the reference's time.

Each figure is computed for every demo account whose dashboard shows it, from that account's
scope, as the dashboard computes it. The references are PostgreSQL's SQL (the local day of an
activity is `AT TIME ZONE`); DESIGN.md's definitions are quoted where they decide the SQL.
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from activities import figures
from activities.models import Activity, Concern, Participation
from communities.dates import local_midnight
from communities.models import Agreement, Community
from communities.permissions import scope_of
from members.models import Member, Registration, member_of

from .measure import Line, ms
from .scopes import TimedOut, _in, timed, untimed_note

FIGURE_RATIO = 1.5


def _sql(sql, params, *, many=False):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if many else cursor.fetchone()


def _hours(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.1"))


# "participations = count of *present*; service hours = sum of hours of *present*; absences =
# *absent*; leaves = *leave*."
ATTENDANCE = (
    "SELECT COALESCE(SUM(CASE WHEN p.status = 'present' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN p.status = 'absent' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN p.status = 'leave' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN p.status = 'present' THEN p.hours END), 0)"
    " FROM activities_participation p"
)


def _attendance_tuple(a) -> tuple:
    return (a.present, a.absent, a.leaves, _hours(a.hours))


def _attendance_sql(where, params) -> tuple:
    row = _sql(ATTENDANCE + where, params)
    return (row[0], row[1], row[2], _hours(row[3]))


def agency_figures(user, now):
    scope = scope_of(user)
    agency_in, agency_ids = _in(scope.agency_ids)
    month_start, month_end = figures.month_bounds(timezone.localdate(now))
    since = now - dt.timedelta(days=settings.INACTIVE_AFTER_DAYS)
    members = Member.objects.visible_to(user).filter(agency__in=scope.agency_ids)
    yield (
        "agency attendance this month",
        # As the dashboard reads it, from the figures kept per agency and activity; the
        # reference counts the participations themselves.
        lambda: _attendance_tuple(
            figures.agency_attendance(scope.agency_ids, month_start, month_end)
        ),
        lambda: _attendance_sql(
            " JOIN members_member m ON m.id = p.member_id"
            " JOIN activities_activity t ON t.id = p.activity_id"
            f" WHERE m.agency_id IN {agency_in} AND t.starts_at >= %s AND t.starts_at < %s",
            [*agency_ids, month_start, month_end],
        ),
    )

    def report_in():
        figure = figures.report_in(members)
        return (figure.active_members, figure.reported_in)

    # "report-in rate = active members with an active liaison registration ÷ active members."
    yield (
        "report-in rate",
        report_in,
        lambda: tuple(
            _sql(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM"
                " members_registration r WHERE r.member_id = m.id AND r.kind = 'liaison'"
                " AND r.status = 'active') THEN 1 ELSE 0 END), 0)"
                f" FROM members_member m WHERE m.agency_id IN {agency_in}"
                " AND m.status = 'active'",
                agency_ids,
            )
        ),
    )
    # "inactive member = active member with no *present* in the last 30 days (setting)."
    yield (
        "inactive members",
        lambda: figures.inactive_members(members, now).count(),
        lambda: _sql(
            f"SELECT COUNT(*) FROM members_member m WHERE m.agency_id IN {agency_in}"
            " AND m.status = 'active' AND NOT EXISTS (SELECT 1 FROM activities_participation p"
            " JOIN activities_activity t ON t.id = p.activity_id WHERE p.member_id = m.id"
            " AND p.status = 'present' AND t.starts_at >= %s AND t.starts_at <= %s)",
            [*agency_ids, since, now],
        )[0],
    )


def member_figures(user, member):
    yield (
        "my attendance",
        lambda: _attendance_tuple(
            figures.attendance(Participation.objects.visible_to(user).filter(member=member))
        ),
        lambda: _attendance_sql(" WHERE p.member_id = %s", [member.pk]),
    )


def _month_figures_sql(where, params, today):
    start, end = figures.month_bounds(today)
    return [
        tuple(row)
        for row in _sql(
            "SELECT c.id, (SELECT COUNT(DISTINCT r.member_id) FROM members_registration r"
            " JOIN members_member m ON m.id = r.member_id WHERE r.community_id = c.id"
            " AND r.status = 'active' AND m.status = 'active'),"
            " (SELECT COUNT(*) FROM activities_activity t WHERE t.community_id = c.id"
            " AND t.status NOT IN ('draft', 'cancelled') AND t.starts_at >= %s"
            " AND t.starts_at < %s)"
            f" FROM communities_community c WHERE {where} ORDER BY c.id",
            [start, end, *params],
            many=True,
        )
    ]


def _month_figures(communities, today):
    return [
        tuple(row)
        for row in figures.with_month_figures(communities, today)
        .order_by("pk")
        .values_list("pk", "reported_in", "activities_this_month")
    ]


def street_figures(user, now):
    scope = scope_of(user)
    today = timezone.localdate(now)
    street_in, street_ids = _in(scope.street_ids)
    yield (
        "street: reported in, activities this month",
        lambda: _month_figures(
            Community.objects.visible_to(user).filter(street__in=scope.street_ids), today
        ),
        lambda: _month_figures_sql(f"c.street_id IN {street_in}", street_ids, today),
    )


def _duty_sql(community_in, ids, today):
    """Days met of each agreement in force today, this month and since it began: "duty
    fulfilment of an agreement = days with at least the quota of members present on duty
    activities ÷ days in the period"."""
    tz = settings.TIME_ZONE
    first_of_month = today.replace(day=1)

    def days_met(start):
        lower = "AND t.starts_at >= %s" if start else ""
        first = "GREATEST(g.starts_on, %s)" if start else "g.starts_on"
        params = [tz, local_midnight(today + dt.timedelta(days=1))]
        params += [local_midnight(start)] if start else []
        params += [start] if start else []
        params += [today]
        sql = (
            "(SELECT COUNT(*) FROM (SELECT (t.starts_at AT TIME ZONE %s)::date AS day,"
            " COUNT(DISTINCT p.member_id) AS present FROM activities_participation p"
            " JOIN activities_activity t ON t.id = p.activity_id"
            " JOIN members_member m ON m.id = p.member_id"
            " WHERE p.status = 'present' AND t.nature = 'duty' AND t.agreement_id = g.id"
            f" AND m.agency_id = g.agency_id AND t.starts_at < %s {lower} GROUP BY 1) d"
            f" WHERE d.day >= {first} AND d.day <= LEAST(g.ends_on, %s)"
            " AND d.present >= g.daily_quota)"
        )
        return sql, params

    month_sql, month_params = days_met(first_of_month)
    total_sql, total_params = days_met(None)
    return [
        tuple(row)
        for row in _sql(
            f"SELECT g.id, {month_sql}, {total_sql} FROM communities_agreement g"
            " WHERE g.status = 'active' AND g.starts_on <= %s AND g.ends_on >= %s"
            f" AND g.community_id IN {community_in} ORDER BY g.id",
            [*month_params, *total_params, today, today, *ids],
            many=True,
        )
    ]


def community_figures(user, now):
    scope = scope_of(user)
    today = timezone.localdate(now)
    community_in, community_ids = _in(scope.community_ids)
    ids = scope.community_ids
    activities = Activity.objects.visible_to(user).filter(community__in=ids)
    yield (
        "community: reported in, activities this month",
        lambda: _month_figures(Community.objects.visible_to(user).filter(pk__in=ids), today),
        lambda: _month_figures_sql(f"c.id IN {community_in}", community_ids, today),
    )

    def duty():
        agreements = figures.with_duty_fulfilment(
            Agreement.objects.visible_to(user).in_force(today).filter(community__in=ids),
            name="month",
            start=today.replace(day=1),
            today=today,
        )
        agreements = figures.with_duty_fulfilment(agreements, name="total", today=today)
        return [
            tuple(row)
            for row in agreements.order_by("pk").values_list(
                "pk", "month_days_met", "total_days_met"
            )
        ]

    yield ("duty fulfilment, days met", duty, lambda: _duty_sql(community_in, community_ids, today))
    # 待点名: finished at `now` (stored status for activities still to start, the clock's
    # otherwise; never drafts or cancelled ones) with someone still signed up.
    yield (
        "pending roll call",
        lambda: activities.pending_roll_call(now).count(),
        lambda: _sql(
            f"SELECT COUNT(*) FROM activities_activity t WHERE t.community_id IN {community_in}"
            " AND t.status NOT IN ('draft', 'cancelled')"
            " AND (t.ends_at <= %s OR (t.starts_at > %s AND t.status = 'finished'))"
            " AND EXISTS (SELECT 1 FROM activities_participation p WHERE p.activity_id = t.id"
            " AND p.status = 'signed_up')",
            [*community_ids, now, now],
        )[0],
    )
    year_start = timezone.make_aware(dt.datetime(today.year, 1, 1))
    year_end = timezone.make_aware(dt.datetime(today.year + 1, 1, 1))
    yield (
        "activities this year",
        lambda: (
            activities.taking_place()
            .filter(starts_at__gte=year_start, starts_at__lt=year_end)
            .count()
        ),
        lambda: _sql(
            f"SELECT COUNT(*) FROM activities_activity WHERE community_id IN {community_in}"
            " AND status NOT IN ('draft', 'cancelled') AND starts_at >= %s AND starts_at < %s",
            [*community_ids, year_start, year_end],
        )[0],
    )
    yield (
        "pending report-ins",
        lambda: (
            Registration.objects.visible_to(user)
            .filter(community__in=ids, status=Registration.Status.PENDING)
            .count()
        ),
        lambda: _sql(
            f"SELECT COUNT(*) FROM members_registration WHERE community_id IN {community_in}"
            " AND status = 'pending'",
            community_ids,
        )[0],
    )
    yield (
        "open concerns",
        lambda: Concern.objects.visible_to(user).filter(community__in=ids).open().count(),
        lambda: _sql(
            f"SELECT COUNT(*) FROM activities_concern WHERE community_id IN {community_in}"
            " AND state <> 'resolved'",
            community_ids,
        )[0],
    )
    yield (
        "reported in by agency",
        lambda: sorted(
            (row["member__agency"], row["members"])
            for row in Registration.objects.visible_to(user)
            .reported_in()
            .filter(community__in=ids)
            .order_by()
            .values("member__agency")
            .annotate(members=Count("member", distinct=True))
        ),
        lambda: sorted(
            tuple(row)
            for row in _sql(
                "SELECT m.agency_id, COUNT(DISTINCT r.member_id) FROM members_registration r"
                " JOIN members_member m ON m.id = r.member_id"
                f" WHERE r.community_id IN {community_in} AND r.status = 'active'"
                " AND m.status = 'active' GROUP BY m.agency_id",
                community_ids,
                many=True,
            )
        ),
    )


def _pick(counts: dict, keys) -> tuple:
    """The dashboard's one aggregate, read as the reference's tuple."""
    return tuple(counts[key] for key in keys)


def city_figures(user, now):
    today = timezone.localdate(now)
    yield (
        "city: agreements active, expiring, drafts",
        lambda: _pick(
            figures.agreement_counts(Agreement.objects.visible_to(user), today),
            ("active", "expiring", "drafts"),
        ),
        lambda: tuple(
            _sql(
                "SELECT COALESCE(SUM(CASE WHEN status = 'active' AND starts_on <= %s"
                " AND ends_on >= %s THEN 1 ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN status = 'active' AND starts_on <= %s"
                " AND ends_on >= %s AND ends_on <= %s THEN 1 ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN status = 'draft' THEN 1 ELSE 0 END), 0)"
                " FROM communities_agreement",
                [today, today, today, today, today + dt.timedelta(days=30)],
            )
        ),
    )
    yield (
        "city: active members",
        lambda: Member.objects.visible_to(user).active().count(),
        lambda: _sql("SELECT COUNT(*) FROM members_member WHERE status = 'active'", [])[0],
    )


def figures_of(user, now):
    """(name, dashboard's computation, reference) of every figure `user`'s dashboard shows."""
    scope = scope_of(user)
    if scope.city:
        yield from city_figures(user, now)
    if scope.street_ids:
        yield from street_figures(user, now)
    if scope.community_ids:
        yield from community_figures(user, now)
    if scope.agency_ids:
        yield from agency_figures(user, now)
    member = member_of(user)
    if member is not None:
        yield from member_figures(user, member)


def bench(users, *, judge_time: bool, timeout: float | None) -> list:
    now = timezone.now()
    lines = []
    for user in users:
        for figure, computed, reference in figures_of(user, now):
            name = f"{figure} ({user.username})"
            try:
                (ref_value, ref_time), (value, time_) = timed(reference, computed, timeout=timeout)
            except TimedOut:
                lines.append(Line("figure", name, f"> {timeout:g} s (cancelled)", "in time", False))
                continue
            if value != ref_value:
                lines.append(
                    Line("figure", name, f"{value!r}, reference {ref_value!r}", "equal", False)
                )
                continue
            # SQL against SQL, as for the scopes: the database time of every statement the
            # dashboard's computation sends beside the reference's; the wall time is shown.
            ratio = time_.database / ref_time.database if ref_time.database else float("inf")
            lines.append(
                Line(
                    "figure",
                    name,
                    f"{ms(time_.wall)} (SQL {ms(time_.database)}) vs reference SQL"
                    f" {ms(ref_time.database)} ({ratio:.1f}×)",
                    f"equal, SQL ≤ {FIGURE_RATIO:g}× reference",
                    ratio <= FIGURE_RATIO or not judge_time,
                    note=untimed_note(ratio <= FIGURE_RATIO, judge_time),
                )
            )
    return lines
