"""A report-in's agency (Registration.agency) is its member's, kept by the database on every
path that writes either: the community dashboard counts its members by agency from it."""

import re

from django.utils import timezone

from members.models import Member, Registration


def agencies_of(member):
    return set(Registration.objects.filter(member=member).values_list("agency", flat=True))


def test_a_new_report_in_takes_its_members_agency(world):
    registration = Registration.objects.create(
        member=world.yuanlin_member, community=world.shengli, applied_on=timezone.localdate()
    )
    assert registration.agency_id is None  # written by the database, not by Python
    registration.refresh_from_db()
    assert registration.agency_id == world.yuanlin.pk
    assert agencies_of(world.sanxia_member) == {world.sanxia.pk}


def test_a_member_moving_agency_takes_their_report_ins_along(world):
    world.sanxia_member.agency = world.yuanlin
    world.sanxia_member.save()
    assert agencies_of(world.sanxia_member) == {world.yuanlin.pk}
    Member.objects.filter(pk=world.sanxia_member.pk).update(agency=world.sanxia)
    assert agencies_of(world.sanxia_member) == {world.sanxia.pk}
    assert agencies_of(world.yuanlin_member) == {world.yuanlin.pk}


def test_a_report_in_saved_from_a_stale_instance_keeps_its_members_agency(world):
    # Django's save() writes every column: a new instance's None, or the agency the member had
    # when the instance was read.
    registration = Registration.objects.create(
        member=world.yuanlin_member, community=world.shengli, applied_on=timezone.localdate()
    )
    registration.status = Registration.Status.ACTIVE
    registration.save()
    assert agencies_of(world.yuanlin_member) == {world.yuanlin.pk}
    read = Registration.objects.get(pk=registration.pk)
    Member.objects.filter(pk=world.yuanlin_member.pk).update(agency=world.sanxia)
    read.return_reason = "—"
    read.save()
    assert agencies_of(world.yuanlin_member) == {world.sanxia.pk}


def test_a_report_in_given_to_another_member_takes_that_members_agency(world):
    Registration.objects.filter(member=world.sanxia_member).update(member=world.yuanlin_member)
    assert agencies_of(world.yuanlin_member) == {world.yuanlin.pk}


def test_the_dashboard_counts_a_moved_member_under_their_new_agency(client, world, community_staff):
    client.force_login(community_staff)
    assert f'data-agency-count="{world.sanxia.pk}">1<' in client.get("/").content.decode()
    Member.objects.filter(pk=world.sanxia_member.pk).update(agency=world.yuanlin)
    html = client.get("/").content.decode()
    assert f'data-agency-count="{world.yuanlin.pk}">1<' in html
    assert not re.search(rf'data-agency-count="{world.sanxia.pk}"', html)
