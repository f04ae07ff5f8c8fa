"""Leave (请假), the pages: the member's request and withdrawal from the activity's page and
我的记录; the organizers' list of pending requests, the one-tap decision, the activity page and
the dashboard's link; scope (other members and other communities: 404), CSRF and bad input."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from activities.services.leave import participation_leave_request
from activities.services.signup import participation_sign_up
from notifications.models import Notification
from tests.activities.test_signup import coming, reported_in

Status = Participation.Status
Decision = Participation.LeaveDecision
LIST = reverse("activities:leave_request_list")


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def leave_url(activity):
    return reverse("activities:leave_request", args=[activity.pk])


def withdraw_url(activity):
    return reverse("activities:leave_withdraw", args=[activity.pk])


def decide_url(participation):
    return reverse("activities:leave_decide", args=[participation.pk])


def row(activity, member):
    return Participation.objects.get(activity=activity, member=member)


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def signed_up(world):
    """李建华 (sanxia_member, reported in to 胜利一路社区) holds a seat on a coming activity."""
    activity = coming(world, capacity=5)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    return activity


@pytest.fixture
def asked(signed_up, world):
    return participation_leave_request(
        activity=signed_up, member=world.sanxia_member, reason="单位临时开会"
    )


@pytest.fixture
def yuanlin_asked(world):
    """陈思远 (yuanlin_member) asked for leave from 深圳路社区's coming clean-up."""
    return participation_leave_request(
        activity=world.shenzhen_activity, member=world.yuanlin_member, reason="出差"
    )


