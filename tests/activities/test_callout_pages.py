"""The call-out pages: the list, raising a call, the live page, cancelling, an office sending
more, and the answer page a member's link opens without signing in."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import CallOut, CallOutAnswer, Participation
from activities.models.callouts import answer_token
from activities.services.callouts import (
    callout_answer,
    callout_cancel,
    callout_escalate_due,
    callout_raise,
)
from tests.activities.test_callouts import raise_call
from tests.activities.test_signup import reported_in

Answer = CallOutAnswer.Answer


@pytest.fixture
def call(world, community_staff):
    now = timezone.now()
    return raise_call(world, community_staff, needed=2, now=now)


def link(call, member):
    return CallOutAnswer.objects.get(call=call, member=member).get_absolute_url()


def _when(**delta):
    return (timezone.localtime() + dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def test_the_pages_send_anonymous_visitors_to_sign_in(client, call):
    for url in (
        reverse("activities:callout_list"),
        reverse("activities:callout_create"),
        call.get_absolute_url(),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_staff_raise_a_call_from_the_form(client, world, community_staff):
    client.force_login(community_staff)
    page = client.get(reverse("activities:callout_create"))
    assert page.status_code == 200
    response = client.post(
        reverse("activities:callout_create"),
        {
            "communities": [world.shengli.pk],
            "activity_type": world.patrol.pk,
            "title": "紧急排涝",
            "place": "万寿小区",
            "starts_at": _when(minutes=10),
            "ends_at": _when(hours=3),
            "needed": "4",
        },
    )
    call = CallOut.objects.get()
    assert response.status_code == 302 and response["Location"] == call.get_absolute_url()
    assert call.activity.type == world.patrol
    assert call.answers.count() == 1


def test_the_form_refuses_grids_of_another_community(client, world, community_staff):
    client.force_login(community_staff)
    response = client.post(
        reverse("activities:callout_create"),
        {
            "communities": [world.shengli.pk],
            "grids": [world.hanlinyuan.pk],
            "activity_type": world.patrol.pk,
            "title": "紧急排涝",
            "place": "万寿小区",
            "starts_at": _when(minutes=10),
            "ends_at": _when(hours=3),
            "needed": "4",
        },
    )
    assert response.status_code == 200 and not CallOut.objects.exists()


def test_members_and_offices_do_not_raise_calls(client, member_user, agency_office):
    for user in (member_user, agency_office):
        client.force_login(user)
        assert client.get(reverse("activities:callout_create")).status_code == 403


def test_the_live_page_shows_the_count_against_the_need(client, world, community_staff, call):
    callout_answer(answer_id=call.answers.get().pk, coming=True)
    client.force_login(community_staff)
    page = client.get(call.get_absolute_url())
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="count-coming">1<' in text and 'data-testid="count-needed">2<' in text
    assert 'http-equiv="refresh"' in text  # refreshes itself while open
    assert "李建华" in text


def _section(html, test_id):
    """The inner HTML of the list marked `test_id` on the live page."""
    return html.split(f'data-testid="{test_id}"', 1)[1].split("</ul>", 1)[0]


def test_the_live_page_lists_who_is_coming_who_cannot_and_who_has_not_answered(
    client, world, community_staff, django_user_model
):
    cannot, silent = reported_in(world, django_user_model, 2)
    now = timezone.now()
    call = raise_call(world, community_staff, needed=3, now=now)
    callout_answer(answer_id=call.answers.get(member=world.sanxia_member).pk, coming=True)
    callout_answer(answer_id=call.answers.get(member=cannot).pk, coming=False, reason="在外地出差")
    client.force_login(community_staff)
    html = client.get(call.get_absolute_url()).content.decode()
    counted = {
        key: html.split(f'data-testid="count-{key}">', 1)[1].split("<", 1)[0]
        for key in ("needed", "coming", "cannot", "pending")
    }
    assert counted == {"needed": "3", "coming": "1", "cannot": "1", "pending": "1"}
    coming_list, cannot_list = _section(html, "answers-coming"), _section(html, "answers-cannot")
    pending_list = _section(html, "answers-pending")
    assert "李建华" in coming_list and cannot.name not in coming_list
    assert cannot.name in cannot_list and "在外地出差" in cannot_list
    # Who has not answered, by name, so that staff can phone them.
    assert silent.name in pending_list
    assert "李建华" not in pending_list and cannot.name not in pending_list
    assert 'data-testid="callout-short"' in html


def test_another_communitys_call_is_a_404(client, call, other_community_staff, other_member_user):
    for user in (other_community_staff, other_member_user):
        client.force_login(user)
        assert client.get(call.get_absolute_url()).status_code == 404
        assert client.post(reverse("activities:callout_cancel", args=[call.pk])).status_code == 404


def test_staff_cancel_a_call(client, community_staff, call):
    client.force_login(community_staff)
    response = client.post(
        reverse("activities:callout_cancel", args=[call.pk]), {"reason": "险情解除"}
    )
    assert response.status_code == 302
    call.refresh_from_db()
    assert (call.state, call.cancel_reason) == (CallOut.State.CANCELLED, "险情解除")


def test_a_post_without_csrf_token_is_refused(world, community_staff, call):
    client = Client(enforce_csrf_checks=True)
    assert client.post(link(call, world.sanxia_member), {"answer": "coming"}).status_code == 403
    client.force_login(community_staff)
    response = client.post(reverse("activities:callout_cancel", args=[call.pk]))
    assert response.status_code == 403
    call.refresh_from_db()
    assert call.state == CallOut.State.OPEN


def test_the_list_shows_a_member_their_open_calls(client, world, member_user, call):
    client.force_login(member_user)
    text = client.get(reverse("activities:callout_list")).content.decode()
    assert link(call, world.sanxia_member) in text


# --- The answer page -------------------------------------------------------------------------


def test_a_members_home_page_shows_their_open_calls_until_closed(
    client, world, member_user, other_member_user, call
):
    client.force_login(member_user)
    home = client.get(reverse("reports:dashboard")).content.decode()
    assert 'data-testid="my-open-calls"' in home
    assert call.title in home and link(call, world.sanxia_member) in home
    assert "去响应" in home
    callout_answer(
        answer_id=CallOutAnswer.objects.get(call=call, member=world.sanxia_member).pk,
        coming=True,
    )
    assert "修改响应" in client.get(reverse("reports:dashboard")).content.decode()
    # A member not called sees nothing of it.
    client.force_login(other_member_user)
    assert call.title not in client.get(reverse("reports:dashboard")).content.decode()
    # Closed, it leaves the home page.
    callout_cancel(call=call, by=call.raised_by, reason="水位回落")
    client.force_login(member_user)
    home = client.get(reverse("reports:dashboard")).content.decode()
    assert 'data-testid="my-open-calls"' not in home and link(call, world.sanxia_member) not in home


def test_a_member_answers_from_the_link_without_signing_in(client, world, call):
    url = link(call, world.sanxia_member)
    page = client.get(url)
    text = page.content.decode()
    assert page.status_code == 200
    assert call.title in text and 'data-testid="answer-coming"' in text

    assert client.post(url, {"answer": "coming"}).status_code == 302
    p = Participation.objects.get(activity=call.activity, member=world.sanxia_member)
    assert p.status == Participation.Status.SIGNED_UP

    assert client.post(url, {"answer": "cannot", "reason": "临时加班"}).status_code == 302
    answer = CallOutAnswer.objects.get(call=call, member=world.sanxia_member)
    assert (answer.answer, answer.reason) == (Answer.CANNOT, "临时加班")
    assert not Participation.objects.filter(activity=call.activity).exists()


def test_a_forged_or_unknown_link_is_the_same_404(client, world, call):
    answer = CallOutAnswer.objects.get(call=call, member=world.sanxia_member)
    genuine = answer_token(answer.pk)
    forged = [
        genuine[:-1] + ("A" if genuine[-1] != "A" else "B"),
        answer_token(answer.pk + 1000),  # signed, but no such answer
        "1:abcdefabcdefabcd",
        "x" * 300,
    ]
    for token in forged:
        response = client.get(reverse("activities:callout_answer", args=[token]))
        assert response.status_code == 404, token
        assert 'data-testid="answer-invalid"' in response.content.decode()
        assert call.title not in response.content.decode()
        response = client.post(
            reverse("activities:callout_answer", args=[token]), {"answer": "coming"}
        )
        assert response.status_code == 404, token
    assert not Participation.objects.filter(activity=call.activity).exists()


def test_too_many_bad_links_shut_the_door(client):
    cache.clear()
    url = reverse("activities:callout_answer", args=["1:forgedforgedforg"])
    statuses = [client.get(url).status_code for _ in range(21)]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429


def test_a_closed_call_says_so_and_refuses_answers(client, world, community_staff, call):
    callout_cancel(call=call, by=community_staff, reason="险情解除")
    url = link(call, world.sanxia_member)
    text = client.get(url).content.decode()
    assert 'data-testid="answer-closed"' in text and 'data-testid="answer-coming"' not in text
    assert client.post(url, {"answer": "coming"}).status_code == 409
    answer = CallOutAnswer.objects.get(call=call, member=world.sanxia_member)
    assert answer.answer == Answer.PENDING


def test_a_bad_answer_is_refused(client, world, call):
    url = link(call, world.sanxia_member)
    assert client.post(url, {"answer": "maybe"}).status_code == 400


# --- An office sends more --------------------------------------------------------------------


def test_an_office_sends_more_members_after_escalation(client, world, agency_office, call):
    client.force_login(agency_office)
    send = reverse("activities:callout_send_more", args=[call.pk])
    assert client.get(send).status_code == 404  # not escalated: not the office's yet
    callout_escalate_due(now=timezone.now() + dt.timedelta(minutes=31))
    page = client.get(send, {"q": "王"})
    assert page.status_code == 200 and "王海燕" in page.content.decode()
    assert client.get(call.get_absolute_url()).status_code == 200
    response = client.post(send, {"member": [world.sanxia_member_2.pk]})
    assert response.status_code == 302
    assert CallOutAnswer.objects.filter(
        call=call, member=world.sanxia_member_2, added_by=CallOutAnswer.AddedBy.AGENCY
    ).exists()


def test_the_list_costs_the_same_at_5_and_50_calls(client, world, community_staff):
    client.force_login(community_staff)
    now = timezone.now()

    def make(n):
        for i in range(n):
            callout_raise(
                by=community_staff,
                community=world.shengli,
                title=f"吹哨{i}",
                place="江堤",
                starts_at=now,
                ends_at=now + dt.timedelta(hours=2),
                needed=3,
            )

    make(5)
    client.get(reverse("activities:callout_list"))
    with CaptureQueriesContext(connection) as five:
        assert client.get(reverse("activities:callout_list")).status_code == 200
    make(45)
    with CaptureQueriesContext(connection) as fifty:
        text = client.get(reverse("activities:callout_list")).content.decode()
    assert text.count('data-testid="callout-row"') == 50
    assert len(fifty) == len(five)


@pytest.mark.parametrize("value", ["-99999999999999999999", "99999999999999999999", "x", "0"])
def test_ids_no_row_can_have_are_refused_without_asking_the_database(
    client, world, community_staff, value
):
    client.force_login(community_staff)
    response = client.post(
        reverse("activities:callout_create"),
        {"communities": [value], "grids": [value], "activity_type": value, "needed": "1"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert {"communities", "grids", "activity_type"} <= set(form.errors)


def test_a_street_officers_form_costs_the_same_queries_however_many_communities(
    client, world, street_officer
):
    from communities.models import Community, Grid

    client.force_login(street_officer)
    url = reverse("activities:callout_create")
    # Two communities to choose from (with one, it comes chosen), then five.
    Grid.objects.create(
        community=Community.objects.create(street=world.wanshouqiao, name="新建社区"), name="网格"
    )
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for number in range(3):
        community = Community.objects.create(street=world.wanshouqiao, name=f"另建社区{number}")
        for grid in range(2):
            Grid.objects.create(community=community, name=f"第{grid}网格")
    with CaptureQueriesContext(connection) as many:
        page = client.get(url)
    assert "另建社区2 · 第1网格" in page.content.decode()
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_the_city_administrator_reads_calls_but_is_offered_no_raise_button(
    client, city_admin, call
):
    client.force_login(city_admin)
    listing = client.get(reverse("activities:callout_list")).content.decode()
    assert call.title in listing
    assert 'data-testid="callout-new"' not in listing
    assert client.get(reverse("activities:callout_create")).status_code == 403
