"""The overviews in a browser, in Chinese, on a phone and a desktop.

The street officer of 万寿桥街道 opens their street's overview from the menu, sorts it by
participations, scrolls its table inside its own box (the page itself never scrolls
sideways) and follows a community's activity figure to the activities behind it; the city
administrator switches the city overview to agencies and reads a report-in rate."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation
from communities.models import Community
from reports.summaries import overview_refresh

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def figures(world):
    """A second community of the street with this year's activity, and the figures refreshed."""
    jianshe = Community.objects.create(street=world.wanshouqiao, name="建设社区")
    today = timezone.localdate()
    starts = timezone.make_aware(dt.datetime(today.year, today.month, 1, 9))
    for n in range(3):
        activity = Activity.objects.create(
            community=jianshe,
            type=world.cleanup,
            title=f"铁路沿线环境清扫{n}",
            starts_at=starts + dt.timedelta(hours=n),
            ends_at=starts + dt.timedelta(hours=n + 2),
        )
        Participation.objects.create(
            activity=activity,
            member=world.sanxia_member_2,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )
    overview_refresh()
    world.jianshe = jianshe
    return world


def open_menu_link(page, name, screen):
    follow_menu(page, name)


def test_a_street_officer_reads_sorts_and_follows_the_street_overview(
    page, screen, figures, street_officer
):
    log_in(page, "street_officer")
    open_menu_link(page, "街道概况", screen)
    expect(page.get_by_test_id("overview-title")).to_have_text("万寿桥街道概况")
    expect(page.get_by_test_id("overview-refreshed")).to_contain_text("数据统计于")
    table = page.get_by_test_id("overview-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    assert_no_horizontal_scroll(page)
    hint = page.get_by_test_id("scroll-hint").first
    if screen == "phone":
        # The table is wider than a phone: it scrolls inside its own box, and says so.
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("左右滑动表格可查看所有列")
        box = page.get_by_test_id("overview-box")
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        assert box.evaluate("b => b.scrollLeft > 0")
        assert_no_horizontal_scroll(page)

    else:
        expect(hint).to_be_hidden()  # a desktop shows every column

    table.get_by_role("link", name="参与次数").click()
    first = page.get_by_test_id("overview-table").locator("tbody tr").first
    expect(first).to_have_attribute("data-pk", str(figures.jianshe.pk))
    expect(first.locator('[data-figure="present"]')).to_have_text("3")
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("参与次数")
    page.screenshot(path=f"/tmp/overview-street-{screen}.png", full_page=True)

    first.locator('[data-figure="activities"] a').click()
    expect(page).to_have_url(re.compile(rf"/activities/\?community={figures.jianshe.pk}&"))
    for n in range(3):
        expect(page.get_by_text(f"铁路沿线环境清扫{n}")).to_be_visible()
    assert_no_horizontal_scroll(page)


def test_the_city_administrator_reads_the_agencies_report_in_rates(
    page, screen, figures, city_admin
):
    log_in(page, "city_admin")
    open_menu_link(page, "全市概况", screen)
    expect(page.get_by_test_id("overview-title")).to_have_text("全市概况")
    page.get_by_test_id("overview-tabs").get_by_role("link", name="按单位").click()
    row = page.locator(f'tr[data-pk="{figures.sanxia.pk}"]')
    # 三峡: 李建华 reported in (liaison), 王海燕's report-in is pending — 1 of 2.
    expect(row.locator('[data-figure="report_in_rate"]')).to_have_text("50%")
    assert_no_horizontal_scroll(page)
    page.screenshot(path=f"/tmp/overview-city-{screen}.png", full_page=True)
