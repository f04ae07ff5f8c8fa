"""The attendance report (出勤报表) in the Chinese UI, on a phone and a desktop: the party office
of 三峡旅游新区 opens it from the menu, sees this month's figures of its members (never another
agency's), follows a figure to the records behind it, and downloads the .xlsx, read back here."""

import datetime as dt
import io
import re

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from activities.models import Activity, Participation

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Status = Participation.Status


@pytest.fixture
def month_records(world):
    """This month: 李建华 present 2 h at the world's patrol (duty); 王海燕 absent at a clean-up
    and 陈思远 (园林局) present at the same clean-up."""
    # Two hours ago, in this month as the world's patrol (three hours ago) is.
    start = timezone.now() - dt.timedelta(hours=2)
    cleanup = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑环境清扫",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
    )
    for member, status in (
        (world.sanxia_member_2, Status.ABSENT),
        (world.yuanlin_member, Status.PRESENT),
    ):
        Participation.objects.create(
            activity=cleanup,
            member=member,
            status=status,
            hours=1 if status == Status.PRESENT else None,
            source=Participation.Source.ROLL_CALL,
        )
    return cleanup


def test_the_office_follows_a_figure_and_downloads_the_report(
    page, screen, world, agency_office, month_records
):
    log_in(page, "sanxia_office")
    follow_menu(page, "出勤报表")
    expect(page).to_have_url(re.compile(r"/attendance/$"))
    expect(page.get_by_role("heading", name="出勤报表")).to_be_visible()
    table = page.get_by_test_id("report-table")
    expect(page.get_by_test_id("report-row")).to_have_count(2)
    expect(table).not_to_contain_text("陈思远")
    row = page.locator(f'[data-testid="report-row"][data-member="{world.sanxia_member.pk}"]')
    expect(row.locator('[data-figure="present"]')).to_have_text("1")
    expect(row.locator('[data-figure="duty_hours"]')).to_have_text("2")
    expect(row.locator('[data-figure="rate"]')).to_have_text("100%")
    other = page.locator(f'[data-testid="report-row"][data-member="{world.sanxia_member_2.pk}"]')
    expect(other.locator('[data-figure="rate"]')).to_have_text("0%")
    expect(page.get_by_test_id("report-totals").locator('[data-figure="absent"]')).to_have_text("1")
    assert_no_horizontal_scroll(page)
    # Wider than a phone, the table scrolls in its box, and the phone says so.
    hint = page.get_by_test_id("scroll-hint")
    expect(hint).to_be_visible() if screen == "phone" else expect(hint).to_be_hidden()
    page.screenshot(path=f"/tmp/attendance-report-{screen}.png", full_page=True)

    # Sorted by absences, largest first: 王海燕 first.
    page.get_by_role("link", name="缺席").click()
    expect(page.get_by_test_id("report-row").first).to_have_attribute(
        "data-member", str(world.sanxia_member_2.pk)
    )

    # The absence is a link to the record behind it, in the review list.
    other.locator('[data-figure="absent"]').click()
    expect(page).to_have_url(re.compile(r"/review/\?"))
    expect(page.get_by_test_id("review-member")).to_contain_text("王海燕")
    expect(page.get_by_test_id("record")).to_have_count(1)
    expect(page.get_by_test_id("record")).to_contain_text("紫林苑环境清扫")
    expect(page.get_by_test_id("record")).to_contain_text("缺席")
    assert_no_horizontal_scroll(page)
    page.go_back()

    # The .xlsx, read back: title with the period, headers, the members and the totals.
    with page.expect_download() as download:
        page.get_by_test_id("export-xlsx").click()
    sheet = load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    today = timezone.localdate()
    assert "出勤报表" in rows[0][0] and f"{today.year}年{today.month}月" in rows[0][0]
    assert rows[1][:3] == ("姓名", "手机号", "参加次数")
    assert {r[0] for r in rows[2:-1]} == {"李建华", "王海燕"}
    assert rows[-1][0].startswith("合计") and rows[-1][5] == 1
    assert all("*" in r[1] for r in rows[2:-1])
