"""The activity page that reminders link to."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity, Participation
from members.models import Member


def url(activity):
    return activity.get_absolute_url()


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(url(world.shengli_activity))
    assert response.status_code == 302
    assert response.url.startswith("/login/")


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "agency_office", "member_user"]
)
def test_people_in_scope_see_the_activity_and_its_people(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(url(world.shengli_activity))
    assert response.status_code == 200
    assert "沿江防汛巡逻" in response.content.decode()
    assert "李建华" in response.content.decode()


@pytest.mark.parametrize(
    "persona", ["other_community_staff", "other_agency_office", "other_member_user"]
)
def test_another_scope_gets_404(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url(world.shengli_activity)).status_code == 404


def test_an_unknown_activity_is_404(client, community_staff):
    client.force_login(community_staff)
    assert client.get("/activities/999999/").status_code == 404


def test_the_page_costs_the_same_queries_for_5_and_50_people(client, world, community_staff):
    client.force_login(community_staff)

    def add_people(count):
        start = Member.objects.count()
        members = Member.objects.bulk_create(
            Member(agency=world.sanxia, name=f"成员{start + i}", mobile=f"137{start + i:08d}")
            for i in range(count)
        )
        Participation.objects.bulk_create(
            Participation(
                activity=world.shengli_activity, member=m, source=Participation.Source.SIGN_UP
            )
            for m in members
        )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(world.shengli_activity)).status_code == 200
        return len(captured)

    add_people(4)
    at_5 = queries()
    add_people(45)
    assert queries() == at_5


def test_the_page_reads_no_organizer_and_leaves_sorting_its_people_to_python(
    client, world, community_staff
):
    # The page never shows the organizer (their login's row was read for nothing), and its
    # people are sorted by pinyin in Python (member_order): an ORDER BY joined and sorted twice.
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(world.shengli_activity)).status_code == 200
    activity_reads = [
        q["sql"] for q in captured if q["sql"].startswith('SELECT "activities_activity"."id"')
    ]
    assert activity_reads and not any('"auth_user"' in sql for sql in activity_reads)
    people = [q["sql"] for q in captured if "waitlist_position" in q["sql"]]
    assert len(people) == 1
    assert "ORDER BY" not in people[0].rsplit(")", 1)[-1]


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "street_officer", "agency_office", "member_user"]
)
def test_every_link_of_the_activitys_work_opens_for_whoever_is_shown_it(
    client, request, world, persona
):
    """The row of links under the title (board, door-to-door, post an update, raise a concern)
    offers only what opens for the viewer: a street officer reads an activity but posts
    nothing there; a member not on an activity has no line of its board to see."""
    client.force_login(request.getfixturevalue(persona))
    nobody_on_it = Activity.objects.get(pk=world.shengli_activity.pk)
    nobody_on_it.pk = nobody_on_it.id = None
    nobody_on_it.title = "紫林苑楼道清理"
    nobody_on_it.save()
    shown = 0
    for activity in (world.shengli_activity, nobody_on_it):
        page = client.get(url(activity))
        assert page.status_code == 200
        work = re.search(r'data-testid="activity-work".*?</nav>', page.content.decode(), re.S)
        for href in re.findall(r'href="([^"]+)"', work.group(0)):
            shown += 1
            status = client.get(html.unescape(href)).status_code
            assert status == 200, f"{persona} is shown {href} on {activity.title}: {status}"
    assert shown  # the board at least, of the activity where one of theirs served
