"""Charts (统计图表) in Chinese, on a phone and a desktop: the party office of 三峡旅游新区 opens
the charts from the menu, chooses last year, and reads four charts, each with its table; nothing is
wider than the screen, and under a strict Content-Security-Policy (no inline script or style) the
browser reports no error."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Status = Participation.Status
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"


@pytest.fixture
def last_year(world):
    """Three of 三峡's members' records last year: a duty patrol in March, a clean-up in July
    (voluntary), an absence in July that counts nowhere."""
    year = timezone.localdate().year - 1
    rows = [
        (world.sanxia_member, world.patrol, Activity.Nature.DUTY, 3, Status.PRESENT),
        (world.sanxia_member_2, world.cleanup, Activity.Nature.VOLUNTEER, 7, Status.PRESENT),
        (world.sanxia_member, world.cleanup, Activity.Nature.VOLUNTEER, 7, Status.ABSENT),
    ]
    for member, type_, nature, month, status in rows:
        starts_at = timezone.make_aware(dt.datetime(year, month, 10, 9))
        activity = Activity.objects.create(
            community=world.shengli,
            type=type_,
            title=f"{type_.name}{month}月",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
            nature=nature,
        )
        Participation.objects.create(
            activity=activity,
            member=member,
            status=status,
            hours=2 if status == Status.PRESENT else None,
            source=Participation.Source.ROLL_CALL,
        )
    return year


def _with_csp(route):
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})


def test_the_office_reads_last_years_charts(page, screen, world, last_year, agency_office):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.route("**/charts/**", _with_csp)
    log_in(page, "sanxia_office")
    follow_menu(page, "统计图表")
    expect(page.get_by_role("heading", name="统计图表", level=1)).to_be_visible()

    page.get_by_label("年度").select_option(str(last_year))
    page.get_by_label("期间").select_option(label="全年")
    page.get_by_role("button", name="显示").click()
    expect(page.get_by_test_id("chart-scope")).to_contain_text(f"本单位党员 · {last_year}")

    months = page.get_by_test_id("chart-months")
    expect(months.get_by_role("img")).to_have_attribute(
        "aria-label", "每月参与次数：下沉任务 1，志愿服务 1，合计 2"
    )
    expect(months.locator("rect.xc-bar-duty")).to_have_count(1)
    expect(months.locator("rect.xc-bar-volunteer")).to_have_count(1)
    expect(months.get_by_test_id("total")).to_contain_text("合计")
    # The bars scale with the page: the drawing is as wide as its column, never wider.
    svg_width = months.locator("svg").evaluate("svg => svg.getBoundingClientRect().width")
    assert 300 <= svg_width <= page.viewport_size["width"]
    for chart in ("hours", "types", "communities"):
        expect(page.get_by_test_id(f"chart-{chart}").locator("svg[role=img]")).to_be_visible()
        expect(page.get_by_test_id(f"table-{chart}")).to_be_visible()
    expect(page.get_by_test_id("chart-communities")).to_contain_text("胜利一路社区")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=f"/tmp/charts-{screen}.png", full_page=True)
    assert problems == []
