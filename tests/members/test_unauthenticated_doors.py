"""The doors without a sign-in turn away an address that knocks too often, with 429, a
Retry-After header and a page in Chinese (issue 11, point 2): the sign-in itself, activation
links, password reset, check-in and report-in links, and the calendar feed."""

import time

from django.test import Client
from django.urls import reverse

from activities.services.checkin import check_in_token
from activities.views.checkin import BAD_CODES_ALLOWED
from communities import throttle
from communities.models import Community
from communities.throttle import Door
from members import password_reset
from members.activation_views import FAILURES_ALLOWED
from members.auth import SIGN_IN_DOOR, SIGN_IN_FAILURES_PER_ADDRESS, SIGN_IN_WINDOW
from members.report_in import BAD_LINK_WINDOW, BAD_LINKS_ALLOWED

HERE, ELSEWHERE = "10.1.1.1", "10.2.2.2"


def refused_in_chinese(response, window):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 0 < wait <= window
    page = response.content.decode()
    assert "过于频繁" in page or "无效的签到码过多" in page
    assert f"请 {max(1, -(-wait // 60))} 分钟后再试" in page
    return wait


def test_failed_sign_ins_from_one_address_close_the_sign_in_there(world, member_user):
    client = Client()
    for n in range(SIGN_IN_FAILURES_PER_ADDRESS):
        # A different login each time: django-axes, counting per login, locks none of them.
        response = client.post(
            "/login/", {"username": f"someone{n}", "password": "guess"}, REMOTE_ADDR=HERE
        )
        assert response.status_code == 200
    response = client.post(
        "/login/", {"username": "sanxia_member", "password": "pw-sanxia_member"}, REMOTE_ADDR=HERE
    )
    refused_in_chinese(response, SIGN_IN_WINDOW)
    assert "_auth_user_id" not in client.session
    other = Client()
    response = other.post(
        "/login/",
        {"username": "sanxia_member", "password": "pw-sanxia_member"},
        REMOTE_ADDR=ELSEWHERE,
    )
    assert response.status_code == 302


def test_successful_sign_ins_do_not_count(world, member_user):
    for _ in range(3):
        client = Client()
        response = client.post(
            "/login/",
            {"username": "sanxia_member", "password": "pw-sanxia_member"},
            REMOTE_ADDR=HERE,
        )
        assert response.status_code == 302
    assert not SIGN_IN_DOOR.shut(client.get("/login/", REMOTE_ADDR=HERE).wsgi_request)


def test_retry_after_counts_down_from_the_first_knock(rf, monkeypatch):
    door = Door("test-door", 1, 600)
    request = rf.get("/", REMOTE_ADDR=HERE)
    start = time.time()
    monkeypatch.setattr(throttle.time, "time", lambda: start)
    door.knock(request)
    assert door.shut(request)
    assert door.retry_after(request) == 600
    monkeypatch.setattr(throttle.time, "time", lambda: start + 250)
    assert door.retry_after(request) == 350
    assert door.retry_after(rf.get("/", REMOTE_ADDR=ELSEWHERE)) == 600  # never knocked


def test_guessing_activation_links_is_turned_away_in_chinese(client, db):
    for n in range(FAILURES_ALLOWED):
        assert client.get(reverse("members:activate", args=[f"guess-{n}"])).status_code == 404
    response = client.get(reverse("members:activate", args=["guess-last"]))
    refused_in_chinese(response, 15 * 60)


def test_password_reset_answers_when_to_come_back(client, db):
    for n in range(password_reset.ASKS_PER_ADDRESS):
        client.post("/password/reset/", {"email": f"person{n}@example.cn"}, REMOTE_ADDR=HERE)
    response = client.post("/password/reset/", {"email": "x@example.cn"}, REMOTE_ADDR=HERE)
    refused_in_chinese(response, password_reset.ASK_WINDOW)


def test_password_reset_links_answer_when_to_come_back(client, db):
    for n in range(password_reset.BAD_LINKS_ALLOWED):
        client.get(f"/password/reset/MQ/guess-{n}/")
    response = client.get("/password/reset/MQ/guess-last/")
    refused_in_chinese(response, password_reset.BAD_LINK_WINDOW)


def test_bad_check_in_codes_count_before_the_sign_in(client, world):
    activity = world.shengli_activity
    for n in range(BAD_CODES_ALLOWED):
        response = client.get(reverse("activities:check_in", args=[activity.pk, f"bad:{n}"]))
        assert response.status_code == 404  # not sent to the sign-in for a bad code
    good = reverse("activities:check_in", args=[activity.pk, check_in_token(activity)])
    wait = refused_in_chinese(client.get(good), 15 * 60)
    assert wait > 0
    assert Client().get(good, REMOTE_ADDR=ELSEWHERE).status_code == 302


def test_a_good_check_in_code_signed_out_goes_to_the_sign_in_and_back(client, world):
    activity = world.shengli_activity
    good = reverse("activities:check_in", args=[activity.pk, check_in_token(activity)])
    response = client.get(good)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={good.replace(':', '%3A')}"


def test_report_in_links_to_no_community_are_turned_away(client, world, member_user):
    missing = Community.objects.order_by("-pk").first().pk + 1
    for n in range(BAD_LINKS_ALLOWED):
        url = reverse("members:report_in_community", args=[missing + n])
        assert client.get(url).status_code == 404
    real = reverse("members:report_in_community", args=[world.shengli.pk])
    refused_in_chinese(client.get(real), BAD_LINK_WINDOW)
    # From elsewhere the poster's link goes to the sign-in and back, then to the page.
    other = Client(REMOTE_ADDR=ELSEWHERE)
    response = other.get(real)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    other.force_login(member_user)
    assert other.get(real).status_code == 200


def test_a_signed_in_member_is_counted_too(client, world, member_user):
    client.force_login(member_user)
    missing = Community.objects.order_by("-pk").first().pk + 1
    for n in range(BAD_LINKS_ALLOWED):
        url = reverse("members:report_in_community", args=[missing + n])
        assert client.get(url).status_code == 404
    real = reverse("members:report_in_community", args=[world.shengli.pk])
    assert client.get(real).status_code == 429


def test_the_calendar_feed_says_when_to_come_back(client, db):
    from reports.me import FEED_DOOR

    for n in range(FEED_DOOR.allowed):
        assert client.get(f"/calendar/guess-{n}.ics").status_code == 404
    response = client.get("/calendar/guess-last.ics")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= FEED_DOOR.window
