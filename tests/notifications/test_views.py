"""The inbox and its bell, notification settings, and the staff outbox."""

import datetime as dt
import re
import socket
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.models import Member
from notifications import delivery
from notifications.models import Notification, NotificationPreference
from notifications.notify import notify
from notifications.recipients import robot_reaches
from tests.conftest import make_user

INBOX = reverse("notifications:inbox")
READ_ALL = reverse("notifications:inbox_read_all")
PREFERENCES = reverse("notifications:preferences")
OUTBOX = reverse("notifications:outbox")

State, Channel, Kind = Notification.State, Notification.Channel, Notification.Kind


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


def read_url(notification):
    return reverse("notifications:inbox_read", args=[notification.pk])


def retry_url(notification):
    return reverse("notifications:outbox_retry", args=[notification.pk])


def page(response):
    return response.content.decode()


_slots = iter(range(10**6))


def message(
    about,
    *,
    user=None,
    member=None,
    state=State.SENT,
    channel=Channel.INAPP,
    kind=Kind.MESSAGE,
    subject="提醒",
    url="",
    created_at=None,
    **extra,
):
    """One outbox row to `user` (a login) and/or `member`, about the object `about`."""
    if member is not None and user is None:
        user = member.user
    return Notification.objects.create(
        kind=kind,
        channel=channel,
        state=state,
        recipient=user,
        recipient_name=member.name if member else "",
        recipient_mobile=member.mobile if member else "",
        agency=member.agency if member else None,
        # The community the message concerns, as notify() records it from the robot it posts by.
        community=extra.pop("community", getattr(about, "community", None)),
        recipient_key=f"u{user.pk}" if user is not None else f"m{member.pk}",
        content_type=ContentType.objects.get_for_model(about),
        object_id=about.pk,
        slot=f"s{next(_slots)}",
        subject=subject,
        body="正文",
        url=url,
        created_at=created_at or timezone.now(),
        sent_at=timezone.now() if state == State.SENT else None,
        **extra,
    )


def state_of(notification):
    notification.refresh_from_db()
    return notification.state


# --- Who may open what ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [INBOX, PREFERENCES, OUTBOX])
def test_pages_send_anonymous_visitors_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_posts_send_anonymous_visitors_to_login(client, world, member_user):
    notification = message(world.shengli_activity, member=world.sanxia_member)
    failed = message(world.shengli_activity, member=world.sanxia_member, state=State.FAILED)
    for url in (read_url(notification), READ_ALL, retry_url(failed)):
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    notification.refresh_from_db()
    assert notification.read_at is None
    assert state_of(failed) == State.FAILED


@pytest.mark.parametrize("persona", ["member_user", "no_role"])
def test_the_outbox_is_forbidden_to_people_without_a_staff_role(
    client, world, request, django_user_model, persona
):
    user = (
        make_user(django_user_model, "newcomer")
        if persona == "no_role"
        else request.getfixturevalue(persona)
    )
    failed = message(world.shengli_activity, member=world.sanxia_member, state=State.FAILED)
    client.force_login(user)
    assert client.get(OUTBOX).status_code == 403
    assert client.post(retry_url(failed)).status_code == 403
    assert state_of(failed) == State.FAILED


