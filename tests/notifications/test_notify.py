"""The `notify(kind=..., recipients=..., obj=..., context=...)` service other features call."""

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import translation

from notifications import delivery
from notifications.models import Notification, NotificationPreference
from notifications.notify import notify

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
    assert queued == 1  # in-app only: the member's login has no e-mail address
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
    outcome = delivery.deliver(ids, token="test")
    states = dict(Notification.objects.values_list("channel", "state"))
    assert states == {Channel.INAPP: State.SENT, Channel.EMAIL: State.PENDING}
    assert outcome[(Kind.ROLL_CALL_DUE, "sent")] == 1
    assert outcome[(Kind.ROLL_CALL_DUE, "failed")] == 1
    assert Notification.objects.get(channel=Channel.EMAIL).last_error
    assert mail.outbox == []
