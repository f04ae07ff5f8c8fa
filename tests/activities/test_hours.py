"""Hours show as people write them — 2 小时, 1.5 小时, never "2.0" — on every page that shows
them, from one helper (activities.figures.format_number) and one filter (`hours`)."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from activities.figures import format_number, format_rate
from activities.models import Activity, Participation
from xiachen.templatetags.xiachen import hours

Status = Participation.Status


@pytest.fixture(autouse=True)
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


@pytest.fixture
def cleanup(world):
    """Two hours that ended an hour ago: 李建华 present 2 h (confirmed by his agency, so locked
    on the roll call), 王海燕 present 1.5 h, 陈思远 still to be marked."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑环境清扫",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
    )
    for member, hours_, review in [
        (world.sanxia_member, Decimal("2.0"), Participation.Review.CONFIRMED),
        (world.sanxia_member_2, Decimal("1.5"), Participation.Review.UNREVIEWED),
    ]:
        Participation.objects.create(
            activity=activity,
            member=member,
            status=Status.PRESENT,
            hours=hours_,
            review=review,
            source=Participation.Source.ROLL_CALL,
        )
    Participation.objects.create(
        activity=activity, member=world.yuanlin_member, source=Participation.Source.SIGN_UP
    )
    return activity


def text(response):
    assert response.status_code == 200
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_helper_and_the_filter_write_hours_as_people_do():
    assert [format_number(v) for v in (Decimal("2.0"), Decimal("1.5"), 3, "0.0", None)] == [
        "2",
        "1.5",
        "3",
        "0",
        "—",
    ]
    assert format_rate(Decimal("0.5")) == "50%"
    with translation.override("zh-hans"):
        assert hours(Decimal("2.0")) == "2 小时"
        assert hours(Decimal("1.5")) == "1.5 小时"
    with translation.override("en"):
        assert (hours(Decimal("1.0")), hours(Decimal("2.0"))) == ("1 hour", "2 hours")
    assert hours(None) == "—"


def test_the_activity_page_shows_hours_without_a_trailing_zero(client, world, cleanup, city_admin):
    client.force_login(city_admin)
    page = text(client.get(reverse("activities:activity_detail", args=[cleanup.pk])))
    assert "已参加 · 2 小时" in page
    assert "已参加 · 1.5 小时" in page
    assert "2.0" not in page and " h " not in page


def test_the_roll_call_shows_the_length_the_locked_hours_and_the_boxes_as_written(
    client, world, cleanup, community_staff
):
    client.force_login(community_staff)
    response = client.get(reverse("activities:roll_call", args=[cleanup.pk]))
    page = text(response)
    assert "· 2 小时 ·" in page  # the activity's length, in the heading
    assert "已参加 · 2 小时" in page  # 李建华's locked row
    html = response.content.decode()
    fields = dict(re.findall(r'name="(m\d+-hours)" value="([^"]*)"', html))
    assert sorted(fields.values()) == ["1.5", "2"]  # 王海燕's hours; 陈思远 gets the length
    assert 'placeholder="2"' in html
    assert "2.0" not in page


def test_the_board_shows_each_persons_hours_as_written(client, world, cleanup, community_staff):
    client.force_login(community_staff)
    page = text(client.get(reverse("activities:attendance_board", args=[cleanup.pk])))
    assert "李建华 2 小时" in page
    assert "王海燕 1.5 小时" in page
    assert "2.0" not in page


def test_the_dashboard_shows_hours_as_written(client, world, cleanup, member_user):
    client.force_login(member_user)
    html = client.get(reverse("reports:dashboard")).content.decode()
    # 李建华: 2 h on the patrol of the fixture, 2 h here.
    assert re.search(r'data-figure="my_hours">4<', html)
