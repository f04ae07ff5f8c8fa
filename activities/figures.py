"""The figures of DESIGN.md ("use exactly these definitions everywhere"), computed in the database.

Each function takes an already scoped QuerySet (start from `visible_to(user)`) and runs one
query, whatever the number of rows behind it. Rates are `Decimal` fractions, or `None` for
0 ÷ 0, which templates show as "—" (see the `percent` filter in `xiachen.templatetags`).
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.translation import get_language, ngettext

from communities.dates import local_midnight
from communities.models import Agreement
from members.models import Member, Registration, has_liaison_report_in

from .models import Activity, AgencyActivity, Participation

ZERO_HOURS = Decimal("0.0")


def rate(numerator: int, denominator: int) -> Decimal | None:
    """numerator ÷ denominator to four places; None when the denominator is 0 ("—")."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )


NO_FIGURE = "—"


def format_number(value) -> str:
    """A count or a number of hours as people write them: 2, 1.5 — never "2.0"; None as "—".
    Pages (the `figure` and `hours` filters), forms and messages all show numbers this way."""
    if value is None or value == "":
        return NO_FIGURE
    return _number_text(str(value), get_language())


# Each number written once per language: floatformat costs about 20 µs, and a roll call or a
# board writes the same few hours (2, 1.5) for each of its 40 rows on every request.
@lru_cache(maxsize=4096)
def _number_text(text: str, language: str | None) -> str:
    try:
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return NO_FIGURE
    return floatformat(number, -1)


def format_hours(value) -> str:
    """Hours with their unit as people write them: "2 小时", "1.5 小时" (never "2.0 h")."""
    number = format_number(value)
    if number == NO_FIGURE:
        return number
    return ngettext("%(hours)s hour", "%(hours)s hours", 1 if number == "1" else 2) % {
        "hours": number
    }


def format_rate(value) -> str:
    """A rate as the pages and messages show it: "66.7%"; None (0 ÷ 0) as "—"."""
    if value is None or value == "":
        return NO_FIGURE
    try:
        number = Decimal(value) * 100
    except (InvalidOperation, TypeError, ValueError):
        return NO_FIGURE
    return f"{format_number(number)}%"


