"""Personal data in the browser: a new login reads and accepts the privacy notice before its
first page; a member deletes their account from their record and can no longer sign in."""

import re

import pytest
from playwright.sync_api import expect

from members.models import Member, PrivacyAcceptance

from .browser import assert_no_horizontal_scroll, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


def test_a_new_login_accepts_the_notice_before_its_first_page(
    page, screen, live_server, world, privacy_notice_not_accepted
):
    user = world.sanxia_member.user
    PrivacyAcceptance.objects.filter(user=user).delete()
    page.goto("/login/")
    page.get_by_test_id("privacy-link").click()
    expect(page.get_by_test_id("notice-text")).to_contain_text("不收集身份证号码")
    expect(page.get_by_test_id("accept-form")).to_have_count(0)

    page.goto("/login/?next=/me/")
    page.get_by_label("用户名").fill("sanxia_member")
    page.get_by_label("密码").fill("pw-sanxia_member")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("must-accept")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.goto("/activities/join/")  # any other page sends them back
    expect(page.get_by_test_id("must-accept")).to_be_visible()
    page.get_by_test_id("accept").click()
    expect(page).to_have_url(re.compile(r"/activities/join/$"))  # where they were going
    expect(page.get_by_test_id("must-accept")).to_have_count(0)
    assert PrivacyAcceptance.objects.filter(user=user).count() == 1


def test_a_member_deletes_their_account(page, screen, live_server, world):
    log_in(page, "sanxia_member")
    page.goto("/me/")
    page.get_by_test_id("delete-account-link").click()
    assert_no_horizontal_scroll(page)
    page.get_by_label("您的密码").fill("pw-sanxia_member")
    page.get_by_role("checkbox").check()
    page.get_by_test_id("delete").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    member = Member.objects.get(pk=world.sanxia_member.pk)
    assert member.mobile == "" and member.deleted_at is not None
    page.get_by_label("用户名").fill("sanxia_member")
    page.get_by_label("密码").fill("pw-sanxia_member")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
