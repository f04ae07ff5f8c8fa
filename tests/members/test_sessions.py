"""Sessions (issue 11, point 2): a new key at sign-in, idle and absolute timeouts by role,
sessions ended by a password change, a member leaving, a login deactivated or a role taken away,
and a person's own list of their sessions."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from communities.models import StaffRole
from members.sessions import (
    STATE_KEY,
    SessionPolicyMiddleware,
    SignedInSession,
    device_summary,
    key_digest,
    masked_address,
    role_class,
)
from tests.second_factor import pass_code

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.0.0 Mobile Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
)
IPHONE_WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN"
)
DASHBOARD = "/"
MIDDLEWARE_PATH = f"{SessionPolicyMiddleware.__module__}.{SessionPolicyMiddleware.__name__}"


def sign_in(username, *, address="10.0.0.1", agent=ANDROID_CHROME, client=None):
    """A client signed in through the real sign-in page."""
    client = client or Client()
    response = client.post(
        "/login/",
        {"username": username, "password": f"pw-{username}"},
        REMOTE_ADDR=address,
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 302, response.content.decode()[:500]
    # Then the second factor's code, for the roles that need one.
    pass_code(client, REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    return client


def key_of(client):
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def alive(client) -> bool:
    return SignedInSession.objects.filter(session_key=key_of(client)).exists()


def signed_in(client) -> bool:
    return client.get(DASHBOARD).status_code == 200


def age(client, **seconds_ago):
    """Moves the session's start (`since`) or last use (`seen`) back in time."""
    session = client.session
    state = dict(session[STATE_KEY])
    for field, ago in seconds_ago.items():
        state[field] -= int(ago)
    session[STATE_KEY] = state
    session.save()


MINUTE, HOUR, DAY = 60, 3600, 24 * 3600


# Signing in


def test_signing_in_gives_the_session_a_new_key_and_drops_the_old_one(client, member_user):
    client.get("/login/")
    session = client.session
    session["chosen_before_signing_in"] = "yes"
    session.save()
    before = session.session_key
    assert SignedInSession.objects.filter(session_key=before, user=None).exists()

    sign_in("sanxia_member", client=client)

    after = key_of(client)
    assert after != before
    assert not SignedInSession.objects.filter(session_key=before).exists()
    assert SignedInSession.objects.get(session_key=after).user == member_user


def test_the_session_names_its_login_device_and_address(world, member_user):
    client = sign_in("sanxia_member", address="221.233.17.4", agent=IPHONE_WECHAT)
    row = SignedInSession.objects.get(session_key=key_of(client))
    assert row.user == member_user
    assert row.device == "微信 · iPhone"
    assert row.address == "221.233.17.4"
    assert row.signed_in_at is not None and row.last_seen is not None
    # Sessions are kept in our table, not in Django's.
    assert not DjangoSession.objects.exists()


# Idle timeouts and lifetime


@pytest.mark.parametrize(
    "persona, username, idle_minutes",
    [
        ("agency_office", "sanxia_office", "SESSION_IDLE_MINUTES_OFFICE"),
        ("city_admin", "city_admin", "SESSION_IDLE_MINUTES_OFFICE"),
        ("street_officer", "street_officer", "SESSION_IDLE_MINUTES_OFFICE"),
        ("community_staff", "shengli_staff", "SESSION_IDLE_MINUTES_OFFICE"),
        ("grid_worker", "shengli_grid", "SESSION_IDLE_MINUTES_GRID_WORKER"),
        ("member_user", "sanxia_member", "SESSION_IDLE_MINUTES_MEMBER"),
    ],
)
def test_each_role_is_signed_out_after_its_idle_timeout(
    world, request, persona, username, idle_minutes
):
    request.getfixturevalue(persona)
    idle = getattr(settings, idle_minutes) * MINUTE
    client = sign_in(username)
    age(client, seen=idle - MINUTE)
    assert signed_in(client)
    age(client, seen=idle + MINUTE)
    assert not signed_in(client)


def test_the_defaults_are_those_the_issue_asks_for():
    assert settings.SESSION_IDLE_MINUTES_OFFICE == 30
    assert settings.SESSION_IDLE_MINUTES_MEMBER == 7 * 24 * 60
    assert settings.SESSION_IDLE_MINUTES_GRID_WORKER == 4 * 60
    assert settings.SESSION_COOKIE_AGE >= settings.SESSION_LIFETIME_HOURS_MEMBER * HOUR