@pytest.mark.parametrize(
    "persona",
    [
        "city_admin",
        "street_officer",
        "community_staff",
        "grid_worker",
        "agency_office",
        "superuser",
    ],
)
def test_the_outbox_opens_for_every_staff_role(client, world, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(OUTBOX).status_code == 200


@pytest.mark.parametrize("url", [INBOX, PREFERENCES])
def test_inbox_and_settings_open_for_anyone_logged_in(client, world, django_user_model, url):
    client.force_login(make_user(django_user_model, "newcomer"))
    assert client.get(url).status_code == 200


def test_the_write_endpoints_take_posts_only(client, world, member_user, community_staff):
    notification = message(world.shengli_activity, member=world.sanxia_member)
    client.force_login(member_user)
    assert client.get(read_url(notification)).status_code == 405
    assert client.get(READ_ALL).status_code == 405
    client.force_login(community_staff)
    failed = message(world.shengli_activity, member=world.sanxia_member, state=State.FAILED)
    assert client.get(retry_url(failed)).status_code == 405
    notification.refresh_from_db()
    assert notification.read_at is None
    assert state_of(failed) == State.FAILED


def test_posts_without_a_csrf_token_are_forbidden(world, member_user, community_staff):
    notification = message(world.shengli_activity, member=world.sanxia_member)
    failed = message(world.shengli_activity, member=world.sanxia_member, state=State.FAILED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    assert client.post(read_url(notification), {"open": "1"}).status_code == 403
    assert client.post(READ_ALL).status_code == 403
    assert client.post(PREFERENCES, {"inapp": "on"}).status_code == 403
    client.force_login(community_staff)
    assert client.post(retry_url(failed)).status_code == 403

    notification.refresh_from_db()
    assert notification.read_at is None
    assert state_of(failed) == State.FAILED
    assert not NotificationPreference.objects.exists()


# --- Inbox ----------------------------------------------------------------------------------


def test_the_inbox_lists_only_my_delivered_in_app_messages_newest_first(client, world, member_user):
    now = timezone.now()
    activity = world.shengli_activity
    old = message(
        activity,
        member=world.sanxia_member,
        subject="旧消息",
        created_at=now - dt.timedelta(days=2),
    )
    new = message(activity, member=world.sanxia_member, subject="新消息", created_at=now)
    message(activity, member=world.sanxia_member, subject="待发送", state=State.PENDING)
    message(activity, member=world.sanxia_member, subject="邮件消息", channel=Channel.EMAIL)
    message(activity, member=world.yuanlin_member, subject="别人的消息")
    client.force_login(member_user)

    response = client.get(INBOX)
    assert response.status_code == 200
    assert [n.pk for n in response.context["page"]] == [new.pk, old.pk]
    html = page(response)
    assert html.index("新消息") < html.index("旧消息")
    for hidden in ("待发送", "邮件消息", "别人的消息"):
        assert hidden not in html


def test_unread_messages_stand_out_and_read_ones_link_to_their_page(client, world, member_user):
    activity = world.shengli_activity
    link = f"http://127.0.0.1:8000{activity.get_absolute_url()}"
    message(activity, member=world.sanxia_member, subject="未读", url=link)
    message(activity, member=world.sanxia_member, subject="已读", url=link, read_at=timezone.now())
    client.force_login(member_user)
    html = page(client.get(INBOX))
    unread = re.findall(r'<li class="list-group-item xc-unread" data-testid="message"', html)
    assert len(unread) == 1
    assert f'href="{activity.get_absolute_url()}">已读</a>' in html
    assert 'data-testid="read-all"' in html


def test_each_unread_row_offers_to_open_it_or_mark_it_read_and_says_when(
    client, world, member_user
):
    sent = timezone.make_aware(dt.datetime(2026, 7, 1, 9, 30, 45))
    for n in range(2):
        message(world.shengli_activity, member=world.sanxia_member, subject=f"第{n}条")
    Notification.objects.update(sent_at=sent)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    client.force_login(member_user)
    html = re.sub(r"\s+", " ", page(client.get(f"{INBOX}?page=1")))
    assert html.count('<span class="badge text-bg-warning ms-1">未读</span>') == 2
    assert html.count('btn-outline-secondary">标为已读</button>') == 2
    # Each row's mark-as-read form, and the language switch, come back to this page.
    assert html.count(f'<input type="hidden" name="next" value="{INBOX}?page=1">') == 3
    assert html.count("2026年7月1日 09:30 · ") == 2  # the minute it was sent, in Shanghai


def test_the_inbox_shows_20_messages_a_page(client, world, member_user):
    for _ in range(23):
        message(world.shengli_activity, member=world.sanxia_member)
    client.force_login(member_user)
    first = client.get(INBOX)
    assert len(first.context["page"]) == 20
    assert "?page=2" in page(first)
    assert len(client.get(INBOX, {"page": 2}).context["page"]) == 3
    assert client.get(INBOX, {"page": "nonsense"}).status_code == 200


def test_an_empty_inbox_says_so(client, world, other_member_user):
    client.force_login(other_member_user)
    html = page(client.get(INBOX))
    assert 'data-testid="inbox-empty"' in html
    assert 'data-testid="read-all"' not in html


def test_opening_a_message_marks_it_read_and_goes_to_its_link(client, world, member_user):
    activity = world.shengli_activity
    notification = message(
        activity,
        member=world.sanxia_member,
        url=f"http://127.0.0.1:8000{activity.get_absolute_url()}",
    )
    client.force_login(member_user)
    response = client.post(read_url(notification), {"open": "1"})
    assert response.status_code == 302
    assert response["Location"] == activity.get_absolute_url()
    notification.refresh_from_db()
    assert notification.read_at is not None

    first_read = notification.read_at
    client.post(read_url(notification), {"open": "1"})
    notification.refresh_from_db()
    assert notification.read_at == first_read, "reading again keeps the first time"


def test_mark_as_read_goes_back_to_the_inbox_page(client, world, member_user):
    notification = message(world.shengli_activity, member=world.sanxia_member)
    client.force_login(member_user)
    response = client.post(read_url(notification), {"next": f"{INBOX}?page=2"})
    assert response["Location"] == f"{INBOX}?page=2"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_links_to_other_sites_are_not_followed(client, world, member_user):
    notification = message(
        world.shengli_activity, member=world.sanxia_member, url="https://evil.example/x"
    )
    client.force_login(member_user)
    assert client.post(read_url(notification), {"open": "1"})["Location"] == INBOX
    other = message(world.shengli_activity, member=world.sanxia_member)
    response = client.post(read_url(other), {"next": "https://evil.example/"})
    assert response["Location"] == INBOX


def test_marking_another_persons_message_read_is_a_404(client, world, member_user):
    theirs = message(world.shenzhen_activity, member=world.yuanlin_member)
    client.force_login(member_user)
    assert client.post(read_url(theirs), {"open": "1"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_as_read_marks_only_my_messages(client, world, member_user):
    mine = [message(world.shengli_activity, member=world.sanxia_member) for _ in range(3)]
    theirs = message(world.shenzhen_activity, member=world.yuanlin_member)
    client.force_login(member_user)
    response = client.post(READ_ALL)
    assert response.status_code == 302
    assert response["Location"] == INBOX
    assert Notification.objects.filter(pk__in=[n.pk for n in mine], read_at=None).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


def bell(html):
    match = re.search(r'data-testid="bell" data-unread="(\d+)"', html)
    assert match, "no bell on the page"
    return int(match.group(1))


def test_the_bell_counts_unread_messages_until_all_are_read(client, world, member_user):
    for _ in range(3):
        message(world.shengli_activity, member=world.sanxia_member)
    message(world.shengli_activity, member=world.sanxia_member, read_at=timezone.now())
    message(world.shengli_activity, member=world.sanxia_member, state=State.PENDING)
    message(world.shenzhen_activity, member=world.yuanlin_member)
    client.force_login(member_user)
    html = page(client.get("/"))
    assert bell(html) == 3
    assert re.search(r"translate-middle badge[^>]*>3</span>", html)

    client.post(READ_ALL)
    html = page(client.get("/"))
    assert bell(html) == 0
    assert "translate-middle badge" not in html


def test_the_bell_is_for_logged_in_users_only(client, world):
    assert 'data-testid="bell"' not in page(client.get("/login/"))


def test_the_user_menu_links_to_inbox_settings_and_for_staff_the_outbox(
    client, world, member_user, community_staff
):
    client.force_login(member_user)
    html = page(client.get("/"))
    assert f'href="{INBOX}"' in html and f'href="{PREFERENCES}"' in html
    assert f'href="{OUTBOX}"' not in html
    client.force_login(community_staff)
    assert f'href="{OUTBOX}"' in page(client.get("/"))


# --- Notification settings ------------------------------------------------------------------


def test_settings_start_from_the_defaults_and_say_there_is_no_e_mail_address(
    client, world, member_user
):
    client.force_login(member_user)
    response = client.get(PREFERENCES)
    form = response.context["form"]
    assert (form["inapp"].value(), form["email"].value(), form["webhook"].value()) == (
        True,
        True,
        False,
    )
    html = page(response)
    assert "You have no e-mail address yet" in html
    assert f'href="{INBOX}"' in html
    assert not NotificationPreference.objects.exists(), "opening the page saves nothing"


def test_saving_settings_stores_channels_and_the_e_mail_address(client, world, member_user):
    client.force_login(member_user)
    response = client.post(
        PREFERENCES, {"inapp": "on", "webhook": "on", "address-email": "lijh@example.org"}
    )
    assert response.status_code == 302
    assert response["Location"] == PREFERENCES
    preference = NotificationPreference.objects.get(user=member_user)
    assert (preference.inapp, preference.email, preference.webhook) == (True, False, True)
    member_user.refresh_from_db()
    assert member_user.email == "lijh@example.org"
    assert "E-mail messages go to" in page(client.get(PREFERENCES))

    # Saving again changes the same row.
    client.post(PREFERENCES, {"email": "on", "address-email": "lijh@example.org"})
    assert NotificationPreference.objects.filter(user=member_user).count() == 1
    preference.refresh_from_db()
    assert (preference.inapp, preference.email, preference.webhook) == (False, True, False)


def test_an_invalid_e_mail_address_is_rejected_with_a_message(client, world, member_user):
    client.force_login(member_user)
    response = client.post(PREFERENCES, {"inapp": "on", "address-email": "not-an-address"})
    assert response.status_code == 200
    html = page(response)
    assert "Enter a valid email address." in html
    assert "Please correct the errors below." in html
    member_user.refresh_from_db()
    assert member_user.email == ""
    assert not NotificationPreference.objects.exists()


def test_choosing_no_channel_at_all_is_rejected(client, world, member_user):
    client.force_login(member_user)
    response = client.post(PREFERENCES, {"address-email": "bad@"})
    assert response.status_code == 200
    html = page(response)
    assert "Choose at least one channel." in html
    assert "Enter a valid email address." in html, "both forms report their errors"
    assert "You have no e-mail address yet" in html
    assert not NotificationPreference.objects.exists()

    response = client.post(PREFERENCES, {"address-email": "lijh@example.org"})
    assert "You have no e-mail address yet" in page(response), "nothing was saved"
    member_user.refresh_from_db()
    assert member_user.email == ""


def test_choosing_e_mail_without_an_address_warns(client, world, member_user):
    client.force_login(member_user)
    response = client.post(PREFERENCES, {"email": "on", "address-email": ""}, follow=True)
    assert "You chose e-mail but have no e-mail address" in page(response)


ROBOT = "https://robot.example.org/send?key=test"


def give_robot(*places):
    for place in places:
        place.robot_webhook_url = ROBOT
        place.save()


@pytest.mark.parametrize(
    "persona, robots, warned",
    [
        # 李建华 of 三峡, reported in to 胜利一路社区.
        ("member_user", [], True),
        ("member_user", ["sanxia"], False),  # his agency's robot
        ("member_user", ["shengli"], False),  # that of the community he reported in to
        ("member_user", ["shenzhen", "yuanlin"], True),  # robots elsewhere do not reach him
        ("community_staff", ["shengli"], False),
        ("other_community_staff", ["shengli"], True),
        ("agency_office", ["sanxia"], False),
        ("street_officer", ["shengli"], False),  # a community of the street
        # A login that is neither a member nor staff anywhere has no robot at all.
        ("newcomer", ["shengli", "shenzhen", "sanxia", "yuanlin"], True),
    ],
)
def test_the_group_robot_is_warned_of_beside_the_choice_where_none_reaches_you(
    client, world, request, django_user_model, persona, robots, warned
):
    give_robot(*(getattr(world, name) for name in robots))
    user = (
        make_user(django_user_model, "newcomer")
        if persona == "newcomer"
        else request.getfixturevalue(persona)
    )
    client.force_login(user)
    html = page(client.get(PREFERENCES))
    assert ('data-testid="webhook-warning"' in html) is warned
    checkbox = re.search(r'<input[^>]*name="webhook"[^>]*>', html).group(0)
    assert ('aria-describedby="webhook-warning"' in checkbox) is warned


def test_a_member_who_left_a_community_is_not_reached_by_its_robot(client, world, member_user):
    give_robot(world.shengli)
    world.sanxia_member.registrations.update(status="revoked")
    client.force_login(member_user)
    assert 'data-testid="webhook-warning"' in page(client.get(PREFERENCES))


def test_saving_channels_that_cannot_reach_you_warns_after_saving(client, world, member_user):
    client.force_login(member_user)
    response = client.post(PREFERENCES, {"webhook": "on", "address-email": ""}, follow=True)
    html = page(response)
    assert "Your notification settings are saved." in html
    assert "None of the channels you chose can reach you" in html
    assert "You chose the group robot, but neither your community nor your agency has one" in html
    assert NotificationPreference.objects.get(user=member_user).webhook

    response = client.post(PREFERENCES, {"inapp": "on", "webhook": "on"}, follow=True)
    html = page(response)
    assert "None of the channels you chose can reach you" not in html
    assert "You chose the group robot, but neither your community nor your agency has one" in html

    give_robot(world.sanxia)
    response = client.post(PREFERENCES, {"webhook": "on"}, follow=True)
    html = page(response)
    assert "Your notification settings are saved." in html
    assert "None of the channels you chose can reach you" not in html
    assert "You chose the group robot, but" not in html


# --- Outbox ---------------------------------------------------------------------------------


@pytest.fixture
def outbox(world):
    """Messages to a 胜利一路社区 member (三峡), a 深圳路社区 member (园林) and a staff login."""
    o = type("Outbox", (), {})()
    activity = world.shengli_activity
    o.sent = message(activity, member=world.sanxia_member, subject="三峡已发送")
    o.failed = message(
        activity,
        member=world.sanxia_member,
        subject="三峡发送失败",
        state=State.FAILED,
        channel=Channel.WEBHOOK,
        attempts=4,
        last_error="URLError: " + "x" * 300,
    )
    o.pending = message(
        activity,
        member=world.sanxia_member_2,
        subject="无登录成员",
        state=State.PENDING,
    )
    o.theirs_failed = message(
        world.shenzhen_activity,
        member=world.yuanlin_member,
        subject="园林发送失败",
        state=State.FAILED,
        attempts=4,
    )
    return o


def subjects(response):
    return {n.subject for n in response.context["page"]}


def test_the_outbox_lists_the_messages_of_people_in_my_scope(
    client, world, outbox, community_staff, agency_office, other_agency_office, city_admin
):
    ours = {"三峡已发送", "三峡发送失败", "无登录成员"}
    for viewer in (community_staff, agency_office):
        client.force_login(viewer)
        assert subjects(client.get(OUTBOX)) == ours
    client.force_login(other_agency_office)
    assert subjects(client.get(OUTBOX)) == {"园林发送失败"}
    client.force_login(city_admin)
    assert subjects(client.get(OUTBOX)) == ours | {"园林发送失败"}


def test_outbox_rows_name_the_recipient_mask_mobiles_and_cut_long_errors(
    client, world, outbox, community_staff
):
    client.force_login(community_staff)
    html = page(client.get(OUTBOX))
    assert "李建华" in html and "王海燕" in html
    assert "139****0001" in html
    assert "13900000001" not in html
    # A row from before failures had reasons: a plain one, with the detail behind it.
    assert '<span data-testid="failure-reason">Sending failed</span>' in html
    shown = re.search(r"<details[^>]*>.*?<code[^>]*>(URLError: x+)</code>", html, re.S)
    assert shown and len(shown.group(1)) == 310
    assert html.count('data-testid="retry"') == 1


def test_a_message_to_a_login_without_a_member_shows_the_username(client, world, city_admin):
    message(world.shengli_activity, user=city_admin, subject="点名提醒")
    client.force_login(city_admin)
    html = page(client.get(OUTBOX))
    assert '<span data-testid="recipient">city_admin</span>' in html


def test_the_outbox_counts_messages_per_state(client, world, outbox, community_staff):
    client.force_login(community_staff)
    counts = dict(client.get(OUTBOX).context["state_counts"])
    assert counts == {
        State.PENDING: 1,
        State.SENDING: 0,
        State.SENT: 1,
        State.FAILED: 1,
        State.UNREACHABLE: 0,
    }
    # The counts follow the other filters, not the state filter.
    response = client.get(OUTBOX, {"state": State.FAILED, "channel": Channel.INAPP})
    assert dict(response.context["state_counts"])[State.SENT] == 1
    assert subjects(response) == set()


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"state": "failed"}, {"三峡发送失败"}),
        ({"channel": "webhook"}, {"三峡发送失败"}),
        ({"kind": "message", "state": "pending"}, {"无登录成员"}),
        ({"kind": "upcoming"}, set()),
    ],
)
def test_the_outbox_filters_by_state_kind_and_channel(
    client, world, outbox, community_staff, params, expected
):
    client.force_login(community_staff)
    assert subjects(client.get(OUTBOX, params)) == expected


