"""The filters of the staff outbox (notifications/filters.py)."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from notifications.filters import OutboxFilterSet
from notifications.models import Notification

State, Channel, Kind = Notification.State, Notification.Channel, Notification.Kind
DAY = dt.date(2024, 7, 1)


@pytest.fixture
def messages(world):
    """Four messages about the world's 胜利一路 activity, queued around DAY (local time)."""
    about = world.shengli_activity

    def queue(subject, created_at, **fields):
        fields.setdefault("channel", Channel.INAPP)
        Notification.objects.create(
            recipient=world.sanxia_member.user,
            recipient_key=f"u{world.sanxia_member.user.pk}",
            community=world.shengli,
            content_type=ContentType.objects.get_for_model(about),
            object_id=about.pk,
            slot=subject,
            subject=subject,
            body="正文",
            created_at=created_at,
            **fields,
        )

    def at(day, hour, minute=0):
        return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))

    queue("前一晚", at(DAY - dt.timedelta(days=1), 23, 59), kind=Kind.MESSAGE, state=State.SENT)
    queue("当天早上", at(DAY, 0), kind=Kind.UPCOMING, state=State.FAILED, channel=Channel.EMAIL)
    queue("当天晚上", at(DAY, 23, 59), kind=Kind.UPCOMING, state=State.PENDING)
    queue("第二天", at(DAY + dt.timedelta(days=1), 0), kind=Kind.MESSAGE, channel=Channel.WEBHOOK)
    return Notification.objects.all()


def subjects(queryset):
    return {n.subject for n in queryset}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=failed", {"当天早上"}),
        ("state=pending", {"当天晚上", "第二天"}),
        ("kind=upcoming", {"当天早上", "当天晚上"}),
        ("channel=email", {"当天早上"}),
        ("channel=inapp", {"前一晚", "当天晚上"}),
        (f"date_from={DAY}&date_to={DAY}", {"当天早上", "当天晚上"}),
        (f"date_to={DAY}", {"前一晚", "当天早上", "当天晚上"}),
        (f"date_from={DAY}&kind=message", {"第二天"}),
        ("", {"前一晚", "当天早上", "当天晚上", "第二天"}),
    ],
)
def test_each_outbox_filter_narrows_the_list(messages, query, expected):
    filters = OutboxFilterSet(QueryDict(query), messages)
    assert not filters.errors, filters.errors
    assert subjects(filters.qs) == expected


def test_outbox_counts_follow_every_filter_but_the_state(messages):
    filters = OutboxFilterSet(QueryDict(f"state=sent&date_from={DAY}"), messages)
    assert subjects(filters.qs) == set()
    assert subjects(filters.qs_without("state")) == {"当天早上", "当天晚上", "第二天"}


def test_bad_outbox_filters_are_reported_and_left_out_while_the_rest_apply(messages):
    query = f"state=nonsense&kind=x&channel=fax&date_from={DAY}&date_to=2024-13-45"
    filters = OutboxFilterSet(QueryDict(query), messages)
    assert set(filters.errors) == {"state", "kind", "channel", "date_to"}
    assert subjects(filters.qs) == {"当天早上", "当天晚上", "第二天"}


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_day_no_one_means_is_reported_on_the_page_not_a_500(client, world, community_staff, day):
    client.force_login(community_staff)
    response = client.get(reverse("notifications:outbox"), {"date_from": day, "date_to": day})
    assert response.status_code == 200
    with translation.override("en"):
        errors = response.context["form"].errors
        assert errors["date_from"] == errors["date_to"] == ["Choose a date between 2000 and 2099."]


HOSTILE = {
    "garbage": "abc",
    "nul": "\x00",
    "huge": "9" * 30,
    "far": "9999-12-31",
    "long": "x" * 5000,
}


@pytest.mark.parametrize("flavour", HOSTILE)
def test_a_hostile_value_in_every_outbox_parameter_is_reported_not_a_500(
    client, world, community_staff, flavour
):
    value = HOSTILE[flavour]
    client.force_login(community_staff)
    query = {name: value for name in ("state", "kind", "channel", "date_from", "date_to", "page")}
    response = client.get(reverse("notifications:outbox"), query)
    assert response.status_code == 200
    wrong = set(response.context["form"].errors)
    assert wrong == {"state", "kind", "channel", "date_from", "date_to"}
