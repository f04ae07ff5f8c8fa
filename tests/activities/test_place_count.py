"""What an activity's places hold is said by its phase, in one place (the `place_count` tag) for
the list, the week, the activity page and the dashboard: 已报名 8/12 before and while it runs,
已参加 6 once it has ended (with those still waiting for the roll call), nothing when cancelled;
and the count is the activity's own, also for a member who sees only their own record."""

import itertools
import re

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.models import Activity, Participation
from members.models import Member

Status = Participation.Status
_mobiles = itertools.count(1)


@pytest.fixture(autouse=True)
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def make(world, title, starts_at, ends_at, people=(), status=Activity.Status.RECRUITING):
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=12,
        status=status,
    )
    for state in people:
        member = Member.objects.create(
            agency=world.sanxia, name=f"队员{next(_mobiles)}", mobile=f"135{next(_mobiles):08d}"
        )
        Participation.objects.create(
            activity=activity,
            member=member,
            status=state,
            leave_reason="外出" if state == Status.LEAVE else "",
            source=Participation.Source.SIGN_UP,
        )
    return activity


@pytest.fixture
def phases(world):
    """One activity of each phase this week, each with its people (places are 12)."""
    now = timezone.now()
    monday, next_monday = figures.week_bounds()
    # All within this week, whatever the day and hour: a third of the time between Monday
    # 00:00 and now, and of the time between now and next Monday.
    past, ahead = (now - monday) / 3, (next_monday - now) / 3
    later = (now + ahead, now + 2 * ahead)
    return {
        "before": make(world, "甲活动", *later, [Status.SIGNED_UP] * 8 + [Status.LEAVE]),
        "draft": make(world, "乙活动", *later, status=Activity.Status.DRAFT),
        "while": make(
            world, "丙活动", now - past, now + ahead, [Status.SIGNED_UP] * 3 + [Status.PRESENT] * 2
        ),
        "after": make(
            world,
            "丁活动",
            monday + past,
            monday + 2 * past,
            [Status.PRESENT] * 6 + [Status.ABSENT, Status.SIGNED_UP],
        ),
        "cancelled": make(
            world, "戊活动", *later, [Status.SIGNED_UP] * 4, status=Activity.Status.CANCELLED
        ),
    }


EXPECTED = {
    "before": "已报名 8/12",
    "draft": "已报名 0/12",
    "while": "已报名 5/12",
    "after": "已参加 6 · 待点名 1",
    "cancelled": "",
}


