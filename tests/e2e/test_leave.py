"""Leave (请假) on a phone (390 px, Chinese UI): a member who holds the last seat asks for leave
with a reason; the community's staff find the request from the dashboard and approve it in one
tap; the member opens the message and sees it decided; the first on the waitlist gets the
seat."""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation
from activities.services.signup import participation_sign_up
from notifications.models import Notification

from .browser import assert_no_horizontal_scroll, log_in
from .conftest import SCREENS
from .test_sign_up import neighbour
from .test_tap_targets import MEASURE, MIN

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

SCREENSHOT = "/tmp/xiachen-leave-{name}.png"


def shoot(page, name):
    assert_no_horizontal_scroll(page)
    too_small = page.evaluate(MEASURE, MIN)
    assert not too_small, f"{name}: tap targets under {MIN} px: {too_small}"
    page.screenshot(path=SCREENSHOT.format(name=name), full_page=True)


@pytest.mark.parametrize("screen", ["phone"])
def test_a_member_asks_for_leave_staff_approve_and_the_waitlist_moves_up(
    page, screen, world, browser, live_server, community_staff
):
    starts = timezone.now() + dt.timedelta(days=2)
    activity = Activity.objects.create(
        community=world.shengli,
        grid=world.wanshou,
        type=world.cleanup,
        title="万寿小区楼道清理",
        place="万寿小区3栋",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
        capacity=1,
    )
    participation_sign_up(activity=activity, member=world.sanxia_member)
    waiting = neighbour(world, "赵一鸣", "13600000001")
    participation_sign_up(activity=activity, member=waiting)  # 候补第 1 位

    # The member asks for leave from the activity's page, with a reason.
    log_in(page, "sanxia_member")
    page.goto("/me/")  # 我的记录 offers leave on each coming activity too
    expect(page.get_by_test_id("upcoming-ask-leave")).to_be_visible()
    shoot(page, "my-record")
    page.goto(activity.get_absolute_url())
    expect(page.get_by_test_id("my-sign-up")).to_contain_text("已报名")
    page.get_by_test_id("ask-for-leave").click()
    expect(page.get_by_role("heading", name="请假")).to_be_visible()
    page.get_by_role("button", name="提交请假").click()  # no reason: said on the form
    expect(page.locator("#id_reason:invalid")).to_have_count(1)
    page.get_by_label("请假原因").fill("单位临时安排到武汉出差")
    shoot(page, "form")
    page.get_by_role("button", name="提交请假").click()
    expect(page.locator(".alert-success")).to_contain_text("已提交“万寿小区楼道清理”的请假")
    expect(page.get_by_test_id("my-sign-up")).to_contain_text("尚未审批")
    expect(page.get_by_test_id("withdraw-leave")).to_be_visible()
    shoot(page, "asked")
    mine = Participation.objects.get(activity=activity, member=world.sanxia_member)
    assert mine.asks_for_leave and mine.leave_reason == "单位临时安排到武汉出差"

    # The community's staff, on their own phone, find it from the dashboard and approve it.
    staff_context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **SCREENS["phone"]
    )
    staff_context.set_default_timeout(10_000)
    staff = staff_context.new_page()
    try:
        log_in(staff, "shengli_staff")
        expect(staff.locator('[data-figure="pending_leave"]')).to_have_text("1")
        staff.get_by_test_id("leave-requests-link").click()
        expect(staff).to_have_url(re.compile(r"/activities/leave/$"))
        request = staff.get_by_test_id("leave-request")
        expect(request).to_contain_text("李建华")
        expect(request).to_contain_text("单位临时安排到武汉出差")
        expect(request).to_contain_text("万寿小区楼道清理")
        shoot(staff, "list")
        request.get_by_test_id("approve-leave").click()
        expect(staff.locator(".alert-success")).to_contain_text("赵一鸣")
        expect(staff.get_by_test_id("no-leave-requests")).to_be_visible()
        shoot(staff, "approved")
    finally:
        staff_context.close()

    mine.refresh_from_db()
    assert (mine.status, mine.leave_decided_by) == (Participation.Status.LEAVE, community_staff)
    assert Participation.objects.get(activity=activity, member=waiting).status == (
        Participation.Status.SIGNED_UP
    )

    # The member opens the message's link and sees the leave decided.
    notice = Notification.objects.get(
        kind=Notification.Kind.LEAVE_DECIDED,
        recipient=world.sanxia_member.user,
        channel=Notification.Channel.INAPP,
    )
    page.goto(urlsplit(notice.url).path)
    expect(page.get_by_test_id("my-sign-up")).to_contain_text("请假已批准")
    expect(page.get_by_test_id("ask-for-leave")).to_have_count(0)
    shoot(page, "decided")
