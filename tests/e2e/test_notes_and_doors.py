"""After an activity: a grid worker posts a work update, a member raises a residents' concern
which the grid worker forwards and resolves; then door-to-door publicity, from listing three
stairwells to "not one household missed". On a phone and on a desktop, in the Chinese UI.

Our own UI strings are translated later, so the steps find things by role, name and test id,
and check data (names, numbers), not English words."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import (
    Activity,
    ActivityType,
    Concern,
    DoorToDoorUnit,
    Participation,
    WorkUpdate,
)
from notifications.models import Notification

from .browser import assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

PHONE_SCREENSHOT = "/tmp/doors-phone.png"


@pytest.fixture(autouse=True)
def no_delivery(monkeypatch):
    """Messages are queued in the outbox as usual, but not handed to the shared broker."""
    from notifications import tasks

    monkeypatch.setattr(tasks, "publish", lambda task, ids: None)


def pick(bar, name, member):
    """Finds `member` in the assignment bar's picker by (part of) their name and picks them."""
    bar.get_by_test_id("assignee-q").fill(name)
    bar.get_by_test_id("find-assignee").click()
    choice = bar.page.locator(f"#assignee-{member.pk}")
    expect(choice).to_be_visible()
    choice.check()


def log_in(page, live_server, username):
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_updates_and_a_concern_from_raised_to_resolved(
    page, screen, live_server, world, grid_worker, member_user
):
    patrol = world.shengli_activity

    # The grid worker posts what was done on the patrol that just ended.
    log_in(page, live_server, "shengli_grid")
    page.goto("/activities/updates/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_test_id("new-update").click()
    form = page.get_by_test_id("update-form")
    form.locator('select[name="activity"]').select_option(str(patrol.pk))
    form.locator('textarea[name="body"]').fill("巡查江堤2公里，清理排水口3处，无险情。")
    assert_no_horizontal_scroll(page)
    form.locator('button[type="submit"]').click()
    expect(page).to_have_url(f"{live_server.url}/activities/updates/")
    row = page.get_by_test_id("update-row").first
    expect(row).to_contain_text("巡查江堤2公里，清理排水口3处，无险情。")
    expect(row.get_by_test_id("author")).to_have_text("shengli_grid")
    expect(row.get_by_test_id("update-activity")).to_have_text(patrol.title)
    assert WorkUpdate.objects.get().activity == patrol

    # A member who reported in raises a concern met on the way.
    log_in(page, live_server, "sanxia_member")
    page.goto("/activities/concerns/")
    page.get_by_test_id("new-concern").click()
    form = page.get_by_test_id("concern-form")
    form.locator('input[name="title"]').fill("3栋门口路灯不亮")
    form.locator('input[name="location"]').fill("紫林苑3栋")
    form.locator('textarea[name="description"]').fill("老人晚上出门看不清台阶。")
    expect(form.locator('select[name="grid"]')).to_have_value(str(world.zilinyuan.pk))
    form.locator('button[type="submit"]').click()
    concern = Concern.objects.get()
    expect(page).to_have_url(f"{live_server.url}/activities/concerns/{concern.pk}/")
    expect(page.get_by_test_id("concern-state")).to_have_attribute("data-state", "open")
    # The member sees the concern, but the buttons to handle it are not theirs.
    expect(page.get_by_test_id("forward-form")).to_have_count(0)
    assert Notification.objects.filter(recipient=grid_worker, object_id=concern.pk).exists()

    # Raised three days ago: the grid worker's list shows its age.
    Concern.objects.filter(pk=concern.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    log_in(page, live_server, "shengli_grid")
    page.goto("/activities/concerns/")
    row = page.get_by_test_id("concern-row").first
    expect(row).to_contain_text("3栋门口路灯不亮")
    expect(row.get_by_test_id("age")).to_have_attribute("data-age", "3")
    expect(row.get_by_test_id("age")).to_contain_text("3")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path="/tmp/concerns-phone.png", full_page=True)
    row.get_by_role("link", name="3栋门口路灯不亮").click()

    forward = page.get_by_test_id("forward-form")
    forward.locator('input[name="forward-forwarded_to"]').fill("街道城管科")
    forward.locator('button[type="submit"]').click()
    expect(page.get_by_test_id("concern-state")).to_have_attribute("data-state", "forwarded")
    expect(page.get_by_test_id("forwarded-to")).to_have_text("街道城管科")

    # Resolving without a note is stopped in the browser already (the server refuses it too).
    resolve = page.get_by_test_id("resolve-form")
    note = resolve.locator('textarea[name="resolve-resolution"]')
    resolve.locator('button[type="submit"]').click()
    expect(page.get_by_test_id("concern-state")).to_have_attribute("data-state", "forwarded")
    assert note.evaluate("el => el.validity.valueMissing")
    resolve.locator('textarea[name="resolve-resolution"]').fill("城管科已更换灯泡，居民确认。")
    resolve.locator('button[type="submit"]').click()
    expect(page.get_by_test_id("concern-state")).to_have_attribute("data-state", "resolved")
    expect(page.get_by_test_id("resolution")).to_contain_text("城管科已更换灯泡，居民确认。")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path="/tmp/concern-phone.png", full_page=True)
    concern.refresh_from_db()
    assert (concern.state, concern.handler) == (Concern.State.RESOLVED, grid_worker)


