"""Community staff of 胜利一路社区 review report-ins on a phone and on a desktop: approve one into a
grid, return another with a reason, and move a reported-in member to another grid."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from members.models import Member, Registration
from notifications.models import Notification

from .browser import assert_no_horizontal_scroll, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

PHONE_SCREENSHOT = "/tmp/review-phone.png"


def test_community_staff_approve_return_and_place_members(
    page, screen, live_server, world, community_staff, django_user_model
):
    # 王海燕's report-in (world) is pending; so is 张明's, applied for earlier.
    zhang = Member.objects.create(
        agency=world.yuanlin,
        name="张明",
        mobile="13700001234",
        user=django_user_model.objects.create_user("zhang_ming", password="pw-zhang_ming"),
    )
    zhang_registration = Registration.objects.create(
        member=zhang,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        applied_on=timezone.localdate() - dt.timedelta(days=3),
    )
    wang_registration = Registration.objects.get(member=world.sanxia_member_2)

    log_in(page, "shengli_staff")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    work = page.locator("#community-work")
    expect(work.locator('[data-figure="pending_registrations"]')).to_have_text("2")
    work.get_by_test_id("review-link").click()
    expect(page).to_have_url(re.compile(r"/members/report-ins/$"))

    rows = page.get_by_test_id("report-in")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("张明")  # the oldest first
    expect(rows.first).to_contain_text("137****1234")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=PHONE_SCREENSHOT.replace("phone", screen), full_page=True)

    # Approve 王海燕 straight into 紫林苑网格.
    wang = rows.filter(has_text="王海燕")
    wang.get_by_test_id("grid-select").select_option(label="紫林苑网格")
    wang.get_by_test_id("approve").click()
    expect(page.locator(".alert-success")).to_contain_text("王海燕")
    expect(page.get_by_test_id("report-in")).to_have_count(1)

    # Return 张明's with a reason.
    page.get_by_test_id("report-in").filter(has_text="张明").get_by_test_id("return").click()
    expect(page).to_have_url(re.compile(rf"/members/report-ins/{zhang_registration.pk}/return/$"))
    expect(page.get_by_test_id("report-in-details")).to_contain_text("市园林和林业局")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT.replace(".png", "-return.png"), full_page=True)
    # An empty reason is refused on the page.
    page.get_by_test_id("return-form").locator("button[type=submit]").click()
    expect(page.locator(".invalid-feedback, .is-invalid").first).to_be_visible()
    page.locator("textarea[name=reason]").fill("请先在单位党组织完成在职党员登记")
    page.get_by_test_id("return-form").locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/members/report-ins/\?community=\d+$"))
    expect(page.locator(".alert-success")).to_contain_text("张明")
    expect(page.get_by_test_id("nothing-pending")).to_be_visible()

    # On the member list, move 王海燕 to 万寿小区网格.
    page.get_by_test_id("tab-members").click()
    members = page.get_by_test_id("member-row")
    expect(members).to_have_count(2)  # 李建华 and 王海燕
    wang_row = members.filter(has_text="王海燕")
    expect(wang_row.get_by_test_id("grid")).to_have_text("紫林苑网格")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT.replace(".png", "-members.png"), full_page=True)
    wang_row.get_by_test_id("grid-select").select_option(label="万寿小区网格")
    wang_row.get_by_test_id("save-grid").click()
    expect(page.locator(".alert-success")).to_contain_text("万寿小区网格")
    expect(
        page.get_by_test_id("member-row").filter(has_text="王海燕").get_by_test_id("grid")
    ).to_have_text("万寿小区网格")

    wang_registration.refresh_from_db()
    zhang_registration.refresh_from_db()
    assert (wang_registration.status, wang_registration.grid) == ("active", world.wanshou)
    assert zhang_registration.status == "returned"
    assert zhang_registration.return_reason == "请先在单位党组织完成在职党员登记"
    assert Notification.objects.filter(
        kind=Notification.Kind.REGISTRATION_RETURNED, recipient=zhang.user
    ).exists()


def test_a_member_scans_the_poster_signs_in_by_mobile_reports_in_and_is_approved(
    page, screen, live_server, world, community_staff, member_user, settings
):
    settings.SITE_URL = live_server.url
    # Staff print the poster; its link is what the QR code holds.
    log_in(page, "shengli_staff")
    page.goto("/members/report-ins/")
    page.get_by_test_id("tab-poster").click()
    expect(page.get_by_test_id("poster-community")).to_have_text("胜利一路社区")
    expect(page.get_by_test_id("poster-qr").locator("svg")).to_be_visible()
    assert_no_horizontal_scroll(page)
    poster_link = page.get_by_test_id("poster-url").inner_text()
    assert poster_link == f"{live_server.url}/members/report-in/{world.shengli.pk}/"
    page.context.clear_cookies()

    # 李建华 scans the poster of the community he lives in (he is its liaison member already):
    # signed out, the link goes through the sign-in, by mobile, and lands on its report-in.
    page.goto(poster_link)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.get_by_label("用户名或手机号").fill("139 0000 0001")
    page.get_by_label("密码").fill("pw-sanxia_member")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("community")).to_have_text("胜利一路社区")
    assert_no_horizontal_scroll(page)
    expect(page.get_by_test_id("report-in-liaison")).to_have_count(0)
    page.get_by_test_id("report-in-residence").click()
    expect(page.locator(".alert-success")).to_contain_text("已向胜利一路社区报到")
    pending = page.get_by_test_id("my-report-in").filter(has_text="居住地社区")
    expect(pending).to_contain_text("待审核")
    assert_no_horizontal_scroll(page)
    page.context.clear_cookies()

    # The community approves it; the member sees it reported in.
    log_in(page, "shengli_staff")
    page.goto("/members/report-ins/")
    page.get_by_test_id("report-in").filter(has_text="李建华").get_by_test_id("approve").click()
    expect(page.locator(".alert-success")).to_contain_text("李建华")
    page.context.clear_cookies()
    log_in(page, "sanxia_member")
    page.goto("/members/report-in/")
    home = page.get_by_test_id("my-report-in").filter(has_text="居住地社区")
    expect(home).to_contain_text("已报到")
    expect(page.get_by_test_id("home")).to_contain_text("胜利一路社区")
    registration = Registration.objects.get(
        member=world.sanxia_member, kind=Registration.Kind.RESIDENCE
    )
    assert registration.status == Registration.Status.ACTIVE
