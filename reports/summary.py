"""The monthly service summary (`ServiceMonth`) the charts read at city size, where counting the
participations live takes seconds (issue 9, point 8: "refreshed by Celery and labelled with
their time").

`refresh` rebuilds it whole in one transaction — the old rows deleted, one grouped query over
the participations inserted — and records when (`SummaryRefresh`); beat runs it every
SERVICE_SUMMARY_MINUTES, `manage.py refresh_summary` on demand. The participations and hours
are DESIGN.md's, counted as `figures.service_by` counts them (the rows *present*, their hours
summed); a test holds the two equal. `groups_of` answers the charts with the rows
`service_by` would have given them."""

import datetime as dt
import time

from django.db import connection, transaction
from django.db.models import Count, DateField, DecimalField, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from activities.figures import ZERO_HOURS
from activities.models import Participation
from communities.permissions import ChartLens, chart_lenses, scope_of

from .models import ServiceMonth, SummaryRefresh

Status = Participation.Status

# The summary's columns, in the order the grouped query selects them.
KEYS = ("month", "agency_id", "community_id", "type_id", "nature")
FIGURES = ("present", "hours", "absent", "leave")


def _grouped():
    """The participations by month (local time), member's agency, activity's community, type
    and nature: those present (as service_by counts them) and their hours, the absent, those on
    leave. Signed-up records alone make no row."""
    present = Q(status=Status.PRESENT)
    month = TruncMonth(
        "activity__starts_at", tzinfo=timezone.get_current_timezone(), output_field=DateField()
    )
    return (
        Participation.objects.filter(status__in=[Status.PRESENT, Status.ABSENT, Status.LEAVE])
        .order_by()
        .values(
            summary_month=month,
            summary_agency=F("member__agency"),
            summary_community=F("activity__community"),
            summary_type=F("activity__type"),
            summary_nature=F("activity__nature"),
        )
        .annotate(
            summary_present=Count("pk", filter=present),
            summary_hours=Coalesce(
                Sum("hours", filter=present),
                ZERO_HOURS,
                output_field=DecimalField(max_digits=12, decimal_places=1),
            ),
            summary_absent=Count("pk", filter=Q(status=Status.ABSENT)),
            summary_leave=Count("pk", filter=Q(status=Status.LEAVE)),
        )
    )


def _all_agencies():
    """The summary's rows by agency added up over the agencies: a row with no agency for each
    month, community, type and nature."""
    return (
        ServiceMonth.objects.filter(agency__isnull=False)
        .order_by()
        .values(
            summary_month=F("month"),
            summary_agency=Value(None, output_field=IntegerField()),
            summary_community=F("community"),
            summary_type=F("type"),
            summary_nature=F("nature"),
        )
        .annotate(
            summary_present=Sum("present"),
            summary_hours=Sum("hours"),
            summary_absent=Sum("absent"),
            summary_leave=Sum("leave"),
        )
    )


def _insert(grouped) -> int:
    """Inserts the rows of a grouped query selecting KEYS and FIGURES (as summary_...)."""
    if connection.vendor == "postgresql":
        # Inserted by the database from the grouped query: nothing goes through Python.
        sql, params = grouped.query.get_compiler(connection=connection).as_sql()
        columns = ", ".join(connection.ops.quote_name(c) for c in KEYS + FIGURES)
        table = connection.ops.quote_name(ServiceMonth._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)
            return cursor.rowcount
    made = ServiceMonth.objects.bulk_create(
        (
            ServiceMonth(
                **{name: group[f"summary_{name.removesuffix('_id')}"] for name in KEYS},
                **{name: group[f"summary_{name}"] for name in FIGURES},
            )
            for group in grouped.iterator()
        ),
        batch_size=1000,
    )
    return len(made)


def refresh() -> SummaryRefresh:
    """Rebuilds the summary from the participations, in one transaction: a chart reads either
    the old summary or the new one, never half of each."""
    started = time.monotonic()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One rebuild at a time (beat's and a command's would insert every row twice);
            # readers go on reading the old rows meanwhile. SQLite writes one at a time anyway.
            table = connection.ops.quote_name(ServiceMonth._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        ServiceMonth.objects.all().delete()
        rows = _insert(_grouped())
        rows += _insert(_all_agencies())
        if connection.vendor == "postgresql":
            # Fresh statistics for the planner: the charts' queries are planned on the new rows.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(ServiceMonth._meta.db_table)}")
        SummaryRefresh.objects.all().delete()
        done = SummaryRefresh.objects.create(
            refreshed_at=timezone.now(), seconds=round(time.monotonic() - started, 2), rows=rows
        )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # The old rows' space made reusable at once: without it, the charts' index scans wade
        # through the dead rows of the rebuilds since autovacuum last came by.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {connection.ops.quote_name(ServiceMonth._meta.db_table)}")
    return done


def last_refresh() -> SummaryRefresh | None:
    return SummaryRefresh.objects.order_by("-refreshed_at").first()


def groups_of(user, lens: str, *, year: int, months: tuple[int, int]) -> list[dict]:
    """The summary's figures of `lens` for the months [first, last] of `year`, for
    `charts.fold`: rows by nature and month, by nature and type, by nature and community, named
    as `service_by`'s are (each without the other two). Never more than the viewer's scope
    holds: an unknown lens, or one not the viewer's, shows nothing."""
    if lens not in chart_lenses(user):
        return []
    scope = scope_of(user)
    first, last = months
    rows = ServiceMonth.objects.filter(
        month__gte=dt.date(year, first, 1), month__lte=dt.date(year, last, 1), present__gt=0
    )
    if lens == ChartLens.AGENCY:
        rows = rows.filter(agency__in=scope.agency_ids)
    else:
        rows = rows.filter(agency__isnull=True)
    if lens == ChartLens.PLACES:
        rows = rows.filter(community__in=scope.place_community_ids)
    # What the charts show, by one of month, type and community at a time (with the nature):
    # three small answers rather than every combination of the three.
    groups = []
    for fields in (
        ("month",),
        ("type", "type__name", "type__order"),
        ("community", "community__name"),
    ):
        groups += [
            {RENAMED.get(name, name): value for name, value in row.items()}
            for row in rows.order_by()
            .values("nature", *fields)
            .annotate(participations=Sum("present"), hours=Sum("hours"))
        ]
    return groups


# The summary's column names as service_by's rows name them.
RENAMED = {
    "nature": "activity__nature",
    "type": "activity__type",
    "type__name": "activity__type__name",
    "type__order": "activity__type__order",
    "community": "activity__community",
    "community__name": "activity__community__name",
}
