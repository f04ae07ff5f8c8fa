"""A grid worker takes the roll call of a finished activity on her phone (and on a desktop):
nine signed up, one walk-in found by the last digits of his mobile, one on leave, one absent,
the rest present; then the attendance board. The taps and seconds it takes are measured."""

import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Participation
from members.models import Member, Registration

from .browser import assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

PHONE_SCREENSHOT = "/tmp/rollcall-phone.png"
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄涛", "孙丽"]
Status = Participation.Status


@pytest.fixture
def finished(world):
    """A two-hour clean-up that ended an hour ago, 9 signed up, and 周杰 reported in to the
    community but not signed up."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=world.cleanup,
        title="紫林苑环境清扫",
        place="紫林苑小区",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
    )
    today = timezone.localdate()
    members = []
    for i, name in enumerate(NAMES):
        member = Member.objects.create(agency=world.sanxia, name=name, mobile=f"1380000{i:04d}")
        Registration.objects.create(
            member=member, community=world.shengli, status="active", applied_on=today
        )
        Participation.objects.create(
            activity=activity, member=member, source=Participation.Source.SIGN_UP
        )
        members.append(member)
    walk_in = Member.objects.create(agency=world.yuanlin, name="周杰", mobile="13912345678")
    Registration.objects.create(
        member=walk_in,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        status="active",
        applied_on=today,
    )
    return activity, members, walk_in


def log_in(page, next_url):
    page.goto(next_url)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_label("用户名").fill("shengli_grid")
    page.get_by_label("密码").fill("pw-shengli_grid")
    page.get_by_role("button", name="登录").click()


def row_of(page, member):
    return page.locator(f'[data-testid="roll-call-row"][data-member="{member.pk}"]')


def test_a_grid_worker_takes_the_roll_call_and_sees_the_board(
    page, screen, live_server, world, grid_worker, finished
):
    activity, members, walk_in = finished
    on_leave, absent = members[2], members[5]
    url = reverse("activities:roll_call", args=[activity.pk])
    log_in(page, url)
    expect(page).to_have_url(f"{live_server.url}{url}")
    expect(page.locator('[data-testid="roll-call-row"]')).to_have_count(9)
    assert_no_horizontal_scroll(page)

    taps = 0

    def tap(locator):
        nonlocal taps
        locator.click()
        taps += 1

    started = time.perf_counter()
    # A walk-in: the last 4 digits of his mobile, then add him (no reload).
    tap(page.locator("[data-walk-in-search] input[name=q]"))
    page.keyboard.type("5678")
    tap(page.locator("[data-walk-in-search] button[type=submit]"))
    tap(page.locator(f'[data-add-walk-in="{walk_in.pk}"]'))
    expect(page.locator('[data-testid="roll-call-row"]')).to_have_count(10)
    expect(row_of(page, walk_in).locator('input[value="present"]')).to_be_checked()
    # One on leave: the reason field opens with the cursor in it.
    tap(row_of(page, on_leave).locator("label.xc-mark-leave"))
    expect(row_of(page, on_leave).locator("input[name$=leave_reason]")).to_be_focused()
    page.keyboard.type("外出开会")
    # One absent, everyone else present in one tap.
    tap(row_of(page, absent).locator("label.xc-mark-absent"))
    tap(page.locator("[data-rest-present]"))
    counts = page.get_by_test_id("roll-call-counts")
    expect(counts.locator('[data-count="present"]')).to_have_text("8")
    expect(counts.locator('[data-count="absent"]')).to_have_text("1")
    expect(counts.locator('[data-count="leave"]')).to_have_text("1")
    expect(counts.locator('[data-count="unmarked"]')).to_have_text("0")
    marked_at = time.perf_counter()
    if screen == "phone":
        assert_no_horizontal_scroll(page)
        page.screenshot(path=PHONE_SCREENSHOT, full_page=True)
        page.screenshot(path=PHONE_SCREENSHOT.replace(".png", "-viewport.png"))
    else:
        page.screenshot(path="/tmp/rollcall-desktop.png")
    marked_at = time.perf_counter() - marked_at  # screenshots are not part of the roll call
    tap(page.get_by_test_id("save-roll-call"))

    board = reverse("activities:attendance_board", args=[activity.pk])
    expect(page).to_have_url(f"{live_server.url}{board}")
    figures = page.get_by_test_id("board-figures")
    expect(figures.locator('[data-figure="present"]')).to_have_text("8")
    elapsed = time.perf_counter() - started - marked_at
    expect(figures.locator('[data-figure="absent"]')).to_have_text("1")
    expect(figures.locator('[data-figure="leaves"]')).to_have_text("1")
    expect(figures.locator('[data-figure="hours"]')).to_have_text("16")
    expect(figures.locator('[data-figure="rate"]')).to_have_text("88.9%")
    expect(page.get_by_test_id("board-agency")).to_have_count(2)  # 三峡 and 园林 (周杰)
    expect(page.locator('[data-status="leave"]')).to_contain_text("外出开会")
    expect(page.locator("[data-print]")).to_be_visible()
    assert_no_horizontal_scroll(page)
    if screen == "phone":
        page.screenshot(path="/tmp/rollcall-board-phone.png", full_page=True)

    rows = {p.member_id: p for p in Participation.objects.filter(activity=activity)}
    assert len(rows) == 10
    assert rows[walk_in.pk].source == Participation.Source.ROLL_CALL
    assert rows[on_leave.pk].status == Status.LEAVE
    assert rows[on_leave.pk].leave_reason == "外出开会"
    assert rows[absent.pk].status == Status.ABSENT
    present = [p for p in rows.values() if p.status == Status.PRESENT]
    assert len(present) == 8 and {p.hours for p in present} == {Decimal("2.0")}
    assert all(p.recorded_by_id == grid_worker.pk for p in rows.values())

    assert taps == 7
    report = f"{screen}: {len(rows)} people, {taps} taps, {elapsed:.1f} s\n"
    with open("/tmp/rollcall-timing.txt", "a") as out:
        out.write(report)
    print(report)


def test_without_script_the_roll_call_still_works(
    page_without_script, live_server, world, grid_worker, finished
):
    """Plain radios in one form, the walk-in search as a GET form, and a leave without a
    reason sent back with everything typed kept."""
    page = page_without_script
    activity, members, walk_in = finished
    url = reverse("activities:roll_call", args=[activity.pk])
    log_in(page, url)
    expect(page.locator("[data-rest-present]")).to_be_hidden()

    page.locator("[data-walk-in-search] input[name=q]").fill("周杰")
    page.locator("[data-walk-in-search] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/roll-call/search/\?"))
    page.get_by_test_id("walk-in-results").get_by_role("link").click()
    expect(row_of(page, walk_in)).to_be_visible()
    expect(row_of(page, walk_in).locator('input[value="present"]')).to_be_checked()

    for member in members:
        row_of(page, member).locator("label.xc-mark-present").click()
    row_of(page, members[0]).locator("label.xc-mark-leave").click()
    page.get_by_test_id("save-roll-call").click()

    # Nothing saved; the row says why and every mark is still there.
    expect(page.get_by_test_id("roll-call-errors")).to_be_visible()
    expect(row_of(page, members[0])).to_have_class(re.compile("xc-rc-invalid"))
    expect(row_of(page, members[0]).locator('input[value="leave"]')).to_be_checked()
    expect(row_of(page, members[7]).locator('input[value="present"]')).to_be_checked()
    expect(row_of(page, walk_in)).to_be_visible()
    assert (
        not Participation.objects.filter(activity=activity)
        .exclude(status=Status.SIGNED_UP)
        .exists()
    )

    row_of(page, members[0]).locator("input[name$=leave_reason]").fill("病假")
    page.get_by_test_id("save-roll-call").click()
    expect(page).to_have_url(
        f"{live_server.url}{reverse('activities:attendance_board', args=[activity.pk])}"
    )
    expect(page.locator('[data-figure="present"]')).to_have_text("9")
    expect(page.locator('[data-figure="leaves"]')).to_have_text("1")


WALK_INS = [("吴刚", "13700001111"), ("郑爽", "13700002222"), ("冯雪", "13700003333")]


@pytest.fixture
def walk_ins(world, finished):
    """周杰 and three more who came without signing up, all reported in to the community."""
    today = timezone.localdate()
    people = [finished[2]]
    for name, mobile in WALK_INS:
        member = Member.objects.create(agency=world.yuanlin, name=name, mobile=mobile)
        Registration.objects.create(
            member=member, community=world.shengli, status="active", applied_on=today
        )
        people.append(member)
    return people


def test_walk_ins_one_after_another_take_two_taps_each(
    page, live_server, world, grid_worker, finished, walk_ins
):
    """After a walk-in is added the search box is empty, without the old results, and keeps
    the cursor: the next one is typed at once, then found and added (two taps each)."""
    activity = finished[0]
    log_in(page, reverse("activities:roll_call", args=[activity.pk]))
    search = page.locator("[data-walk-in-search] input[name=q]")
    results = page.locator("#walk-in-results")
    taps = 0

    def tap(locator):
        nonlocal taps
        locator.click()
        taps += 1

    tap(search)
    for member in walk_ins:
        page.keyboard.type(member.mobile[-4:])
        tap(page.locator("[data-walk-in-search] button[type=submit]"))
        tap(results.locator(f'[data-add-walk-in="{member.pk}"]'))
        expect(row_of(page, member).locator('input[value="present"]')).to_be_checked()
        expect(search).to_have_value("")
        expect(search).to_be_focused()
        expect(results.locator("[data-add-walk-in]")).to_have_count(0)
        expect(page.get_by_test_id("walk-in-added")).to_contain_text(member.name)

    expect(page.locator('[data-testid="roll-call-row"]')).to_have_count(9 + len(walk_ins))
    assert taps == 1 + 2 * len(walk_ins)


def test_without_script_a_walk_in_added_leaves_the_search_empty_and_focused(
    page_without_script, live_server, world, grid_worker, finished, walk_ins
):
    page = page_without_script
    activity = finished[0]
    log_in(page, reverse("activities:roll_call", args=[activity.pk]))
    search = page.locator("[data-walk-in-search] input[name=q]")
    for member in walk_ins[:2]:
        search.fill(member.mobile[-4:])
        page.locator("[data-walk-in-search] button[type=submit]").click()
        page.get_by_test_id("walk-in-results").get_by_role("link").click()
        expect(row_of(page, member)).to_be_visible()
        expect(search).to_have_value("")
        expect(search).to_be_focused()
        expect(page.get_by_test_id("walk-in-results")).to_have_count(0)
        expect(page.get_by_test_id("walk-in-added")).to_contain_text(member.name)
    expect(row_of(page, walk_ins[0])).to_be_visible()  # the first is still on the list
