"""The party office of 三峡旅游新区 keeps its roster on a phone and on a desktop, in Chinese: it
finds the roster in the menu, imports a file with a bad row (rejected, the row named), then a
good one (previewed, confirmed), opens a member's page, marks them as having left, and
downloads the roster as .xlsx and reads it."""

import io
import re

import pytest
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from playwright.sync_api import expect

from members.models import Member

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

HEADERS = ["姓名", "手机号", "是否党员（是/否）", "职务", "党支部", "居住地社区", "特长"]


def workbook(path, rows):
    book = Workbook()
    book.active.append(HEADERS)
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_the_office_imports_keeps_and_exports_its_roster(
    page, screen, tmp_path, world, agency_office
):
    log_in(page, "sanxia_office")
    follow_menu(page, "党员名册")
    expect(page).to_have_url(re.compile(r"/roster/$"))
    expect(page.get_by_test_id("member-row")).to_have_count(2)
    expect(page.get_by_test_id("roster")).not_to_contain_text("陈思远")  # another agency's
    assert_no_horizontal_scroll(page)

    # A file with a bad row: nothing imported, the row and the column named.
    page.get_by_test_id("import").click()
    bad = workbook(
        tmp_path / "bad.xlsx",
        [["赵敏", "13600000001", "是", "", "", "", ""], ["钱进", "1360000", "否", "", "", "", ""]],
    )
    page.get_by_label("Excel 表格（.xlsx）").set_input_files(str(bad))
    page.get_by_role("button", name="核对文件").click()
    errors = page.get_by_test_id("import-error")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("3")
    expect(errors.first).to_contain_text("B · 手机号")
    expect(page.get_by_test_id("import-errors")).to_contain_text("没有导入")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=f"/tmp/roster-import-{screen}.png", full_page=True)
    assert not Member.objects.filter(mobile="13600000001").exists()

    # The corrected file: previewed, then confirmed.
    good = workbook(
        tmp_path / "good.xlsx",
        [
            ["赵敏", "13600000001", "是", "", "", "", ""],
            ["钱进", "13600000002", "否", "", "", "", ""],
        ],
    )
    page.get_by_label("Excel 表格（.xlsx）").set_input_files(str(good))
    page.get_by_role("button", name="核对文件").click()
    expect(page.get_by_test_id("import-count")).to_contain_text("2")
    expect(page.get_by_test_id("import-preview")).to_contain_text("136****0002")
    assert_no_horizontal_scroll(page)
    page.get_by_test_id("confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("2")
    expect(page.get_by_test_id("member-row")).to_have_count(4)
    page.screenshot(path=f"/tmp/roster-{screen}.png", full_page=True)

    # A member's page; they leave the agency.
    page.get_by_test_id("member-name").filter(has_text="钱进").click()
    expect(page.get_by_test_id("history")).to_contain_text("从表格导入")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=f"/tmp/roster-member-{screen}.png", full_page=True)
    page.get_by_test_id("leave").click()
    page.get_by_label("离开单位日期").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="标记为离开").click()
    expect(page.get_by_test_id("status")).to_contain_text("已离开单位")

    # The roster as .xlsx, read back.
    page.get_by_role("link", name="党员名册").last.click()
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 .xlsx").click()
    sheet = load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).worksheets[0]
    names = [row[0].value for row in sheet.iter_rows(min_row=3)]
    assert "赵敏" in names and "钱进" not in names  # the active members, as the list shows
    assert sheet["B3"].value.count("*") == 4