def test_the_idle_timeout_is_a_setting(settings, agency_office):
    settings.SESSION_IDLE_MINUTES_OFFICE = 5
    client = sign_in("sanxia_office")
    age(client, seen=6 * MINUTE)
    assert not signed_in(client)


def test_an_idle_session_goes_to_the_sign_in_with_next_and_says_why_in_chinese(agency_office):
    client = sign_in("sanxia_office")
    key = key_of(client)
    age(client, seen=31 * MINUTE)
    page = "/activities/?status=upcoming"
    response = client.get(page)
    assert response.status_code == 302
    location = urlsplit(response.url)
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == [page]
    assert not SignedInSession.objects.filter(session_key=key).exists()
    shown = client.get(response.url).content.decode()
    assert "30 分钟未操作" in shown
    assert "请重新登录后继续" in shown


def test_a_session_ends_after_its_lifetime_even_in_use(member_user):
    client = sign_in("sanxia_member")
    lifetime = settings.SESSION_LIFETIME_HOURS_MEMBER * HOUR
    age(client, since=lifetime - HOUR)
    assert signed_in(client)
    age(client, since=2 * HOUR)
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert "达到单次登录的最长时间" in client.get(response.url).content.decode()


def test_staff_have_a_shorter_lifetime_than_members(agency_office, member_user):
    office, member = sign_in("sanxia_office"), sign_in("sanxia_member")
    hours = settings.SESSION_LIFETIME_HOURS_STAFF + 1
    for client in (office, member):
        age(client, since=hours * HOUR)
    assert not signed_in(office)
    assert signed_in(member)


def test_the_strictest_role_of_a_person_sets_the_timeout(world, member_user):
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    client = sign_in("sanxia_member")
    age(client, seen=31 * MINUTE)
    assert not signed_in(client)


def test_a_role_granted_meanwhile_sets_the_timeout_from_the_next_page(world, member_user):
    client = sign_in("sanxia_member")
    assert client.session[STATE_KEY]["class"] == "member"
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    # A grant does not sign the person out; the office's role asks for its second factor.
    assert client.get(DASHBOARD)["Location"].startswith("/second-factor/enrol/")
    pass_code(client)
    assert signed_in(client)
    assert client.session[STATE_KEY]["class"] == "office"
    age(client, seen=31 * MINUTE)
    assert not signed_in(client)


def test_a_session_without_its_record_gets_the_strictest_timeout(client, member_user):
    client.force_login(member_user)
    session = client.session
    del session[STATE_KEY]  # as a session from before this feature
    session.save()
    assert signed_in(client)  # which gives it a record, then the page its class
    assert client.session[STATE_KEY]["class"] == "member"


@pytest.mark.parametrize(
    "kinds, superuser, expected",
    [
        ({StaffRole.Kind.GRID_WORKER, StaffRole.Kind.COMMUNITY_STAFF}, False, "office"),
        ({StaffRole.Kind.GRID_WORKER}, False, "grid_worker"),
        (set(), True, "office"),
        (set(), False, "member"),
    ],
)
def test_role_classes(kinds, superuser, expected):
    assert role_class(kinds, superuser=superuser) == expected


# Cheap: no query of its own, one write a minute


def queries_of(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize(
    "persona, username", [("agency_office", "sanxia_office"), ("member_user", "sanxia_member")]
)
def test_the_middleware_adds_no_query_to_a_page(world, request, settings, persona, username):
    request.getfixturevalue(persona)
    client = sign_in(username)
    queries_of(client, DASHBOARD)  # warm
    with_it = queries_of(client, DASHBOARD)
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE_PATH]
    without_it = queries_of(client, DASHBOARD)
    assert MIDDLEWARE_PATH not in settings.MIDDLEWARE
    assert len(with_it) == len(without_it)


def test_a_session_in_use_is_written_at_most_once_a_minute(member_user):
    client = sign_in("sanxia_member", address="10.0.0.1")
    row = SignedInSession.objects.get(session_key=key_of(client))
    age(client, seen=2 * MINUTE)
    first_seen = SignedInSession.objects.get(pk=row.pk).last_seen
    writes = [q for q in queries_of(client, DASHBOARD) if "members_signedinsession" in q.lower()]
    assert any(q.lstrip().upper().startswith("UPDATE") for q in writes)
    assert SignedInSession.objects.get(pk=row.pk).last_seen > first_seen
    writes = [q for q in queries_of(client, DASHBOARD) if "members_signedinsession" in q.lower()]
    assert not any(q.lstrip().upper().startswith("UPDATE") for q in writes)


