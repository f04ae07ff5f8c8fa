"""The pairs of agencies and activities (AgencyActivity), kept by the database, are always the
participations' own: whatever writes them, an agency office's activity scope is its rule."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from activities.models import Activity, AgencyActivity, Participation
from activities.models.agency_activity import REBUILD
from activities.services.rollcall import RollCallRow, participation_roll_call
from activities.services.signup import participation_cancel, participation_sign_up
from members.models import Member, Registration

Status = Participation.Status


def pairs():
    """The table as it is: (agency, activity) → (participations, by agreement)."""
    return {
        (row.agency_id, row.activity_id): (row.participations, row.by_agreement)
        for row in AgencyActivity.objects.all()
    }


def counted():
    """The pairs as the participations and the activities' agreements have them
    (AgencyActivity's definition)."""
    found = {
        (row["member__agency"], row["activity"]): (row["n"], False)
        for row in Participation.objects.values("member__agency", "activity")
        .order_by()
        .annotate(n=Count("pk"))
    }
    for agency, activity in Activity.objects.filter(agreement__isnull=False).values_list(
        "agreement__agency", "pk"
    ):
        found[(agency, activity)] = (found.get((agency, activity), (0, False))[0], True)
    return found


def figures_kept():
    """The figures the table holds: (agency, activity) → (start, nature, present, absent, on
    leave, hours of those present)."""
    return {
        (row.agency_id, row.activity_id): (
            row.starts_at,
            row.nature,
            row.present,
            row.absent,
            row.leaves,
            row.hours,
        )
        for row in AgencyActivity.objects.all()
    }


def figures_counted():
    """The same figures as the participations and the activities have them (DESIGN.md's)."""
    found = {
        key: (starts_at, nature, 0, 0, 0, Decimal("0"))
        for key, (starts_at, nature) in {
            (agency, pk): (starts_at, nature)
            for agency, pk, starts_at, nature in Activity.objects.filter(
                agreement__isnull=False
            ).values_list("agreement__agency", "pk", "starts_at", "nature")
        }.items()
    }
    for row in (
        Participation.objects.values(
            "member__agency", "activity", "activity__starts_at", "activity__nature"
        )
        .order_by()
        .annotate(
            present=Count("pk", filter=Q(status=Status.PRESENT)),
            absent=Count("pk", filter=Q(status=Status.ABSENT)),
            leaves=Count("pk", filter=Q(status=Status.LEAVE)),
            hours=Coalesce(Sum("hours", filter=Q(status=Status.PRESENT)), Decimal("0")),
        )
    ):
        found[(row["member__agency"], row["activity"])] = (
            row["activity__starts_at"],
            row["activity__nature"],
            row["present"],
            row["absent"],
            row["leaves"],
            row["hours"],
        )
    return found


def offices_rule(agency):
    """An agency office's activities by the rule (DESIGN.md): its agreements' and those its
    members take part in, read from the participations."""
    return set(
        Activity.objects.filter(agreement__agency=agency).values_list("pk", flat=True)
    ) | set(Participation.objects.filter(member__agency=agency).values_list("activity", flat=True))


def new_member(world, name, mobile, agency=None):
    member = Member.objects.create(agency=agency or world.sanxia, name=name, mobile=mobile)
    Registration.objects.create(
        member=member,
        community=world.shengli,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    return member


def activity(world, *, title="紫林苑楼道清理", days=1, community=None):
    now = timezone.now()
    return Activity.objects.create(
        community=community or world.shengli,
        type=world.cleanup,
        title=title,
        starts_at=now + dt.timedelta(days=days),
        ends_at=now + dt.timedelta(days=days, hours=2),
        status=Activity.Status.RECRUITING,
    )


def test_the_worlds_pairs_are_its_participations_and_agreements(world):
    assert (
        pairs()
        == counted()
        == {
            (world.sanxia.pk, world.shengli_activity.pk): (1, True),
            (world.yuanlin.pk, world.shenzhen_activity.pk): (1, False),
        }
    )


def test_a_sign_up_and_its_cancellation_add_and_remove_the_pair(world, agency_office):
    later = activity(world, title="万寿小区入户宣传")
    assert later.pk not in set(
        Activity.objects.visible_to(agency_office).values_list("pk", flat=True)
    )
    participation_sign_up(activity=later, member=world.sanxia_member)
    assert pairs()[(world.sanxia.pk, later.pk)][0] == 1
    assert later in Activity.objects.visible_to(agency_office)
    participation_cancel(activity=later, member=world.sanxia_member)
    assert (world.sanxia.pk, later.pk) not in pairs()
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    assert later not in Activity.objects.visible_to(agency_office)


def test_a_pair_stays_while_another_member_of_the_agency_is_on_it(world, agency_office):
    shared = activity(world)
    second = new_member(world, "赵一鸣", "13900000011")
    for member in (world.sanxia_member, second):
        participation_sign_up(activity=shared, member=member)
    assert pairs()[(world.sanxia.pk, shared.pk)][0] == 2
    Participation.objects.get(activity=shared, member=second).delete()
    assert pairs()[(world.sanxia.pk, shared.pk)][0] == 1
    assert shared in Activity.objects.visible_to(agency_office)
    assert pairs() == counted()
    assert figures_kept() == figures_counted()


def test_a_roll_call_with_walk_ins_adds_their_agencies_pairs(world, grid_worker):
    now = timezone.now()
    finished = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=world.cleanup,
        title="紫林苑楼道清理",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
        status=Activity.Status.RECRUITING,
    )
    walk_ins = [
        new_member(world, "赵一鸣", "13900000011"),
        new_member(world, "钱二", "13900000012", agency=world.yuanlin),
        new_member(world, "孙三", "13900000013", agency=world.yuanlin),
    ]
    participation_roll_call(
        activity=finished,
        by=grid_worker,
        rows=[RollCallRow(member_id=m.pk, status=Status.PRESENT) for m in walk_ins],
        resident_volunteers=0,
    )
    assert pairs()[(world.sanxia.pk, finished.pk)][0] == 1
    assert pairs()[(world.yuanlin.pk, finished.pk)][0] == 2
    assert pairs() == counted()
    assert figures_kept() == figures_counted()


def test_bulk_writes_updates_and_deletes_keep_the_pairs(world):
    activities = [activity(world, title=f"巡逻{n}", days=n + 1) for n in range(3)]
    members = [new_member(world, f"队员{n}", f"1390000010{n}") for n in range(3)]
    members.append(new_member(world, "园林队员", "13900000109", agency=world.yuanlin))
    Participation.objects.bulk_create(
        Participation(activity=a, member=m, source=Participation.Source.SIGN_UP)
        for a in activities
        for m in members
    )
    # Duplicates ignored by the database are not counted.
    Participation.objects.bulk_create(
        [Participation(activity=activities[0], member=members[0], source="sign_up")],
        ignore_conflicts=True,
    )
    assert pairs()[(world.sanxia.pk, activities[0].pk)] == (3, False)
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    # Rows moved to another activity or member in bulk; a save that moves nothing.
    Participation.objects.filter(activity=activities[0], member=members[3]).update(
        activity=world.shengli_activity
    )
    Participation.objects.filter(activity=activities[1], member=members[0]).update(
        member=world.sanxia_member
    )
    row = Participation.objects.filter(activity=activities[2]).first()
    row.status = Status.PRESENT
    row.save()
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    assert pairs()[(world.yuanlin.pk, world.shengli_activity.pk)][0] == 1
    # A bulk delete, and an activity deleted with its participations.
    Participation.objects.filter(member__in=members[:3]).delete()
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    activities[2].delete()
    assert not AgencyActivity.objects.filter(activity_id=activities[2].pk).exists()
    assert pairs() == counted()
    assert figures_kept() == figures_counted()


@pytest.mark.parametrize("how", ["save", "update"])
def test_a_member_moving_agency_takes_their_activities_along(
    world, agency_office, other_agency_office, how
):
    # 赵一鸣 alone of 三峡 is on the later activity; 李建华 stays on the world's activity.
    later = activity(world)
    moving = new_member(world, "赵一鸣", "13900000011")
    participation_sign_up(activity=later, member=moving)
    Participation.objects.create(
        activity=world.shengli_activity, member=moving, source=Participation.Source.SIGN_UP
    )
    assert pairs()[(world.sanxia.pk, world.shengli_activity.pk)][0] == 2
    if how == "save":
        moving.agency = world.yuanlin
        moving.save()
    else:
        Member.objects.filter(pk=moving.pk).update(agency=world.yuanlin)
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    assert (world.sanxia.pk, later.pk) not in pairs()
    assert pairs()[(world.sanxia.pk, world.shengli_activity.pk)][0] == 1
    assert pairs()[(world.yuanlin.pk, later.pk)][0] == 1
    for office, agency in ((agency_office, world.sanxia), (other_agency_office, world.yuanlin)):
        seen = set(Activity.objects.visible_to(office).values_list("pk", flat=True))
        assert seen == offices_rule(agency)
    assert later.pk not in offices_rule(world.sanxia)
    assert later.pk in offices_rule(world.yuanlin)


def test_an_activity_counting_toward_an_agreement_is_the_agencys_until_it_no_longer_does(
    world, agency_office, grid_worker
):
    planned = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="协议值守",
        starts_at=timezone.now() + dt.timedelta(days=2),
        ends_at=timezone.now() + dt.timedelta(days=2, hours=2),
        agreement=world.agreement,
    )
    assert pairs()[(world.sanxia.pk, planned.pk)] == (0, True)
    assert planned in Activity.objects.visible_to(agency_office)
    # A member of another agency on it, then the agreement cleared: 园林局's pair stays.
    yuanlin_walk_in = new_member(world, "钱二", "13900000012", agency=world.yuanlin)
    Participation.objects.create(activity=planned, member=yuanlin_walk_in, source="sign_up")
    planned.agreement = None
    planned.save()
    assert (world.sanxia.pk, planned.pk) not in pairs()
    assert pairs()[(world.yuanlin.pk, planned.pk)] == (1, False)
    assert planned not in Activity.objects.visible_to(agency_office)
    # Set again in bulk, and 三峡's member on it: one pair, both reasons.
    Activity.objects.filter(pk=planned.pk).update(agreement=world.agreement)
    Participation.objects.create(activity=planned, member=world.sanxia_member, source="sign_up")
    assert pairs()[(world.sanxia.pk, planned.pk)] == (1, True)
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    # Deleted with its participations: no pair of it is left.
    planned.delete()
    assert not AgencyActivity.objects.filter(activity_id=planned.pk).exists()
    assert pairs() == counted()
    assert figures_kept() == figures_counted()


