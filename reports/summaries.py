"""The overviews' tables (reports.models: OverviewRefresh, StreetNow, CommunityNow, AgencyNow,
CommunityMonth, AgencyMonth), rebuilt whole from the records by `overview_refresh`.

Each figure is counted by its one definition — `RegistrationQuerySet.reported_in`,
`has_liaison_report_in`, `ConcernQuerySet.open`, `ActivityQuerySet.taking_place` and the
attendance totals of activities.figures — in grouped queries (`values().annotate()`), never by
looping over records. The rebuild is one transaction: a page reads the last complete refresh,
never half of one.
"""

import datetime as dt
import time

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from activities.figures import _attendance_totals
from activities.models import Activity, Concern, Participation
from communities.models import Agency, Community, Street
from members.models import Member, Registration, has_liaison_report_in

from .models import (
    AgencyMonth,
    AgencyNow,
    CommunityMonth,
    CommunityNow,
    OverviewRefresh,
    StreetNow,
)

BATCH = 5000
# Any number, the same in every process: two rebuilds at once would insert the same keys.
LOCK_KEY = 0x0F1E_0801


def _month(field: str):
    """The first day of the local calendar month of a datetime column."""
    return TruncMonth(field, tzinfo=timezone.get_current_timezone())


def _day(value):
    """TruncMonth's aware moment as the local date it starts."""
    return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()


def _community_months():
    activities = (
        Activity.objects.taking_place()
        .annotate(month=_month("starts_at"))
        .order_by()
        .values("community", "month")
        .annotate(n=Count("pk"))
    )
    present = (
        Participation.objects.present()
        .annotate(month=_month("activity__starts_at"))
        .order_by()
        .values("activity__community", "month")
        .annotate(n=Count("pk"), hours=Sum("hours"))
    )
    rows = {}
    for row in activities:
        key = (row["community"], _day(row["month"]))
        rows[key] = CommunityMonth(community_id=key[0], month=key[1], activities=row["n"])
    for row in present:
        key = (row["activity__community"], _day(row["month"]))
        month = rows.setdefault(key, CommunityMonth(community_id=key[0], month=key[1]))
        month.present, month.hours = row["n"], row["hours"] or 0
    return rows.values()


def _agency_months():
    # DESIGN.md's participations, absences, leaves and hours (activities.figures), per agency
    # and month of the activity's start.
    rows = (
        Participation.objects.to_review()
        .annotate(month=_month("activity__starts_at"))
        .order_by()
        .values("member__agency", "month")
        .annotate(**_attendance_totals())
    )
    return (
        AgencyMonth(
            agency_id=row["member__agency"],
            month=_day(row["month"]),
            present=row["present"],
            absent=row["absent"],
            leaves=row["leaves"],
            hours=row["hours"],
        )
        for row in rows
    )


def _counts(queryset, key, **totals) -> dict:
    return {row[key]: row for row in queryset.order_by().values(key).annotate(**totals)}


def _now_rows():
    reported = Registration.objects.reported_in()
    by_community = _counts(reported, "community", n=Count("member", distinct=True))
    by_street = _counts(reported, "community__street", n=Count("member", distinct=True))
    concerns = _counts(Concern.objects.open(), "community", n=Count("pk"))
    agencies = _counts(
        Member.objects.active(),
        "agency",
        active=Count("pk"),
        reported=Count("pk", filter=Q(has_liaison_report_in())),
    )
    streets = [
        StreetNow(street_id=pk, reported_in=by_street.get(pk, {}).get("n", 0))
        for pk in Street.objects.values_list("pk", flat=True)
    ]
    communities = [
        CommunityNow(
            community_id=pk,
            reported_in=by_community.get(pk, {}).get("n", 0),
            open_concerns=concerns.get(pk, {}).get("n", 0),
        )
        for pk in Community.objects.values_list("pk", flat=True)
    ]
    agency_rows = [
        AgencyNow(
            agency_id=pk,
            active_members=agencies.get(pk, {}).get("active", 0),
            reported_in=agencies.get(pk, {}).get("reported", 0),
        )
        for pk in Agency.objects.values_list("pk", flat=True)
    ]
    city = reported.aggregate(n=Count("member", distinct=True))["n"]
    return streets, communities, agency_rows, city


@transaction.atomic
def overview_refresh(*, now=None) -> OverviewRefresh:
    """Rebuilds every overview table from the records and notes the time; returns the refresh.
    Safe to run twice at once: on PostgreSQL the second waits for the first (an advisory lock),
    on SQLite writers take turns anyway."""
    began = time.monotonic()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
    now = now or timezone.now()
    streets, communities, agencies, city = _now_rows()
    for model in (StreetNow, CommunityNow, AgencyNow, CommunityMonth, AgencyMonth):
        model.objects.all().delete()
    StreetNow.objects.bulk_create(streets, batch_size=BATCH)
    CommunityNow.objects.bulk_create(communities, batch_size=BATCH)
    AgencyNow.objects.bulk_create(agencies, batch_size=BATCH)
    CommunityMonth.objects.bulk_create(_community_months(), batch_size=BATCH)
    AgencyMonth.objects.bulk_create(_agency_months(), batch_size=BATCH)
    # A week of refreshes is kept, for the admin to see how long they take.
    OverviewRefresh.objects.filter(made_at__lt=now - dt.timedelta(days=7)).delete()
    return OverviewRefresh.objects.create(
        made_at=now, seconds=round(time.monotonic() - began, 3), reported_in=city
    )
