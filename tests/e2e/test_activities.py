"""A grid worker plans an activity on the form in the Chinese UI, finds it in the list and in the
week, and copies it as next week's: on a phone and on a desktop screen."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities import figures
from activities.models import Activity, ActivityType

from .browser import assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = "/tmp/xiachen-activities-{screen}-{name}.png"


def shoot(page, screen, name):
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOTS.format(screen=screen, name=name), full_page=True)


def log_in(page, username, next_url):
    page.goto(f"/login/?next={next_url}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()


def test_a_grid_worker_plans_an_activity_finds_it_and_copies_it_as_next_weeks(
    page, screen, live_server, world, grid_worker
):
    monday, _ = figures.week_bounds()
    wednesday = timezone.localdate(monday) + dt.timedelta(days=9)  # next week's
    title = "紫林苑汛期巡查"

    log_in(page, "shengli_grid", "/activities/")
    expect(page).to_have_url(f"{live_server.url}/activities/")
    # A grid worker starts with their own grid's activities.
    expect(page.get_by_test_id("my-grids-note")).to_be_visible()
    expect(page.get_by_test_id("activity-list")).to_contain_text("沿江防汛巡逻")
    shoot(page, screen, "list-before")

    page.get_by_test_id("new-activity").click()
    expect(page).to_have_url(re.compile(r"/activities/new/"))
    page.wait_for_load_state()  # the form's script is in place
    form = page.get_by_test_id("activity-form")
    # Labels come from the Chinese catalogue.
    expect(form.get_by_label("标题")).to_be_visible()
    patrol = ActivityType.objects.get(code=ActivityType.Code.FLOOD_PATROL)
    form.locator("#id_type").select_option(str(patrol.pk))
    # The small script sets the nature the type usually has: a flood patrol is duty.
    expect(form.locator("#id_nature")).to_have_value("duty")
    form.get_by_label("标题").fill(title)
    form.locator("#id_starts_at").fill(f"{wednesday.isoformat()}T19:00")
    # … and moves the end with the start: two hours when there was none.
    expect(form.locator("#id_ends_at")).to_have_value(f"{wednesday.isoformat()}T21:00")
    form.get_by_label("地点").fill("紫林苑沿江段")
    expect(form.locator("#id_grid")).to_have_value(str(world.zilinyuan.pk))  # theirs, proposed
    form.locator("#id_capacity").fill("6")
    if screen == "phone":
        shoot(page, screen, "form")
    form.get_by_test_id("save").click()

    activity = Activity.objects.get(title=title)
    expect(page).to_have_url(f"{live_server.url}{activity.get_absolute_url()}")
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator(".alert-success")).to_contain_text(title)
    assert activity.nature == Activity.Nature.DUTY
    assert activity.grid == world.zilinyuan
    assert activity.organizer == grid_worker
    assert timezone.localtime(activity.starts_at).strftime("%Y-%m-%d %H:%M") == (
        f"{wednesday.isoformat()} 19:00"
    )
    expect(page.get_by_test_id("manager-actions")).to_be_visible()
    shoot(page, screen, "detail")

    # In the list, upcoming first …
    page.get_by_test_id("activity-links").get_by_test_id("to-list").click()
    first_row = page.get_by_test_id("activity-row").first
    expect(first_row).to_contain_text(title)
    expect(first_row).to_contain_text("紫林苑网格")
    expect(first_row.locator("[data-status]")).to_have_attribute("data-status", "recruiting")
    shoot(page, screen, "list")

    # … and in the week, on its Wednesday.
    page.get_by_test_id("to-week").click()
    page.get_by_test_id("next-week").click()
    day = page.locator(f'[data-testid="day"][data-date="{wednesday.isoformat()}"]')
    expect(day).to_contain_text(title)
    expect(day).to_contain_text("19:00–21:00")
    if screen == "phone":
        # The days stack: Tuesday's card sits above Wednesday's, full width.
        tuesday = page.locator(f'[data-testid="day"][data-date="{wednesday - dt.timedelta(1)}"]')
        assert tuesday.bounding_box()["y"] < day.bounding_box()["y"]
        assert day.bounding_box()["width"] > 300
    else:
        # Seven columns side by side.
        boxes = [d.bounding_box() for d in page.get_by_test_id("day").all()]
        assert len({round(box["y"]) for box in boxes}) == 1
    shoot(page, screen, "week")

    # Copy it as the next one: the form comes filled in, a week later; saving creates it.
    day.get_by_role("link", name=title).click()
    page.get_by_test_id("copy").click()
    form = page.get_by_test_id("activity-form")
    expect(page.get_by_test_id("copied-from")).to_be_visible()
    following = wednesday + dt.timedelta(days=7)
    expect(form.locator("#id_starts_at")).to_have_value(f"{following.isoformat()}T19:00")
    expect(form.locator("#id_ends_at")).to_have_value(f"{following.isoformat()}T21:00")
    expect(form.get_by_label("标题")).to_have_value(title)
    expect(form.get_by_label("地点")).to_have_value("紫林苑沿江段")
    assert Activity.objects.filter(title=title).count() == 1  # nothing saved yet
    if screen == "phone":
        shoot(page, screen, "copy")
    form.get_by_test_id("save").click()

    expect(page.locator(".alert-success")).to_contain_text(title)
    copies = list(Activity.objects.filter(title=title).order_by("starts_at"))
    assert len(copies) == 2
    assert copies[1].starts_at - copies[0].starts_at == dt.timedelta(days=7)
    assert (copies[1].place, copies[1].grid, copies[1].capacity) == (
        "紫林苑沿江段",
        world.zilinyuan,
        6,
    )
    expect(page).to_have_url(f"{live_server.url}{copies[1].get_absolute_url()}")
