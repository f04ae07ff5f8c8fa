"""A member reads their record on a phone: this year's hours in two ledgers, what they did, a
calendar address for the phone, and a download of their data, read back here."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation
from members.models import CalendarFeed
from reports.models import ExportLog

from .browser import assert_no_horizontal_scroll, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


def test_a_member_reads_their_record_makes_a_calendar_and_downloads_their_data(
    page, screen, live_server, world, member_user
):
    # Besides the world's duty patrol (present, 2 hours): a voluntary clean-up of 1.5 hours.
    starts = world.shengli_activity.starts_at - dt.timedelta(hours=2)
    if starts.astimezone(timezone.get_current_timezone()).year != timezone.localdate().year:
        starts = world.shengli_activity.starts_at + dt.timedelta(minutes=5)
    cleanup = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="江边清扫",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=1, minutes=30),
        status=Activity.Status.FINISHED,
    )
    Participation.objects.create(
        activity=cleanup,
        member=world.sanxia_member,
        status=Participation.Status.PRESENT,
        hours=Decimal("1.5"),
        source=Participation.Source.ROLL_CALL,
    )

    log_in(page, "sanxia_member")
    page.get_by_test_id("my-record-link").click()
    expect(page.locator('[data-figure="duty_hours"]')).to_have_text("2")
    expect(page.locator('[data-figure="volunteer_hours"]')).to_have_text("1.5")
    expect(page.locator('[data-figure="attendance_rate"]')).to_have_text("100%")
    expect(page.get_by_test_id("history-row")).to_have_count(2)
    assert_no_horizontal_scroll(page)

    page.get_by_test_id("calendar-link").click()
    page.get_by_test_id("create").click()
    address = page.get_by_test_id("feed-url").input_value()
    assert address.endswith(f"/calendar/{CalendarFeed.objects.get().token}.ics")
    assert_no_horizontal_scroll(page)

    page.goto("/me/")
    with page.expect_download() as download:
        page.get_by_test_id("download-json").click()
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert data["person"][0]["name"] == "李建华"
    assert {row["activity__title"] for row in data["participations"]} == {
        "沿江防汛巡逻",
        "江边清扫",
    }
    assert ExportLog.objects.get().user == member_user