def test_door_to_door_from_three_stairwells_to_not_one_household_missed(
    page, screen, live_server, world, community_staff, member_user
):
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=ActivityType.objects.get(code=ActivityType.Code.DOOR_TO_DOOR),
        title="防汛知识入户宣传",
        place="紫林苑",
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=2),
    )
    for member in (world.sanxia_member, world.sanxia_member_2):
        Participation.objects.create(
            activity=activity, member=member, source=Participation.Source.SIGN_UP
        )
    doors_url = f"/activities/{activity.pk}/doors/"

    # The community's staff list building 3, stairwells 1 to 3, 12 households each.
    log_in(page, live_server, "shengli_staff")
    page.goto(doors_url)
    expect(page.get_by_test_id("no-units")).to_be_visible()
    add = page.get_by_test_id("add-form")
    add.locator('input[name="building"]').fill("3")
    add.locator('input[name="stairwells"]').fill("1-3")
    add.locator('input[name="households"]').fill("12")
    add.get_by_test_id("add").click()
    units = page.get_by_test_id("door-unit")
    expect(units).to_have_count(3)
    expect(page.get_by_test_id("coverage")).to_contain_text("0%")

    # Two stairwells to 李建华, one to 王海燕 (who has no login).
    first, second, third = DoorToDoorUnit.objects.order_by("stairwell")
    page.locator(f"#tick-{first.pk}").check()
    page.locator(f"#tick-{second.pk}").check()
    assign = page.get_by_test_id("assign-form")
    pick(assign, "李建", world.sanxia_member)
    assign.get_by_test_id("assign").click()
    page.locator(f"#tick-{third.pk}").check()
    pick(page.get_by_test_id("assign-form"), "海燕", world.sanxia_member_2)
    page.get_by_test_id("assign-form").get_by_test_id("assign").click()
    expect(page.locator(f"#unit-{third.pk}").get_by_test_id("unit-member")).to_have_text("王海燕")
    expect(page.locator(f"#unit-{first.pk}").get_by_test_id("unit-member")).to_have_text("李建华")

    # The staff record 王海燕's stairwell for her: 12 households.
    row = page.locator(f"#unit-{third.pk}")
    row.get_by_test_id("reached-input").fill("12")
    row.get_by_test_id("record").click()
    expect(page.locator(f"#unit-{third.pk}").get_by_test_id("unit-reached")).to_have_text("12/12")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path="/tmp/doors-phone-manager.png", full_page=True)

    # 李建华 opens the page on his phone: his stairwells come first, and he records them.
    log_in(page, live_server, "sanxia_member")
    page.goto(doors_url)
    rows = page.get_by_test_id("door-unit")
    expect(rows.nth(0)).to_have_attribute("data-pk", str(first.pk))
    expect(rows.nth(1)).to_have_attribute("data-pk", str(second.pk))
    # Only his own rows: another person's stairwell is not his to see (nor to record).
    expect(page.locator(f"#unit-{third.pk}")).to_have_count(0)
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("add-form")).to_have_count(0)

    # A slip of the thumb: 21 of 12 households is stopped in the browser already (the server
    # refuses it too), and the number stays there to correct.
    row = page.locator(f"#unit-{first.pk}")
    row.get_by_test_id("reached-input").fill("21")
    row.get_by_test_id("record").click()
    expect(row.get_by_test_id("reached-input")).to_have_value("21")
    assert row.get_by_test_id("reached-input").evaluate("el => el.validity.rangeOverflow")
    expect(row.get_by_test_id("unit-reached")).to_have_text("0/12")
    row.get_by_test_id("reached-input").fill("12")
    row.get_by_test_id("record").click()
    expect(page.locator(f"#unit-{first.pk}").get_by_test_id("unit-reached")).to_have_text("12/12")
    expect(page.get_by_test_id("not-one-missed")).to_have_count(0)

    page.locator(f"#unit-{second.pk}").get_by_test_id("record-all").click()
    expect(page.locator(f"#unit-{second.pk}").get_by_test_id("unit-reached")).to_have_text("12/12")

    coverage = page.get_by_test_id("coverage")
    expect(coverage.locator('[data-figure="coverage"]')).to_have_text("100%")
    expect(page.get_by_test_id("not-one-missed")).to_be_visible()
    totals = page.get_by_test_id("member-total")
    expect(totals).to_have_count(1)
    expect(page.get_by_test_id("member-totals")).not_to_contain_text("王海燕")
    expect(page.get_by_test_id("member-totals")).to_contain_text("李建华")
    expect(page.get_by_test_id("member-totals")).to_contain_text("24/24")
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path=PHONE_SCREENSHOT, full_page=True)
    assert DoorToDoorUnit.objects.filter(households_reached=12).count() == 3