# Ending a person's sessions


@pytest.fixture
def member_on_two_phones(member_user):
    return sign_in("sanxia_member", agent=ANDROID_CHROME), sign_in(
        "sanxia_member", address="10.0.0.2", agent=IPHONE_WECHAT
    )


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(
    member_on_two_phones,
):
    this, other = member_on_two_phones
    old_key = key_of(this)
    response = this.post(
        reverse("password_change"),
        {
            "old_password": "pw-sanxia_member",
            "new_password1": "Changjiang-2020",
            "new_password2": "Changjiang-2020",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("members:my_sessions")
    assert not alive(other)
    assert not signed_in(other)
    assert key_of(this) != old_key  # Django gives the one kept a new key
    assert alive(this)
    assert "其他设备已退出登录" in this.get(reverse("members:my_sessions")).content.decode()
    assert signed_in(this)


def test_a_password_set_by_someone_else_ends_every_session(member_on_two_phones, member_user):
    member_user.set_password("Changjiang-2020")
    member_user.save()
    assert not any(alive(client) for client in member_on_two_phones)
    assert not SignedInSession.objects.filter(user=member_user).exists()


def test_a_password_reset_ends_the_sessions_before_it(member_on_two_phones, member_user):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    member_user.refresh_from_db()  # signed in by the fixture since
    uid = urlsafe_base64_encode(force_bytes(member_user.pk))
    token = default_token_generator.make_token(member_user)
    client = Client()
    form_url = client.get(f"/password/reset/{uid}/{token}/").url
    response = client.post(
        form_url, {"new_password1": "Changjiang-2020", "new_password2": "Changjiang-2020"}
    )
    assert response.status_code == 302
    assert not any(alive(phone) for phone in member_on_two_phones)
    assert alive(client)  # signed in by the reset


def test_saving_a_login_without_a_new_password_ends_nothing(member_on_two_phones, member_user):
    member_user.first_name = "建华"
    member_user.save()
    assert all(alive(client) for client in member_on_two_phones)


def test_deactivating_a_login_in_admin_ends_its_sessions(
    staff_client, member_on_two_phones, member_user
):
    url = reverse("admin:auth_user_change", args=[member_user.pk])
    response = staff_client.post(
        url,
        {
            "username": member_user.username,
            "is_active": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member_user.refresh_from_db()
    assert not member_user.is_active
    assert not any(alive(client) for client in member_on_two_phones)


def test_a_member_marked_as_left_is_signed_out_everywhere(
    world, agency_office, member_on_two_phones
):
    office = sign_in("sanxia_office")
    response = office.post(
        reverse("roster:member_leave", args=[world.sanxia_member.pk]),
        {"left_on": timezone.localdate().isoformat()},
    )
    assert response.status_code == 302
    assert not any(alive(client) for client in member_on_two_phones)
    assert alive(office)


def test_revoking_a_role_ends_the_persons_sessions(agency_office):
    phone, desk = sign_in("sanxia_office"), sign_in("sanxia_office", address="10.0.0.2")
    StaffRole.objects.get(user=agency_office).delete()
    assert not alive(phone) and not alive(desk)


def test_changing_a_role_ends_the_persons_sessions(world, agency_office):
    client = sign_in("sanxia_office")
    role = StaffRole.objects.get(user=agency_office)
    role.agency = world.yuanlin
    role.save()
    assert not alive(client)


def test_taking_a_grid_from_a_grid_worker_ends_their_sessions(world, grid_worker):
    client = sign_in("shengli_grid")
    StaffRole.objects.get(user=grid_worker).grids.remove(world.zilinyuan)
    assert not alive(client)


def test_taking_a_role_from_someone_else_keeps_other_peoples_sessions(agency_office, member_user):
    member = sign_in("sanxia_member")
    StaffRole.objects.get(user=agency_office).delete()
    assert alive(member)


# A person's own sessions


def test_the_page_lists_ones_own_sessions_and_marks_this_one(
    member_on_two_phones, other_member_user
):
    this, other = member_on_two_phones
    stranger = sign_in("yuanlin_member", address="10.9.9.9", agent=WINDOWS_EDGE)
    response = this.get(reverse("members:my_sessions"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "我的登录设备" in page
    assert page.count('data-testid="session"') == 2
    assert page.count('data-testid="this-device"') == 1
    assert "Chrome · Android" in page and "微信 · iPhone" in page
    assert "10.0.*.*" in page and "10.0.0.2" not in page
    assert "Edge" not in page  # another person's
    assert key_of(this) not in page and key_of(other) not in page
    assert alive(stranger)


def test_the_account_menu_links_to_the_page(member_user):
    page = sign_in("sanxia_member").get(DASHBOARD).content.decode()
    assert f'href="{reverse("members:my_sessions")}"' in page


def test_ending_another_session_signs_that_device_out(member_on_two_phones):
    this, other = member_on_two_phones
    response = this.post(reverse("members:session_end"), {"session": key_digest(key_of(other))})
    assert response.status_code == 302
    assert not alive(other) and alive(this)
    assert "该设备已退出登录" in this.get(response.url).content.decode()


def test_ending_all_other_sessions(member_user):
    this, *others = [sign_in("sanxia_member", address=f"10.0.0.{n}") for n in range(1, 4)]
    response = this.post(reverse("members:session_end"), {"session": "others"})
    assert response.status_code == 302
    assert alive(this)
    assert not any(alive(client) for client in others)
    assert "已让其他 2 台设备退出登录" in this.get(response.url).content.decode()


def test_another_persons_session_cannot_be_ended(member_user, other_member_user):
    mine, theirs = sign_in("sanxia_member"), sign_in("yuanlin_member")
    for chosen in (key_digest(key_of(theirs)), key_of(theirs), "", "x" * 5000):
        response = mine.post(reverse("members:session_end"), {"session": chosen})
        assert response.status_code == 302
    assert alive(theirs) and alive(mine)


def test_the_current_session_is_not_ended_from_the_list(member_user):
    this = sign_in("sanxia_member")
    this.post(reverse("members:session_end"), {"session": key_digest(key_of(this))})
    assert alive(this)


def test_the_pages_need_a_sign_in(client, db):
    for url in (reverse("members:my_sessions"), reverse("password_change")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")
    response = client.post(reverse("members:session_end"), {"session": "others"})
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_ending_sessions_needs_the_csrf_token(member_on_two_phones, member_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    response = client.post(reverse("members:session_end"), {"session": "others"})
    assert response.status_code == 403
    assert all(alive(phone) for phone in member_on_two_phones)


def test_ended_sessions_are_not_listed(member_user):
    this = sign_in("sanxia_member")
    gone = sign_in("sanxia_member", address="10.0.0.2")
    SignedInSession.objects.filter(session_key=key_of(gone)).update(
        ends_at=timezone.now() - dt.timedelta(minutes=1)
    )
    page = this.get(reverse("members:my_sessions")).content.decode()
    assert page.count('data-testid="session"') == 1


# Reading devices and addresses


@pytest.mark.parametrize(
    "agent, summary",
    [
        (ANDROID_CHROME, "Chrome · Android"),
        (WINDOWS_EDGE, "Edge · Windows"),
        (IPHONE_WECHAT, "微信 · iPhone"),
        ("curl/8.0", ""),
        ("", ""),
    ],
)
def test_device_summaries(agent, summary):
    assert device_summary(agent) == summary


@pytest.mark.parametrize(
    "address, shown",
    [
        ("221.233.17.4", "221.233.*.*"),
        ("240e:3a1:4c2:1::5", "240e:3a1:*"),
        ("not an address", ""),
        ("", ""),
    ],
)
def test_addresses_are_masked(address, shown):
    assert masked_address(address) == shown


# Cleaning


def test_ended_sessions_are_deleted_a_day_after_they_ended(member_user):
    from members.tasks import clear_sessions
    from xiachen.celery import app

    now = timezone.now()
    kept = sign_in("sanxia_member")
    just_ended = sign_in("sanxia_member", address="10.0.0.2")
    ended_long_ago = sign_in("sanxia_member", address="10.0.0.3")
    past_its_cookie = sign_in("sanxia_member", address="10.0.0.4")
    SignedInSession.objects.filter(session_key=key_of(just_ended)).update(
        ends_at=now - dt.timedelta(hours=1)
    )
    SignedInSession.objects.filter(session_key=key_of(ended_long_ago)).update(
        ends_at=now - dt.timedelta(days=2)
    )
    SignedInSession.objects.filter(session_key=key_of(past_its_cookie)).update(
        expire_date=now - dt.timedelta(minutes=1)
    )
    assert clear_sessions() == 2
    assert alive(kept) and alive(just_ended)
    assert not alive(ended_long_ago) and not alive(past_its_cookie)
    assert "members.clear_sessions" in {e["task"] for e in app.conf.beat_schedule.values()}
