"""An agency office sets up its second factor on a phone (390×844), signs out, signs in again with
the code of its authenticator app, then with a recovery code, which works once."""

import re

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.second_factor import code_of_secret, next_code

from .browser import assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    pytest.mark.second_factor,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOT = "/tmp/xiachen-second-factor-{name}.png"


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def password_step(page, next_url="/review/"):
    page.goto(f"/login/?next={next_url}")
    page.get_by_label("用户名").fill("sanxia_office")
    page.get_by_label("密码").fill("pw-sanxia_office")
    page.get_by_role("button", name="登录").click()


def sign_out(page):
    page.context.clear_cookies()


def test_enrol_sign_out_and_sign_in_with_a_code_then_a_recovery_code(
    phone, live_server, world, agency_office
):
    page = phone
    errors = []
    page.on("pageerror", lambda error: errors.append(error))

    # The password, then enrolment: nothing else opens until it is done.
    password_step(page)
    expect(page).to_have_url(re.compile(r"/second-factor/enrol/\?next=%2Freview%2F$"))
    expect(page.locator("h1")).to_have_text("绑定双因素认证")
    expect(page.get_by_test_id("otp-qr").locator("svg")).to_be_visible()
    box = page.get_by_test_id("otp-qr").bounding_box()
    assert 150 <= box["width"] <= 390
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOT.format(name="enrol"), full_page=True)
    page.goto("/review/")
    expect(page).to_have_url(re.compile(r"/second-factor/enrol/"))

    # The key as typed into an app by hand.
    secret = "".join(page.get_by_test_id("otp-secret").inner_text().split())
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.get_by_label("验证码").fill("000000")
    page.get_by_role("button", name="确认").click()
    expect(page.locator(".invalid-feedback, .alert-danger").first).to_contain_text("验证码不正确")
    # django-otp holds the device back a second after a wrong code.
    page.wait_for_timeout(2100)
    page.get_by_label("验证码").fill(code_of_secret(secret))
    page.get_by_role("button", name="确认").click()

    # The recovery codes, shown once, then on to the page first asked for.
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    recovery = codes.nth(0).inner_text().strip()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOT.format(name="codes"), full_page=True)
    page.get_by_test_id("continue").click()
    expect(page).to_have_url(f"{live_server.url}/review/")

    # Signed out and in again: the code page, with a numeric keypad on the phone.
    sign_out(page)
    password_step(page)
    expect(page).to_have_url(re.compile(r"/second-factor/\?next=%2Freview%2F$"))
    field = page.get_by_label("验证码")
    expect(field).to_have_attribute("inputmode", "numeric")
    expect(field).to_have_attribute("autocomplete", "one-time-code")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOT.format(name="code"), full_page=True)
    device = TOTPDevice.objects.get(user=agency_office, confirmed=True)
    field.fill(next_code(device))
    page.get_by_role("button", name="验证").click()
    expect(page).to_have_url(f"{live_server.url}/review/")

    # A recovery code instead of the app's, once.
    for attempt in range(2):
        sign_out(page)
        password_step(page, next_url="/")
        page.get_by_test_id("use-recovery-code").click()
        page.get_by_label("验证码").fill(recovery)
        page.get_by_role("button", name="验证").click()
        if attempt == 0:
            expect(page.locator("#dashboard")).to_be_visible()
        else:
            expect(page.locator(".invalid-feedback").first).to_contain_text("已使用过")
            expect(page).to_have_url(re.compile(r"/second-factor/"))

    # The code spent is gone; the other nine are left.
    user = get_user_model().objects.get(username="sanxia_office")
    assert user.staticdevice_set.get().token_set.count() == 9
    assert not errors
