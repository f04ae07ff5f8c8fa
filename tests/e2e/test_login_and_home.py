"""A community's staff member logs in on the Chinese login page, works on the dashboard,
switches language and logs out: on a phone and on a desktop screen."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from activities import figures
from activities.models import Activity

from .browser import assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

PHONE_SCREENSHOT = "/tmp/xiachen-phone.png"


def open_menu(page, screen):
    """On a phone the navbar is collapsed behind the toggler; on a desktop it is open."""
    menu = page.locator("#main-nav")
    if screen == "phone":
        expect(menu).to_be_hidden()
        page.locator(".navbar-toggler").click()
        # Bootstrap marks the end of the opening transition with "show" (no "collapsing").
        expect(menu).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(menu).to_be_visible()
    return menu


def test_community_staff_logs_in_sees_the_dashboard_and_logs_out(
    page, screen, live_server, world, community_staff
):
    monday, _ = figures.week_bounds()
    starts = monday + dt.timedelta(days=2, hours=9)
    Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=world.cleanup,
        title="紫林苑楼道清理",
        place="紫林苑3栋",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
    )

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    assert_no_horizontal_scroll(page)

    # A wrong password: a clear error, still on the login page.
    page.get_by_label("用户名").fill("shengli_staff")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".alert-danger")).to_contain_text("用户名（或手机号）与密码不匹配")
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT.replace(".png", "-login.png"))

    page.get_by_label("密码").fill("pw-shengli_staff")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server.url}/")
    work = page.locator("#community-work")
    expect(work).to_contain_text("胜利一路社区")
    expect(work).to_contain_text("紫林苑楼道清理")
    expect(page.locator("body")).not_to_contain_text("翰林苑环境清扫")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT, full_page=True)

    menu = open_menu(page, screen)
    expect(menu.get_by_test_id("current-user")).to_contain_text("shengli_staff")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT.replace(".png", "-menu.png"))

    menu.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#community-work")).to_contain_text("紫林苑楼道清理")

    open_menu(page, screen).get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    open_menu(page, screen).locator('form[action="/logout/"] button').click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