def test_the_outbox_filters_by_local_dates(client, world, community_staff):
    today = timezone.localdate()
    at = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=3), dt.time(0, 30)))
    message(world.shengli_activity, member=world.sanxia_member, subject="三天前", created_at=at)
    message(world.shengli_activity, member=world.sanxia_member, subject="今天")
    client.force_login(community_staff)
    day = (today - dt.timedelta(days=3)).isoformat()
    assert subjects(client.get(OUTBOX, {"date_from": day, "date_to": day})) == {"三天前"}
    assert subjects(client.get(OUTBOX, {"date_from": today.isoformat()})) == {"今天"}
    assert subjects(client.get(OUTBOX, {"date_to": day})) == {"三天前"}


def test_bad_filter_values_show_errors_not_a_500(client, world, outbox, community_staff):
    client.force_login(community_staff)
    response = client.get(OUTBOX, {"date_from": "2024-13-45", "state": "failed"})
    assert response.status_code == 200
    assert "Enter a valid date." in page(response)
    assert subjects(response) == {"三峡发送失败"}, "the valid filters still apply"

    response = client.get(OUTBOX, {"date_from": "2024-05-02", "date_to": "2024-05-01"})
    assert response.status_code == 200
    assert "The end date is before the start date." in page(response)

    response = client.get(OUTBOX, {"state": "nonsense", "kind": "x", "page": "-1"})
    assert response.status_code == 200
    assert "Select a valid choice." in page(response)


