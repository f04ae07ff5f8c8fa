"""The attendance board (一目了然): who came, who did not, who is on leave, who is still waiting,
by agency, with the figures of DESIGN.md; printable; each viewer sees their own scope."""

import datetime as dt
import itertools
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from members.models import Member, Registration
from tests.conftest import make_user

Status = Participation.Status
Decision = Participation.LeaveDecision


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def board_url(activity):
    return reverse("activities:attendance_board", args=[activity.pk])


def page(response):
    return response.content.decode()


def figure(html, key):
    match = re.search(rf'data-figure="{key}">([^<]*)<', html)
    assert match, f"no figure {key} on the page"
    return match.group(1).strip()


_mobiles = itertools.count(1)


def person(world, name, agency=None):
    return Member.objects.create(
        agency=agency or world.sanxia, name=name, mobile=f"136{next(_mobiles):08d}"
    )


def on(activity, member, status=Status.SIGNED_UP, **extra):
    return Participation.objects.create(
        activity=activity,
        member=member,
        status=status,
        source=Participation.Source.ROLL_CALL,
        **extra,
    )


@pytest.fixture
def board(world):
    """A finished clean-up with people of two agencies in every state."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="铁路沿线垃圾清理",
        starts_at=now - dt.timedelta(hours=4),
        ends_at=now - dt.timedelta(hours=2),
        resident_volunteers=5,
    )
    sanxia, yuanlin = world.sanxia, world.yuanlin
    on(activity, person(world, "三峡甲"), Status.PRESENT, hours=Decimal("2.0"))
    on(activity, person(world, "三峡乙"), Status.PRESENT, hours=Decimal("1.5"))
    on(activity, person(world, "三峡丙"), Status.ABSENT)
    on(
        activity,
        person(world, "三峡丁"),
        Status.LEAVE,
        leave_reason="出差武汉",
        leave_decision=Decision.APPROVED,
    )
    on(activity, person(world, "三峡戊"))  # signed up, never called: 待点名
    on(activity, person(world, "园林甲", yuanlin), Status.PRESENT, hours=Decimal("2.0"))
    on(  # asked for leave, not decided: still signed up, no figure counts it as leave
        activity,
        person(world, "园林乙", yuanlin),
        Status.SIGNED_UP,
        leave_reason="孩子发烧",
        leave_decision=Decision.PENDING,
    )
    assert sanxia.pk != yuanlin.pk
    return activity


# --- Who sees what ------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(board_url(world.shengli_activity))
    assert response.status_code == 302
    assert response.url.startswith("/login/")


@pytest.mark.parametrize("persona", ["other_community_staff", "other_agency_office"])
def test_outside_the_scope_it_is_404(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(board_url(world.shengli_activity)).status_code == 404


def test_an_unknown_activity_is_404(client, grid_worker):
    client.force_login(grid_worker)
    assert client.get("/activities/999999/board/").status_code == 404


@pytest.mark.parametrize(
    "persona", ["grid_worker", "community_staff", "street_officer", "city_admin"]
)
def test_staff_of_the_place_see_everyone(client, request, board, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(board_url(board))
    assert response.status_code == 200
    html = page(response)
    for name in ("三峡甲", "三峡戊", "园林甲", "园林乙"):
        assert name in html
    assert figure(html, "present") == "3"


def test_an_agency_office_sees_only_its_own_members_and_their_figures(client, board, agency_office):
    client.force_login(agency_office)
    response = client.get(board_url(board))
    assert response.status_code == 200
    html = page(response)
    assert "三峡甲" in html and "三峡丁" in html
    assert "园林甲" not in html and "园林乙" not in html
    assert 'data-testid="own-agency-only"' in html
    assert figure(html, "present") == "2"
    assert figure(html, "hours") == "3.5"
    assert figure(html, "leaves") == "1"
    assert figure(html, "rate") == "66.7%"
    # Residents are the community's business, not the agency's: no tile that would mix them in.
    assert 'data-figure="residents"' not in html
    assert 'data-figure="people"' not in html


def test_an_agency_office_with_no_members_there_sees_an_empty_board(client, world, agency_office):
    """三峡 has an agreement with 胜利一路社区, so its activities are in scope; none of its
    members are on this one."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="万寿小区清扫",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=2),
        agreement=world.agreement,
    )
    on(activity, person(world, "园林某", world.yuanlin), Status.PRESENT, hours=1)
    client.force_login(agency_office)
    html = page(client.get(board_url(activity)))
    assert 'data-testid="board-empty"' in html
    assert "园林某" not in html


def test_a_member_on_the_activity_sees_only_their_own_line(client, world, member_user):
    client.force_login(member_user)
    activity = world.shengli_activity
    on(activity, person(world, "同事某"), Status.ABSENT)
    response = client.get(board_url(activity))
    assert response.status_code == 200
    html = page(response)
    assert "李建华" in html
    assert "同事某" not in html
    assert 'data-testid="board-figures"' not in html


def test_a_member_not_on_the_activity_is_refused(client, world, django_user_model):
    """The activity is in their community (they reported in), but they were not on it."""
    member = world.sanxia_member_2
    member.user = make_user(django_user_model, "wang")
    member.save(update_fields=["user"])
    Registration.objects.filter(member=member).update(status=Registration.Status.ACTIVE)
    client.force_login(member.user)
    assert client.get(world.shengli_activity.get_absolute_url()).status_code == 200
    assert client.get(board_url(world.shengli_activity)).status_code == 403


