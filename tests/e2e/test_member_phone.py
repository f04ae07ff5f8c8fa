"""A member's phone, as issue 10 (point 8) describes it: WeChat's browser on a 390 px screen.

Every member page — found by following the links of the menu and of the pages themselves, from
the dashboard, plus the pages a member reaches only from outside (a check-in code, a community's
report-in poster) — is in Chinese even when the phone asks for English, needs no sideways
scrolling, and has tap targets of 44 × 44 px at least. One browser context walks them all.

Then the taps a member needs, counted as a member makes them: to sign up from the reminder that
says "have a look at what is coming up", and to check in from the code printed for the site.
"""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import (
    Activity,
    Concern,
    DoorToDoorUnit,
    DutyAssignment,
    Need,
    Participation,
)
from activities.services.checkin import check_in_token
from members.models import Registration
from notifications.models import Notification
from notifications.notify import notify

from .browser import assert_no_horizontal_scroll
from .conftest import SCREENS
from .test_tap_targets import MEASURE, MIN

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

# WeChat's built-in browser on an iPhone, its language set to English: the site stays Chinese.
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI "
    "Language/en"
)

# What the walk must reach, so that a page dropped from the menu shows here rather than
# shrinking the walk: the member's pages of the URL conf.
MEMBER_PAGES = {
    "reports:dashboard",
    "activities:open_activities",
    "activities:activity_detail",
    "activities:check_in",
    "members:report_in",
    "members:report_in_community",
    "reports:my_record",
    "reports:my_contact",
    "reports:my_calendar",
    "reports:evaluations_mine",
    "notifications:inbox",
    "notifications:preferences",
    "activities:concern_list",
    "activities:concern_detail",
    "activities:concern_create",
    "activities:need_list",
    "activities:need_detail",
    "activities:work_update_list",
    "activities:door_units",
    "activities:attendance_board",
    "reports:summary_member",
}
# Not pages: downloads, the sign-out, the admin.
SKIP = re.compile(r"\.(csv|json|ics|svg|xlsx)$|^/admin/|^/logout/|^/i18n/")


@pytest.fixture
def wechat(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        user_agent=WECHAT,
        timezone_id="Asia/Shanghai",
        **SCREENS["phone"],
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def coming(world, title, *, days, capacity=None, hours=2):
    starts = timezone.now() + dt.timedelta(days=days)
    return Activity.objects.create(
        community=world.shengli,
        grid=world.wanshou,
        type=world.cleanup,
        title=title,
        place="万寿小区南门",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=hours),
        capacity=capacity,
    )


def check_in_path(activity):
    return reverse("activities:check_in", args=[activity.pk, check_in_token(activity)])


def sign_in(page, mobile, username):
    page.goto("/login/")
    page.get_by_label("用户名或手机号").fill(mobile)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#dashboard")).to_be_visible()


def url_name(path):
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


def links_of(page):
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if not SKIP.search(parts.path):
            yield parts.path


def test_every_member_page_fits_a_phone_in_wechat_in_chinese(wechat, world):
    page = wechat
    # The member's week: a seat on one activity, a place in line on a full one, one taking
    # place now (its check-in, a stairwell of its door-to-door round), tomorrow's duty, a
    # concern raised, a message in the inbox.
    seat = coming(world, "万寿小区环境清扫", days=2, capacity=10)
    full = coming(world, "紫林苑夜间巡查", days=3, capacity=1)
    now = coming(world, "紫林苑楼道清理", days=0, hours=2)
    now.starts_at = timezone.now() - dt.timedelta(minutes=5)
    now.save()
    Participation.objects.create(activity=seat, member=world.sanxia_member)
    Participation.objects.create(activity=full, member=world.sanxia_member_2)
    Participation.objects.create(
        activity=full,
        member=world.sanxia_member,
        status=Participation.Status.WAITLISTED,
        waitlisted_at=timezone.now(),
    )
    Participation.objects.create(activity=now, member=world.sanxia_member)
    DoorToDoorUnit.objects.create(
        activity=now, building="3", stairwell="1", households=12, member=world.sanxia_member
    )
    DutyAssignment.objects.create(
        agreement=world.agreement,
        date=timezone.localdate() + dt.timedelta(days=1),
        member=world.sanxia_member,
    )
    Concern.objects.create(
        community=world.shengli, title="3栋门口路灯不亮", reported_by=world.sanxia_member.user
    )
    notify(
        kind=Notification.Kind.UPCOMING,
        recipients=[world.sanxia_member.user],
        obj=seat,
        enqueue=False,
    )
    Need.objects.create(
        community=world.shengli,
        title="帮刘奶奶代买降压药",
        place="紫林苑3栋",
        deadline=timezone.now() + dt.timedelta(days=3),
        hours=1,
        published_by=world.sanxia_member.user,
    )
    # Reached from outside only: the code at the site, and the poster of the community where
    # the member lives (reported in there as a resident still to do); and the door-to-door
    # round of an activity (the walk opens the first activity page it finds).
    outside = [
        check_in_path(now),
        reverse("members:report_in_community", args=[world.shenzhen.pk]),
        reverse("activities:door_units", args=[now.pk]),
    ]
    assert not Registration.objects.filter(member=world.sanxia_member, community=world.shenzhen)

    sign_in(page, "13900000001", "sanxia_member")
    seen, problems = {}, {}
    queue = ["/", *outside]
    while queue:
        path = queue.pop(0)
        name = url_name(path)
        if name is None or name in seen:
            continue
        response = page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        seen[name] = path
        lang = page.locator("html").get_attribute("lang")
        found = page.evaluate(MEASURE, MIN)
        if path == "/":
            # The menu is folded behind the toggler on a phone: open it, and the user menu.
            page.locator(".navbar-toggler").tap()
            expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
            page.get_by_test_id("current-user").tap()
            expect(page.get_by_test_id("user-menu")).to_be_visible()
            found += page.evaluate(MEASURE, MIN)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if lang != "zh-hans" or overflow > 0 or found:
            problems[path] = {"lang": lang, "overflow": overflow, "small": sorted(set(found))}
        queue += [link for link in links_of(page) if url_name(link) not in seen]

    assert not problems, "\n".join(f"{path}: {what}" for path, what in problems.items())
    assert MEMBER_PAGES <= set(seen), MEMBER_PAGES - set(seen)
    # Only the member's own pages: nothing of the staff's workspace was linked to them.
    assert not {name for name in seen if name.startswith("admin:")}