@pytest.fixture
def twelve_stairwells(world):
    """Door-to-door in 紫林苑 with buildings 1-3, stairwells 1-4: longer than a phone's screen."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=ActivityType.objects.get(code=ActivityType.Code.DOOR_TO_DOOR),
        title="防汛知识入户宣传",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=2),
    )
    Participation.objects.create(
        activity=activity, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )
    DoorToDoorUnit.objects.bulk_create(
        DoorToDoorUnit(activity=activity, building=str(b), stairwell=str(s), households=12)
        for b in range(1, 4)
        for s in range(1, 5)
    )
    return activity


def overlaps(box, other):
    return not (
        box["y"] + box["height"] <= other["y"]
        or other["y"] + other["height"] <= box["y"]
        or box["x"] + box["width"] <= other["x"]
        or other["x"] + other["width"] <= box["x"]
    )


def test_the_assignment_bar_shows_only_while_something_is_ticked(
    page, live_server, world, community_staff, twelve_stairwells
):
    log_in(page, live_server, "shengli_staff")
    page.goto(f"/activities/{twelve_stairwells.pk}/doors/")
    units = page.get_by_test_id("door-unit")
    expect(units).to_have_count(12)
    bar = page.get_by_test_id("assign-form")
    expect(bar).to_be_hidden()

    first, second = (units.nth(i).locator("input[name=units]") for i in (0, 1))
    first.check()
    expect(bar).to_be_visible()
    expect(bar).to_be_in_viewport()  # at the bottom of the screen, under the thumb
    expect(bar.locator("[data-ticked]")).to_have_text("1")
    second.check()
    expect(bar.locator("[data-ticked]")).to_have_text("2")
    first.uncheck()
    second.uncheck()
    expect(bar).to_be_hidden()

    # Ticked again, the bar assigns them.
    first.check()
    pick(bar, "李建华", world.sanxia_member)
    bar.get_by_test_id("assign").click()
    expect(units.nth(0).get_by_test_id("unit-member")).to_have_text("李建华")
    expect(page.get_by_test_id("assign-form")).to_be_hidden()


def test_without_script_the_assignment_form_waits_below_the_list(
    page_without_script, live_server, world, community_staff, twelve_stairwells
):
    page = page_without_script
    log_in(page, live_server, "shengli_staff")
    page.goto(f"/activities/{twelve_stairwells.pk}/doors/")
    units = page.get_by_test_id("door-unit")
    form = page.get_by_test_id("assign-form")
    # Nothing ticked: the form is in the page's flow after the list, covering none of it.
    expect(form).to_be_visible()
    form_box = form.bounding_box()
    for i in range(12):
        box = units.nth(i).bounding_box()
        assert not overlaps(form_box, box), f"the form covers unit {i + 1}"
    assert form.evaluate("el => getComputedStyle(el).position") not in ("sticky", "fixed")

    units.nth(11).locator("input[name=units]").check()
    # Without script, "find" posts the form back: the tick stays, the matches come to pick.
    pick(form, "李建华", world.sanxia_member)
    expect(page.get_by_test_id("door-unit").nth(11).locator("input[name=units]")).to_be_checked()
    page.get_by_test_id("assign-form").get_by_test_id("assign").click()
    expect(page.get_by_test_id("door-unit").nth(11).get_by_test_id("unit-member")).to_have_text(
        "李建华"
    )


@pytest.fixture
def big_community(world, twelve_stairwells):
    """Sixty more members reported in to 胜利一路社区, as a busy community has hundreds."""
    from members.models import Member, Registration

    members = Member.objects.bulk_create(
        Member(agency=world.yuanlin, name=f"{surname}{i:02d}", mobile=f"1370000{i:04d}")
        for i, surname in enumerate(["周海", "吴海", "郑江"] * 20)
    )
    Registration.objects.bulk_create(
        Registration(
            member=m,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
        for m in members
    )
    return members


def test_the_picker_finds_a_member_among_many_by_name_or_mobile(
    page, screen, live_server, world, community_staff, twelve_stairwells, big_community
):
    log_in(page, live_server, "shengli_staff")
    page.goto(f"/activities/{twelve_stairwells.pk}/doors/")
    # Nobody of the sixty is on the page until searched for.
    expect(page.get_by_test_id("assignee")).to_have_count(1)  # 李建华, on the activity
    assert "郑江" not in page.content()
    units = page.get_by_test_id("door-unit")
    units.nth(0).locator("input[name=units]").check()
    units.nth(1).locator("input[name=units]").check()
    bar = page.get_by_test_id("assign-form")

    # Typing is enough: the matches come without pressing anything, ten at most.
    bar.get_by_test_id("assignee-q").press_sequentially("郑江")
    results = bar.get_by_test_id("assignee")
    expect(results).to_have_count(10)
    expect(bar.get_by_test_id("assignee-results")).to_contain_text("郑江")
    expect(bar.get_by_test_id("assignee-results")).not_to_contain_text("周海")
    # Three digits are too few; four find her by the end of her mobile.
    bar.get_by_test_id("assignee-q").fill("0017")
    bar.get_by_test_id("find-assignee").click()
    expect(results).to_have_count(1)
    expect(bar.get_by_test_id("assignee-results")).to_contain_text("郑江17")
    expect(bar.get_by_test_id("assignee-results")).to_contain_text("137****0017")
    assert_no_horizontal_scroll(page)
    expect(bar).to_be_in_viewport()
    if screen == "phone":
        page.screenshot(path="/tmp/doors-picker-phone.png", full_page=False)
    results.first.check()
    bar.get_by_test_id("assign").click()
    for i in (0, 1):
        expect(units.nth(i).get_by_test_id("unit-member")).to_have_text("郑江17")
    assert DoorToDoorUnit.objects.filter(member=big_community[17]).count() == 2
