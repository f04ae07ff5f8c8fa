"""The member's pages to find and join activities: the list, the sign-up and cancel POSTs, the
clash warning and the panel on an activity's page; scope, CSRF and hostile input."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from activities.services.signup import participation_cancel, participation_sign_up
from tests.activities.test_signup import coming, reported_in

Status = Participation.Status
LIST = reverse("activities:open_activities")


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def sign_up_url(activity):
    return reverse("activities:sign_up", args=[activity.pk])


def cancel_url(activity):
    return reverse("activities:sign_up_cancel", args=[activity.pk])


def rows(activity):
    return dict(
        Participation.objects.filter(activity=activity).values_list("member__name", "status")
    )


def shown(response) -> list[str]:
    return [a.title for a in response.context["page"].object_list]


# --- Who may --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, world):
    activity = coming(world)
    for url in (LIST, sign_up_url(activity), cancel_url(activity)):
        response = client.get(url) if url == LIST else client.post(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_a_login_without_a_member_record_is_refused(client, world, community_staff):
    activity = coming(world)
    client.force_login(community_staff)
    assert client.get(LIST).status_code == 403
    assert client.post(sign_up_url(activity)).status_code == 403
    assert not Participation.objects.filter(activity=activity).exists()


def test_the_changes_are_posts_only(client, world, member_user):
    activity = coming(world)
    client.force_login(member_user)
    assert client.get(sign_up_url(activity)).status_code == 405
    assert client.get(cancel_url(activity)).status_code == 405
    assert not Participation.objects.filter(activity=activity).exists()


def test_a_post_without_csrf_token_is_refused(world, member_user):
    activity = coming(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    assert client.post(sign_up_url(activity)).status_code == 403
    assert not Participation.objects.filter(activity=activity).exists()


def test_an_activity_of_another_community_is_not_found(client, world, member_user):
    """李建华 is reported in to 胜利一路社区 only: 深圳路社区's activity is not his to see."""
    activity = world.shenzhen_activity
    client.force_login(member_user)
    before = rows(activity)
    assert client.post(sign_up_url(activity)).status_code == 404
    assert client.post(cancel_url(activity)).status_code == 404
    assert rows(activity) == before


def test_another_members_sign_up_cannot_be_cancelled(client, world, other_member_user):
    """陈思远 is signed up to 翰林苑环境清扫; 李建华 posting its id changes nothing."""
    client.force_login(world.sanxia_member.user)
    before = rows(world.shenzhen_activity)
    assert client.post(cancel_url(world.shenzhen_activity)).status_code == 404
    assert rows(world.shenzhen_activity) == before


def test_a_visible_activity_of_a_community_not_yet_approved_is_refused(
    client, world, django_user_model
):
    """A pending report-in shows the community's activities but gives no right to sign up."""
    member = world.sanxia_member_2
    member.user = django_user_model.objects.create_user(username="pending", password="x")
    member.save()
    activity = coming(world)
    client.force_login(member.user)
    assert client.get(activity.get_absolute_url()).status_code == 200
    assert client.post(sign_up_url(activity)).status_code == 403
    assert not Participation.objects.filter(activity=activity).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/activities/99999999999999999999/sign-up/",
        "/activities/0/sign-up/",
        "/activities/abc/sign-up/",
        "/activities/-1/sign-up/cancel/",
    ],
)
def test_hostile_ids_are_not_found(client, world, member_user, path):
    client.force_login(member_user)
    assert client.post(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "?community=abc",
        "?community=99999999999999999999",
        "?nature=whatever",
        "?page=-1",
        "?page=%00",
        "?community=1&community=2",
    ],
)
def test_hostile_filters_answer_with_the_list(client, world, member_user, query):
    client.force_login(member_user)
    response = client.get(LIST + query)
    assert response.status_code == 200


# --- The list -------------------------------------------------------------------------------


def test_the_list_shows_coming_activities_of_the_communities_reported_in_to(
    client, world, member_user
):
    soon = coming(world, title="明天的清扫", days=1)
    later = coming(world, title="下周的巡逻", days=7, nature=Activity.Nature.DUTY)
    coming(world, title="草稿", status=Activity.Status.DRAFT)
    coming(world, title="已取消", status=Activity.Status.CANCELLED)
    coming(world, title="深圳路的活动", community=world.shenzhen)
    client.force_login(member_user)
    response = client.get(LIST)
    assert response.status_code == 200
    # The world's past patrol of 胜利一路社区 is over: not offered.
    assert shown(response) == [soon.title, later.title]
    html = response.content.decode()
    assert "万寿小区" in html and "紫林苑网格" not in html  # place shown; no grid set here


