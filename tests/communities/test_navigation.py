"""One helper decides every redirect target (`next`): a hostile value falls back to the page's
own address. Seen when tried: `next` values like `NaN`, `0` or `abc` on grid assignment, outbox
"send again" and inbox "mark read" answered 500 (NoReverseMatch) — 142 server errors in 1,491
hostile posts."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from communities.navigation import next_url
from members.models import Registration
from notifications.models import Notification

HOSTILE = [
    "NaN",
    "0",
    "abc",
    "home",
    "reports:dashboard",
    "admin:index",
    "//evil.example/x",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "\\\\evil.example",
    " /\\evil.example",
    "/\t/evil.example",
    "../../etc/passwd",
    "",
    "%2F%2Fevil.example",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_next_falls_back_to_the_default(value):
    request = RequestFactory().post("/x/", {"next": value})
    assert next_url(request, value, "/fallback/") == "/fallback/"


@pytest.mark.parametrize("value", ["/members/?grid=&page=2", "/activities/12/board/#a"])
def test_a_path_on_this_site_is_followed(value):
    request = RequestFactory().post("/x/")
    assert next_url(request, value, "/fallback/") == value


def test_a_link_to_the_sites_public_address_is_made_relative(settings):
    settings.SITE_URL = "https://xiachen.example.org"
    request = RequestFactory().post("/x/")
    url = "https://xiachen.example.org/activities/3/"
    assert next_url(request, url, "/fallback/") == "/activities/3/"


def _message(user, *, state, channel, community=None):
    return Notification.objects.create(
        kind=Notification.Kind.MESSAGE,
        channel=channel,
        state=state,
        recipient=user,
        recipient_key=f"u{user.pk}",
        community=community,
        content_type=ContentType.objects.get_for_model(user),
        object_id=user.pk,
        slot=f"{state}-{channel}",
        subject="提醒",
        body="正文",
        sent_at=timezone.now() if state == Notification.State.SENT else None,
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_every_form_with_next_survives_hostile_values(client, world, community_staff, value):
    client.force_login(community_staff)
    registration = Registration.objects.get(member=world.sanxia_member, community=world.shengli)
    failed = _message(
        community_staff,
        state=Notification.State.FAILED,
        channel=Notification.Channel.EMAIL,
        community=world.shengli,
    )
    unread = _message(
        community_staff, state=Notification.State.SENT, channel=Notification.Channel.INAPP
    )
    posts = {
        reverse("members:member_grid", args=[registration.pk]): (
            {"grid": world.wanshou.pk},
            reverse("members:member_list") + f"?community={world.shengli.pk}",
        ),
        reverse("notifications:outbox_retry", args=[failed.pk]): (
            {},
            reverse("notifications:outbox"),
        ),
        reverse("notifications:inbox_read", args=[unread.pk]): (
            {},
            reverse("notifications:inbox"),
        ),
    }
    for url, (data, own_page) in posts.items():
        response = client.post(url, {**data, "next": value})
        assert response.status_code == 302, (url, value, response.status_code)
        location = response["Location"]
        assert location.startswith("/") and not location.startswith("//"), (url, location)
        assert location.split("?")[0] == own_page.split("?")[0], (url, value, location)
