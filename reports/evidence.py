"""The evidence beside a rating and in the summaries (年度评价, 双报告): each member's attendance,
service hours (duty and voluntary), resident concerns raised and door-to-door coverage over a
period, optionally in one community — by DESIGN.md's definitions (activities.figures), computed
in the database: four queries for any number of members, never one per member.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, IntegerField, Q, Sum
from django.db.models.functions import Coalesce

from activities import figures
from activities.models import Activity, Concern, DoorToDoorUnit, Participation
from communities.dates import local_midnight
from members.models import Member


@dataclass(frozen=True)
class Period:
    """[first, last] local days, both included."""

    first: dt.date
    last: dt.date

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def half(cls, year: int, half: int) -> "Period":
        """The first (January–June) or second (July–December) half of `year`."""
        if half == 1:
            return cls(dt.date(year, 1, 1), dt.date(year, 6, 30))
        return cls(dt.date(year, 7, 1), dt.date(year, 12, 31))

    @property
    def start(self) -> dt.datetime:
        return local_midnight(self.first)

    @property
    def end(self) -> dt.datetime:
        return local_midnight(self.last + dt.timedelta(days=1))


@dataclass(frozen=True)
class Evidence:
    attendance: figures.Attendance = figures.NO_ATTENDANCE
    duty_hours: Decimal = figures.ZERO_HOURS
    concerns: int = 0
    concerns_resolved: int = 0
    households: int = 0
    households_reached: int = 0

    @property
    def volunteer_hours(self) -> Decimal:
        """Voluntary service hours: the present hours of volunteer-nature activities."""
        return self.attendance.hours - self.duty_hours

    @property
    def coverage(self) -> Decimal | None:
        """Door-to-door coverage: households reached ÷ households of the units assigned."""
        return figures.rate(self.households_reached, self.households)


NO_EVIDENCE = Evidence()


def evidence_shown(evidence: Evidence) -> dict[str, str]:
    """The figures of `evidence` as a list row shows them (the `figure`, `percent` and `hours`
    filters' text), keyed as the row's data-figure names."""
    return {
        "participations": figures.format_number(evidence.attendance.participations),
        "rate": figures.format_rate(evidence.attendance.attendance_rate),
        "duty_hours": figures.format_hours(evidence.duty_hours),
        "volunteer_hours": figures.format_hours(evidence.volunteer_hours),
        "concerns": figures.format_number(evidence.concerns),
        "coverage": figures.format_rate(evidence.coverage),
    }


def _activities(period: Period, community):
    activities = Activity.objects.filter(starts_at__gte=period.start, starts_at__lt=period.end)
    if community is not None:
        activities = activities.filter(community=community)
    return activities.values("pk")


def evidence_of(members, period: Period, community=None) -> dict[int, Evidence]:
    """Each member's evidence (by id; a member without any is missing: use `.get(pk,
    NO_EVIDENCE)`), for `members` (ids, or a `values("pk")` QuerySet) over `period`, in the
    activities of `community` when given (a community's rating weighs the work done there).
    Four queries."""
    if not isinstance(members, list | set | tuple | frozenset):
        members = members.values("pk")
    activities = _activities(period, community)
    records = Participation.objects.filter(member__in=members, activity__in=activities)
    attendance = figures.attendance_by(records, "member")
    duty = figures.attendance_by(records.filter(activity__nature=Activity.Nature.DUTY), "member")
    concerns = Concern.objects.filter(
        reported_by__member__in=members, created_at__gte=period.start, created_at__lt=period.end
    )
    if community is not None:
        concerns = concerns.filter(community=community)
    raised = {
        row["member"]: row
        for row in concerns.order_by()
        .values(member=F("reported_by__member"))
        .annotate(raised=Count("pk"), resolved=Count("pk", filter=Q(state=Concern.State.RESOLVED)))
    }
    doors = {
        row["member"]: row
        for row in DoorToDoorUnit.objects.filter(member__in=members, activity__in=activities)
        .order_by()
        .values("member")
        .annotate(
            households_sum=Coalesce(Sum("households"), 0, output_field=IntegerField()),
            reached_sum=Coalesce(Sum("households_reached"), 0, output_field=IntegerField()),
        )
    }
    evidence = {}
    for pk in set(attendance) | set(raised) | set(doors):
        concern, door = raised.get(pk, {}), doors.get(pk, {})
        evidence[pk] = Evidence(
            attendance=attendance.get(pk, figures.NO_ATTENDANCE),
            duty_hours=duty.get(pk, figures.NO_ATTENDANCE).hours,
            concerns=concern.get("raised", 0),
            concerns_resolved=concern.get("resolved", 0),
            households=door.get("households_sum", 0),
            households_reached=door.get("reached_sum", 0),
        )
    return evidence


def _sum(attendances) -> figures.Attendance:
    total = figures.NO_ATTENDANCE
    for one in attendances:
        total = figures.Attendance(
            present=total.present + one.present,
            absent=total.absent + one.absent,
            leaves=total.leaves + one.leaves,
            hours=total.hours + one.hours,
        )
    return total


def agency_totals(agency, period: Period) -> Evidence:
    """The evidence of all the members of `agency` together (its yearly summary): three
    aggregates: the attendance from the figures the database keeps per agency and activity, the
    households from the agency and start it keeps with each door unit."""
    members = Member.objects.filter(agency=agency)
    agency_ids = [agency.pk] if agency is not None else []
    # The reporters among the members' accounts, one subquery: joined through the accounts to
    # the members, the year's concerns took 2–4 times as long at city size.
    concerns = Concern.objects.filter(
        reported_by__in=members.values("user"),
        created_at__gte=period.start,
        created_at__lt=period.end,
    ).aggregate(raised=Count("pk"), resolved=Count("pk", filter=Q(state=Concern.State.RESOLVED)))
    # The units keep their member's agency and their activity's start: one range of their
    # index (doortodoorunit_agency_period) instead of every unit joined to the members.
    doors = DoorToDoorUnit.objects.filter(
        agency__in=agency_ids, starts_at__gte=period.start, starts_at__lt=period.end
    ).aggregate(
        households=Coalesce(Sum("households"), 0, output_field=IntegerField()),
        reached=Coalesce(Sum("households_reached"), 0, output_field=IntegerField()),
    )
    # The agency's records by nature (duty, volunteer), added up here.
    by_nature = figures.agency_attendance_by_nature(agency_ids, period.start, period.end)
    duty = by_nature.get(Activity.Nature.DUTY, figures.NO_ATTENDANCE)
    return Evidence(
        attendance=_sum(by_nature.values()),
        duty_hours=duty.hours,
        concerns=concerns["raised"],
        concerns_resolved=concerns["resolved"],
        households=doors["households"],
        households_reached=doors["reached"],
    )