def test_a_bad_date_is_reported_in_chinese_by_default(client, world, settings, community_staff):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(community_staff)
    response = client.get(OUTBOX, {"date_to": "昨天"})
    assert response.status_code == 200
    assert "输入一个有效的日期" in page(response)


def test_send_again_puts_a_failed_message_back_in_the_queue(client, world, outbox, community_staff):
    client.force_login(community_staff)
    before = {
        n.pk: (n.state, n.attempts, n.due_at)
        for n in Notification.objects.exclude(pk=outbox.failed.pk)
    }
    response = client.post(retry_url(outbox.failed), {"next": f"{OUTBOX}?state=failed"})
    assert response.status_code == 302
    assert response["Location"] == f"{OUTBOX}?state=failed"
    outbox.failed.refresh_from_db()
    assert outbox.failed.state == State.PENDING
    assert outbox.failed.attempts == 0
    assert outbox.failed.due_at <= timezone.now()
    after = {
        n.pk: (n.state, n.attempts, n.due_at)
        for n in Notification.objects.exclude(pk=outbox.failed.pk)
    }
    assert after == before, "nothing else changes"
    assert "is queued to be sent again" in page(client.get(OUTBOX))


@pytest.mark.parametrize("viewer", ["community_staff", "agency_office", "street_officer"])
def test_sending_again_a_message_outside_my_scope_is_a_404(client, world, outbox, request, viewer):
    client.force_login(request.getfixturevalue(viewer))
    assert client.post(retry_url(outbox.theirs_failed)).status_code == 404
    outbox.theirs_failed.refresh_from_db()
    assert (outbox.theirs_failed.state, outbox.theirs_failed.attempts) == (State.FAILED, 4)


