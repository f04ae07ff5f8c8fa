"""The agency office's yearly summary (reports.evaluation.summary_agency): its members' records
of the year added up by DESIGN.md's definitions, from the figures the database keeps per agency
and activity — the same totals as the records themselves, whatever was written since."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import figures
from activities.models import Activity, DoorToDoorUnit, Participation
from communities.dates import local_midnight
from members.models import Member
from reports.evidence import Period

Status = Participation.Status
YEAR = timezone.localdate().year


def _activity(world, day: dt.date, nature):
    start = local_midnight(day) + dt.timedelta(hours=9)
    return Activity.objects.create(
        community=world.shengli,
        type=world.patrol,
        title="沿江防汛巡逻",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
        nature=nature,
    )


def _record(activity, member, status, hours=None):
    return Participation.objects.create(
        activity=activity,
        member=member,
        status=status,
        hours=hours,
        leave_reason="出差" if status == Status.LEAVE else "",
        source=Participation.Source.ROLL_CALL,
    )


def _live(agency):
    """The summary's attendance counted from the records themselves."""
    period = Period.year(YEAR)
    by_nature = figures.attendance_by(
        Participation.objects.filter(
            member__agency=agency,
            activity__starts_at__gte=period.start,
            activity__starts_at__lt=period.end,
        ),
        "activity__nature",
    )
    duty = by_nature.get(Activity.Nature.DUTY, figures.NO_ATTENDANCE)
    return (
        sum(a.present for a in by_nature.values()),
        sum(a.absent for a in by_nature.values()),
        sum(a.leaves for a in by_nature.values()),
        sum((a.hours for a in by_nature.values()), Decimal("0")),
        duty.hours,
    )


def _live_households(agency):
    """The summary's households counted from the units, their members and their activities."""
    period = Period.year(YEAR)
    found = DoorToDoorUnit.objects.filter(
        member__agency=agency,
        activity__starts_at__gte=period.start,
        activity__starts_at__lt=period.end,
    ).aggregate(households=Sum("households"), reached=Sum("households_reached"))
    return (found["households"] or 0, found["reached"] or 0)


def _shown(response):
    evidence = response.context["evidence"]
    a = evidence.attendance
    return (a.present, a.absent, a.leaves, a.hours, evidence.duty_hours)


def _shown_households(response):
    evidence = response.context["evidence"]
    return (evidence.households, evidence.households_reached)


@pytest.fixture
def records(world):
    duty = _activity(world, dt.date(YEAR, 3, 10), Activity.Nature.DUTY)
    volunteer = _activity(world, dt.date(YEAR, 6, 1), Activity.Nature.VOLUNTEER)
    last_year = _activity(world, dt.date(YEAR - 1, 12, 31), Activity.Nature.DUTY)
    _record(duty, world.sanxia_member, Status.PRESENT, Decimal("2.5"))
    _record(duty, world.sanxia_member_2, Status.ABSENT)
    _record(volunteer, world.sanxia_member_2, Status.PRESENT, Decimal("1.5"))
    _record(volunteer, world.sanxia_member, Status.LEAVE)
    _record(duty, world.yuanlin_member, Status.PRESENT, Decimal("3"))  # another agency's
    _record(last_year, world.sanxia_member, Status.PRESENT, Decimal("4"))  # another year's
    Participation.objects.create(
        activity=volunteer, member=world.yuanlin_member, source=Participation.Source.SIGN_UP
    )
    for activity, building, households, reached, member in [
        (duty, "1栋", 10, 8, world.sanxia_member),
        (volunteer, "2栋", 12, 12, world.sanxia_member_2),
        (volunteer, "3栋", 9, 0, None),  # nobody's
        (volunteer, "4栋", 7, 3, world.yuanlin_member),  # another agency's
        (last_year, "5栋", 5, 5, world.sanxia_member),  # another year's
    ]:
        DoorToDoorUnit.objects.create(
            activity=activity,
            building=building,
            households=households,
            households_reached=reached,
            member=member,
        )
    return duty, volunteer


def test_the_summary_adds_up_the_agencys_records_of_the_year(client, world, records, agency_office):
    client.force_login(agency_office)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/summary/agency/?year={YEAR}")
    shown = _shown(response)
    assert shown == _live(world.sanxia)
    assert _shown_households(response) == _live_households(world.sanxia) == (22, 20)
    # One absence and one leave of the year's; the other agency's and last year's left out.
    assert shown[1:3] == (1, 1) and shown[0] >= 2
    # The records themselves are not counted again on the page.
    assert not [q for q in queries if '"activities_participation"' in q["sql"]]


def test_the_summary_follows_corrections_moves_and_rescheduling(
    client, world, records, agency_office
):
    duty, volunteer = records
    Participation.objects.filter(activity=duty, member=world.sanxia_member_2).update(
        status=Status.PRESENT, hours=Decimal("1")
    )
    Activity.objects.filter(pk=volunteer.pk).update(nature=Activity.Nature.DUTY)
    duty.starts_at = local_midnight(dt.date(YEAR - 1, 6, 1))
    duty.ends_at = duty.starts_at + dt.timedelta(hours=2)
    duty.save()
    moved = Member.objects.get(pk=world.yuanlin_member.pk)
    moved.agency = world.sanxia
    moved.save()
    client.force_login(agency_office)
    response = client.get(f"/summary/agency/?year={YEAR}")
    assert _shown(response) == _live(world.sanxia)
    # The duty went to last year with its 1栋; 陈思远 came with the volunteer day's 4栋.
    assert _shown_households(response) == _live_households(world.sanxia) == (19, 15)