# --- What it shows ------------------------------------------------------------------------


def test_people_are_grouped_by_agency_and_by_attendance(client, board, community_staff):
    client.force_login(community_staff)
    html = page(client.get(board_url(board)))
    sections = re.findall(r'<section class="card[^"]*xc-board-agency.*?</section>', html, re.S)
    assert len(sections) == 2
    sanxia, yuanlin = sections  # in agency order: 三峡… before 市园林…
    assert "三峡旅游新区管委会" in sanxia and "市园林和林业局" in yuanlin

    def names(section, status):
        match = re.search(rf'data-status="{status}">(.*?)</ul>', section, re.S)
        return re.findall(r'xc-board-name">([^<]+)<', match.group(1)) if match else []

    assert sorted(names(sanxia, "present")) == ["三峡乙", "三峡甲"]
    assert names(sanxia, "absent") == ["三峡丙"]
    assert names(sanxia, "leave") == ["三峡丁"]
    assert names(sanxia, "open") == ["三峡戊"]
    assert names(yuanlin, "present") == ["园林甲"]
    assert names(yuanlin, "leave") == []
    assert names(yuanlin, "open") == ["园林乙"]
    assert names(yuanlin, "absent") == []
    # Hours of those present, reasons and decisions of those on leave.
    assert re.search(r"三峡乙</span> <span[^>]*>1.5 hours", sanxia)
    assert "出差武汉" in sanxia and "Approved" in sanxia
    assert "孩子发烧" in yuanlin and "Awaiting decision" in yuanlin
    # After the end, the signed-up are waiting for the roll call (待点名).
    assert "Pending roll call" in sanxia


def test_the_figures_follow_the_design(client, board, community_staff):
    """present 3, absent 1, leave 1 (the request still pending is no leave yet), 2 not called;
    hours 2 + 1.5 + 2; rate 3 ÷ (3 + 1), leave and the uncalled left out; 5 residents, so 8
    people took part."""
    client.force_login(community_staff)
    html = page(client.get(board_url(board)))
    assert figure(html, "present") == "3"
    assert figure(html, "absent") == "1"
    assert figure(html, "leaves") == "1"
    assert figure(html, "hours") == "5.5"
    assert figure(html, "rate") == "75%"
    assert figure(html, "residents") == "5"
    assert figure(html, "people") == "8"


def test_nobody_recorded_yet_shows_a_dash_for_the_rate(client, world, community_staff):
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="只有请假",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=2),
    )
    on(
        activity,
        person(world, "请假者"),
        Status.LEAVE,
        leave_reason="病",
        leave_decision="approved",
    )
    on(activity, person(world, "未点名"))
    client.force_login(community_staff)
    html = page(client.get(board_url(activity)))
    assert figure(html, "rate") == "—"
    assert figure(html, "present") == "0"
    assert figure(html, "hours") == "0"
    assert figure(html, "leaves") == "1"


def test_before_the_end_the_signed_up_are_just_signed_up(client, world, community_staff):
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="明天的活动",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=2),
    )
    on(activity, person(world, "报名者"))
    client.force_login(community_staff)
    html = page(client.get(board_url(activity)))
    assert "Pending roll call" not in html
    assert "Signed up" in html


def test_managers_get_a_link_to_the_roll_call_and_agency_offices_do_not(
    client, board, grid_worker, agency_office
):
    roll_call = reverse("activities:roll_call", args=[board.pk])
    client.force_login(grid_worker)
    assert f'href="{roll_call}"' in page(client.get(board_url(board)))
    client.force_login(agency_office)
    assert f'href="{roll_call}"' not in page(client.get(board_url(board)))


def test_the_board_is_printable(client, board, community_staff):
    client.force_login(community_staff)
    html = page(client.get(board_url(board)))
    assert "data-print" in html  # the print button (the script shows it)
    assert "css/roll_call.css" in html
    css = Path(finders.find("css/roll_call.css")).read_text()
    print_rules = css[css.index("@media print") :]
    for hidden in (".xc-navbar", ".xc-footer", ".btn", ".xc-no-print"):
        assert hidden in print_rules
    assert "display: none !important" in print_rules
    assert finders.find("js/roll_call.js")
    assert "window.print()" in Path(finders.find("js/roll_call.js")).read_text()


def test_the_board_costs_the_same_queries_for_5_and_50_people(client, world, community_staff):
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="大扫除",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
    )
    statuses = itertools.cycle([Status.PRESENT, Status.ABSENT, Status.LEAVE, Status.SIGNED_UP])
    agencies = itertools.cycle([world.sanxia, world.yuanlin])

    def add(count):
        for _ in range(count):
            status = next(statuses)
            on(
                activity,
                person(world, f"人{next(_mobiles)}", next(agencies)),
                status,
                hours=2 if status == Status.PRESENT else None,
                leave_reason="事" if status == Status.LEAVE else "",
                leave_decision=Decision.APPROVED if status == Status.LEAVE else "",
            )

    client.force_login(community_staff)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(board_url(activity)).status_code == 200
        return len(captured)

    add(5)
    at_5 = queries()
    add(45)
    assert Participation.objects.filter(activity=activity).count() == 50
    assert queries() == at_5
