"""Lists of people on an activity read like a contact list: agencies, then names, by pinyin —
not by code point, which puts 张 before 李 and 三峡 before 安居."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, DoorToDoorUnit, Participation
from communities.models import Agency
from members.models import Member

# By pinyin: 安居集团 (an) before 三峡旅游新区管委会 (san); 安 李 张 within each.
EXPECTED = ["安静", "李娜", "张伟", "李建华", "王海燕", "张强"]


@pytest.fixture
def cleanup(world):
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑环境清扫",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
    )
    anju = Agency.objects.create(name="安居集团")
    people = [
        Member.objects.create(agency=anju, name=name, mobile=f"1340000000{i}")
        for i, name in enumerate(["张伟", "安静", "李娜"])
    ]
    people += [
        world.sanxia_member,  # 李建华
        world.sanxia_member_2,  # 王海燕
        Member.objects.create(agency=world.sanxia, name="张强", mobile="13400000009"),
    ]
    for member in people:
        Participation.objects.create(
            activity=activity, member=member, source=Participation.Source.SIGN_UP
        )
    return activity


def names_in(html, pattern):
    return re.findall(pattern, html)


def test_the_roll_call_lists_people_by_agency_and_name_in_pinyin(client, cleanup, grid_worker):
    client.force_login(grid_worker)
    html = client.get(reverse("activities:roll_call", args=[cleanup.pk])).content.decode()
    assert names_in(html, r'class="fw-semibold xc-rc-name">([^<]+)<') == EXPECTED


def test_the_board_lists_people_by_agency_and_name_in_pinyin(client, cleanup, community_staff):
    client.force_login(community_staff)
    html = client.get(reverse("activities:attendance_board", args=[cleanup.pk])).content.decode()
    listed = [name for name in re.findall(r"[\u4e00-\u9fff]{2,3}", html) if name in EXPECTED]
    assert list(dict.fromkeys(listed)) == EXPECTED


def test_the_activity_page_lists_people_by_agency_and_name_in_pinyin(
    client, cleanup, community_staff
):
    client.force_login(community_staff)
    html = client.get(cleanup.get_absolute_url()).content.decode()
    # Each name links to the record's page (activities:participation_detail).
    assert names_in(html, r'data-testid="record-link">([^<]+?)</a>') == EXPECTED


def test_the_door_totals_list_members_by_pinyin_and_the_unassigned_last(
    client, world, cleanup, community_staff
):
    members = {p.member.name: p.member for p in cleanup.participations.select_related("member")}
    for i, name in enumerate(["张伟", "安静", "李娜"]):
        DoorToDoorUnit.objects.create(
            activity=cleanup, building="1", stairwell=str(i), households=8, member=members[name]
        )
    DoorToDoorUnit.objects.create(activity=cleanup, building="2", households=8)
    client.force_login(community_staff)
    html = client.get(reverse("activities:door_units", args=[cleanup.pk])).content.decode()
    rows = re.findall(r'data-testid="member-total" data-member="(\d*)"', html)
    by_pk = {str(m.pk): name for name, m in members.items()}
    assert [by_pk.get(pk, "") for pk in rows] == ["安静", "李娜", "张伟", ""]
