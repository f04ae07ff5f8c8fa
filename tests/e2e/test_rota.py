"""The duty rota (排班) on a phone and a desktop, in Chinese: the party office of 三峡旅游新区 opens
next month's rota of its agreement with 胜利一路社区 from the menu, fills it by rotation after the
confirmation, then taps a day and puts another member on duty by hand; the month shows it, with
no sideways scrolling."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import DutyAssignment
from activities.services.rota import month_days
from members.models import Member, Registration

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def pool(world):
    """Three more of 三峡's members reported in to 胜利一路社区, four with 李建华."""
    members = [world.sanxia_member]
    for n, name in enumerate(["赵晓东", "孙丽娟", "周志强"]):
        member = Member.objects.create(agency=world.sanxia, name=name, mobile=f"1360000000{n}")
        Registration.objects.create(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
        members.append(member)
    return members


def test_the_office_fills_a_month_by_rotation_and_changes_a_day_by_hand(
    page, screen, world, agency_office, pool
):
    log_in(page, agency_office.username)
    follow_menu(page, "排班")
    page.get_by_role("link", name="三峡旅游新区管委会 — 胜利一路社区").click()
    next_month = page.get_by_role("link", name="下个月")
    href = next_month.get_attribute("href")
    # The next month's page, once it is there: measured mid-navigation, the document is gone.
    with page.expect_navigation(url=lambda url: url.endswith(href), wait_until="load"):
        next_month.click()
    assert_no_horizontal_scroll(page)

    page.get_by_test_id("rota-fill").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("轮换排班")
    page.get_by_test_id("fill-empty").click()

    first = (timezone.localdate().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days = month_days(first)
    expect(page.locator(".alert-success")).to_contain_text(f"已排 {len(days)} 个班次")
    expect(page.locator("[data-short]")).to_have_count(0)
    assert DutyAssignment.objects.count() == len(days)
    assert_no_horizontal_scroll(page)

    # The fifth day goes to someone else than the rotation chose.
    day = first + dt.timedelta(days=4)
    chosen = DutyAssignment.objects.get(date=day).member
    other = next(member for member in pool if member != chosen)
    cell = page.locator(f'[data-date="{day.isoformat()}"]')
    expect(cell.get_by_test_id("on-duty")).to_have_text(chosen.name)
    cell.get_by_test_id("rota-day-link").click()
    assert_no_horizontal_scroll(page)
    page.get_by_label(chosen.name).uncheck()
    page.get_by_label(other.name).check()
    page.get_by_role("button", name="保存").click()

    expect(page.locator(".alert-success")).to_contain_text("已保存")
    expect(page.locator(f'[data-date="{day.isoformat()}"]').get_by_test_id("on-duty")).to_have_text(
        other.name
    )
    assert list(DutyAssignment.objects.filter(date=day).values_list("member", flat=True)) == [
        other.pk
    ]
    assert_no_horizontal_scroll(page)
