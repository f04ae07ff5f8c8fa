"""Every rule the database holds: refused by the database itself, and by validation with a
clear message before it gets that far."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from activities.models import Activity, DoorToDoorUnit, Participation
from communities.models import Agreement, StaffRole
from members.models import Member, Registration


@pytest.fixture(autouse=True)
def in_english():
    # The messages are compared in their source language; test_i18n covers the catalogue.
    with translation.override("en"):
        yield


def refused_by_database(obj, constraint_name, *, unique=False):
    """Saves without validation and checks the database refuses, naming the rule where the
    backend reports names (PostgreSQL always; SQLite for CHECK constraints)."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        obj.save()
    if connection.vendor == "postgresql" or not unique:
        assert constraint_name in str(caught.value)


def validation_messages(obj, **kwargs):
    with pytest.raises(ValidationError) as caught:
        obj.full_clean(**kwargs)
    return [m for messages in caught.value.message_dict.values() for m in messages]


def new_agreement(world, **changes):
    today = timezone.localdate()
    fields = dict(
        agency=world.sanxia,
        community=world.shengli,
        number="GJ-TEST-NEW",
        starts_on=today,
        ends_on=today + dt.timedelta(days=365),
    )
    fields.update(changes)
    return Agreement(**fields)


class TestAgreementRules:
    def test_an_agreement_must_end_after_it_starts(self, world):
        today = timezone.localdate()
        agreement = new_agreement(world, starts_on=today, ends_on=today)
        assert "An agreement must end after it starts." in validation_messages(agreement)
        refused_by_database(agreement, "communities_agreement_ends_after_start")

    def test_a_pair_has_at_most_one_active_agreement(self, world):
        second = new_agreement(
            world, status=Agreement.Status.ACTIVE, signed_on=timezone.localdate()
        )
        assert (
            "This agency already has an active agreement with this community."
            in validation_messages(second)
        )
        refused_by_database(second, "communities_agreement_one_active_per_pair", unique=True)

    def test_a_draft_and_an_old_terminated_one_may_sit_beside_the_active_one(self, world):
        new_agreement(world).save()
        new_agreement(
            world,
            number="GJ-TEST-OLD",
            status=Agreement.Status.TERMINATED,
            signed_on=timezone.localdate(),
            termination_reason="撤并",
        ).save()
        assert Agreement.objects.filter(agency=world.sanxia, community=world.shengli).count() == 3

    def test_the_daily_quota_is_at_least_one(self, world):
        agreement = new_agreement(world, daily_quota=0)
        assert "The daily duty quota must be at least 1." in validation_messages(agreement)
        refused_by_database(agreement, "communities_agreement_quota_positive")

    def test_a_terminated_agreement_needs_a_reason(self, world):
        agreement = new_agreement(
            world, status=Agreement.Status.TERMINATED, signed_on=timezone.localdate()
        )
        assert "A terminated agreement needs a reason." in validation_messages(agreement)
        refused_by_database(agreement, "communities_agreement_terminated_has_reason")


class TestRegistrationRules:
    def test_one_live_registration_per_member_community_and_kind(self, world):
        duplicate = Registration(
            member=world.sanxia_member, community=world.shengli, applied_on=timezone.localdate()
        )
        assert any(
            "already has a pending or active report-in" in m for m in validation_messages(duplicate)
        )
        refused_by_database(duplicate, "members_registration_one_live_per_kind", unique=True)

    def test_a_returned_registration_does_not_block_a_new_one(self, world):
        Registration.objects.filter(member=world.sanxia_member).update(
            status=Registration.Status.RETURNED, return_reason="信息有误"
        )
        again = Registration(
            member=world.sanxia_member, community=world.shengli, applied_on=timezone.localdate()
        )
        again.full_clean()
        again.save()

    def test_the_other_kind_is_a_separate_registration(self, world):
        residence = Registration(
            member=world.sanxia_member,
            community=world.shengli,
            kind=Registration.Kind.RESIDENCE,
            applied_on=timezone.localdate(),
        )
        residence.full_clean()
        residence.save()

    def test_a_returned_registration_needs_a_reason(self, world):
        returned = Registration(
            member=world.yuanlin_member,
            community=world.shengli,
            status=Registration.Status.RETURNED,
            applied_on=timezone.localdate(),
        )
        assert "A returned report-in needs a reason." in validation_messages(returned)
        refused_by_database(returned, "members_registration_returned_has_reason")


