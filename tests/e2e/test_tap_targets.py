"""Every tap target of the workspace is at least 44 × 44 CSS pixels on a 390 px phone (Apple's
and WCAG 2.5.5's size for a finger), on the main pages of each role.

What counts as a target: every visible link, button, checkbox, radio, select, <summary> (the
opener of folded filters), and label of a checkbox or radio. Two narrow rules, both about what
the thumb actually hits:
- a control hidden the Bootstrap way (.btn-check, .visually-hidden) is measured by its label;
- a `.stretched-link` is measured by the box its ::after covers (its positioned ancestor).
The one exception: a link inside a sentence — an <a> whose paragraph (<p>) has text of its own
besides the link — as WCAG 2.5.5 allows for inline links; there are none on these pages today.
"""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Concern, DoorToDoorUnit, WorkUpdate
from notifications.models import Notification
from notifications.notify import notify
from tests.e2e.browser import authenticator_of, type_code
from tests.e2e.conftest import SCREENS

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

MIN = 44

MEASURE = """(min) => {
  const targets =
    'a[href], button, input[type=checkbox], input[type=radio], select, summary, label[for]';
  const toggles = 'input[type=checkbox], input[type=radio]';
  const hiddenTheBootstrapWay = (el) =>
    el.matches('.btn-check') || el.closest('.visually-hidden, .visually-hidden-focusable');
  const inASentence = (el) => {
    const paragraph = el.closest('p');
    if (!el.matches('a') || !paragraph) return false;
    const clone = paragraph.cloneNode(true);
    clone.querySelectorAll('a').forEach((a) => a.remove());
    return clone.textContent.replace(/[\\s·|←→›‹]/g, '').length > 0;
  };
  const small = [];
  for (const el of document.querySelectorAll(targets)) {
    if (el.matches('label[for]')) {
      const control = document.getElementById(el.htmlFor);
      if (!control || !control.matches(toggles)) continue;
    }
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    if (hiddenTheBootstrapWay(el) || inASentence(el)) continue;
    let box = el.getBoundingClientRect();
    if (el.matches('.stretched-link') && el.offsetParent) {
      box = el.offsetParent.getBoundingClientRect();
    }
    if (box.width === 0 && box.height === 0) continue;
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      const name = (el.textContent || el.getAttribute('aria-label') || el.name || '')
        .trim().replace(/\\s+/g, ' ').slice(0, 30);
      const classes = String(el.className).trim().split(/\\s+/).filter(Boolean);
      const size = `${Math.round(box.width)}×${Math.round(box.height)}`;
      small.push(`${[el.tagName.toLowerCase(), ...classes].join('.')} "${name}" ${size}`);
    }
  }
  return small;
}"""


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **SCREENS["phone"]
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def workspace(world, community_staff, grid_worker, agency_office, member_user, street_officer):
    """The patrol of the fixture (ended, 李建华 present) with two stairwells, one his; a concern
    and a work update; and an unread message in everyone's inbox."""
    patrol = world.shengli_activity
    DoorToDoorUnit.objects.create(
        activity=patrol, building="3", stairwell="1", households=12, member=world.sanxia_member
    )
    DoorToDoorUnit.objects.create(activity=patrol, building="3", stairwell="2", households=10)
    concern = Concern.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        activity=patrol,
        title="3栋门口路灯不亮",
        location="紫林苑3栋",
        reported_by=member_user,
    )
    WorkUpdate.objects.create(
        community=world.shengli, activity=patrol, author=grid_worker, body="巡查江堤2公里。"
    )
    users = [community_staff, grid_worker, agency_office, member_user, street_officer]
    notify(
        kind=Notification.Kind.ROLL_CALL_DUE,
        recipients=users,
        obj=patrol,
        context={"pending": 1},
        enqueue=False,
    )
    Notification.objects.filter(channel=Notification.Channel.INAPP).update(
        state=Notification.State.SENT, sent_at=timezone.now() - dt.timedelta(minutes=5)
    )
    return patrol, concern


def log_in(page, live_server, username):
    device = authenticator_of(username)
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()
    type_code(page, device)
    expect(page).to_have_url(f"{live_server.url}/")


def pages_of(role, patrol, concern, member=None, newcomer=None):
    activity = f"/activities/{patrol.pk}/"
    everyone = ["/", activity, f"{activity}board/", f"{activity}doors/", "/notifications/inbox/"]
    notes = ["/activities/concerns/", f"/activities/concerns/{concern.pk}/", "/activities/updates/"]
    staff = [
        "/activities/",
        "/activities/week/",
        f"{activity}roll-call/",
        "/activities/new/",
        "/activities/concerns/new/",
        "/activities/updates/new/",
        "/activities/needs/",
        "/activities/needs/new/",
        "/members/",
        "/members/report-ins/",
        "/notifications/settings/",
    ]
    return {
        "shengli_staff": everyone + notes + staff,
        "shengli_grid": everyone + notes + staff,
        "sanxia_office": everyone
        + ["/roster/", "/roster/add/", "/roster/import/", f"/roster/{member.pk}/"]
        # A member without a login: the page's activation buttons.
        + [f"/roster/{newcomer.pk}/"],
        "street_officer": ["/", "/activities/", activity, "/notifications/inbox/"],
    }[role]


# A member's pages, all of them, are walked in WeChat's browser by test_member_phone.py.
@pytest.mark.parametrize(
    "role", ["shengli_staff", "shengli_grid", "sanxia_office", "street_officer"]
)
def test_every_tap_target_is_at_least_44_by_44_on_a_phone(
    phone, live_server, workspace, world, role
):
    patrol, concern = workspace
    page = phone
    log_in(page, live_server, role)
    too_small = {}
    for path in pages_of(role, patrol, concern, world.sanxia_member, world.sanxia_member_2):
        response = page.goto(path)
        assert response.status == 200, f"{role} cannot open {path}"
        found = page.evaluate(MEASURE, MIN)
        if path == "/":
            # The menu is folded behind the toggler on a phone: open it and measure it too.
            page.locator(".navbar-toggler").click()
            expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
            page.get_by_test_id("current-user").click()
            expect(page.get_by_test_id("user-menu")).to_be_visible()
            found += page.evaluate(MEASURE, MIN)
        if found:
            too_small[path] = sorted(set(found))
    assert not too_small, "\n".join(f"{p}: {items}" for p, items in too_small.items())
