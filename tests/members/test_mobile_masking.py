"""Mobiles are masked (138****5678) wherever the viewer does not need the full number (issue 11
point 5): the one rule is communities.permissions.sees_full_mobiles; each page that shows
members is checked for the viewer who may and the viewers who may not see the number."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from communities import permissions
from communities.validators import mask_mobile
from notifications.models import Notification


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def page(user, url):
    response = signed_in(user).get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.mark.parametrize(
    "persona, community, agency, sees",
    [
        ("community_staff", "shengli", None, True),
        ("grid_worker", "shengli", None, True),
        ("other_community_staff", "shengli", None, False),
        ("street_officer", "shengli", None, False),
        ("city_admin", "shengli", None, False),
        ("agency_office", None, "sanxia", True),
        ("other_agency_office", None, "sanxia", False),
        ("city_admin", None, "sanxia", False),
        ("member_user", "shengli", "sanxia", False),
    ],
)
def test_the_rule_gives_the_full_number_only_to_those_who_reach_the_member(
    request, world, persona, community, agency, sees
):
    user = request.getfixturevalue(persona)
    where = {
        "community": getattr(world, community) if community else None,
        "agency": getattr(world, agency) if agency else None,
    }
    assert permissions.sees_full_mobiles(user, **where) is sees


def _urls(world):
    activity = world.shengli_activity
    return {
        "member_list": reverse("members:member_list") + f"?community={world.shengli.pk}",
        "report_ins": reverse("members:registration_review") + f"?community={world.shengli.pk}",
        "roster": reverse("roster:list"),
        "roster_member": reverse("reports:roster_member", args=[world.sanxia_member.pk]),
        "roll_call": reverse("activities:roll_call", args=[activity.pk]),
        "board": reverse("activities:attendance_board", args=[activity.pk]),
        "review": reverse("reports:review"),
        "attendance": reverse("reports:attendance"),
        "evaluations": reverse("reports:evaluations"),
        "outbox": reverse("notifications:outbox"),
    }


# (persona, page, may see the full number of the member listed: 李建华, 三峡's member reported
# in to 胜利一路社区)
PAGES = [
    # The community's own staff and grid workers tap to call on its desk.
    ("community_staff", "member_list", True),
    ("grid_worker", "member_list", True),
    ("community_staff", "report_ins", True),
    # The office keeps the roster: the member's page in full, its list masked.
    ("agency_office", "roster_member", True),
    ("agency_office", "roster", False),
    # Lists to read, not to call from: masked for everyone.
    ("community_staff", "roll_call", False),
    ("community_staff", "board", False),
    ("street_officer", "board", False),
    ("agency_office", "board", False),
    ("agency_office", "review", False),
    ("agency_office", "attendance", False),
    ("community_staff", "evaluations", False),
    ("community_staff", "outbox", False),
    ("agency_office", "outbox", False),
]


@pytest.fixture
def told(world):
    """A message to 李建华 about the patrol, with his mobile for the group robot."""
    member = world.sanxia_member
    return Notification.objects.create(
        kind=Notification.Kind.UPCOMING,
        channel=Notification.Channel.INAPP,
        recipient=member.user,
        recipient_key=f"u{member.user_id}",
        recipient_name=member.name,
        recipient_mobile=member.mobile,
        community=world.shengli,
        agency=world.sanxia,
        content_type=ContentType.objects.get_for_model(world.shengli_activity),
        object_id=world.shengli_activity.pk,
        subject="明天的巡逻",
    )


@pytest.mark.parametrize("persona, name, full", PAGES)
def test_each_page_shows_the_number_in_full_only_to_who_may_see_it(
    request, world, told, persona, name, full
):
    # The report-ins to review list the one waiting: 王海燕.
    member = world.sanxia_member_2 if name == "report_ins" else world.sanxia_member
    mobile = member.mobile
    html = page(request.getfixturevalue(persona), _urls(world)[name])
    assert member.name in html
    assert (mobile in html) is full
    assert (f'href="tel:{mobile}"' in html) is full


def test_the_masked_form_is_shown_where_the_number_is_not(world, agency_office, community_staff):
    masked = mask_mobile(world.sanxia_member.mobile)
    assert masked == "139****0001"
    assert masked in page(agency_office, reverse("roster:list"))
    roll_call = reverse("activities:roll_call", args=[world.shengli_activity.pk])
    assert masked in page(community_staff, roll_call)


def test_the_admin_lists_and_the_outbox_record_show_masked_numbers(world, told, staff_client):
    mobile = world.sanxia_member.mobile
    for url in (
        reverse("admin:members_member_changelist"),
        reverse("admin:notifications_notification_changelist"),
        reverse("admin:notifications_notification_change", args=[told.pk]),
    ):
        html = staff_client.get(url).content.decode()
        assert mobile not in html, url
    assert (
        mask_mobile(mobile)
        in staff_client.get(
            reverse("admin:notifications_notification_change", args=[told.pk])
        ).content.decode()
    )
    # The member's own edit form is where the city administrator corrects the number.
    change = reverse("admin:members_member_change", args=[world.sanxia_member.pk])
    assert mobile in staff_client.get(change).content.decode()
