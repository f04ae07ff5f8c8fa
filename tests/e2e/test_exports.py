"""A large export on a phone, in Chinese: the party office of 三峡旅游新区 exports its members'
attendance records from the review list; the export is large (EXPORT_SYNC_MAX_ROWS is set low),
so the same form opens the job's page, whose progress bar moves as rows are written (the page
refreshes itself without script) and ends in the download link; the file is read back."""

import datetime as dt
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from activities.models import Activity, Participation
from reports import jobs
from reports.models import ExportJob

from .browser import assert_no_horizontal_scroll, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def records(world):
    """Four records of 三峡's members: the world's patrol and three clean-ups this week."""
    now = timezone.now()
    for days in (1, 2, 3):
        cleanup = Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title=f"紫林苑环境清扫 {days}",
            starts_at=now - dt.timedelta(days=days, hours=2),
            ends_at=now - dt.timedelta(days=days),
        )
        Participation.objects.create(
            activity=cleanup,
            member=world.sanxia_member_2,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )


@pytest.mark.parametrize("screen", ["phone"])
def test_a_large_export_shows_its_progress_then_the_download(
    page, screen, world, agency_office, records, settings
):
    settings.EXPORT_SYNC_MAX_ROWS = 1
    log_in(page, "sanxia_office")
    page.goto("/review/")
    form = page.get_by_test_id("export-form")
    expect(form).to_be_visible()
    assert_no_horizontal_scroll(page)

    form.get_by_role("button", name="导出 .xlsx").click()

    # The job's page: waiting for a worker, its bar at nought.
    expect(page.get_by_test_id("export-state")).to_have_text("排队等待中")
    job = ExportJob.objects.get()
    assert job.rows_total == 4
    expect(page.get_by_test_id("export-progress")).to_have_attribute("value", "0")
    assert_no_horizontal_scroll(page)

    # Half written: the page, refreshing itself, moves its bar.
    ExportJob.objects.filter(pk=job.pk).update(state=ExportJob.State.RUNNING, rows_done=2)
    expect(page.get_by_test_id("export-progress")).to_have_attribute("value", "50")
    expect(page.get_by_test_id("export-rows")).to_contain_text("2 / 4")
    page.screenshot(path=f"/tmp/export-progress-{screen}.png", full_page=True)

    # The worker's part, here: the page ends in the download link.
    ExportJob.objects.filter(pk=job.pk).update(state=ExportJob.State.QUEUED)
    assert jobs.run_job(job.pk) == "done"
    link = page.get_by_test_id("export-download")
    expect(link).to_be_visible()
    expect(page.get_by_test_id("export-state")).to_have_text("已生成")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=f"/tmp/export-done-{screen}.png", full_page=True)
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3)]
    assert [row[8] for row in rows[:-1]] == ["王海燕", "王海燕", "王海燕", "李建华"]
    assert rows[-1][0] == "合计"