def test_sending_again_a_message_that_has_not_failed_is_refused_with_a_message(
    client, world, outbox, community_staff
):
    client.force_login(community_staff)
    response = client.post(retry_url(outbox.sent), follow=True)
    assert response.status_code == 200
    assert "Only a failed message can be sent again." in page(response)
    assert state_of(outbox.sent) == State.SENT


def test_messages_that_reach_nobody_are_listed_counted_and_say_why(
    client, world, community_staff, agency_office, other_community_staff
):
    # 王海燕 has no login, and 胜利一路社区 no robot.
    notify(
        kind=Kind.UPCOMING,
        recipients=[world.sanxia_member_2],
        obj=world.shengli_activity,
        robot=world.shengli,
    )
    for viewer in (community_staff, agency_office):
        client.force_login(viewer)
        response = client.get(OUTBOX, {"state": State.UNREACHABLE})
        assert dict(response.context["state_counts"])[State.UNREACHABLE] == 1
        html = page(response)
        assert "王海燕" in html
        assert (
            'data-testid="unreachable-reason">Not sent: no login of their own, and no group '
            "robot to mention them in.</div>"
        ) in html
        assert 'data-testid="retry"' not in html, "there is nothing to send again"
    client.force_login(other_community_staff)
    assert dict(client.get(OUTBOX).context["state_counts"])[State.UNREACHABLE] == 0


