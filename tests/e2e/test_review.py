"""Attendance review (考勤审核) on a phone, in Chinese: the party office of 三峡旅游新区 confirms
one record and disputes two with a reason; the staff of 胜利一路社区 see the disputes in their list
and answer them, one with an explanation, one with a correction of the record; the office sees
"answered by the community" and the answers, and confirms both. A confirmed record is locked on
the community's roll call: a change from a page opened before the office confirmed is refused,
with the translated message, and the record shows among the locked ones."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

Status = Participation.Status
Review = Participation.Review


def open_menu_link(page, name):
    follow_menu(page, name)


def record_in_list(page, record):
    return page.locator(f'[data-testid="record"][data-pk="{record.pk}"]')


@pytest.fixture
def records(world):
    """Three records of 三峡's members to review: 李建华 present 2 h at the patrol (the world's),
    and at a clean-up three days ago 王海燕 marked absent and 李建华 present 2 h."""
    now = timezone.now()
    cleanup = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=world.cleanup,
        title="紫林苑环境清扫",
        starts_at=now - dt.timedelta(days=3, hours=2),
        ends_at=now - dt.timedelta(days=3),
    )
    confirm = world.shengli_participation  # the patrol: present, 2 h
    absent = Participation.objects.create(
        activity=cleanup,
        member=world.sanxia_member_2,
        status=Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
    present = Participation.objects.create(
        activity=cleanup,
        member=world.sanxia_member,
        status=Status.PRESENT,
        hours=2,
        source=Participation.Source.ROLL_CALL,
    )
    return confirm, absent, present


@pytest.mark.parametrize("screen", ["phone"])
def test_the_office_confirms_and_disputes_and_reads_the_communitys_answers(
    browser, page, screen, live_server, world, agency_office, community_staff, records
):
    confirm, absent, present = records

    # The community's staff have the patrol's roll call open on their phone.
    staff_context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    staff_context.set_default_timeout(10_000)
    staff = staff_context.new_page()
    log_in(staff, "shengli_staff")
    # ... in a tab of its own, opened before the office confirms anything.
    roll_call = staff_context.new_page()
    roll_call.goto(reverse("activities:roll_call", args=[world.shengli_activity.pk]))
    stale_row = roll_call.locator(
        f'[data-testid="roll-call-row"][data-member="{confirm.member_id}"]'
    )
    expect(stale_row.locator('input[value="present"]')).to_be_checked()

    # The office: the review list from the menu, three records not reviewed yet.
    log_in(page, "sanxia_office")
    open_menu_link(page, "考勤审核")
    expect(page).to_have_url(re.compile(r"/review/$"))
    expect(page.get_by_test_id("record")).to_have_count(3)
    expect(page.get_by_test_id("review-records")).not_to_contain_text("陈思远")
    expect(record_in_list(page, confirm)).to_contain_text("未审核")
    assert_no_horizontal_scroll(page)
    page.screenshot(path="/tmp/review-list-phone.png", full_page=True)

    # Confirm one: ticked, then "confirm selected".
    record_in_list(page, confirm).get_by_role("checkbox").check()
    page.get_by_role("button", name="确认所选").click()
    expect(page.locator(".alert-success")).to_contain_text("1")
    expect(record_in_list(page, confirm)).to_contain_text("已确认")
    expect(record_in_list(page, confirm).get_by_role("checkbox")).to_have_count(0)

    # Dispute the other two, each with a reason, on the record's page.
    reasons = {absent: "王海燕当天请了事假，已向单位报备", present: "李建华当天只参加了1小时"}
    for record, reason in reasons.items():
        record_in_list(page, record).get_by_role("link", name=record.member.name).click()
        expect(page.get_by_test_id("record-review")).to_contain_text("未审核")
        assert_no_horizontal_scroll(page)
        page.get_by_label("记录哪里有误？").fill(reason)
        page.screenshot(path="/tmp/review-record-phone.png", full_page=True)
        page.get_by_test_id("dispute-form").get_by_role("button", name="提出异议").click()
        expect(page.locator(".alert-success")).to_contain_text("已提出异议")
        expect(page.get_by_test_id("record-review")).to_contain_text("有异议")
        expect(page.get_by_test_id("dispute-reason")).to_have_text(reason)
        expect(page.get_by_test_id("disputes-of-record")).to_contain_text("等待社区答复")
        assert_no_horizontal_scroll(page)
        page.get_by_role("link", name="考勤审核").last.click()

    # The community: its disputes from the menu, two to answer.
    staff.goto("/")
    open_menu_link(staff, "考勤异议")
    expect(staff).to_have_url(re.compile(r"/activities/disputes/$"))
    expect(staff.get_by_test_id("to-answer")).to_contain_text("2")
    expect(staff.get_by_test_id("dispute")).to_have_count(2)
    for record, reason in reasons.items():
        row = staff.locator(f'[data-testid="dispute"][data-pk="{record.pk}"]')
        expect(row).to_contain_text(reason)
        expect(row).to_contain_text("待答复")
    assert_no_horizontal_scroll(staff)
    staff.screenshot(path="/tmp/review-disputes-phone.png", full_page=True)

    # A correction: 王海燕 was on leave, not absent.
    staff.locator(f'[data-testid="dispute"][data-pk="{absent.pk}"]').get_by_role("link").click()
    expect(staff.get_by_test_id("dispute-reason")).to_have_text(reasons[absent])
    assert_no_horizontal_scroll(staff)
    form = staff.get_by_test_id("answer-form")
    form.get_by_label("答复").fill("核实签到表，确为事假，已更正")
    form.get_by_label("请假", exact=True).check()
    form.get_by_label("请假原因").fill("事假")
    staff.screenshot(path="/tmp/review-answer-phone.png", full_page=True)
    form.get_by_role("button", name="提交答复").click()
    expect(staff).to_have_url(re.compile(r"/activities/disputes/$"))
    expect(staff.locator(".alert-success")).to_contain_text("已答复")
    expect(staff.get_by_test_id("to-answer")).to_contain_text("1")
    absent_row = staff.locator(f'[data-testid="dispute"][data-pk="{absent.pk}"]')
    expect(absent_row).to_contain_text("已答复")
    expect(absent_row).to_contain_text("请假")

    # An explanation: 李建华's record stays as it is.
    staff.locator(f'[data-testid="dispute"][data-pk="{present.pk}"]').get_by_role("link").click()
    staff.get_by_test_id("answer-form").get_by_label("答复").fill("签到表显示全程参加，共2小时")
    staff.get_by_role("button", name="提交答复").click()
    expect(staff.get_by_test_id("to-answer")).to_contain_text("0")
    absent.refresh_from_db()
    present.refresh_from_db()
    assert (absent.status, absent.leave_reason) == (Status.LEAVE, "事假")
    assert (present.status, present.hours) == (Status.PRESENT, Decimal(2))

    # The office: "answered by the community", the answers, and confirms both.
    page.get_by_role("link", name="社区已答复").first.click()
    expect(page.get_by_test_id("record")).to_have_count(2)
    for record in (absent, present):
        expect(record_in_list(page, record)).to_contain_text("社区已答复")
    assert_no_horizontal_scroll(page)
    page.screenshot(path="/tmp/review-answered-phone.png", full_page=True)
    answers = {absent: "核实签到表，确为事假，已更正", present: "签到表显示全程参加，共2小时"}
    for record, answer in answers.items():
        record_in_list(page, record).get_by_role("link", name=record.member.name).click()
        expect(page.get_by_test_id("dispute-answer")).to_have_text(answer)
        if record == absent:
            expect(page.get_by_test_id("record-status")).to_contain_text("请假 · 事假")
            expect(page.get_by_test_id("disputes-of-record")).to_contain_text("已更正记录")
        else:
            expect(page.get_by_test_id("disputes-of-record")).not_to_contain_text("已更正记录")
        assert_no_horizontal_scroll(page)
        page.get_by_test_id("confirm-form").get_by_role("button", name="确认").click()
        expect(page.locator(".alert-success")).to_contain_text("1")
        expect(page.get_by_test_id("record-review")).to_contain_text("已确认")
        expect(page.get_by_test_id("confirm-form")).to_have_count(0)
        page.get_by_role("link", name="考勤审核").last.click()
    expect(page.get_by_test_id("record")).to_have_count(3)
    for record in (confirm, absent, present):
        expect(record_in_list(page, record)).to_contain_text("已确认")
        record.refresh_from_db()
        assert record.review == Review.CONFIRMED

    # The staff's roll call, opened before the office confirmed: marking 李建华 absent now is
    # refused with the message of the lock, and nothing changes.
    stale_row.locator("label.xc-mark-absent").click()
    roll_call.get_by_test_id("save-roll-call").click()
    errors = roll_call.get_by_test_id("roll-call-errors")
    expect(errors).to_contain_text("单位党组织已确认此记录")
    expect(errors).to_contain_text(confirm.member.name)
    confirm.refresh_from_db()
    assert (confirm.status, confirm.hours) == (Status.PRESENT, Decimal(2))
    # The page now shows it locked, with the way to a backfill.
    locked = roll_call.get_by_test_id("locked-rows")
    expect(locked).to_contain_text("单位党组织已确认")
    expect(locked.get_by_test_id("backfill-link")).to_have_text(confirm.member.name)
    expect(stale_row).to_have_count(0)
    # Everyone on it is locked: not "nobody has signed up".
    expect(roll_call.locator("[data-empty]")).to_have_count(0)
    assert_no_horizontal_scroll(roll_call)
    roll_call.screenshot(path="/tmp/review-rollcall-locked-phone.png", full_page=True)
    staff_context.close()