def test_an_agreement_moving_to_another_agency_takes_its_activities_along(
    world, agency_office, other_agency_office
):
    world.agreement.agency = world.yuanlin
    world.agreement.save()
    # 三峡's member is still on the activity; the agreement now counts it for 园林局.
    assert pairs()[(world.sanxia.pk, world.shengli_activity.pk)] == (1, False)
    assert pairs()[(world.yuanlin.pk, world.shengli_activity.pk)] == (0, True)
    assert pairs() == counted()
    assert figures_kept() == figures_counted()
    for office, agency in ((agency_office, world.sanxia), (other_agency_office, world.yuanlin)):
        seen = set(Activity.objects.visible_to(office).values_list("pk", flat=True))
        assert seen == offices_rule(agency)


def test_a_save_of_a_member_that_keeps_the_agency_changes_no_pair(world):
    before = pairs()
    member = world.sanxia_member
    member.name = "李建华（改）"
    member.save()
    assert pairs() == before


def test_rebuilding_the_pairs_gives_the_table_the_triggers_keep(world):
    # seed_scale turns the triggers off for its COPY and counts the pairs once (REBUILD), as
    # the migration filled them from the participations there were.
    second = new_member(world, "赵一鸣", "13900000011")
    Participation.objects.create(
        activity=world.shengli_activity, member=second, source=Participation.Source.SIGN_UP
    )
    kept = pairs()
    with connection.cursor() as cursor:
        for statement in REBUILD:
            cursor.execute(statement)
    assert pairs() == kept == counted()
    assert figures_kept() == figures_counted()