class TestActivityRules:
    def test_an_activity_must_end_after_it_starts(self, world):
        start = timezone.now()
        activity = Activity(
            community=world.shengli,
            type=world.cleanup,
            title="清扫",
            starts_at=start,
            ends_at=start,
        )
        assert "An activity must end after it starts." in validation_messages(activity)
        refused_by_database(activity, "activities_activity_ends_after_start")

    def test_capacity_is_positive_when_set(self, world):
        start = timezone.now()
        activity = Activity(
            community=world.shengli,
            type=world.cleanup,
            title="清扫",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            capacity=0,
        )
        assert "Capacity must be a positive number, or empty." in validation_messages(activity)
        refused_by_database(activity, "activities_activity_capacity_positive")


class TestParticipationRules:
    def test_one_participation_per_member_and_activity(self, world):
        again = Participation(
            activity=world.shengli_activity,
            member=world.sanxia_member,
            source=Participation.Source.SIGN_UP,
        )
        assert "This member is already on this activity." in validation_messages(again)
        refused_by_database(again, "activities_participation_one_per_member", unique=True)

    @pytest.mark.parametrize("hours", ["-0.5", "24.5"])
    def test_hours_are_between_0_and_24(self, world, hours):
        participation = world.shengli_participation
        participation.hours = hours
        assert "Hours must be between 0 and 24." in validation_messages(participation)
        refused_by_database(participation, "activities_participation_hours_in_range")

    def test_leave_needs_a_reason(self, world):
        participation = world.shenzhen_participation
        participation.status = Participation.Status.LEAVE
        assert "Leave needs a reason." in validation_messages(participation)
        refused_by_database(participation, "activities_participation_leave_has_reason")

    def test_a_backfill_needs_a_reason(self, world):
        participation = world.shenzhen_participation
        participation.source = Participation.Source.BACKFILL
        assert "A backfilled record needs a reason." in validation_messages(participation)
        refused_by_database(participation, "activities_participation_backfill_has_reason")


class TestMemberAndRoleRules:
    def test_a_member_who_left_needs_the_date(self, world):
        member = world.sanxia_member_2
        member.status = Member.Status.LEFT
        assert "A member who left needs the date they left." in validation_messages(member)
        refused_by_database(member, "members_member_left_has_date")

    def test_a_mobile_must_look_like_a_mainland_mobile(self, world):
        member = Member(agency=world.sanxia, name="测试", mobile="12345")
        assert any("11-digit" in m for m in validation_messages(member))

    @pytest.mark.parametrize(
        "kind, place",
        [
            (StaffRole.Kind.GRID_WORKER, {}),
            (StaffRole.Kind.AGENCY_OFFICE, {"community": "shengli"}),
            (StaffRole.Kind.CITY_ADMIN, {"street": "wanshouqiao"}),
            (StaffRole.Kind.STREET_OFFICER, {"agency": "sanxia"}),
        ],
    )
    def test_a_role_covers_exactly_the_place_its_kind_needs(
        self, world, django_user_model, kind, place
    ):
        user = django_user_model.objects.create_user("someone")
        staff_role = StaffRole(
            user=user, kind=kind, **{k: getattr(world, v) for k, v in place.items()}
        )
        with pytest.raises(ValidationError):
            staff_role.full_clean()
        refused_by_database(staff_role, "communities_staffrole_scope_matches_kind")


class TestDoorToDoorRules:
    def test_a_stairwell_is_listed_once_even_without_a_compound(self, world):
        DoorToDoorUnit.objects.create(
            activity=world.shengli_activity, building="3栋", stairwell="1单元", households=12
        )
        again = DoorToDoorUnit(
            activity=world.shengli_activity, building="3栋", stairwell="1单元", households=10
        )
        assert "This building or stairwell is already on the list." in validation_messages(again)
        refused_by_database(again, "activities_doortodoorunit_once_per_activity", unique=True)

    def test_households_reached_cannot_exceed_households(self, world):
        unit = DoorToDoorUnit(
            activity=world.shengli_activity,
            building="3栋",
            households=12,
            households_reached=13,
        )
        assert (
            "Households reached cannot be more than the households there are."
            in validation_messages(unit)
        )
        refused_by_database(unit, "activities_doortodoorunit_reached_within_households")
