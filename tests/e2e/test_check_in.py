"""QR check-in on a phone (390 px): the organiser shows the activity's code, a member opens its
link signed out, signs in, is checked in, and checks out at the end."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation

from .browser import assert_no_horizontal_scroll, log_in
from .test_tap_targets import MEASURE, MIN

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

SCREENSHOT = "/tmp/check-in-{}.png"


@pytest.mark.parametrize("screen", ["phone"])
def test_the_organiser_shows_the_code_and_a_member_checks_in_and_out(
    page, screen, live_server, world, community_staff, member_user, settings
):
    settings.SITE_URL = live_server.url
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑环境清扫",
        place="紫林苑北门",
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=2),
    )
    Participation.objects.create(
        activity=activity, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )

    # The organiser opens the activity on their phone and shows its check-in code.
    log_in(page, "shengli_staff")
    page.goto(activity.get_absolute_url())
    page.get_by_test_id("to-check-in-code").click()
    expect(page.get_by_test_id("check-in-activity")).to_have_text("紫林苑环境清扫")
    expect(page.get_by_test_id("check-in-qr").locator("svg")).to_be_visible()
    expect(page.get_by_test_id("print")).to_be_visible()
    expect(page.get_by_test_id("check-in-counts")).to_contain_text("已签到 0 人")
    assert_no_horizontal_scroll(page)
    assert page.evaluate(MEASURE, MIN) == []  # every tap target 44 px at least
    page.screenshot(path=SCREENSHOT.format("code"), full_page=True)
    code_link = page.get_by_test_id("check-in-url").inner_text()
    assert code_link.startswith(f"{live_server.url}/activities/{activity.pk}/check-in/")
    page.context.clear_cookies()

    # 李建华 scans it signed out: the sign-in first, then back to the link, checked in.
    page.goto(code_link)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.get_by_label("用户名或手机号").fill("13900000001")
    page.get_by_label("密码").fill("pw-sanxia_member")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(code_link)
    expect(page.get_by_test_id("checked-in")).to_contain_text("签到成功")
    assert_no_horizontal_scroll(page)
    assert page.evaluate(MEASURE, MIN) == []
    page.screenshot(path=SCREENSHOT.format("member"), full_page=True)
    record = Participation.objects.get(activity=activity, member=world.sanxia_member)
    assert record.status == Participation.Status.PRESENT
    assert record.checked_in_at is not None

    # At the end he checks out on the same page.
    page.get_by_test_id("check-out").click()
    expect(page.locator(".alert-success").first).to_contain_text("签退成功")
    expect(page.get_by_test_id("checked-out")).to_contain_text("签退")
    expect(page.get_by_test_id("check-out")).to_have_count(0)
    assert_no_horizontal_scroll(page)
    record.refresh_from_db()
    assert record.checked_out_at is not None
    assert record.hours is not None and record.hours < activity.duration_hours