def test_the_list_filters_by_community_and_nature(client, world, member_user):
    Participation.objects.all().delete()
    world.sanxia_member.registrations.create(
        community=world.shenzhen,
        kind="residence",
        status="active",
        applied_on=timezone.localdate(),
    )
    duty = coming(world, title="值守", nature=Activity.Nature.DUTY)
    volunteer = coming(world, title="志愿清扫", nature=Activity.Nature.VOLUNTEER, days=3)
    client.force_login(member_user)
    assert shown(client.get(LIST)) == [
        world.shenzhen_activity.title,
        duty.title,
        volunteer.title,
    ]
    assert shown(client.get(LIST, {"nature": "duty"})) == [duty.title]
    assert shown(client.get(LIST, {"community": world.shenzhen.pk})) == [
        world.shenzhen_activity.title
    ]
    # A community the member is not reported in to is not a choice: the form says so.
    other = client.get(LIST, {"community": 10**6})
    assert other.context["form"].errors


def test_the_list_marks_the_members_own_sign_ups_and_seats_left(
    client, world, member_user, django_user_model
):
    open_one = coming(world, title="还有名额", capacity=5)
    full = coming(world, title="已满", capacity=1, days=3)
    (someone,) = reported_in(world, django_user_model, 1)
    participation_sign_up(activity=full, member=someone)
    participation_sign_up(activity=open_one, member=world.sanxia_member)
    participation_sign_up(activity=full, member=world.sanxia_member)
    client.force_login(member_user)
    page = client.get(LIST).context["page"]
    by_title = {a.title: a for a in page.object_list}
    assert by_title["还有名额"].seats_left == 4
    assert by_title["还有名额"].mine.status == Status.SIGNED_UP
    assert by_title["已满"].seats_left == 0
    assert by_title["已满"].mine.status == Status.WAITLISTED
    assert by_title["已满"].mine.waitlist_position == 1


@pytest.mark.parametrize("count", [5, 50])
def test_the_list_costs_the_same_queries_for_5_rows_and_50(
    client, world, member_user, django_assert_num_queries, count
):
    for i in range(count):
        activity = coming(world, title=f"活动{i}", capacity=3, days=1 + i % 20)
        if i % 2:
            participation_sign_up(activity=activity, member=world.sanxia_member)
    client.force_login(member_user)
    client.get(LIST)  # the session and the scope
    # (the session and its login are one statement: members.sessions.SessionStore)
    with django_assert_num_queries(10):
        response = client.get(LIST + "?nature=volunteer")
    assert response.status_code == 200


# --- Signing up and cancelling ------------------------------------------------------------


def test_a_member_signs_up_sees_the_seat_taken_and_cancels(client, world, member_user):
    activity = coming(world, capacity=3)
    client.force_login(member_user)
    response = client.post(sign_up_url(activity), follow=True)
    assert rows(activity) == {world.sanxia_member.name: Status.SIGNED_UP}
    assert "You are signed up" in response.content.decode()
    detail = client.get(activity.get_absolute_url())
    assert detail.context["activity"].signed_up == 1
    assert detail.context["sign_up"].can_cancel

    response = client.post(cancel_url(activity), follow=True)
    assert rows(activity) == {}
    assert "is cancelled" in response.content.decode()
    assert client.get(activity.get_absolute_url()).context["sign_up"].can_sign_up


def test_a_full_activity_puts_the_member_on_the_waitlist_with_their_place(
    client, world, member_user, django_user_model
):
    activity = coming(world, capacity=1)
    first, second = reported_in(world, django_user_model, 2)
    participation_sign_up(activity=activity, member=first)
    participation_sign_up(activity=activity, member=second)
    client.force_login(member_user)
    response = client.post(sign_up_url(activity), follow=True)
    assert rows(activity)[world.sanxia_member.name] == Status.WAITLISTED
    assert "number 2 in line" in response.content.decode()
    panel = client.get(activity.get_absolute_url()).context["sign_up"]
    assert panel.participation.waitlist_position == 2


def test_the_first_in_line_gives_the_seat_back_with_one_tap(
    client, world, member_user, django_user_model
):
    activity = coming(world, capacity=1)
    first, last = reported_in(world, django_user_model, 2)
    participation_sign_up(activity=activity, member=first)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    participation_sign_up(activity=activity, member=last)
    participation_cancel(activity=activity, member=first)  # the seat goes to 李建华
    client.force_login(member_user)
    page = client.get(activity.get_absolute_url())
    assert page.context["sign_up"].participation.came_off_waitlist
    assert "Give the seat back" in page.content.decode()
    response = client.post(cancel_url(activity), follow=True)
    assert "the next in line gets it" in response.content.decode()
    assert rows(activity) == {last.name: Status.SIGNED_UP}


