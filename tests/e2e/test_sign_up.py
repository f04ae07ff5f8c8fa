"""A member on a phone (390 px, Chinese UI) finds the activities of the community they are
reported in to, signs up and sees the seat count drop, cancels, joins the waitlist of a full
one, is given a freed seat and gives it back with one tap."""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation
from activities.services.signup import participation_cancel, participation_sign_up
from members.models import Member, Registration
from notifications.models import Notification

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

SCREENSHOT = "/tmp/xiachen-sign-up-{name}.png"


def shoot(page, name):
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOT.format(name=name), full_page=True)


def coming(world, title, *, capacity, days):
    starts = timezone.now() + dt.timedelta(days=days)
    return Activity.objects.create(
        community=world.shengli,
        grid=world.wanshou,
        type=world.cleanup,
        title=title,
        place="万寿小区南门",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
        capacity=capacity,
    )


def neighbour(world, name, mobile):
    member = Member.objects.create(agency=world.sanxia, name=name, mobile=mobile)
    Registration.objects.create(
        member=member,
        community=world.shengli,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    return member


def row_of(page, activity):
    return page.locator(f'[data-testid="open-activity"][data-pk="{activity.pk}"]')


@pytest.mark.parametrize("screen", ["phone"])
def test_a_member_signs_up_cancels_and_waits_for_a_seat_on_a_phone(page, screen, world):
    cleanup = coming(world, "万寿小区环境清扫", capacity=3, days=2)
    patrol = coming(world, "紫林苑夜间巡查", capacity=1, days=3)
    first = neighbour(world, "赵一鸣", "13600000001")
    participation_sign_up(activity=cleanup, member=first)
    participation_sign_up(activity=patrol, member=first)

    log_in(page, "sanxia_member")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    follow_menu(page, test_id="nav-join")
    expect(page).to_have_url(re.compile(r"/activities/join/$"))
    expect(page.get_by_role("heading", name="活动报名")).to_be_visible()

    row = row_of(page, cleanup)
    expect(row).to_contain_text("万寿小区南门")
    expect(row).to_contain_text("志愿服务")
    expect(row).to_contain_text("万寿小区网格")
    expect(row.locator('[data-figure="seats-left"]')).to_have_text("2")
    shoot(page, "list")

    # Sign up: the seat count drops and the row is marked as mine.
    row.get_by_role("button", name="报名").click()
    expect(page.locator(".alert-success")).to_contain_text("已报名“万寿小区环境清扫”")
    row = row_of(page, cleanup)
    expect(row.locator('[data-figure="seats-left"]')).to_have_text("1")
    expect(row.get_by_test_id("mine")).to_have_text("已报名")
    shoot(page, "signed-up")

    # The activity's page says the same; cancel there.
    row.get_by_role("link", name="万寿小区环境清扫").click()
    expect(page.get_by_test_id("place-count")).to_contain_text("2/3")
    expect(page.get_by_test_id("my-sign-up")).to_contain_text("已报名")
    page.get_by_test_id("cancel-sign-up").click()
    expect(page.locator(".alert-success")).to_contain_text("已取消“万寿小区环境清扫”的报名")
    expect(page.get_by_test_id("place-count")).to_contain_text("1/3")
    expect(page.get_by_test_id("sign-up")).to_have_text("报名")
    shoot(page, "cancelled")
    assert not Participation.objects.filter(activity=cleanup, member=world.sanxia_member).exists()

    # The patrol is full: the member joins its waitlist, first in line.
    page.goto("/activities/join/")
    row = row_of(page, patrol)
    expect(row).to_contain_text("已满")
    row.get_by_role("button", name="已满，加入候补").click()
    expect(page.locator(".alert-warning")).to_contain_text("排第 1 位")
    expect(row_of(page, patrol).get_by_test_id("mine")).to_have_text("候补第 1 位")
    shoot(page, "waitlisted")

    # 赵一鸣 cancels: the seat goes to the member, who is told and gives it back in one tap.
    participation_cancel(activity=patrol, member=first)
    notice = Notification.objects.get(
        kind=Notification.Kind.SEAT_FREED, recipient=world.sanxia_member.user
    )
    page.goto(urlsplit(notice.url).path)  # the link of the message, on this server
    expect(page.get_by_test_id("my-sign-up")).to_contain_text("已递补给您")
    page.get_by_role("button", name="让出名额").click()
    expect(page.locator(".alert-success")).to_contain_text("由下一位候补递补")
    shoot(page, "given-back")
    assert not Participation.objects.filter(activity=patrol).exists()