def words(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def test_the_tag_says_what_the_places_hold_by_phase(phases):
    template = Template("{% load xiachen %}{% place_count activity %}")
    annotated = Activity.objects.with_place_counts().in_bulk([a.pk for a in phases.values()])
    for phase, activity in phases.items():
        html = template.render(Context({"activity": annotated[activity.pk]}))
        assert words(html) == EXPECTED[phase], phase


def test_an_activity_without_a_capacity_counts_who_signed_up(world, phases):
    Activity.objects.filter(pk=phases["before"].pk).update(capacity=None)
    activity = Activity.objects.with_place_counts().get(pk=phases["before"].pk)
    html = Template("{% load xiachen %}{% place_count activity %}").render(
        Context({"activity": activity})
    )
    assert words(html) == "已报名 8"


def labels(html, within=None):
    """Each place-count label on the page (or in the list with that test id), by the title of
    its activity."""
    if within:
        html = html[html.index(f'data-testid="{within}"') :]
        html = html[: html.index("</ul>")]
    found = {}
    for title, phase in EXPECTED_TITLES.items():
        index = html.find(f">{title}<")
        assert index >= 0, f"{title} is not on the page"
        rest = html[index:]
        stop = rest.find("</li>")
        piece = rest[:stop]
        match = re.search(r'<span class="xc-place-count".*', piece, re.S)
        found[phase] = words(_label_span(match.group(0))) if match else ""
    return found


EXPECTED_TITLES = {
    "甲活动": "before",
    "乙活动": "draft",
    "丙活动": "while",
    "丁活动": "after",
    "戊活动": "cancelled",
}


def _label_span(html):
    """The outer span of the label (it holds spans of its own)."""
    depth = 0
    for match in re.finditer(r"<(/?)span\b[^>]*>", html):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return html[: match.end()]
    return html


def test_the_activity_list_labels_each_row_by_phase(client, world, phases, community_staff):
    client.force_login(community_staff)
    html = client.get(reverse("activities:activity_list")).content.decode()
    assert labels(html) == EXPECTED


def test_the_week_view_labels_each_activity_by_phase(client, world, phases, community_staff):
    client.force_login(community_staff)
    html = client.get(reverse("activities:activity_week")).content.decode()
    assert labels(html) == EXPECTED


def test_the_dashboard_cards_label_each_activity_by_phase(client, world, phases, community_staff):
    client.force_login(community_staff)
    html = client.get(reverse("reports:dashboard")).content.decode()
    assert labels(html, within="week-activities") == EXPECTED


@pytest.mark.parametrize("phase", list(EXPECTED))
def test_the_activity_page_labels_it_by_phase(client, world, phases, community_staff, phase):
    client.force_login(community_staff)
    html = client.get(phases[phase].get_absolute_url()).content.decode()
    match = re.search(r'<span class="xc-place-count".*', html, re.S)
    assert (words(_label_span(match.group(0))) if match else "") == EXPECTED[phase]


def test_a_member_sees_the_real_count_not_nobody_signed_up(client, world, phases, member_user):
    """李建华 reported in to the community but is not on it: 8 signed up, and the list of the
    records he may see (his own) is empty — it says so, not that nobody signed up."""
    client.force_login(member_user)
    html = client.get(phases["before"].get_absolute_url()).content.decode()
    assert "已报名 8/12" in words(html)
    assert "还没有人报名" not in html
    assert "您还没有报名本活动。" in html


def test_an_agency_office_sees_the_real_count_and_its_own_members(
    client, world, phases, agency_office
):
    before = phases["before"]
    before.agreement = world.agreement  # so that 三峡's office sees the activity
    before.save()
    client.force_login(agency_office)
    html = client.get(before.get_absolute_url()).content.decode()
    assert "已报名 8/12" in words(html)
    assert "本单位参加本活动的党员" in html
    assert "还没有人报名" not in html


def activity_queries(queries):
    """The captured statements that read activities (with their place counts)."""
    return [q["sql"] for q in queries if 'FROM "activities_activity"' in q["sql"]]


@pytest.mark.parametrize(
    "page", ["activities:activity_list", "activities:activity_week", "reports:dashboard"]
)
def test_place_counts_are_counted_per_row_without_a_group_by_over_every_activity(
    client, world, phases, community_staff, page
):
    """A GROUP BY over the community's activities joined to their participations grows with
    the years of data; a correlated count per row shown does not."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse(page)).content.decode()
    counted = [sql for sql in activity_queries(queries) if "activities_participation" in sql]
    assert counted, "no query counts the places"
    for sql in counted:
        # Grouped by the activity: what the place counts were (a dashboard's query of its
        # communities may group a correlated count of its own, per community).
        assert not re.search(r'GROUP BY\s+"activities_activity"', sql), sql
    within = "week-activities" if page == "reports:dashboard" else None
    assert labels(html, within=within) == EXPECTED


def test_the_counts_of_an_activity_nobody_is_on_are_zero_not_none(world, phases):
    activity = Activity.objects.with_place_counts().get(pk=phases["draft"].pk)
    assert (activity.signed_up, activity.present) == (0, 0)


def test_a_deep_page_of_the_list_counts_only_its_own_rows(client, world, community_staff):
    """Counting in the list's own query would count for every row an OFFSET skips: at city
    size the last page of a busy community counted 10,000 activities (1.2 s)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from activities.views.activity import PAGE_SIZE

    now = timezone.now()
    for i in range(PAGE_SIZE + 3):
        starts = now - timezone.timedelta(days=i + 1)
        make(world, f"活动{i:03d}", starts, starts + timezone.timedelta(hours=1), [Status.PRESENT])
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("activities:activity_list"), {"page": 2}).content.decode()
    counting = [sql for sql in activity_queries(queries) if 'AS "present"' in sql]
    assert len(counting) == 1
    assert "OFFSET" not in counting[0].upper()
    assert "IN (" in counting[0]  # the page's ids
    assert "GROUP BY" not in counting[0].upper()
    shown = re.findall(r'data-figure="present">(\d+)<', html)
    assert shown and set(shown) == {"1"}