def test_a_clash_in_time_asks_to_confirm_and_then_signs_up(client, world, member_user):
    first = coming(world, title="上午巡逻", days=2, hours=3)
    second = coming(world, title="同时的清扫", days=2, hours=2)
    participation_sign_up(activity=first, member=world.sanxia_member)
    client.force_login(member_user)
    response = client.post(sign_up_url(second))
    assert response.status_code == 200
    assert [p.activity for p in response.context["clashes"]] == [first]
    assert "上午巡逻" in response.content.decode()
    assert world.sanxia_member.name not in rows(second)
    response = client.post(sign_up_url(second), {"confirm": "1"})
    assert response.status_code == 302
    assert rows(second) == {world.sanxia_member.name: Status.SIGNED_UP}


@pytest.mark.parametrize("state", ["cancelled", "started", "past"])
def test_closed_activities_are_refused_plainly(client, world, member_user, state):
    activity = coming(world)
    if state == "cancelled":
        activity.status = Activity.Status.CANCELLED
    else:
        shift = dt.timedelta(minutes=10) if state == "started" else dt.timedelta(days=5)
        activity.starts_at = timezone.now() - shift
        activity.ends_at = activity.starts_at + dt.timedelta(hours=2)
    activity.save()
    client.force_login(member_user)
    response = client.post(sign_up_url(activity), follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "cancelled" in text or "already started" in text
    assert not Participation.objects.filter(activity=activity).exists()


def test_signing_up_twice_says_so(client, world, member_user):
    activity = coming(world)
    client.force_login(member_user)
    client.post(sign_up_url(activity))
    response = client.post(sign_up_url(activity), {"confirm": "1"}, follow=True)
    assert "already signed up" in response.content.decode()
    assert Participation.objects.filter(activity=activity).count() == 1


def test_cancelling_without_a_sign_up_says_so(client, world, member_user):
    activity = coming(world)
    client.force_login(member_user)
    response = client.post(cancel_url(activity), follow=True)
    assert response.status_code == 200
    assert "not signed up" in response.content.decode()


@pytest.mark.parametrize(
    "next_value, expected",
    [
        (LIST + "?nature=duty", LIST + "?nature=duty"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_the_page_returned_to_is_this_sites_only(client, world, member_user, next_value, expected):
    activity = coming(world)
    client.force_login(member_user)
    response = client.post(sign_up_url(activity), {"next": next_value})
    assert response.status_code == 302
    assert response.url == (expected or activity.get_absolute_url())


def test_the_menu_offers_members_the_list(client, world, member_user, community_staff):
    client.force_login(member_user)
    dashboard = client.get(reverse("reports:dashboard")).content.decode()
    assert 'data-testid="nav-join"' in dashboard
    assert 'data-testid="to-join"' in dashboard  # under "my upcoming activities"
    client.force_login(community_staff)
    assert LIST not in client.get(reverse("reports:dashboard")).content.decode()


def test_the_roll_call_and_the_board_work_with_a_waitlist(
    client, world, grid_worker, django_user_model
):
    activity = coming(world, capacity=1)
    seated, waiting = reported_in(world, django_user_model, 2)
    participation_sign_up(activity=activity, member=seated)
    participation_sign_up(activity=activity, member=waiting)
    Activity.objects.filter(pk=activity.pk).update(
        starts_at=timezone.now() - dt.timedelta(hours=1),
        ends_at=timezone.now() + dt.timedelta(hours=1),
    )
    client.force_login(grid_worker)
    roll_call = client.get(reverse("activities:roll_call", args=[activity.pk]))
    assert roll_call.status_code == 200
    assert [row.member for row in roll_call.context["rows"]] == [seated]
    assert roll_call.context["waitlisted"] == [waiting]
    # One tap puts the one who came on the roll call, marked present.
    added = client.get(roll_call.context["waitlisted"][0].add_url)
    assert [row.member for row in added.context["rows"]] == [seated, waiting]
    board = client.get(reverse("activities:attendance_board", args=[activity.pk]))
    assert board.status_code == 200
    # The seated one waits for the roll call; the waitlist is in no group.
    groups = board.context["groups"]
    assert [p.member for group in groups for p in group["open"]] == [seated]
    assert waiting.name not in board.content.decode()


def test_the_organizer_sees_the_waitlist_last_in_its_order(
    client, world, community_staff, django_user_model
):
    activity = coming(world, capacity=1)
    # Signed up in another order than their names': the list follows the seats and the line.
    second, seated, first = reported_in(world, django_user_model, 3)
    for member in (seated, first, second):
        participation_sign_up(activity=activity, member=member)
    client.force_login(community_staff)
    response = client.get(activity.get_absolute_url())
    listed = [(p.member, p.waitlist_position) for p in response.context["participations"]]
    assert listed == [(seated, None), (first, 1), (second, 2)]
    assert "Waitlisted, number 2" in response.content.decode()
