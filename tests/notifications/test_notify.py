"""The `notify(kind=..., recipients=..., obj=..., context=...)` service other features call."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone, translation

from members.models import Member
from notifications import delivery
from notifications.models import Notification, NotificationPreference
from notifications.notify import Notified, notify
from notifications.services import notification_retry

Kind, Channel, State = Notification.Kind, Notification.Channel, Notification.State


@pytest.fixture
def staff_with_email(community_staff):
    community_staff.email = "staff@example.org"
    community_staff.save()
    return community_staff


def test_it_writes_the_text_of_the_kind_from_the_context_in_chinese(world, staff_with_email):
    with translation.override("en"):  # whoever's request is active, the site's language
        notify(
            kind=Kind.ROLL_CALL_DUE,
            recipients=[staff_with_email],
            obj=world.shengli_activity,
            context={"pending": 3},
            enqueue=False,
        )
    row = Notification.objects.get(channel=Channel.INAPP)
    assert row.subject == "请点名：沿江防汛巡逻"
    assert "还有 3 人待点名" in row.body
    assert row.url.endswith(world.shengli_activity.get_absolute_url())
    assert row.url.startswith("http")


def test_a_plain_message_takes_its_text_from_the_caller(world, member_user):
    queued = notify(
        kind=Kind.MESSAGE,
        recipients=[world.sanxia_member],
        obj=world.shengli_activity,
        context={"subject": "报到已通过", "body": "欢迎到胜利一路社区报到。", "url": "/"},
        slot="registration-1",
        enqueue=False,
    )
    assert queued.queued == 1  # in-app only: the member's login has no e-mail address
    assert queued.unreached == ()
    row = Notification.objects.get()
    assert (row.recipient, row.recipient_name, row.subject) == (
        member_user,
        world.sanxia_member.name,
        "报到已通过",
    )


def test_each_recipient_gets_the_channels_they_chose(world, staff_with_email, member_user):
    member_user.email = "member@example.org"
    member_user.save()
    NotificationPreference.objects.create(user=member_user, inapp=False, email=True)
    world.shengli.robot_webhook_url = "http://127.0.0.1:9/robot"
    world.shengli.save()
    NotificationPreference.objects.create(user=staff_with_email, email=False, webhook=True)
    notify(
        kind=Kind.UPCOMING,
        recipients=[world.sanxia_member, staff_with_email, world.sanxia_member_2],
        obj=world.shengli_activity,
        slot="24h",
        robot=world.shengli,
        enqueue=False,
    )
    got = set(Notification.objects.values_list("recipient_key", "channel"))
    assert got == {
        (f"u{member_user.pk}", Channel.EMAIL),
        (f"u{staff_with_email.pk}", Channel.INAPP),
        (f"u{staff_with_email.pk}", Channel.WEBHOOK),
        # no login: the group robot can still mention them
        (f"m{world.sanxia_member_2.pk}", Channel.WEBHOOK),
    }


# --- Messages that reach nobody ---------------------------------------------------------------

Unreachable = Notification.Unreachable


def test_a_member_no_channel_reaches_is_recorded_once_and_named_to_the_caller(
    world, django_capture_on_commit_callbacks
):
    # 王海燕 has no login, and 胜利一路社区 no group robot.
    wang = world.sanxia_member_2
    with django_capture_on_commit_callbacks() as callbacks:
        notified = notify(
            kind=Kind.UPCOMING,
            recipients=[wang],
            obj=world.shengli_activity,
            robot=world.shengli,
        )
    assert notified.queued == 0
    assert [(p.name, p.reason) for p in notified.unreached] == [("王海燕", Unreachable.NO_LOGIN)]
    assert callbacks == [], "nothing to hand to a worker"
    row = Notification.objects.get()
    assert (row.state, row.channel, row.unreachable_reason) == (
        State.UNREACHABLE,
        Channel.NONE,
        Unreachable.NO_LOGIN,
    )
    # Recorded where the staff who may see the message look: the community and the agency.
    assert (row.recipient, row.recipient_name, row.community, row.agency) == (
        None,
        "王海燕",
        world.shengli,
        world.sanxia,
    )

    again = notify(
        kind=Kind.UPCOMING,
        recipients=[wang],
        obj=world.shengli_activity,
        robot=world.shengli,
    )
    assert again.queued == 0
    assert [p.name for p in again.unreached] == ["王海燕"], "still not reached, still said"
    assert Notification.objects.count() == 1, "recorded once: the outbox's unique key"


@pytest.mark.parametrize(
    "choice, email, robot, reason",
    [
        ({"inapp": False, "email": False, "webhook": True}, "", False, Unreachable.NO_ROBOT),
        ({"inapp": False, "email": True, "webhook": False}, "", True, Unreachable.NO_EMAIL),
        (
            {"inapp": False, "email": True, "webhook": True},
            "",
            False,
            Unreachable.NO_ROBOT_NO_EMAIL,
        ),
        (
            {"inapp": False, "email": False, "webhook": False},
            "a@example.org",
            True,
            Unreachable.NO_CHOICE,
        ),
        ({"inapp": False, "email": False, "webhook": True}, "", True, ""),
        ({"inapp": False, "email": True, "webhook": False}, "a@example.org", False, ""),
    ],
)
def test_a_login_whose_chosen_channels_cannot_reach_them_is_unreachable(
    world, member_user, choice, email, robot, reason
):
    member_user.email = email
    member_user.save()
    NotificationPreference.objects.create(user=member_user, **choice)
    if robot:
        world.shengli.robot_webhook_url = "http://127.0.0.1:9/robot"
        world.shengli.save()
    notified = notify(
        kind=Kind.UPCOMING,
        recipients=[world.sanxia_member],
        obj=world.shengli_activity,
        robot=world.shengli,
        enqueue=False,
    )
    assert [p.reason for p in notified.unreached] == ([reason] if reason else [])
    assert notified.queued == (0 if reason else 1)
    states = set(Notification.objects.values_list("state", "unreachable_reason"))
    assert states == ({(State.UNREACHABLE, reason)} if reason else {(State.PENDING, "")})


def test_unreachable_rows_are_never_handed_out_nor_sent_again(world):
    notify(kind=Kind.UPCOMING, recipients=[world.sanxia_member_2], obj=world.shengli_activity)
    row = Notification.objects.get()
    assert not delivery.deliverable(timezone.now() + dt.timedelta(days=1)).exists()
    with pytest.raises(ValidationError):
        notification_retry(notification=row)
    assert Notification.objects.get().state == State.UNREACHABLE


def test_the_warning_names_those_not_reached_and_counts_the_rest(world):
    members = Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i}", mobile=f"1370000{i:04d}") for i in range(7)
    )
    notified = notify(kind=Kind.UPCOMING, recipients=members, obj=world.shengli_activity)
    assert len(notified.unreached) == 7
    with translation.override("en"):
        assert notified.warning() == (
            "Not told, as no channel reaches them: "
            + "; ".join(
                f"成员{i} (no login of their own, and no group robot to mention them in)"
                for i in range(5)
            )
            + " and 2 more."
        )
    with translation.override("zh-hans"):
        assert notified.warning().startswith("未能通知（没有可以送达的渠道）：成员0（")
    assert Notified().warning() == ""
    assert (notified + Notified(queued=2)).queued == 2


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=9,  # nothing listens on the discard port here
    EMAIL_TIMEOUT=2,
)
def test_one_channel_failing_does_not_stop_the_others(world, staff_with_email):
    notify(
        kind=Kind.ROLL_CALL_DUE,
        recipients=[staff_with_email],
        obj=world.shengli_activity,
        context={"pending": 1},
        enqueue=False,
    )
    ids = list(Notification.objects.values_list("pk", flat=True))
    # When they are due: at night the quiet hours hold them until the morning.
    due = Notification.objects.latest("due_at").due_at
    outcome = delivery.deliver(ids, token="test", now=due)
    states = dict(Notification.objects.values_list("channel", "state"))
    assert states == {Channel.INAPP: State.SENT, Channel.EMAIL: State.PENDING}
    assert outcome[(Kind.ROLL_CALL_DUE, "sent")] == 1
    assert outcome[(Kind.ROLL_CALL_DUE, "failed")] == 1
    assert Notification.objects.get(channel=Channel.EMAIL).last_error
    assert mail.outbox == []