def month_bounds(today: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[first day of this month 00:00, first day of next month 00:00) in local time."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return local_midnight(first), local_midnight(following)


def week_bounds(today: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[Monday 00:00, next Monday 00:00) of this week in local time."""
    today = today or timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    return local_midnight(monday), local_midnight(monday + dt.timedelta(days=7))


@dataclass(frozen=True)
class Attendance:
    present: int
    absent: int
    leaves: int
    hours: Decimal

    @property
    def participations(self) -> int:
        return self.present

    @property
    def attendance_rate(self) -> Decimal | None:
        return rate(self.present, self.present + self.absent)


def _hours_sum(path: str, condition: Q):
    return Coalesce(
        Sum(f"{path}hours", filter=condition),
        ZERO_HOURS,
        output_field=DecimalField(max_digits=10, decimal_places=1),
    )


def attendance_columns(
    path: str = "", *, by_nature: bool = False, where: Q | None = None, activity: str = ""
) -> dict:
    """DESIGN.md's attendance figures as aggregate expressions over the participations at
    `path` ("" on a participation QuerySet; the name of a relation or FilteredRelation to them,
    with its "__", on another model's), each counting only the rows `where` holds for (a
    period). With `by_nature`, also the hours of present on duty
    activities (`duty_hours`, 下沉任务) and on voluntary service (`volunteer_hours`, 志愿服务):
    "assigned duty and voluntary service are separate ledgers", by the activity's nature (at
    `activity`, the path to the rows' activity: a FilteredRelation of it, by default theirs)."""
    status = Participation.Status
    where = where or Q()
    present = Q(**{f"{path}status": status.PRESENT}) & where
    columns = {
        "present": Count(f"{path}pk", filter=present),
        "absent": Count(f"{path}pk", filter=Q(**{f"{path}status": status.ABSENT}) & where),
        "leaves": Count(f"{path}pk", filter=Q(**{f"{path}status": status.LEAVE}) & where),
    }
    if by_nature:
        nature = f"{activity or path + 'activity'}__nature"
        columns["duty_hours"] = _hours_sum(path, present & Q(**{nature: Activity.Nature.DUTY}))
        columns["volunteer_hours"] = _hours_sum(
            path, present & Q(**{nature: Activity.Nature.VOLUNTEER})
        )
    # Last: once named, "hours" means this sum to the aggregates after it, not the column.
    columns["hours"] = _hours_sum(path, present)
    return columns


def _attendance_totals() -> dict:
    return attendance_columns()


def _attendance_of(totals: dict) -> Attendance:
    return Attendance(
        present=totals["present"],
        absent=totals["absent"],
        leaves=totals["leaves"],
        hours=Decimal(totals["hours"]).quantize(Decimal("0.1")),
    )


def attendance(participations) -> Attendance:
    """DESIGN.md: "participations = count of *present*; service hours = sum of hours of
    *present*; absences = *absent*; leaves = *leave*. attendance rate = present ÷ (present +
    absent); leave is excluded; "—" when 0 ÷ 0."

    Signed-up rows (not yet recorded) count nowhere."""
    return _attendance_of(participations.aggregate(**_attendance_totals()))


def attendance_by(participations, field: str) -> dict:
    """`attendance` for each value of `field` ("member__agency": per agency), in one query.
    A value without participations is missing: `attendance_by(...).get(key, NO_ATTENDANCE)`."""
    rows = participations.order_by().values(field).annotate(**_attendance_totals())
    return {row[field]: _attendance_of(row) for row in rows}


NO_ATTENDANCE = Attendance(present=0, absent=0, leaves=0, hours=ZERO_HOURS)


def _agency_activities(agency_ids, start: dt.datetime, end: dt.datetime):
    return AgencyActivity.objects.filter(
        agency__in=agency_ids, starts_at__gte=start, starts_at__lt=end
    ).order_by()


def agency_attendance(agency_ids, start: dt.datetime, end: dt.datetime) -> Attendance:
    """`attendance` of the participations of the members of `agency_ids` in the activities
    starting in [start, end), from the figures the database keeps per agency and activity
    (AgencyActivity), in one query: an office's dashboard sums its month's 1,400 pairs, where
    counting sanxia's month of records joined 16,000 participations to its 8,000 members
    (8–10 ms at city size)."""
    return _attendance_of(
        _agency_activities(agency_ids, start, end).aggregate(
            present=Coalesce(Sum("present"), 0),
            absent=Coalesce(Sum("absent"), 0),
            leaves=Coalesce(Sum("leaves"), 0),
            hours=Coalesce(Sum("hours"), ZERO_HOURS),
        )
    )


def agency_attendance_by_nature(agency_ids, start: dt.datetime, end: dt.datetime) -> dict:
    """`attendance_by(participations, "activity__nature")` of the participations of the members
    of `agency_ids` in the activities starting in [start, end), from the figures the database
    keeps per agency and activity (AgencyActivity: the same definitions, counted by its
    triggers as each record is written), in one query: an agency's 154,000 records are not
    counted again on every request."""
    rows = (
        _agency_activities(agency_ids, start, end)
        .values("nature")
        .annotate(
            present=Sum("present"), absent=Sum("absent"), leaves=Sum("leaves"), hours=Sum("hours")
        )
    )
    return {row["nature"]: _attendance_of(row) for row in rows}


def agency_records_count(agency_ids) -> int:
    """How many records (present, absent or on leave) the members of `agency_ids` have: the
    count of `Participation.objects.to_review()` of those members, from the figures the database
    keeps per agency and activity."""
    totals = AgencyActivity.objects.filter(agency__in=agency_ids).aggregate(
        present=Sum("present"), absent=Sum("absent"), leaves=Sum("leaves")
    )
    return sum(value or 0 for value in totals.values())


@dataclass(frozen=True)
class ReportIn:
    active_members: int
    reported_in: int

    @property
    def rate(self) -> Decimal | None:
        return rate(self.reported_in, self.active_members)


def report_in(members) -> ReportIn:
    """DESIGN.md: "report-in rate of an agency = active members with an active liaison
    registration ÷ active members."

    Pass the agency's members (`Member.objects.visible_to(user).filter(agency=...)`); members
    who left are not counted on either side."""
    # has_liaison_report_in, not reported_in(): the member probed is one of the active members
    # counted here already, and looking again costs a second probe for each of an agency's
    # thousands of members.
    totals = members.filter(status=Member.Status.ACTIVE).aggregate(
        active=Count("pk"), reported=Count("pk", filter=Q(has_liaison_report_in()))
    )
    return ReportIn(active_members=totals["active"], reported_in=totals["reported"])


def inactive_members(members, now: dt.datetime | None = None):
    """DESIGN.md: "inactive member = active member with no *present* in the last 30 days
    (setting)."

    The period is `settings.INACTIVE_AFTER_DAYS` days back from now, by the activity's start.
    Returns a QuerySet, so callers can count it or list a few."""
    return members.filter(is_inactive(now))


def is_inactive(now: dt.datetime | None = None, member: str = "") -> Q:
    """Whether the member (the row, or the one at `member`, e.g. "member" on a participation)
    is inactive at `now`, by `inactive_members`' definition: a condition to filter on or to
    annotate (the attendance report marks them)."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.INACTIVE_AFTER_DAYS)
    recent_presence = Participation.objects.filter(
        member=OuterRef(member or "pk"),
        status=Participation.Status.PRESENT,
        activity__starts_at__gte=since,
        activity__starts_at__lte=now,
    )
    return Q(
        ~Exists(recent_presence),
        **{f"{member}__status" if member else "status": Member.Status.ACTIVE},
    )


def agreement_counts(agreements, today: dt.date | None = None) -> dict[str, int]:
    """Agreements by effective status (an active agreement past its end date is expired):
    `active`; `expiring`, the active ones ending within 30 days; `drafts` waiting to be
    signed."""
    today = today or timezone.localdate()
    active = Q(effective_status=Agreement.Status.ACTIVE)
    return agreements.with_effective_status(today).aggregate(
        active=Count("pk", filter=active),
        expiring=Count("pk", filter=active & Q(ends_on__lte=today + dt.timedelta(days=30))),
        drafts=Count("pk", filter=Q(status=Agreement.Status.DRAFT)),
    )


def _count(subquery, column):
    """A correlated COUNT as a column; it keeps two counts of one row from multiplying."""
    return Coalesce(
        Subquery(
            subquery.order_by().values(column).annotate(n=Count("*")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def with_month_figures(communities, today: dt.date | None = None):
    """Annotates each community with `reported_in`, the members reported in to it (报到,
    either kind; RegistrationQuerySet.reported_in), and `activities_this_month`, its activities
    starting this month that take place (neither drafts nor cancelled)."""
    start, end = month_bounds(today)
    reported = Registration.objects.reported_in().filter(community=OuterRef("pk"))
    reported_in = Coalesce(
        Subquery(
            reported.order_by()
            .values("community")
            .annotate(n=Count("member", distinct=True))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )
    activities = Activity.objects.taking_place().filter(
        community=OuterRef("pk"), starts_at__gte=start, starts_at__lt=end
    )
    return communities.annotate(
        reported_in=reported_in, activities_this_month=_count(activities, "community")
    )


class _DaysReaching(Expression):
    """How many rows of a subquery of per-day counts (a `present` column) reach a threshold
    taken from the outer row. Comparing in an outer WHERE, not in the subquery's HAVING: SQLite
    cannot group a subquery by a column of the outer query, which HAVING would need."""

    output_field = IntegerField()

    def __init__(self, per_day, threshold):
        super().__init__()
        self.per_day, self.threshold = per_day, threshold

    def get_source_expressions(self):
        return [self.per_day, self.threshold]

    def set_source_expressions(self, exprs):
        self.per_day, self.threshold = exprs

    def as_sql(self, compiler, connection):
        per_day_sql, per_day_params = compiler.compile(self.per_day)
        threshold_sql, threshold_params = compiler.compile(self.threshold)
        sql = (
            f"(SELECT COUNT(*) FROM {per_day_sql} AS per_day "
            f"WHERE per_day.present >= {threshold_sql})"
        )
        return sql, (*per_day_params, *threshold_params)


@dataclass(frozen=True)
class DutyFulfilment:
    days_met: int
    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        """Days in the period, both ends included; 0 when it has not begun."""
        return max(0, (self.last - self.first).days + 1)

    @property
    def rate(self) -> Decimal | None:
        return rate(self.days_met, self.days)


def with_duty_fulfilment(
    agreements,
    *,
    name: str = "duty",
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
):
    """DESIGN.md: "duty fulfilment of an agreement = days with at least the quota of members
    present on duty activities ÷ days in the period."

    Annotates each agreement with `<name>_first` and `<name>_last`, its period (from the later
    of its start and `start` to the earliest of its end, `end` and today), and `<name>_days_met`:
    the local days of that period on which at least `daily_quota` different members of the
    agency were present on duty-nature activities that count toward this agreement (an
    activity's 计入协议; one that counts toward none, or toward another agreement, counts
    nowhere here). Read the result with `annotated_duty_fulfilment(agreement, name)`. One query
    for any number of agreements."""
    today = today or timezone.localdate()
    last_day = min(today, end) if end else today
    first = (
        Greatest(F("starts_on"), Value(start, output_field=DateField()))
        if start
        else F("starts_on")
    )
    last = Least(F("ends_on"), Value(last_day, output_field=DateField()))
    local_day = TruncDate("activity__starts_at", tzinfo=timezone.get_current_timezone())
    # Bounds on the column itself as well as on the local day, so that the database need not
    # work out the day of every duty there has ever been.
    bounds = {"activity__starts_at__lt": local_midnight(last_day + dt.timedelta(days=1))}
    if start:
        bounds["activity__starts_at__gte"] = local_midnight(start)
    days_met = (
        Participation.objects.filter(
            status=Participation.Status.PRESENT,
            activity__nature=Activity.Nature.DUTY,
            activity__agreement=OuterRef("pk"),
            member__agency=OuterRef("agency"),
            **bounds,
        )
        .annotate(day=local_day)
        .filter(day__gte=OuterRef(f"{name}_first"), day__lte=OuterRef(f"{name}_last"))
        .order_by()
        .values("day")
        .annotate(present=Count("member", distinct=True))
        .values("present")
    )
    return agreements.annotate(**{f"{name}_first": first, f"{name}_last": last}).annotate(
        **{f"{name}_days_met": _DaysReaching(Subquery(days_met), F("daily_quota"))}
    )


def annotated_duty_fulfilment(agreement, name: str = "duty") -> DutyFulfilment:
    """The figure `with_duty_fulfilment(..., name=name)` annotated on `agreement`, a model
    instance or a values() row."""
    if isinstance(agreement, Mapping):
        return DutyFulfilment(
            days_met=agreement[f"{name}_days_met"],
            first=agreement[f"{name}_first"],
            last=agreement[f"{name}_last"],
        )
    return DutyFulfilment(
        days_met=getattr(agreement, f"{name}_days_met"),
        first=getattr(agreement, f"{name}_first"),
        last=getattr(agreement, f"{name}_last"),
    )


def duty_fulfilment(
    agreement, start: dt.date | None = None, end: dt.date | None = None, today=None
) -> DutyFulfilment:
    """The duty fulfilment of one agreement over [start, end] (each bound optional: by
    default from the agreement's start to today, never past its end). One query."""
    annotated = with_duty_fulfilment(
        Agreement.objects.filter(pk=agreement.pk), start=start, end=end, today=today
    ).get()
    return annotated_duty_fulfilment(annotated)


def service_by(participations, *fields, **expressions) -> list[dict]:
    """DESIGN.md's participations ("count of *present*") and service hours ("sum of hours of
    *present*") for each combination of `fields` and of the non-aggregate `expressions` (a
    month: `month=TruncMonth(...)`), as rows with `participations` and `hours`. One query,
    grouped in the database; a combination without anyone present has no row."""
    return list(
        participations.filter(status=Participation.Status.PRESENT)
        .order_by()
        .annotate(**expressions)
        .values(*fields, *expressions)
        .annotate(
            # COUNT(*), not of the key: the rows are then counted from participation_present
            # (which holds the hours, not the key) without reading the table.
            participations=Count("*"),
            hours=Coalesce(
                Sum("hours"), ZERO_HOURS, output_field=DecimalField(max_digits=10, decimal_places=1)
            ),
        )
    )