def test_the_figures_follow_roll_calls_corrections_moves_and_rescheduling(world, grid_worker):
    now = timezone.now()
    finished = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=world.cleanup,
        title="紫林苑楼道清理",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
        status=Activity.Status.RECRUITING,
    )
    came, missed, excused = (
        new_member(world, "赵一鸣", "13900000011"),
        new_member(world, "钱二", "13900000012"),
        new_member(world, "孙三", "13900000013", agency=world.yuanlin),
    )
    participation_roll_call(
        activity=finished,
        by=grid_worker,
        rows=[
            RollCallRow(member_id=came.pk, status=Status.PRESENT, hours=Decimal("1.5")),
            RollCallRow(member_id=missed.pk, status=Status.ABSENT),
            RollCallRow(member_id=excused.pk, status=Status.PRESENT),
        ],
        resident_volunteers=0,
    )
    kept = figures_kept()
    assert kept[(world.sanxia.pk, finished.pk)][2:] == (1, 1, 0, Decimal("1.5"))
    assert kept == figures_counted()
    # Corrections: hours in bulk, a status by save(), leave.
    Participation.objects.filter(activity=finished, member=came).update(hours=Decimal("2.5"))
    row = Participation.objects.get(activity=finished, member=missed)
    row.status, row.hours = Status.PRESENT, Decimal("0.5")
    row.save()
    Participation.objects.filter(activity=finished, member=excused).update(
        status=Status.LEAVE, leave_reason="出差"
    )
    kept = figures_kept()
    assert kept[(world.sanxia.pk, finished.pk)][2:] == (2, 0, 0, Decimal("3.0"))
    assert kept[(world.yuanlin.pk, finished.pk)][2:] == (0, 0, 1, Decimal("0"))
    assert kept == figures_counted()
    # Rescheduled, then its nature changed in bulk: the pairs go with it.
    finished.starts_at -= dt.timedelta(days=40)
    finished.save()
    Activity.objects.filter(pk=finished.pk).update(nature=Activity.Nature.DUTY)
    assert figures_kept() == figures_counted()
    assert figures_kept()[(world.sanxia.pk, finished.pk)][:2] == (
        finished.starts_at,
        Activity.Nature.DUTY,
    )
    # A member moving agency takes their figures along; a deleted record leaves its pair.
    came.agency = world.yuanlin
    came.save()
    kept = figures_kept()
    assert kept[(world.sanxia.pk, finished.pk)][2:] == (1, 0, 0, Decimal("0.5"))
    assert kept[(world.yuanlin.pk, finished.pk)][2:] == (1, 0, 1, Decimal("2.5"))
    assert kept == figures_counted()
    Participation.objects.filter(member=missed).delete()
    assert figures_kept() == figures_counted()
    assert pairs() == counted()


@pytest.mark.parametrize("persona", ["agency_office", "other_agency_office"])
def test_an_agency_offices_activities_are_its_rule(request, world, persona):
    user = request.getfixturevalue(persona)
    agency = world.sanxia if persona == "agency_office" else world.yuanlin
    seen = set(Activity.objects.visible_to(user).values_list("pk", flat=True))
    assert seen == offices_rule(agency) and seen
