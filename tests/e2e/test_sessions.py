"""A member signed in on two devices opens 我的登录设备 from the account menu and signs the other
one out; the other device is back at the sign-in (issue 11, point 2)."""

import re

import pytest
from playwright.sync_api import expect

from .browser import assert_no_horizontal_scroll, log_in, open_menu
from .conftest import SCREENS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_signs_out_their_other_device(page, screen, browser, live_server, member_user):
    other_context = browser.new_context(base_url=live_server.url, **SCREENS["desktop"])
    other = other_context.new_page()
    try:
        log_in(other, "sanxia_member")
        log_in(page, "sanxia_member")

        open_menu(page)
        page.get_by_test_id("current-user").click()
        page.get_by_role("link", name="我的登录设备").click()
        expect(page.get_by_role("heading", name="我的登录设备")).to_be_visible()
        sessions = page.get_by_test_id("session")
        expect(sessions).to_have_count(2)
        expect(page.get_by_test_id("this-device")).to_have_count(1)
        if screen == "phone":
            assert_no_horizontal_scroll(page)

        page.get_by_test_id("end-session").click()
        expect(page.locator(".alert-success")).to_contain_text("该设备已退出登录")
        expect(sessions).to_have_count(1)

        other.goto("/")
        expect(other).to_have_url(re.compile(r"/login/\?next=/$"))
    finally:
        other_context.close()