# The discard port: nothing listens there, so the robot refuses at once.
DEAD_ROBOT = "http://127.0.0.1:9/robot"


@pytest.fixture
def failed_robot_message(world, member_user, settings):
    """A message to 李建华 (三峡, with a login, who chose the group robot only) that
    胜利一路社区's robot failed to post, for good. `param`: sent to the member, or to his login (as
    concerns are)."""

    def fail(recipient):
        settings.NOTIFICATION_MAX_ATTEMPTS = 1
        world.shengli.robot_webhook_url = DEAD_ROBOT
        world.shengli.save()
        NotificationPreference.objects.create(
            user=member_user, inapp=False, email=False, webhook=True
        )
        notify(
            kind=Kind.UPCOMING,
            recipients=[recipient],
            obj=world.shengli_activity,
            slot="24h",
            robot=world.shengli,
            enqueue=False,
        )
        row = Notification.objects.get()
        # When it is due: at night the quiet hours hold it until the morning.
        delivery.deliver([row.pk], token="test", now=row.due_at)
        row.refresh_from_db()
        assert (row.state, row.channel) == (State.FAILED, Channel.WEBHOOK)
        return row

    return fail


@pytest.mark.parametrize("to", ["member", "login"])
def test_a_failed_robot_message_shows_to_the_community_and_the_agency_it_concerns(
    client,
    world,
    failed_robot_message,
    to,
    community_staff,
    grid_worker,
    agency_office,
    other_community_staff,
    other_agency_office,
):
    failed = failed_robot_message(
        world.sanxia_member if to == "member" else world.sanxia_member.user
    )
    assert (failed.community, failed.agency, failed.recipient_name) == (
        world.shengli,
        world.sanxia,
        "李建华",
    )
    for outsider in (other_community_staff, other_agency_office):
        client.force_login(outsider)
        assert failed.pk not in {n.pk for n in client.get(OUTBOX).context["page"]}
        assert client.post(retry_url(failed)).status_code == 404
        assert state_of(failed) == State.FAILED
    for insider in (community_staff, grid_worker, agency_office):
        client.force_login(insider)
        response = client.get(OUTBOX, {"state": State.FAILED})
        assert [n.pk for n in response.context["page"]] == [failed.pk]
        assert 'data-testid="retry"' in page(response)
    # The agency's office sends it again.
    response = client.post(retry_url(failed), {"next": f"{OUTBOX}?state=failed"})
    assert response["Location"] == f"{OUTBOX}?state=failed"
    assert state_of(failed) == State.PENDING


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "NaN"},
        {"page": "-1"},
        {"page": "99999999999999999999999"},
        {"state": "x", "kind": "x", "channel": "x"},
        {"date_from": "2026-13-45", "date_to": "2026-02-30"},
        {"date_from": "0001-01-01"},
        {"date_to": "9999-12-31"},
        {"date_from": "\x00"},
        {"next": "NaN"},
    ],
)
def test_hostile_query_strings_get_a_page_not_a_500(client, world, community_staff, params):
    client.force_login(community_staff)
    for url in (INBOX, OUTBOX, PREFERENCES):
        assert client.get(url, params).status_code == 200, url


def test_far_dates_are_a_clear_error(client, world, community_staff):
    client.force_login(community_staff)
    response = client.get(OUTBOX, {"date_from": "0001-01-01", "date_to": "9999-12-31"})
    assert response.status_code == 200
    assert page(response).count("Choose a date between 2000 and 2099.") == 2


