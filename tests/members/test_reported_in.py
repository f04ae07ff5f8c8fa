"""Who is "reported in" (已报到) to a community, one rule (RegistrationQuerySet.reported_in): an
approved report-in of a member still with their agency. The dashboard's figures, the member
list, the report-in rate, the walk-in search and door-to-door all count the same people."""

import re

import pytest
from django.utils import timezone

from activities import figures
from activities.services.doors import assignable_members
from activities.services.rollcall import walk_in_candidates
from communities.models import Community
from members.models import Member, Registration


@pytest.fixture
def left_with_report_in(world):
    """王海燕 (三峡) is reported in to 胜利一路社区, then leaves her agency; nobody has revoked the
    report-in yet. 李建华 (三峡) stays."""
    Registration.objects.filter(member=world.sanxia_member_2).update(
        status=Registration.Status.ACTIVE
    )
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    return world.sanxia_member_2


def test_one_rule_says_who_is_reported_in(world, left_with_report_in):
    reported = Registration.objects.reported_in().filter(community=world.shengli)
    assert list(reported.values_list("member__name", flat=True)) == ["李建华"]


def test_the_dashboard_counts_no_one_who_left(client, world, community_staff, left_with_report_in):
    client.force_login(community_staff)
    html = client.get("/").content.decode()
    assert re.search(r'data-figure="reported_in">\s*1\s*<', html)
    assert f'data-agency-count="{world.sanxia.pk}">1<' in html


def test_the_member_list_shows_no_one_who_left(client, world, community_staff, left_with_report_in):
    client.force_login(community_staff)
    names = re.findall(
        r'data-testid="member-name">([^<]+)<', client.get("/members/").content.decode()
    )
    assert names == ["李建华"]


def test_walk_ins_doors_and_figures_agree(world, grid_worker, left_with_report_in):
    activity = world.shengli_activity
    shengli = figures.with_month_figures(Community.objects.filter(pk=world.shengli.pk)).get()
    assert shengli.reported_in == 1
    assert left_with_report_in not in walk_in_candidates(activity=activity, user=grid_worker)
    assert left_with_report_in not in assignable_members(activity)
    rate = figures.report_in(Member.objects.filter(agency=world.sanxia))
    assert (rate.reported_in, rate.active_members) == (1, 1)