class Taps:
    """The member's taps: opening a link (from a message, or by scanning a code) and each tap
    on the page. Typing is counted apart."""

    def __init__(self, page):
        self.page, self.count, self.typed = page, 0, 0

    def open(self, url):
        self.count += 1
        return self.page.goto(url)

    def tap(self, locator):
        self.count += 1
        locator.tap()

    def type(self, locator, text):
        self.typed += 1
        locator.fill(text)


def test_taps_to_sign_up_from_a_reminder_and_to_check_in_from_the_code(
    wechat, live_server, world, settings
):
    settings.SITE_URL = live_server.url
    page = wechat
    cleanup = coming(world, "万寿小区环境清扫", days=2, capacity=10)
    patrol = coming(world, "紫林苑夜间巡查", days=0, hours=3)
    patrol.starts_at = timezone.now() + dt.timedelta(minutes=20)  # its code opened 10 min ago
    patrol.save()

    # The nudge "have a look at what is coming up", opened from WeChat, signed out.
    notify(
        kind=Notification.Kind.INACTIVITY,
        recipients=[world.sanxia_member.user],
        obj=world.sanxia_member,
        enqueue=False,
    )
    link = Notification.objects.get(
        kind=Notification.Kind.INACTIVITY, channel=Notification.Channel.INAPP
    ).url
    taps = Taps(page)
    taps.open(link)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    taps.type(page.get_by_label("用户名或手机号"), "13900000001")
    taps.type(page.get_by_label("密码"), "pw-sanxia_member")
    taps.tap(page.get_by_role("button", name="登录"))
    expect(page).to_have_url(link)
    row = page.locator(f'[data-testid="open-activity"][data-pk="{cleanup.pk}"]')
    taps.tap(row.get_by_role("button", name="报名"))
    expect(page.locator(".alert-success")).to_contain_text("已报名“万寿小区环境清扫”")
    assert_no_horizontal_scroll(page)
    assert Participation.objects.filter(
        activity=cleanup, member=world.sanxia_member, status=Participation.Status.SIGNED_UP
    ).exists()
    # Signed out: the link, 登录 and 报名 (and the mobile and password typed once).
    assert (taps.count, taps.typed) == (3, 2)

    # Next time, still signed in (WeChat keeps the session): the link and 报名.
    again = coming(world, "胜利一路沿街清扫", days=4, capacity=10)
    taps = Taps(page)
    taps.open(link)
    row = page.locator(f'[data-testid="open-activity"][data-pk="{again.pk}"]')
    taps.tap(row.get_by_role("button", name="报名"))
    expect(page.locator(".alert-success")).to_contain_text("已报名“胜利一路沿街清扫”")
    assert (taps.count, taps.typed) == (2, 0)

    # At the site: the member scans the printed code, which opens its link; checked in.
    taps = Taps(page)
    taps.open(live_server.url + check_in_path(patrol))
    expect(page.get_by_test_id("checked-in")).to_contain_text("签到成功")
    assert_no_horizontal_scroll(page)
    assert taps.count == 1 and taps.typed == 0
    record = Participation.objects.get(activity=patrol, member=world.sanxia_member)
    assert record.status == Participation.Status.PRESENT and record.checked_in_at is not None
