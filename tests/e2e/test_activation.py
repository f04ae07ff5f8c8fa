"""A member is activated through the link, on a phone, in Chinese: the office of 三峡旅游新区
prints a slip from the member's page (a QR code, the link, the expiry; no password), the member
opens the link, sets a password, lands on their dashboard signed in; the link then no longer
works."""

import re

import pytest
from playwright.sync_api import expect

from members.models import ActivationLink

from .browser import assert_no_horizontal_scroll, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "Xc-activ8-Strong!"


@pytest.mark.parametrize("screen", ["phone"])
def test_a_member_is_activated_through_the_printed_link(
    browser, page, screen, live_server, world, agency_office
):
    member = world.sanxia_member_2
    log_in(page, "sanxia_office")
    page.goto(f"/roster/{member.pk}/")
    expect(page.get_by_test_id("activation")).to_contain_text("尚无账号")
    assert_no_horizontal_scroll(page)
    with page.expect_popup() as popup:
        page.get_by_test_id("activation-slip").click()
    slip = popup.value
    expect(slip.get_by_test_id("slip-name")).to_have_text(member.name)
    expect(slip.get_by_test_id("slip-qr").locator("svg")).to_be_visible()
    expect(slip.get_by_test_id("slip-expires")).to_contain_text("有效期至")
    assert_no_horizontal_scroll(slip)
    url = slip.get_by_test_id("slip-url").inner_text().strip()
    assert "密码：" not in slip.content()

    # The member, on their own phone.
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **{
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        },
    )
    phone = context.new_page()
    path = re.sub(r"^https?://[^/]+", "", url)
    phone.goto(live_server.url + path)
    expect(phone.get_by_test_id("username")).to_contain_text(member.mobile)
    assert_no_horizontal_scroll(phone)
    phone.locator("#id_new_password1").fill(PASSWORD)
    phone.locator("#id_new_password2").fill(PASSWORD)
    phone.get_by_test_id("activate").click()
    expect(phone.locator("#dashboard")).to_be_visible()
    expect(phone.locator(".alert")).to_contain_text("密码已设置")
    assert ActivationLink.objects.get(member=member).used_at is not None

    # Spent.
    phone.goto(live_server.url + path)
    expect(phone.get_by_test_id("activation-invalid")).to_contain_text("此链接无法使用")

    # Next time, the member signs in with the mobile and the password they chose.
    context.clear_cookies()
    phone.goto(live_server.url + "/login/")
    phone.get_by_label("用户名或手机号").fill(member.mobile)
    phone.get_by_label("密码").fill(PASSWORD)
    phone.get_by_role("button", name="登录").click()
    expect(phone.locator("#dashboard")).to_be_visible()
    context.close()