@pytest.mark.parametrize("next_", ["NaN", "0", "abc", "//evil.example", "javascript:alert(1)"])
def test_hostile_next_values_fall_back_to_the_page(client, world, outbox, community_staff, next_):
    mine = message(world.shengli_activity, user=community_staff)
    client.force_login(community_staff)
    assert client.post(read_url(mine), {"next": next_})["Location"] == INBOX
    assert client.post(READ_ALL, {"next": next_})["Location"] == INBOX
    assert client.post(retry_url(outbox.failed), {"next": next_})["Location"] == OUTBOX
    response = client.post(PREFERENCES, {"inapp": "NaN", "next": next_})
    assert response["Location"] == PREFERENCES


# --- A fixed number of queries --------------------------------------------------------------


def add_messages(world, count):
    """`count` more in-app messages to 李建华 and as many failed ones to members in scope."""
    members = Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i}", mobile=f"1370000{i:04d}")
        for i in range(Notification.objects.count(), Notification.objects.count() + count)
    )
    for i, member in enumerate(members):
        message(world.shengli_activity, member=world.sanxia_member, subject=f"消息{i}")
        message(member, member=member, state=State.FAILED, subject=f"失败{i}")


@pytest.mark.parametrize("url, viewer", [(INBOX, "member_user"), (OUTBOX, "agency_office")])
def test_the_inbox_and_outbox_cost_the_same_queries_for_5_and_for_50_rows(
    client, world, request, url, viewer
):
    client.force_login(request.getfixturevalue(viewer))

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            assert response.status_code == 200
        return len(queries), len(response.context["page"])

    add_messages(world, 5)
    small, shown_small = count_queries()
    add_messages(world, 45)
    large, shown_large = count_queries()
    assert shown_small >= 5 and shown_large > shown_small
    assert small == large
    assert large <= 10, f"{url}: {large} queries"


def test_the_outbox_gives_the_reason_in_chinese_and_keeps_the_technical_detail_behind_it(
    client, world, community_staff, settings, monkeypatch
):
    settings.LANGUAGE_CODE = "zh-hans"
    settings.QUIET_HOURS = [0, 0]
    with socket.socket() as closed:  # a port nobody listens on: the robot is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    world.shengli.robot_webhook_url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k"
    world.shengli.save()
    monkeypatch.setattr(
        delivery, "time", SimpleNamespace(sleep=lambda s: None, monotonic=time.monotonic)
    )
    notify(
        kind=Kind.ROLL_CALL_DUE,
        recipients=[world.sanxia_member_2],  # no login: the group robot is the way to them
        obj=world.shengli_activity,
        context={"pending": 1},
        robot=world.shengli,
        enqueue=False,
    )
    row = Notification.objects.get()
    delivery.deliver([row.pk], token="t")
    row.refresh_from_db()
    assert "Connection refused" in row.last_error

    client.force_login(community_staff)
    html = page(client.get(OUTBOX))
    [shown] = re.findall(
        r'<div class="small text-danger" data-testid="last-error">(.*?)</div>', html, re.S
    )
    detail = re.search(r"<details.*?</details>", shown, re.S).group(0)
    visible = shown.replace(detail, "")
    assert "群机器人无法连接" in visible
    assert "Connection refused" not in visible and "URLError" not in visible
    assert "Connection refused" in detail and "技术细节" in detail


# --- A page costs the same queries whatever it shows ------------------------------------------


