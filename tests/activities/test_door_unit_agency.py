"""A door-to-door unit keeps its member's agency and its activity's start (migration
0031_door_unit_agency_period), written by the database alone: whatever writes the unit, its
member or its activity, the two columns are what the member and the activity say, so that an
agency's households over a period (its yearly summary) can be read from the unit alone."""

import datetime as dt

from activities.models import Activity, DoorToDoorUnit
from activities.services.doors import door_unit_assign, door_unit_record, door_units_add
from members.models import Member
from tests.activities.test_doors import doors_activity  # noqa: F401 (a fixture: 李建华 signed up)


def kept():
    """unit → (agency, start) as the table holds them."""
    return {
        pk: (agency, starts_at)
        for pk, agency, starts_at in DoorToDoorUnit.objects.values_list("pk", "agency", "starts_at")
    }


def expected():
    """unit → (agency, start) as its member and activity have them."""
    return {
        pk: (agency, starts_at)
        for pk, agency, starts_at in DoorToDoorUnit.objects.values_list(
            "pk", "member__agency", "activity__starts_at"
        )
    }


def test_every_write_of_a_unit_keeps_its_agency_and_start(
    world,
    doors_activity,  # noqa: F811
    community_staff,
):
    units = door_units_add(
        activity=doors_activity,
        by=community_staff,
        units=[("1栋", "1单元"), ("1栋", "2单元"), ("2栋", "")],
        households=12,
    )
    # Written by bulk_create, with nobody assigned: no agency, the activity's start.
    assert set(kept().values()) == {(None, doors_activity.starts_at)}

    # Assigned by a queryset update.
    door_unit_assign(units=units[:2], member=world.sanxia_member, by=community_staff)
    assert kept()[units[0].pk] == (world.sanxia.pk, doors_activity.starts_at)
    assert kept() == expected()

    # Recorded through the service, then saved again from an instance that never read the two
    # columns back (Django writes every column on save()).
    door_unit_record(unit=units[0], households_reached=10, by=community_staff)
    stale = DoorToDoorUnit.objects.defer("agency", "starts_at").get(pk=units[1].pk)
    stale.agency_id, stale.starts_at = None, None
    stale.households_reached = 5
    stale.save()
    assert kept()[units[1].pk] == (world.sanxia.pk, doors_activity.starts_at)

    # Handed to nobody, and to a member of another agency by a plain save.
    door_unit_assign(units=units[:1], member=None, by=community_staff)
    assert kept()[units[0].pk] == (None, doors_activity.starts_at)
    unit = DoorToDoorUnit.objects.get(pk=units[2].pk)
    unit.member = world.yuanlin_member
    unit.save()
    assert kept()[units[2].pk] == (world.yuanlin.pk, doors_activity.starts_at)
    assert kept() == expected()


def test_a_unit_follows_its_member_to_another_agency_and_its_activity_in_time(
    world,
    doors_activity,  # noqa: F811
):
    unit = DoorToDoorUnit.objects.create(
        activity=doors_activity, building="3栋", households=20, member=world.sanxia_member
    )
    other = DoorToDoorUnit.objects.create(
        activity=world.shengli_activity, building="4栋", households=8, member=world.sanxia_member_2
    )
    assert kept() == expected()

    moved = Member.objects.get(pk=world.sanxia_member.pk)
    moved.agency = world.yuanlin
    moved.save()
    assert kept()[unit.pk][0] == world.yuanlin.pk
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(agency=world.yuanlin)
    assert kept()[other.pk][0] == world.yuanlin.pk

    later = doors_activity.starts_at + dt.timedelta(days=400)
    doors_activity.starts_at, doors_activity.ends_at = later, later + dt.timedelta(hours=2)
    doors_activity.save()
    assert kept()[unit.pk][1] == later
    Activity.objects.filter(pk=world.shengli_activity.pk).update(
        starts_at=later, ends_at=later + dt.timedelta(hours=2)
    )
    assert kept()[other.pk][1] == later

    # A unit moved to another activity takes that activity's start.
    DoorToDoorUnit.objects.filter(pk=unit.pk).update(activity=world.shenzhen_activity)
    assert kept()[unit.pk] == (world.yuanlin.pk, world.shenzhen_activity.starts_at)
    assert kept() == expected()