# --- Who may --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, asked):
    activity = asked.activity
    for method, url in (
        ("get", leave_url(activity)),
        ("post", leave_url(activity)),
        ("post", withdraw_url(activity)),
        ("get", LIST),
        ("post", decide_url(asked)),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert row(activity, asked.member).asks_for_leave


def test_a_post_without_csrf_token_is_refused(world, signed_up, member_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    response = client.post(leave_url(signed_up), {"reason": "有事"})
    assert response.status_code == 403
    assert row(signed_up, world.sanxia_member).leave_decision == ""


def test_a_decision_without_csrf_token_is_refused(asked, grid_worker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(grid_worker)
    assert client.post(decide_url(asked), {"decision": "approved"}).status_code == 403
    assert row(asked.activity, asked.member).asks_for_leave


def test_withdraw_and_decide_are_posts_only(client, asked, member_user, grid_worker):
    client.force_login(member_user)
    assert client.get(withdraw_url(asked.activity)).status_code == 405
    client.force_login(grid_worker)
    assert client.get(decide_url(asked)).status_code == 405
    assert row(asked.activity, asked.member).asks_for_leave


def test_staff_without_a_member_record_cannot_ask(client, signed_up, community_staff):
    client.force_login(community_staff)
    assert client.get(leave_url(signed_up)).status_code == 403
    assert client.post(leave_url(signed_up), {"reason": "x"}).status_code == 403


def test_an_activity_the_member_cannot_see_is_not_found(client, world, member_user):
    """李建华 is reported in to 胜利一路社区 only: 深圳路社区's activity is not his."""
    client.force_login(member_user)
    activity = world.shenzhen_activity
    assert client.get(leave_url(activity)).status_code == 404
    assert client.post(leave_url(activity), {"reason": "x"}).status_code == 404
    assert client.post(withdraw_url(activity)).status_code == 404


def test_another_members_request_cannot_be_decided_or_withdrawn_by_a_member(
    client, world, asked, yuanlin_asked, member_user, other_member_user
):
    # 陈思远 tries 李建华's request: the decision URL is a 404, the withdrawal finds nothing.
    client.force_login(other_member_user)
    assert client.post(decide_url(asked), {"decision": "approved"}).status_code == 404
    assert client.post(withdraw_url(asked.activity)).status_code == 404
    # Nor may a member decide their own.
    client.force_login(member_user)
    assert client.post(decide_url(asked), {"decision": "approved"}).status_code == 404
    assert client.post(decide_url(yuanlin_asked), {"decision": "rejected"}).status_code == 404
    assert row(asked.activity, asked.member).asks_for_leave
    assert row(yuanlin_asked.activity, yuanlin_asked.member).asks_for_leave
    assert not Notification.objects.filter(kind=Notification.Kind.LEAVE_DECIDED).exists()


def test_another_communitys_staff_cannot_decide_or_see_the_request(
    client, asked, yuanlin_asked, other_community_staff
):
    client.force_login(other_community_staff)
    response = client.post(decide_url(asked), {"decision": "approved"})
    assert response.status_code == 404
    assert row(asked.activity, asked.member).asks_for_leave
    # Their own list holds their community's request only.
    listed = [p.pk for p in client.get(LIST).context["page"].object_list]
    assert listed == [yuanlin_asked.pk]


def test_the_list_is_refused_to_members_and_agency_offices(
    client, asked, member_user, agency_office
):
    for user in (member_user, agency_office):
        client.force_login(user)
        assert client.get(LIST).status_code == 403


# --- The member asks and withdraws --------------------------------------------------------


def test_the_member_asks_from_the_activity_page_and_sees_it_waiting(client, world, signed_up):
    client.force_login(world.sanxia_member.user)
    page = text(client.get(signed_up.get_absolute_url()))
    assert 'data-testid="ask-for-leave"' in page and leave_url(signed_up) in page
    form = client.get(leave_url(signed_up))
    assert form.status_code == 200 and 'name="reason"' in text(form)
    response = client.post(leave_url(signed_up), {"reason": "  单位临时开会 "}, follow=True)
    assert response.redirect_chain[-1][0] == signed_up.get_absolute_url()
    page = text(response)
    assert "You asked for leave" in page
    assert 'data-status="leave-pending"' in page and "单位临时开会" in page
    assert 'data-testid="withdraw-leave"' in page
    p = row(signed_up, world.sanxia_member)
    assert (p.status, p.leave_decision, p.leave_reason) == (
        Status.SIGNED_UP,
        Decision.PENDING,
        "单位临时开会",
    )


@pytest.mark.parametrize("reason", ["", "   ", "长" * 201])
def test_a_bad_reason_is_said_on_the_form_and_nothing_changes(
    client, world, signed_up, member_user, reason
):
    client.force_login(member_user)
    response = client.post(leave_url(signed_up), {"reason": reason})
    assert response.status_code == 400
    assert response.context["form"].errors["reason"]
    assert row(signed_up, world.sanxia_member).leave_decision == ""


def test_after_the_start_the_request_is_refused_plainly(client, world, signed_up, member_user):
    Activity.objects.filter(pk=signed_up.pk).update(
        starts_at=timezone.now() - dt.timedelta(minutes=1)
    )
    client.force_login(member_user)
    response = client.post(leave_url(signed_up), {"reason": "有事"}, follow=True)
    assert "already started" in text(response)
    assert 'data-testid="ask-for-leave"' not in text(response)
    assert row(signed_up, world.sanxia_member).leave_decision == ""
    # The form page itself says so too, and sends back.
    response = client.get(leave_url(signed_up))
    assert response.status_code == 302 and response.url == signed_up.get_absolute_url()


def test_without_a_seat_there_is_nothing_to_ask_leave_from(client, world, member_user):
    activity = coming(world)  # not signed up
    client.force_login(member_user)
    response = client.post(leave_url(activity), {"reason": "有事"}, follow=True)
    assert "only from an activity you signed up to" in text(response)
    assert not Participation.objects.filter(activity=activity).exists()


def test_the_member_withdraws_the_request(client, world, asked, member_user):
    client.force_login(member_user)
    response = client.post(withdraw_url(asked.activity), follow=True)
    assert "withdrawn" in text(response)
    p = row(asked.activity, world.sanxia_member)
    assert (p.status, p.leave_decision, p.leave_reason) == (Status.SIGNED_UP, "", "")


def test_a_hostile_next_falls_back_to_the_activity(client, world, signed_up, member_user):
    client.force_login(member_user)
    response = client.post(
        leave_url(signed_up), {"reason": "有事", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response.url == signed_up.get_absolute_url()


def test_my_record_shows_the_request_and_offers_leave_on_the_others(
    client, world, asked, member_user
):
    other = coming(world, title="另一次清扫", days=3)
    participation_sign_up(activity=other, member=world.sanxia_member)
    client.force_login(member_user)
    page = text(client.get(reverse("reports:my_record")))
    assert 'data-testid="upcoming-leave" data-state="pending"' in page
    assert leave_url(other) in page
    # The list of activities to join marks it too.
    page = text(client.get(reverse("activities:open_activities")))
    assert page.count('data-testid="mine-leave"') == 1


# --- The organizers decide -----------------------------------------------------------------


def test_the_organizer_sees_the_request_on_the_list_and_approves_in_one_tap(
    client, world, django_user_model, grid_worker
):
    activity = coming(world, capacity=1)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    (waiting,) = reported_in(world, django_user_model, 1, prefix="w")
    participation_sign_up(activity=activity, member=waiting)
    p = participation_leave_request(activity=activity, member=world.sanxia_member, reason="出差")
    client.force_login(grid_worker)
    page = text(client.get(LIST))
    assert "出差" in page and world.sanxia_member.name in page and activity.title in page
    response = client.post(decide_url(p), {"decision": "approved", "next": LIST}, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert waiting.name in text(response)  # the seat went to them, and the page says so
    assert 'data-testid="no-leave-requests"' in text(response)
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_decided_by) == (
        Status.LEAVE,
        Decision.APPROVED,
        grid_worker,
    )
    assert row(activity, waiting).status == Status.SIGNED_UP
    assert Notification.objects.filter(
        kind=Notification.Kind.LEAVE_DECIDED, recipient=world.sanxia_member.user
    ).exists()


def test_the_organizer_rejects_with_a_reason_and_the_member_sees_it(
    client, world, asked, community_staff, member_user
):
    client.force_login(community_staff)
    response = client.post(decide_url(asked), {"decision": "rejected", "note": "人手不足"})
    assert response.status_code == 302
    p = row(asked.activity, asked.member)
    assert (p.status, p.leave_decision, p.leave_decision_note) == (
        Status.SIGNED_UP,
        Decision.REJECTED,
        "人手不足",
    )
    client.force_login(member_user)
    page = text(client.get(asked.activity.get_absolute_url()))
    assert 'data-status="leave-rejected"' in page and "人手不足" in page
    assert 'data-testid="ask-for-leave"' not in page
    # The decision is in the member's own data too.
    assert "人手不足" in client.post(reverse("reports:my_data_json")).content.decode()


@pytest.mark.parametrize("data", [{}, {"decision": "maybe"}, {"decision": "pending"}])
def test_a_bad_decision_changes_nothing(client, asked, grid_worker, data):
    client.force_login(grid_worker)
    response = client.post(decide_url(asked), data, follow=True)
    assert response.status_code == 200
    assert row(asked.activity, asked.member).asks_for_leave


def test_a_withdrawn_request_is_said_to_be_gone(client, world, asked, grid_worker, member_user):
    client.force_login(member_user)
    client.post(withdraw_url(asked.activity))
    client.force_login(grid_worker)
    response = client.post(decide_url(asked), {"decision": "approved"}, follow=True)
    assert "no longer waiting" in text(response)
    assert row(asked.activity, asked.member).leave_decision == ""


def test_the_activity_page_shows_its_requests_to_organizers_only(
    client, asked, grid_worker, agency_office
):
    url = asked.activity.get_absolute_url()
    client.force_login(grid_worker)
    page = text(client.get(url))
    assert 'data-testid="activity-leave-requests"' in page and decide_url(asked) in page
    client.force_login(agency_office)
    page = text(client.get(url))
    assert 'data-testid="activity-leave-requests"' not in page and decide_url(asked) not in page


def test_the_dashboard_counts_the_requests_and_links_to_the_list(client, asked, grid_worker):
    client.force_login(grid_worker)
    response = client.get(reverse("reports:dashboard"))
    page = text(response)
    assert 'data-figure="pending_leave">1<' in page
    assert f'href="{LIST}"' in page


def test_the_roll_call_shows_a_pending_request_clearly(client, asked, grid_worker):
    Activity.objects.filter(pk=asked.activity_id).update(
        starts_at=timezone.now() - dt.timedelta(hours=2),
        ends_at=timezone.now() - dt.timedelta(hours=1),
    )
    client.force_login(grid_worker)
    page = text(client.get(reverse("activities:roll_call", args=[asked.activity_id])))
    assert "data-pending-leave" in page and "单位临时开会" in page
    assert "Asked for leave" in page


@pytest.mark.parametrize("count", [5, 50])
def test_the_list_costs_the_same_queries_for_5_rows_and_50(
    client, world, django_user_model, grid_worker, django_assert_num_queries, count
):
    members = reported_in(world, django_user_model, count, prefix=f"n{count}-")
    for i, member in enumerate(members):
        activity = coming(world, title=f"活动{i % 7}", days=1 + i % 5)
        participation_sign_up(activity=activity, member=member)
        participation_leave_request(activity=activity, member=member, reason=f"事由{i}")
    client.force_login(grid_worker)
    client.get(LIST)  # the session and the scope
    # (the session and its login are one statement: members.sessions.SessionStore)
    with django_assert_num_queries(5):
        response = client.get(LIST)
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == min(count, 20)


# --- The waitlist ---------------------------------------------------------------------------


def test_a_waitlist_place_that_lapsed_at_the_start_is_said_plainly(
    client, world, django_user_model, member_user
):
    activity = coming(world, capacity=1)
    (first,) = reported_in(world, django_user_model, 1, prefix="f")
    participation_sign_up(activity=activity, member=first)
    participation_sign_up(activity=activity, member=world.sanxia_member)  # waitlisted
    client.force_login(member_user)
    assert 'data-status="waitlisted"' in text(client.get(activity.get_absolute_url()))
    Activity.objects.filter(pk=activity.pk).update(
        starts_at=timezone.now() - dt.timedelta(minutes=5)
    )
    page = text(client.get(activity.get_absolute_url()))
    assert 'data-status="lapsed"' in page and "has lapsed" in page


def test_a_member_cannot_withdraw_or_ask_for_another_member_on_the_same_activity(
    client, world, django_user_model, asked
):
    """Both see the activity; each POST acts on the poster's own row only."""
    (neighbour,) = reported_in(world, django_user_model, 1, prefix="nb")
    client.force_login(neighbour.user)
    response = client.post(withdraw_url(asked.activity), follow=True)
    assert "no leave request" in text(response)
    response = client.post(leave_url(asked.activity), {"reason": "替他请假"}, follow=True)
    assert "only from an activity you signed up to" in text(response)
    assert row(asked.activity, world.sanxia_member).leave_reason == "单位临时开会"
    assert not Participation.objects.filter(activity=asked.activity, member=neighbour).exists()