def queries_of(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_inbox_costs_the_same_queries_empty_and_full(client, world, member_user):
    client.force_login(member_user)
    empty = queries_of(client, INBOX)
    for n in range(3):
        message(world.shengli_activity, user=member_user, subject=f"提醒{n}")
    assert queries_of(client, INBOX) == empty


@pytest.mark.parametrize("robot_at", [None, "community", "agency"])
def test_the_settings_page_costs_the_same_queries_wherever_the_robot_is(
    client, world, street_officer, member_user, robot_at
):
    """Asking whether a group robot reaches the person is one query, not one per place tried."""
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
    client.force_login(street_officer)
    without_robot = queries_of(client, PREFERENCES)
    if robot_at == "community":
        world.shengli.robot_webhook_url = url
        world.shengli.save()
    elif robot_at == "agency":
        world.sanxia.robot_webhook_url = url
        world.sanxia.save()
    assert queries_of(client, PREFERENCES) == without_robot
    # The answer itself: the street's officer is reached by its communities' robots only.
    assert robot_reaches(street_officer) == (robot_at == "community")
    assert robot_reaches(member_user) == (robot_at is not None)


def test_the_outbox_counts_its_rows_once_by_state(client, world, agency_office):
    """The pages come from the counts per state (all of them, or the chosen state's): a
    second count of the same rows cost as much again at city size."""
    add_messages(world, 30)  # 30 sent to 李建华, 30 failed to members of 三峡
    client.force_login(agency_office)
    for query, count in [
        ("", 60),
        ("?state=failed", 30),
        ("?state=bogus", 60),  # a bad value is left out, as every filter's
        ("?state=sent&kind=message", 30),
        ("?kind=upcoming", 0),
        ("?state=failed&page=2", 30),
    ]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(OUTBOX + query)
        assert response.status_code == 200
        page = response.context["page"]
        assert page.paginator.count == count, query
        counts = [
            q["sql"]
            for q in queries.captured_queries
            if 'FROM "notifications_notification"' in q["sql"] and "COUNT(" in q["sql"]
            if '"read_at" IS NULL' not in q["sql"]  # the bell's unread messages
        ]
        assert len(counts) == 1 and "GROUP BY" in counts[0], counts
    # The second page, read from the end of the list, holds the oldest ten, newest first.
    response = client.get(OUTBOX + "?page=2")
    oldest = Notification.objects.visible_to(agency_office).order_by("-created_at", "-pk")[50:]
    assert [n.pk for n in response.context["page"]] == [n.pk for n in oldest]


@pytest.mark.parametrize(
    "language, words",
    [
        ("en", ["Unreachable", "No channel", "Message", "2 attempts", "1 attempt", "Not sent: "]),
        ("zh-hans", ["尝试 2 次", "尝试 1 次", "未发送："]),
    ],
)
def test_each_outbox_row_says_its_state_channel_kind_tries_and_reason_in_the_language(
    client, world, community_staff, settings, language, words
):
    from django.utils import translation

    settings.LANGUAGE_CODE = language
    message(
        world.shengli_activity,
        member=world.sanxia_member_2,
        state=State.UNREACHABLE,
        channel=Channel.NONE,
        unreachable_reason=Notification.Unreachable.NO_LOGIN,
        attempts=2,
    )
    message(
        world.shengli_activity,
        member=world.sanxia_member,
        state=State.FAILED,
        failure=Notification.Failure.MAIL_TIMEOUT,
        attempts=1,
    )
    client.force_login(community_staff)
    html = page(client.get(OUTBOX))
    with translation.override(language):
        labels = [
            str(label)
            for label in (
                State.UNREACHABLE.label,
                State.FAILED.label,
                Channel.NONE.label,
                Channel.INAPP.label,
                Kind.MESSAGE.label,
                Notification.Failure.MAIL_TIMEOUT.label,
            )
        ]
        reason = str(Notification.Unreachable.NO_LOGIN.label)
    for word in [*words, *labels]:
        assert word in html, word
    [not_sent] = re.findall(r'data-testid="unreachable-reason">(.*?)</div>', html, re.S)
    assert reason in not_sent


@pytest.mark.parametrize(
    "viewer",
    ["city_admin", "street_officer", "community_staff", "agency_office", "office_and_staff"],
)
def test_the_outbox_counts_per_state_are_those_of_the_rows_the_viewer_sees(
    world, request, django_user_model, viewer
):
    """Each branch of the scope counts the rows no branch before it has
    (Notification.objects.counts_by_state): a message that concerns the viewer's community,
    their agency's member and the viewer at once is counted once, one that concerns none of
    them not at all."""
    from communities.models import StaffRole
    from tests.conftest import role

    if viewer == "office_and_staff":
        user = role(django_user_model, "both", StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia)
        StaffRole.objects.create(
            user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shengli
        )
    else:
        user = request.getfixturevalue(viewer)
    states = list(State)
    number = 0
    for community in (world.shengli, world.shenzhen, None):
        for agency in (world.sanxia, world.yuanlin, None):
            for recipient in (user, None):
                for _ in range(number % 3 + 1):
                    state = states[number % len(states)]
                    unreachable = state == State.UNREACHABLE
                    Notification.objects.create(
                        kind=Kind.MESSAGE,
                        channel=Channel.NONE if unreachable else Channel.INAPP,
                        unreachable_reason=Notification.Unreachable.NO_LOGIN if unreachable else "",
                        state=state,
                        recipient=recipient,
                        recipient_name="王海燕",
                        community=community,
                        agency=agency,
                        recipient_key=f"r{number}",
                        content_type=ContentType.objects.get_for_model(world.shengli_activity),
                        object_id=world.shengli_activity.pk,
                        subject="提醒",
                        body="正文",
                    )
                    number += 1
    visible = Notification.objects.visible_to(user)
    expected = {
        state: visible.filter(state=state).count()
        for state in states
        if visible.filter(state=state).exists()
    }
    assert Notification.objects.counts_by_state(user) == expected
    assert sum(expected.values()) == visible.count() > 0
    # Narrowed by the other filters as the list is.
    narrowed = Notification.objects.filter(community=world.shenzhen)
    assert (
        sum(narrowed.counts_by_state(user).values())
        == visible.filter(community=world.shenzhen).count()
    )
