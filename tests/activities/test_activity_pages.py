"""A community's activities: the list, the week, planning, changing, cancelling and copying one."""

import datetime as dt
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.models import Activity, ActivityType, Participation
from activities.services import activity as services
from activities.views.activity import next_occurrence
from communities.models import Agreement
from members.models import Member
from notifications.models import Notification
from tests.conftest import make_user

LIST = reverse("activities:activity_list")
WEEK = reverse("activities:activity_week")
CREATE = reverse("activities:activity_create")

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


def edit_url(activity):
    return reverse("activities:activity_edit", args=[activity.pk])


def cancel_url(activity):
    return reverse("activities:activity_cancel", args=[activity.pk])


def copy_url(activity):
    return reverse("activities:activity_copy", args=[activity.pk])


def page(response):
    return response.content.decode()


def local(moment):
    """What a datetime-local input shows and sends."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def next_week_at(hour=9, days=2):
    """Wednesday (by default) of next week at `hour`: in the future whatever today is."""
    monday, _ = figures.week_bounds()
    return monday + dt.timedelta(days=7 + days, hours=hour)


def make_activity(world, starts_at=None, *, hours=2, community=None, **fields):
    starts_at = starts_at or next_week_at()
    community = community or world.shengli
    fields.setdefault("type", world.cleanup)
    fields.setdefault("title", "紫林苑楼道清理")
    return Activity.objects.create(
        community=community,
        starts_at=starts_at,
        ends_at=starts_at + hours * HOUR,
        **fields,
    )


def sign_up(activity, member, status=Participation.Status.SIGNED_UP):
    return Participation.objects.create(
        activity=activity,
        member=member,
        status=status,
        leave_reason="出差" if status == Participation.Status.LEAVE else "",
        source=Participation.Source.SIGN_UP,
    )


def form_data(world, **changes):
    starts = next_week_at()
    data = {
        "type": world.cleanup.pk,
        "title": "万寿小区环境清扫",
        "starts_at": local(starts),
        "ends_at": local(starts + 2 * HOUR),
        "place": "万寿小区北门",
        "grid": world.wanshou.pk,
        "capacity": "10",
        "nature": "",
        "agreement": "",
        "status": Activity.Status.RECRUITING,
        "description": "带好手套",
    }
    data.update(changes)
    return data


def data_of(activity, **changes):
    """What the edit form posts for `activity` unchanged, with `changes`."""
    data = {
        "type": activity.type_id,
        "title": activity.title,
        "starts_at": local(activity.starts_at),
        "ends_at": local(activity.ends_at),
        "place": activity.place,
        "grid": activity.grid_id or "",
        "capacity": activity.capacity or "",
        "nature": activity.nature,
        "agreement": activity.agreement_id or "",
        "status": activity.status,
        "description": activity.description,
    }
    data.update(changes)
    return data


def errors_of(response):
    return response.context["form"].errors


def told(activity, kind=Notification.Kind.ACTIVITY_CHANGED):
    return set(
        Notification.objects.filter(
            kind=kind,
            content_type=ContentType.objects.get_for_model(Activity),
            object_id=activity.pk,
        ).values_list("recipient__username", flat=True)
    )


def listed(response):
    return [activity.title for activity in response.context["page"]]


# --- Who may open what ----------------------------------------------------------------------


def test_every_page_sends_anonymous_visitors_to_login(client, world):
    activity = make_activity(world)
    for url in (LIST, WEEK, CREATE, edit_url(activity), cancel_url(activity)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/login/?next={url}"
    for url in (CREATE, edit_url(activity), cancel_url(activity), copy_url(activity)):
        response = client.post(url, form_data(world) | {"reason": "雨"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")
    assert Activity.objects.count() == 3
    activity.refresh_from_db()
    assert activity.status == Activity.Status.RECRUITING


@pytest.mark.parametrize("persona", ["agency_office", "member_user"])
def test_community_pages_are_forbidden_to_agency_offices_and_members(
    client, world, request, persona
):
    client.force_login(request.getfixturevalue(persona))
    for url in (LIST, WEEK, CREATE):
        assert client.get(url).status_code == 403, url
    assert client.post(CREATE, form_data(world)).status_code == 403
    assert not Activity.objects.filter(title="万寿小区环境清扫").exists()


@pytest.mark.parametrize("persona", ["agency_office", "member_user"])
def test_who_may_see_an_activity_but_not_plan_it_gets_403_on_its_writes(
    client, world, request, persona
):
    # 三峡's office sees it through the agreement, 李建华 through his report-in to the community.
    activity = make_activity(world, agreement=world.agreement)
    sign_up(activity, world.sanxia_member)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(activity.get_absolute_url()).status_code == 200
    assert client.get(edit_url(activity)).status_code == 403
    assert client.post(edit_url(activity), data_of(activity, title="改了")).status_code == 403
    assert client.get(cancel_url(activity)).status_code == 403
    assert client.post(cancel_url(activity), {"reason": "雨"}).status_code == 403
    assert client.post(copy_url(activity)).status_code == 403
    activity.refresh_from_db()
    assert (activity.title, activity.status) == ("紫林苑楼道清理", Activity.Status.RECRUITING)


def test_another_communitys_activity_is_404_on_every_write(client, world, other_community_staff):
    activity = make_activity(world)
    client.force_login(other_community_staff)
    assert client.get(edit_url(activity)).status_code == 404
    assert client.post(edit_url(activity), data_of(activity, title="改了")).status_code == 404
    assert client.get(cancel_url(activity)).status_code == 404
    assert client.post(cancel_url(activity), {"reason": "雨"}).status_code == 404
    assert client.post(copy_url(activity)).status_code == 404
    activity.refresh_from_db()
    assert (activity.title, activity.status) == ("紫林苑楼道清理", Activity.Status.RECRUITING)


def test_an_unknown_activity_is_404(client, community_staff):
    client.force_login(community_staff)
    for url in ("/activities/999999/edit/", "/activities/999999/cancel/"):
        assert client.get(url).status_code == 404
    assert client.post("/activities/999999/copy/").status_code == 404


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker", "city_admin"])
def test_managers_open_every_page(client, world, request, persona):
    activity = make_activity(world)
    client.force_login(request.getfixturevalue(persona))
    for url in (LIST, WEEK, CREATE, edit_url(activity), cancel_url(activity)):
        assert client.get(url).status_code == 200, url
    assert client.post(copy_url(activity)).status_code == 200


def test_posts_without_a_csrf_token_are_forbidden(world, community_staff):
    activity = make_activity(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(community_staff)
    assert client.post(CREATE, form_data(world)).status_code == 403
    assert client.post(edit_url(activity), data_of(activity, title="改了")).status_code == 403
    assert client.post(cancel_url(activity), {"reason": "暴雨预警"}).status_code == 403
    assert client.post(copy_url(activity)).status_code == 403
    activity.refresh_from_db()
    assert (activity.title, activity.status) == ("紫林苑楼道清理", Activity.Status.RECRUITING)
    assert Activity.objects.count() == 3


def test_copying_takes_a_post_only(client, world, community_staff):
    client.force_login(community_staff)
    assert client.get(copy_url(make_activity(world))).status_code == 405


def test_street_officers_and_the_city_look_at_communities_in_their_scope(
    client, world, street_officer, city_admin
):
    client.force_login(street_officer)
    response = client.get(LIST)
    assert response.status_code == 200
    assert listed(response) == ["沿江防汛巡逻"]
    assert 'data-testid="new-activity"' not in page(response)  # they look; staff plan
    assert client.get(CREATE).status_code == 403
    # 深圳路社区 is in 东苑街道, not theirs.
    assert client.get(f"{LIST}?community={world.shenzhen.pk}").status_code == 404
    assert client.get(f"{WEEK}?community={world.shenzhen.pk}").status_code == 404

    client.force_login(city_admin)
    response = client.get(f"{LIST}?community={world.shenzhen.pk}")
    assert listed(response) == ["翰林苑环境清扫"]
    assert client.get(f"{LIST}?community=abc").status_code == 404


def test_staff_of_two_communities_switch_with_the_community_parameter(
    client, world, community_staff
):
    from communities.models import StaffRole

    StaffRole.objects.create(
        user=community_staff, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shenzhen
    )
    client.force_login(community_staff)
    response = client.get(f"{LIST}?community={world.shenzhen.pk}")
    assert listed(response) == ["翰林苑环境清扫"]
    assert f'href="{WEEK}?community={world.shenzhen.pk}"' in page(response)


# --- The list ---------------------------------------------------------------------------------


def test_the_list_shows_only_the_workspace_communitys_activities(client, world, community_staff):
    client.force_login(community_staff)
    response = client.get(LIST)
    assert listed(response) == ["沿江防汛巡逻"]
    assert "翰林苑环境清扫" not in page(response)


def test_upcoming_activities_come_first_soonest_on_top_then_past_ones_latest_first(
    client, world, community_staff
):
    now = timezone.now()
    make_activity(world, now + 3 * DAY, title="三天后")
    make_activity(world, now + DAY, title="明天")
    make_activity(world, now - 30 * HOUR, title="昨天")
    make_activity(world, now - 10 * DAY, title="十天前")
    make_activity(world, now - HOUR, title="进行中")
    client.force_login(community_staff)
    # 沿江防汛巡逻 (world) started 3 hours ago and ended an hour ago.
    assert listed(client.get(LIST)) == [
        "进行中",
        "明天",
        "三天后",
        "沿江防汛巡逻",
        "昨天",
        "十天前",
    ]


def test_each_row_shows_time_type_nature_grid_counts_and_the_clocks_status(
    client, world, community_staff
):
    activity = make_activity(world, grid=world.wanshou, capacity=8, nature=Activity.Nature.DUTY)
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.sanxia_member_2, Participation.Status.PRESENT)
    sign_up(activity, world.yuanlin_member, Participation.Status.LEAVE)
    client.force_login(community_staff)
    html = page(client.get(LIST))
    row = re.search(rf'data-pk="{activity.pk}">(.*?)</li>', html, re.S).group(1)
    assert "紫林苑楼道清理" in row
    assert "环境清扫" in row  # the type
    assert "Duty" in row
    assert "万寿小区网格" in row
    assert timezone.localtime(activity.starts_at).strftime("%H:%M") in row
    assert re.search(r'data-figure="signed_up">2</span>/8', row)  # on leave takes no place
    assert 'data-figure="present"' not in row  # before it: how many signed up, not attended
    assert 'data-status="recruiting"' in row
    finished = re.search(rf'data-pk="{world.shengli_activity.pk}">(.*?)</li>', html, re.S)
    # Stored as recruiting, but it has ended: the clock says finished.
    assert 'data-status="finished"' in finished.group(1)


def test_the_status_filter_follows_the_clock(client, world, community_staff):
    now = timezone.now()
    make_activity(world, now - HOUR, title="进行中")
    make_activity(world, now + DAY, title="报名中")
    make_activity(world, now + DAY, title="草稿", status=Activity.Status.DRAFT)
    make_activity(world, now - HOUR, title="已取消", status=Activity.Status.CANCELLED)
    client.force_login(community_staff)

    def by_status(status):
        return set(listed(client.get(f"{LIST}?status={status}")))

    assert by_status("ongoing") == {"进行中"}
    assert by_status("recruiting") == {"报名中"}
    assert by_status("draft") == {"草稿"}
    assert by_status("cancelled") == {"已取消"}
    assert by_status("finished") == {"沿江防汛巡逻"}


def test_the_list_filters_by_dates_type_grid_nature_and_search(client, world, community_staff):
    base = next_week_at()
    make_activity(world, base, title="北门清扫", place="万寿小区北门", grid=world.wanshou)
    make_activity(
        world,
        base + DAY,
        title="江边巡逻",
        type=world.patrol,
        nature=Activity.Nature.DUTY,
        grid=world.zilinyuan,
    )
    make_activity(world, base + 2 * DAY, title="楼道清理", place="紫林苑3栋")
    client.force_login(community_staff)

    def titles(query):
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200
        assert not response.context["form"].errors, response.context["form"].errors
        return set(listed(response))

    day = timezone.localdate(base)
    assert titles(f"date_from={day + DAY}") == {"江边巡逻", "楼道清理"}
    assert titles(f"date_from={day}&date_to={day}") == {"北门清扫"}
    assert titles(f"type={world.patrol.pk}") == {"江边巡逻", "沿江防汛巡逻"}
    assert titles(f"grid={world.wanshou.pk}") == {"北门清扫"}
    assert titles("nature=duty") == {"江边巡逻", "沿江防汛巡逻"}
    assert titles("nature=volunteer") == {"北门清扫", "楼道清理"}
    assert titles("q=北门") == {"北门清扫"}  # the place
    assert titles("q=巡逻") == {"江边巡逻", "沿江防汛巡逻"}  # the title


def test_bad_filter_values_are_reported_and_the_rest_still_apply(client, world, community_staff):
    make_activity(world, title="楼道清理")
    client.force_login(community_staff)
    response = client.get(
        f"{LIST}?date_from=yesterday&type=abc&grid=999&status=bogus&nature=x&q=楼道&page=zz"
    )
    assert response.status_code == 200
    errors = errors_of(response)
    assert set(errors) == {"date_from", "type", "grid", "status", "nature"}
    assert errors["date_from"] == ["Enter a valid date."]
    assert errors["type"] == ["Choose one of the listed types."]
    html = page(response)
    assert "Enter a valid date." in html
    assert 'value="yesterday"' in html  # what was typed is kept
    assert listed(response) == ["楼道清理"]  # the search still applies


def test_an_end_date_before_the_start_date_is_an_error(client, world, community_staff):
    client.force_login(community_staff)
    response = client.get(f"{LIST}?date_from=2025-05-10&date_to=2025-05-01")
    assert errors_of(response)["date_to"] == ["The end date is before the start date."]
    response = client.get(f"{LIST}?date_from=9999-01-01")
    assert errors_of(response)["date_from"] == ["Choose a date between 2000 and 2099."]


def test_a_grid_worker_starts_with_their_grids_and_can_see_the_whole_community(
    client, world, grid_worker, community_staff
):
    make_activity(world, title="万寿小区清扫", grid=world.wanshou)
    make_activity(world, title="全社区主题党日")
    client.force_login(grid_worker)
    response = client.get(LIST)
    assert listed(response) == ["沿江防汛巡逻"]  # 紫林苑网格, theirs
    html = page(response)
    assert 'data-testid="my-grids-note"' in html
    assert 'href="?grid="' in html

    response = client.get(f"{LIST}?grid=")
    assert set(listed(response)) == {"沿江防汛巡逻", "万寿小区清扫", "全社区主题党日"}
    assert 'data-testid="my-grids-note"' not in page(response)

    client.force_login(community_staff)  # staff see everything from the start
    assert len(listed(client.get(LIST))) == 3


def test_the_list_is_paginated_by_20(client, world, community_staff):
    start = next_week_at()
    Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            type=world.cleanup,
            title=f"活动{i:02d}",
            starts_at=start + i * HOUR,
            ends_at=start + (i + 1) * HOUR,
        )
        for i in range(24)
    )
    client.force_login(community_staff)
    first = client.get(LIST)
    assert listed(first)[:2] == ["活动00", "活动01"]
    assert len(listed(first)) == 20
    second = client.get(f"{LIST}?page=2")
    assert listed(second) == ["活动20", "活动21", "活动22", "活动23", "沿江防汛巡逻"]


def add_activities(world, count, starts_at):
    """`count` activities of 胜利一路社区 in two grids, each with two people on it."""
    created = Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            grid=(world.zilinyuan, world.wanshou, None)[i % 3],
            type=(world.cleanup, world.patrol)[i % 2],
            title=f"活动{i}",
            starts_at=starts_at + i * dt.timedelta(minutes=10),
            ends_at=starts_at + i * dt.timedelta(minutes=10) + HOUR,
        )
        for i in range(count)
    )
    Participation.objects.bulk_create(
        Participation(activity=a, member=m, source=Participation.Source.SIGN_UP)
        for a in created
        for m in (world.sanxia_member, world.sanxia_member_2)
    )


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_the_list_costs_the_same_queries_for_5_and_50_activities(client, world, request, persona):
    client.force_login(request.getfixturevalue(persona))
    add_activities(world, 4, next_week_at())
    at_5 = queries(client, f"{LIST}?grid=")
    add_activities(world, 45, next_week_at(days=3))
    assert queries(client, f"{LIST}?grid=") == at_5
    assert queries(client, LIST) == at_5


def test_the_week_costs_the_same_queries_for_5_and_50_activities(client, world, community_staff):
    client.force_login(community_staff)
    url = f"{WEEK}?start={timezone.localdate(next_week_at())}"
    add_activities(world, 5, next_week_at(hour=7))
    at_5 = queries(client, url)
    add_activities(world, 45, next_week_at(hour=7, days=4))
    response = client.get(url)
    assert sum(len(day["activities"]) for day in response.context["days"]) == 50
    assert queries(client, url) == at_5


# --- The week ---------------------------------------------------------------------------------


def test_the_week_holding_start_runs_monday_to_sunday_with_each_activity_on_its_day(
    client, world, community_staff
):
    wednesday = next_week_at()
    monday = timezone.localdate(wednesday) - dt.timedelta(days=2)
    make_activity(world, wednesday, title="周三清扫")
    make_activity(world, wednesday + 4 * DAY, title="周日巡逻")  # Sunday
    make_activity(world, wednesday + 5 * DAY, title="下周一")  # the week after
    make_activity(world, wednesday - 3 * DAY, title="上周日")  # the Sunday before
    make_activity(world, wednesday, title="深圳路", community=world.shenzhen)
    client.force_login(community_staff)

    response = client.get(f"{WEEK}?start={timezone.localdate(wednesday)}")
    days = response.context["days"]
    assert [d["date"] for d in days] == [monday + dt.timedelta(days=i) for i in range(7)]
    assert [[a.title for a in d["activities"]] for d in days] == [
        [],
        [],
        ["周三清扫"],
        [],
        [],
        [],
        ["周日巡逻"],
    ]
    html = page(response)
    assert f"{WEEK}?start={monday - dt.timedelta(days=7)}" in html
    assert f"{WEEK}?start={monday + dt.timedelta(days=7)}" in html


def test_the_week_is_this_week_by_default(client, world, community_staff):
    client.force_login(community_staff)
    response = client.get(WEEK)
    today = timezone.localdate()
    assert response.context["monday"] == today - dt.timedelta(days=today.weekday())
    today_ = [d for d in response.context["days"] if d["date"] == timezone.localdate()]
    assert [a.title for a in today_[0]["activities"]] == (
        ["沿江防汛巡逻"] if timezone.localdate(world.shengli_activity.starts_at) == today else []
    )


@pytest.mark.parametrize("start", ["next-tuesday", "2025-13-01", "9999-12-31", "0001-01-01"])
def test_a_start_that_is_not_a_usable_date_shows_this_week_with_an_error(
    client, world, community_staff, start
):
    client.force_login(community_staff)
    response = client.get(f"{WEEK}?start={start}")
    assert response.status_code == 200
    assert response.context["error"]
    assert 'data-testid="week-error"' in page(response)
    today = timezone.localdate()
    assert response.context["monday"] == today - dt.timedelta(days=today.weekday())


def test_a_grid_worker_sees_the_whole_community_in_the_week_with_their_grids_marked(
    client, world, grid_worker
):
    wednesday = next_week_at()
    mine = make_activity(world, wednesday, title="紫林苑", grid=world.zilinyuan)
    make_activity(world, wednesday, title="万寿小区", grid=world.wanshou)
    client.force_login(grid_worker)
    response = client.get(f"{WEEK}?start={timezone.localdate(wednesday)}")
    assert response.context["count"] == 2
    assert re.search(rf'xc-mine" data-testid="week-activity" data-pk="{mine.pk}"', page(response))


# --- Planning a new one -----------------------------------------------------------------------


def test_a_grid_worker_plans_an_activity(client, world, grid_worker):
    client.force_login(grid_worker)
    response = client.post(CREATE, form_data(world, type=world.patrol.pk))
    activity = Activity.objects.get(title="万寿小区环境清扫")
    assert response.status_code == 302
    assert response["Location"] == activity.get_absolute_url()
    assert activity.community == world.shengli
    assert activity.organizer == grid_worker
    assert activity.grid == world.wanshou
    assert activity.place == "万寿小区北门"
    assert activity.capacity == 10
    assert activity.status == Activity.Status.RECRUITING
    assert local(activity.starts_at) == form_data(world)["starts_at"]
    # Nature left empty: the type's usual one (a flood patrol is duty).
    assert activity.nature == Activity.Nature.DUTY
    assert "is planned" in page(client.get(response["Location"]))


def test_a_chosen_nature_wins_over_the_types(client, world, community_staff):
    client.force_login(community_staff)
    client.post(CREATE, form_data(world, type=world.patrol.pk, nature="volunteer"))
    assert Activity.objects.get(title="万寿小区环境清扫").nature == Activity.Nature.VOLUNTEER


def test_the_new_form_proposes_the_grid_workers_grid_and_the_day_from_the_week(
    client, world, grid_worker
):
    client.force_login(grid_worker)
    form = client.get(f"{CREATE}?date=2030-05-06").context["form"]
    assert form.initial["grid"] == world.zilinyuan.pk
    assert local(form.initial["starts_at"]) == "2030-05-06T09:00"
    assert local(form.initial["ends_at"]) == "2030-05-06T11:00"
    response = client.get(f"{CREATE}?date=soon")
    assert response.status_code == 200
    assert "The date in the link is not a date" in page(response)


def test_the_form_offers_only_this_communitys_grids_and_agreements_in_force(
    client, world, community_staff
):
    today = timezone.localdate()
    Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-DRAFT",
        starts_on=today,
        ends_on=today + 300 * DAY,
    )
    Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-SHENZHEN",
        starts_on=today - 10 * DAY,
        ends_on=today + 300 * DAY,
        status=Agreement.Status.ACTIVE,
        signed_on=today - 10 * DAY,
    )
    client.force_login(community_staff)
    form = client.get(CREATE).context["form"]
    assert [label for value, label in form.fields["grid"].choices if value] == [
        "万寿小区网格",
        "紫林苑网格",
    ]
    assert [label for value, label in form.fields["agreement"].choices if value] == [
        "三峡旅游新区 · GJ-TEST-001"
    ]


def test_an_end_before_the_start_is_refused_and_nothing_typed_is_lost(
    client, world, community_staff
):
    client.force_login(community_staff)
    starts = next_week_at()
    response = client.post(
        CREATE, form_data(world, starts_at=local(starts), ends_at=local(starts - HOUR))
    )
    assert response.status_code == 200
    assert errors_of(response) == {"ends_at": ["An activity must end after it starts."]}
    html = page(response)
    assert "Please correct the errors below." in html
    assert 'value="万寿小区环境清扫"' in html
    assert "带好手套" in html
    assert not Activity.objects.filter(title="万寿小区环境清扫").exists()


def test_a_grid_or_agreement_of_another_community_is_refused(client, world, community_staff):
    today = timezone.localdate()
    shenzhen_agreement = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-SHENZHEN",
        starts_on=today - 10 * DAY,
        ends_on=today + 300 * DAY,
        status=Agreement.Status.ACTIVE,
        signed_on=today - 10 * DAY,
    )
    client.force_login(community_staff)
    response = client.post(
        CREATE, form_data(world, grid=world.hanlinyuan.pk, agreement=shenzhen_agreement.pk)
    )
    assert errors_of(response) == {
        "grid": ["Choose one of this community's grids."],
        "agreement": ["Choose one of this community's agreements in force."],
    }
    assert not Activity.objects.filter(title="万寿小区环境清扫").exists()


@pytest.mark.parametrize("status", [Agreement.Status.DRAFT, Agreement.Status.TERMINATED])
def test_an_agreement_that_is_not_in_force_is_refused(client, world, community_staff, status):
    today = timezone.localdate()
    agreement = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-NOT-ACTIVE",
        starts_on=today - 10 * DAY,
        ends_on=today + 300 * DAY,
        status=status,
        signed_on=None if status == Agreement.Status.DRAFT else today - 10 * DAY,
        termination_reason="单位撤并" if status == Agreement.Status.TERMINATED else "",
    )
    client.force_login(community_staff)
    response = client.post(CREATE, form_data(world, agreement=agreement.pk))
    assert response.status_code == 200
    message = errors_of(response)["agreement"][0]
    assert message.startswith("Agreement GJ-NOT-ACTIVE is not in force")
    assert message in page(response)
    assert not Activity.objects.filter(title="万寿小区环境清扫").exists()


def test_an_activity_outside_the_agreements_period_cannot_count_toward_it(
    client, world, community_staff
):
    client.force_login(community_staff)
    after_end = world.agreement.ends_on + 3 * DAY
    starts = timezone.make_aware(dt.datetime.combine(after_end, dt.time(9)))
    response = client.post(
        CREATE,
        form_data(
            world,
            agreement=world.agreement.pk,
            starts_at=local(starts),
            ends_at=local(starts + HOUR),
        ),
    )
    assert "cannot count toward it" in errors_of(response)["agreement"][0]

    response = client.post(CREATE, form_data(world, agreement=world.agreement.pk))
    assert response.status_code == 302
    assert Activity.objects.get(title="万寿小区环境清扫").agreement == world.agreement


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("capacity", "0", "The capacity is at least 1; leave it empty for no limit."),
        ("capacity", "lots", "Enter a whole number."),
        ("starts_at", "tomorrow morning", "Enter a valid date/time."),
        ("starts_at", "9999-01-01T09:00", "Choose a date between 2000 and 2099."),
        ("type", "999", "Select a valid choice. That choice is not one of the available choices."),
        ("grid", "abc", "Choose one of this community's grids."),
        (
            "status",
            "cancelled",
            "Select a valid choice. cancelled is not one of the available choices.",
        ),
        ("title", "", "This field is required."),
    ],
)
def test_bad_input_is_a_clear_error(client, world, community_staff, field, value, message):
    client.force_login(community_staff)
    response = client.post(CREATE, form_data(world, **{field: value}))
    assert response.status_code == 200
    assert message in errors_of(response)[field]
    assert not Activity.objects.filter(title="万寿小区环境清扫").exists()


# --- Changing one -----------------------------------------------------------------------------


def test_the_edit_form_shows_the_activity_and_saves_changes(client, world, community_staff):
    activity = make_activity(world, place="紫林苑3栋", grid=world.zilinyuan)
    client.force_login(community_staff)
    html = page(client.get(edit_url(activity)))
    assert 'value="紫林苑楼道清理"' in html
    assert f'value="{local(activity.starts_at)}"' in html

    response = client.post(
        edit_url(activity), data_of(activity, title="紫林苑楼道大扫除", capacity="5")
    )
    assert response.status_code == 302
    assert response["Location"] == activity.get_absolute_url()
    activity.refresh_from_db()
    assert (activity.title, activity.capacity) == ("紫林苑楼道大扫除", 5)


@pytest.mark.parametrize("change", ["starts_at", "ends_at", "place"])
def test_a_new_time_or_place_is_told_to_those_signed_up_not_those_on_leave(
    client, world, community_staff, django_user_model, change
):
    activity = make_activity(world, place="紫林苑3栋", agreement=world.agreement)
    sign_up(activity, world.sanxia_member)  # 李建华, with a login
    on_leave = Member.objects.create(
        agency=world.sanxia,
        name="请假的人",
        mobile="13900000009",
        user=make_user(django_user_model, "on_leave"),
    )
    sign_up(activity, on_leave, Participation.Status.LEAVE)
    client.force_login(community_staff)
    new = {
        "starts_at": local(activity.starts_at - HOUR),
        "ends_at": local(activity.ends_at + HOUR),
        "place": "紫林苑北门",
    }[change]
    response = client.post(edit_url(activity), data_of(activity, **{change: new}))
    assert response.status_code == 302
    assert told(activity) == {"sanxia_member"}
    assert "about the new time or place is queued" in page(client.get(response["Location"]))


NOT_TOLD_WANG = (
    "Not told, as no channel reaches them: 王海燕 (no login of their own, and no group robot to "
    "mention them in)."
)


def test_a_change_says_who_could_not_be_told(client, world, community_staff):
    activity = make_activity(world, place="紫林苑3栋")
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.sanxia_member_2)  # 王海燕: no login, and 胜利一路社区 has no robot
    client.force_login(community_staff)
    response = client.post(edit_url(activity), data_of(activity, place="紫林苑北门"))
    html = page(client.get(response["Location"]))
    assert "1 message about the new time or place is queued." in html
    assert NOT_TOLD_WANG in html


def test_a_change_of_title_or_capacity_tells_nobody(client, world, community_staff):
    activity = make_activity(world)
    sign_up(activity, world.sanxia_member)
    client.force_login(community_staff)
    client.post(edit_url(activity), data_of(activity, title="新标题", capacity="20"))
    activity.refresh_from_db()
    assert activity.title == "新标题"
    assert told(activity) == set()


def test_the_capacity_cannot_drop_below_those_signed_up_or_present(client, world, community_staff):
    activity = make_activity(world, capacity=5)
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.sanxia_member_2, Participation.Status.PRESENT)
    sign_up(activity, world.yuanlin_member, Participation.Status.LEAVE)
    client.force_login(community_staff)
    response = client.post(edit_url(activity), data_of(activity, capacity="1"))
    assert errors_of(response)["capacity"] == [
        "2 people are already signed up or present; the capacity cannot be lower than that."
    ]
    activity.refresh_from_db()
    assert activity.capacity == 5
    assert client.post(edit_url(activity), data_of(activity, capacity="2")).status_code == 302
    activity.refresh_from_db()
    assert activity.capacity == 2


@pytest.mark.parametrize("state", ["finished", "cancelled"])
def test_a_finished_or_cancelled_activity_cannot_be_edited(client, world, community_staff, state):
    if state == "finished":
        activity = world.shengli_activity
        expected = "This activity has finished and can no longer be changed."
    else:
        activity = make_activity(world, status=Activity.Status.CANCELLED, cancel_reason="雨")
        expected = "This activity is cancelled and can no longer be changed."
    title = activity.title
    client.force_login(community_staff)
    for response in (
        client.get(edit_url(activity)),
        client.post(edit_url(activity), data_of(activity, title="改了")),
        client.get(cancel_url(activity)),
    ):
        assert response.status_code == 302
        assert response["Location"] == activity.get_absolute_url()
    assert expected in page(client.get(activity.get_absolute_url()))
    activity.refresh_from_db()
    assert activity.title == title


def test_an_agreement_that_ended_since_may_stay_on_an_unmoved_activity(
    client, world, community_staff
):
    activity = make_activity(world, agreement=world.agreement)
    Agreement.objects.filter(pk=world.agreement.pk).update(
        status=Agreement.Status.TERMINATED, termination_reason="单位撤并"
    )
    client.force_login(community_staff)
    # Correcting the title keeps it …
    assert client.post(edit_url(activity), data_of(activity, title="改正")).status_code == 302
    # … moving the activity chooses it again, and it is no longer in force.
    moved = data_of(activity, starts_at=local(activity.starts_at + DAY))
    moved["ends_at"] = local(activity.ends_at + DAY)
    response = client.post(edit_url(activity), moved)
    assert "is not in force" in errors_of(response)["agreement"][0]


# --- Cancelling -------------------------------------------------------------------------------


def test_cancelling_asks_for_a_reason_and_tells_those_signed_up(client, world, community_staff):
    activity = make_activity(world)
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.yuanlin_member, Participation.Status.LEAVE)
    client.force_login(community_staff)
    html = page(client.get(cancel_url(activity)))
    assert "1 person is signed up and will be told the reason." in html

    response = client.post(cancel_url(activity), {"reason": "   "})
    assert response.status_code == 200
    assert errors_of(response)["reason"] == ["This field is required."]
    activity.refresh_from_db()
    assert activity.status == Activity.Status.RECRUITING

    response = client.post(cancel_url(activity), {"reason": "暴雨预警"})
    assert response.status_code == 302
    activity.refresh_from_db()
    assert (activity.status, activity.cancel_reason) == (Activity.Status.CANCELLED, "暴雨预警")
    assert told(activity, Notification.Kind.ACTIVITY_CANCELLED) == {"sanxia_member"}
    assert "is cancelled; those signed up are told" in page(client.get(response["Location"]))


def test_cancelling_does_not_claim_that_those_nothing_reaches_are_told(
    client, world, community_staff
):
    activity = make_activity(world)
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.sanxia_member_2)  # 王海燕: no login, and 胜利一路社区 has no robot
    client.force_login(community_staff)
    response = client.post(cancel_url(activity), {"reason": "暴雨预警"})
    html = page(client.get(response["Location"]))
    assert f"“{activity.title}” is cancelled." in html
    assert "those signed up are told" not in html
    assert NOT_TOLD_WANG in html
    assert told(activity, Notification.Kind.ACTIVITY_CANCELLED) == {"sanxia_member", None}


def test_a_finished_activity_cannot_be_cancelled(client, world, community_staff):
    client.force_login(community_staff)
    activity = world.shengli_activity
    response = client.post(cancel_url(activity), {"reason": "补录错了"})
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.status == Activity.Status.RECRUITING
    with pytest.raises(ValidationError, match="A finished activity cannot be cancelled."):
        services.activity_cancel(activity=activity, reason="补录错了")


# --- Copying as the next one ------------------------------------------------------------------


def test_copying_opens_the_new_form_filled_in_a_week_later_without_saving(
    client, world, community_staff
):
    source = make_activity(
        world,
        timezone.now() + DAY,
        title="紫林苑楼道清理",
        type=world.patrol,
        place="紫林苑3栋",
        grid=world.zilinyuan,
        capacity=6,
        nature=Activity.Nature.DUTY,
        agreement=world.agreement,
        description="带好手套",
    )
    client.force_login(community_staff)
    response = client.post(copy_url(source))
    assert response.status_code == 200
    assert Activity.objects.count() == 3  # nothing saved yet
    form = response.context["form"]
    assert form.instance.pk is None
    assert form.initial["starts_at"] == source.starts_at + 7 * DAY
    assert form.initial["ends_at"] == source.ends_at + 7 * DAY
    for field, value in {
        "type": world.patrol.pk,
        "title": "紫林苑楼道清理",
        "place": "紫林苑3栋",
        "grid": world.zilinyuan.pk,
        "capacity": 6,
        "nature": Activity.Nature.DUTY,
        "agreement": world.agreement.pk,
        "description": "带好手套",
    }.items():
        assert form.initial[field] == value, field
    html = page(response)
    assert f'action="{CREATE}?community={world.shengli.pk}"' in html
    assert 'data-testid="copied-from"' in html


def test_saving_the_copy_creates_the_next_activity(client, world, community_staff):
    source = make_activity(world, timezone.now() + DAY, place="紫林苑3栋")
    sign_up(source, world.sanxia_member)
    client.force_login(community_staff)
    form = client.post(copy_url(source)).context["form"]
    data = {
        name: form[name].value() if form[name].value() is not None else "" for name in form.fields
    }
    # The form shows local wall-clock times, as the datetime-local input will send them.
    data["starts_at"] = data["starts_at"].strftime("%Y-%m-%dT%H:%M")
    data["ends_at"] = data["ends_at"].strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"{CREATE}?community={world.shengli.pk}", data)
    assert response.status_code == 302
    new = Activity.objects.exclude(pk=source.pk).get(title=source.title)
    assert new.starts_at == source.starts_at.replace(second=0, microsecond=0) + 7 * DAY
    assert new.place == "紫林苑3栋"
    assert not new.participations.exists()
    source.refresh_from_db()
    assert source.status == Activity.Status.RECRUITING


def test_copying_an_old_activity_plans_it_on_the_same_weekday_in_the_future(world):
    now = timezone.now()
    old = make_activity(world, now - 30 * DAY)
    starts_at, ends_at = next_occurrence(old, now)
    assert starts_at > now
    assert starts_at - now <= 7 * DAY
    assert (starts_at - old.starts_at) % (7 * DAY) == dt.timedelta(0)
    assert ends_at - starts_at == old.ends_at - old.starts_at
    recent = make_activity(world, now - DAY)
    assert next_occurrence(recent, now)[0] == recent.starts_at + 7 * DAY


def test_a_copy_leaves_out_an_agreement_that_does_not_cover_the_new_date(
    client, world, community_staff
):
    source = make_activity(world, timezone.now() + DAY, agreement=world.agreement)
    Agreement.objects.filter(pk=world.agreement.pk).update(
        ends_on=timezone.localdate(source.starts_at) + DAY
    )
    client.force_login(community_staff)
    response = client.post(copy_url(source))
    assert "agreement" not in response.context["form"].initial
    assert "cannot count toward it" in page(response)


def test_a_finished_activity_can_still_be_copied(client, world, community_staff):
    client.force_login(community_staff)
    response = client.post(copy_url(world.shengli_activity))
    assert response.status_code == 200
    assert response.context["form"].initial["title"] == "沿江防汛巡逻"


# --- The activity page ------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_managers_get_edit_cancel_and_copy_on_the_activity_page(client, world, request, persona):
    activity = make_activity(world)
    client.force_login(request.getfixturevalue(persona))
    html = page(client.get(activity.get_absolute_url()))
    assert f'href="{edit_url(activity)}"' in html
    assert f'href="{cancel_url(activity)}"' in html
    assert f'action="{copy_url(activity)}"' in html
    assert 'data-testid="activity-links"' in html
    assert f'href="{LIST}"' in html


@pytest.mark.parametrize("persona", ["agency_office", "member_user"])
def test_others_see_the_activity_page_without_the_managers_buttons(client, world, request, persona):
    activity = make_activity(world, agreement=world.agreement)
    client.force_login(request.getfixturevalue(persona))
    html = page(client.get(activity.get_absolute_url()))
    assert "紫林苑楼道清理" in html
    assert 'data-testid="manager-actions"' not in html
    assert 'data-testid="to-list"' not in html  # a community's lists are not theirs


def test_a_finished_activity_page_offers_only_the_copy(client, world, community_staff):
    client.force_login(community_staff)
    activity = world.shengli_activity
    html = page(client.get(activity.get_absolute_url()))
    assert f'action="{copy_url(activity)}"' in html
    assert f'href="{edit_url(activity)}"' not in html
    assert f'href="{cancel_url(activity)}"' not in html


# --- The services -----------------------------------------------------------------------------


def test_activity_create_checks_the_models_rules_too(world, community_staff):
    starts = next_week_at()
    with pytest.raises(ValidationError) as caught:
        services.activity_create(
            community=world.shengli,
            organizer=community_staff,
            type=world.cleanup,
            title="跨社区",
            starts_at=starts,
            ends_at=starts + HOUR,
            grid=world.hanlinyuan,
        )
    assert caught.value.message_dict == {"grid": ["The grid must belong to the same community."]}
    activity = services.activity_create(
        community=world.shengli,
        organizer=community_staff,
        type=ActivityType.objects.get(code=ActivityType.Code.GATE_DUTY),
        title="门岗",
        starts_at=starts,
        ends_at=starts + HOUR,
    )
    assert activity.nature == Activity.Nature.DUTY


def test_activity_update_refuses_a_cancelled_activity_even_if_the_caller_holds_an_old_copy(
    world,
):
    activity = make_activity(world)
    stale = Activity.objects.get(pk=activity.pk)
    services.activity_cancel(activity=activity, reason="暴雨预警")
    with pytest.raises(ValidationError, match="cancelled and can no longer be changed"):
        services.activity_update(
            activity=stale,
            type=stale.type,
            title="改了",
            starts_at=stale.starts_at,
            ends_at=stale.ends_at,
        )


def test_a_cancellation_recorded_later_is_judged_at_its_moment(world):
    # Cancelled before it began, entered afterwards (as the demo enters its story).
    activity = world.shengli_activity
    before_the_start = activity.starts_at - dt.timedelta(hours=1)

    services.activity_cancel(activity=activity, reason="并入联合巡逻", now=before_the_start)

    activity.refresh_from_db()
    assert activity.status == Activity.Status.CANCELLED
    assert activity.live_status_at(before_the_start) == Activity.Status.CANCELLED
