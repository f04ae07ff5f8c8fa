"""Activation (激活): the login an office creates for a member and the one-time link that sets its
password — issuing, resending (which revokes the old link), revoking, expiry, single use (also
under two submissions at once), the slip's QR code, the message through the agency's robot,
scope with another agency's ids, and no password anywhere."""

import datetime as dt
import json
import threading
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members import activation as service
from members.activation import (
    ACTIVATION_DAYS,
    InvalidLink,
    activation_issue,
    activation_revoke,
    activation_send,
    activation_use,
    token_hash,
)
from members.models import ActivationLink, Member
from notifications import delivery
from notifications.models import Notification

PASSWORD = "Xc-activ8-Strong!"
ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=test"


def page_of(member):
    return reverse("reports:roster_member", args=[member.pk])


def send_of(member):
    return reverse("roster:activation_send", args=[member.pk])


def slip_of(member):
    return reverse("roster:activation_slip", args=[member.pk])


def revoke_of(member):
    return reverse("roster:activation_revoke", args=[member.pk])


def activate_url(token):
    return reverse("members:activate", args=[token])


def html(response):
    return response.content.decode()


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


@pytest.fixture
def newcomer(world):
    """A member of 三峡旅游新区 without a login (王海燕)."""
    return world.sanxia_member_2


def set_password_post(client, token, password=PASSWORD):
    return client.post(activate_url(token), {"new_password1": password, "new_password2": password})


# --- Issuing ---------------------------------------------------------------------------------


def test_issuing_creates_a_login_with_an_unusable_password_and_stores_only_a_hash(
    world, newcomer, agency_office
):
    issued = activation_issue(member=newcomer, by=agency_office)
    newcomer.refresh_from_db()
    assert newcomer.user.username == newcomer.mobile
    assert not newcomer.user.has_usable_password()
    link = ActivationLink.objects.get()
    assert link.token_hash == token_hash(issued.token) != issued.token
    assert issued.token not in str(ActivationLink.objects.values().get())
    assert link.issued_by == agency_office
    assert link.expires_at - link.issued_at == dt.timedelta(days=ACTIVATION_DAYS)
    assert issued.url.endswith(activate_url(issued.token))


def test_a_taken_username_gets_the_member_id(world, newcomer, agency_office, django_user_model):
    django_user_model.objects.create_user(username=newcomer.mobile)
    activation_issue(member=newcomer, by=agency_office)
    newcomer.refresh_from_db()
    assert newcomer.user.username == f"{newcomer.mobile}-{newcomer.pk}"


def test_resending_revokes_the_old_link(client, world, newcomer, agency_office):
    first = activation_issue(member=newcomer, by=agency_office)
    second = activation_issue(member=newcomer, by=agency_office)
    assert ActivationLink.objects.filter(member=newcomer).live().get() == second.link
    first.link.refresh_from_db()
    assert first.link.revoked_at is not None
    assert client.get(activate_url(first.token)).status_code == 404
    assert client.get(activate_url(second.token)).status_code == 200
    # Still the one login.
    assert get_user_model().objects.filter(username=newcomer.mobile).count() == 1


def test_no_link_for_a_member_who_left_or_already_signs_in(world, newcomer, agency_office):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        activation_issue(member=world.sanxia_member, by=agency_office)  # has a password
    Member.objects.filter(pk=newcomer.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    with pytest.raises(ValidationError):
        activation_issue(member=newcomer, by=agency_office)
    assert not ActivationLink.objects.exists()


# --- Using the link --------------------------------------------------------------------------


def test_the_link_sets_the_password_signs_in_and_is_spent(client, world, newcomer, agency_office):
    issued = activation_issue(member=newcomer, by=agency_office)
    page = client.get(activate_url(issued.token))
    assert page.status_code == 200
    assert newcomer.mobile in html(page)  # the username to sign in with
    assert page["Referrer-Policy"] == "same-origin"  # the token never leaves the site
    response = set_password_post(client, issued.token)
    assert response.status_code == 302
    assert response.url == reverse("reports:dashboard")
    newcomer.refresh_from_db()
    assert newcomer.user.check_password(PASSWORD)
    assert int(client.session["_auth_user_id"]) == newcomer.user.pk
    issued.link.refresh_from_db()
    assert issued.link.used_at is not None
    # Spent: a second opening is the same page as any link that does not work.
    assert Client().get(activate_url(issued.token)).status_code == 404


def test_a_weak_password_is_refused_by_the_validators(client, world, newcomer, agency_office):
    issued = activation_issue(member=newcomer, by=agency_office)
    response = set_password_post(client, issued.token, password="123")
    assert response.status_code == 200
    assert response.context["form"].errors
    newcomer.refresh_from_db()
    assert not newcomer.user.has_usable_password()
    issued.link.refresh_from_db()
    assert issued.link.used_at is None


def test_an_expired_link_no_longer_works(client, world, newcomer, agency_office):
    long_ago = timezone.now() - dt.timedelta(days=ACTIVATION_DAYS, minutes=1)
    issued = activation_issue(member=newcomer, by=agency_office, now=long_ago)
    response = client.get(activate_url(issued.token))
    assert response.status_code == 404
    assert set_password_post(client, issued.token).status_code == 404
    newcomer.refresh_from_db()
    assert not newcomer.user.has_usable_password()
    # A day before it expires it still works (the clock moved instead of the link).
    just_before = timezone.now() + dt.timedelta(days=ACTIVATION_DAYS - 1)
    fresh = activation_issue(member=newcomer, by=agency_office)
    with mock.patch("django.utils.timezone.now", return_value=just_before):
        assert client.get(activate_url(fresh.token)).status_code == 200
    with mock.patch(
        "django.utils.timezone.now", return_value=just_before + dt.timedelta(days=1, minutes=1)
    ):
        assert client.get(activate_url(fresh.token)).status_code == 404


def test_unknown_used_revoked_and_expired_links_look_the_same(
    client, world, newcomer, agency_office
):
    revoked = activation_issue(member=newcomer, by=agency_office)
    activation_revoke(member=newcomer, by=agency_office)
    used = activation_issue(member=newcomer, by=agency_office)
    activation_use(token=used.token, password=PASSWORD)
    expired = activation_issue(
        member=Member.objects.create(agency=world.sanxia, name="赵敏", mobile="13600000001"),
        by=agency_office,
        now=timezone.now() - dt.timedelta(days=ACTIVATION_DAYS + 1),
    )
    pages = [
        client.get(activate_url(token))
        for token in (revoked.token, used.token, expired.token, "not-a-token-at-all")
    ]
    assert {page.status_code for page in pages} == {404}
    assert len({card_of(page) for page in pages}) == 1


def card_of(page):
    """The page's message (the rest differs by request: ids, CSRF token)."""
    body = html(page)
    start = body.index('data-testid="activation-invalid"')
    return body[start : body.index("</div>\n  </div>", start)]


def test_the_invalid_page_is_in_chinese(client, world):
    response = client.get(activate_url("nope"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 404
    assert "激活链接" in html(response)


def test_an_address_that_keeps_trying_unknown_links_is_turned_away(
    client, world, newcomer, agency_office
):
    issued = activation_issue(member=newcomer, by=agency_office)
    for n in range(20):
        assert client.get(activate_url(f"guess-{n}")).status_code == 404
    # Turned away, even with a good link, until the window passes; another address is not.
    assert client.get(activate_url("guess-21")).status_code == 429
    assert client.get(activate_url(issued.token)).status_code == 429
    assert Client(REMOTE_ADDR="10.0.0.9").get(activate_url(issued.token)).status_code == 200


def test_the_link_is_single_use_when_two_submissions_race(world, newcomer, agency_office):
    """Both submissions found the link usable; the conditional UPDATE lets only one through."""
    issued = activation_issue(member=newcomer, by=agency_office)
    stale = service.activation_find(issued.token)
    activation_use(token=issued.token, password=PASSWORD)
    with mock.patch.object(service, "activation_find", return_value=stale):
        with pytest.raises(InvalidLink):
            activation_use(token=issued.token, password="Another-Strong-9!")
    newcomer.refresh_from_db()
    assert newcomer.user.check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_set_one_password(django_user_model):
    from communities.models import Agency

    agency = Agency.objects.create(name="三峡旅游新区管委会")
    office = django_user_model.objects.create_user(username="office")
    member = Member.objects.create(agency=agency, name="王海燕", mobile="13900000002")
    issued = activation_issue(member=member, by=office)
    barrier = threading.Barrier(2)
    outcomes = []

    def submit(password):
        try:
            barrier.wait(timeout=5)
            activation_use(token=issued.token, password=password)
            outcomes.append(password)
        except InvalidLink:
            outcomes.append(None)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(p,)) for p in (PASSWORD, "Other-Strong-9!")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [p for p in outcomes if p]
    assert len(outcomes) == 2 and len(winners) == 1
    member.refresh_from_db()
    assert member.user.check_password(winners[0])
    assert ActivationLink.objects.get().used_at is not None


# --- The office's pages ----------------------------------------------------------------------


def test_the_members_page_shows_the_link_state_and_buttons(office, world, newcomer, agency_office):
    response = office.get(page_of(newcomer))
    # No robot, no e-mail: only the slip.
    assert 'data-testid="activation-send"' not in html(response)
    assert 'data-testid="activation-slip"' in html(response)
    assert 'data-testid="activation-no-channel"' in html(response)
    world.sanxia.robot_webhook_url = ROBOT_URL
    world.sanxia.save()
    response = office.get(page_of(newcomer))
    assert 'data-testid="activation-send"' in html(response)
    assert 'data-testid="activation-revoke"' not in html(response)
    activation_issue(member=newcomer, by=agency_office)
    response = office.get(page_of(newcomer))
    assert response.context["activation"]["state"] == ActivationLink.State.ACTIVE
    assert 'data-testid="activation-revoke"' in html(response)
    # A member who signs in already: no buttons.
    response = office.get(page_of(world.sanxia_member))
    assert response.context["activation"]["activated"]
    assert 'data-testid="activation-send"' not in html(response)


def test_revoking_from_the_page(office, world, newcomer, agency_office):
    issued = activation_issue(member=newcomer, by=agency_office)
    assert office.post(revoke_of(newcomer)).status_code == 302
    issued.link.refresh_from_db()
    assert issued.link.revoked_at is not None
    assert office.get(page_of(newcomer)).context["activation"]["state"] == "revoked"


def test_the_slip_has_the_name_agency_qr_code_and_expiry(office, world, newcomer):
    response = office.post(slip_of(newcomer))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = html(response)
    link = ActivationLink.objects.get(member=newcomer)
    (slip,) = response.context["slips"]
    assert newcomer.name in body and world.sanxia.name in body
    assert "<svg" in body and "</svg>" in body
    assert slip["url"] in body
    token = slip["url"].rstrip("/").rsplit("/", 1)[1]
    assert token_hash(token) == link.token_hash
    assert link.expires_at.astimezone(timezone.get_current_timezone()).strftime("%Y") in body


def test_the_qr_code_reads_back_as_the_link(world, newcomer, agency_office):
    import segno

    from members.slips import qr_svg

    issued = activation_issue(member=newcomer, by=agency_office)
    assert qr_svg(issued.url) == segno.make(issued.url, error="m").svg_inline(
        scale=4, border=2, omitsize=True
    )


def test_sending_queues_the_link_through_the_agencys_robot(office, world, newcomer):
    world.sanxia.robot_webhook_url = ROBOT_URL
    world.sanxia.save()
    response = office.post(send_of(newcomer))
    assert response.status_code == 302
    (row,) = Notification.objects.filter(kind=Notification.Kind.ACTIVATION)
    assert row.channel == Notification.Channel.WEBHOOK
    assert row.recipient_mobile == newcomer.mobile
    link = ActivationLink.objects.get(member=newcomer)
    token = row.url.rstrip("/").rsplit("/", 1)[1]
    assert token_hash(token) == link.token_hash
    # Delivered: the robot's post carries the link (only the HTTP call is mocked).
    posted = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b'{"errcode": 0, "errmsg": "ok"}'

    def urlopen(request, timeout):
        posted.append(json.loads(request.data))
        return Answer()

    with mock.patch("urllib.request.urlopen", urlopen):
        delivery.deliver_robot([row.pk], token="t")
    row.refresh_from_db()
    assert row.state == Notification.State.SENT
    assert row.url in json.dumps(posted, ensure_ascii=False)


def test_sending_by_email_where_the_login_has_an_address(world, newcomer, agency_office):
    activation_issue(member=newcomer, by=agency_office)
    newcomer.refresh_from_db()
    newcomer.user.email = "wang@example.cn"
    newcomer.user.save()
    issued, notified = activation_send(member=newcomer, by=agency_office)
    assert notified.queued
    channels = set(
        Notification.objects.filter(kind=Notification.Kind.ACTIVATION).values_list(
            "channel", flat=True
        )
    )
    assert Notification.Channel.EMAIL in channels
    assert issued.url in Notification.objects.get(channel=Notification.Channel.EMAIL).url


def test_sending_without_robot_or_email_says_to_print_a_slip(office, world, newcomer):
    response = office.post(send_of(newcomer), follow=True)
    assert not Notification.objects.filter(kind=Notification.Kind.ACTIVATION).exists()
    assert ActivationLink.objects.filter(member=newcomer).live().exists()
    said = " ".join(str(message) for message in response.context["messages"])
    assert "激活单" in said or "slip" in said


def test_adding_a_member_can_create_the_login_and_print_the_slip(office, world):
    response = office.post(
        reverse("roster:member_add"),
        {"name": "周雪", "mobile": "13700000009", "is_party_member": "on", "activation": "slip"},
    )
    assert response.status_code == 200
    member = Member.objects.get(mobile="13700000009")
    assert member.user.username == "13700000009"
    assert len(response.context["slips"]) == 1
    assert "<svg" in html(response)


def test_adding_a_member_without_a_login_by_default(office, world):
    office.post(reverse("roster:member_add"), {"name": "周雪", "mobile": "13700000009"})
    member = Member.objects.get(mobile="13700000009")
    assert member.user is None
    assert not ActivationLink.objects.exists()


def test_importing_can_print_slips_for_everyone_imported(office, world):
    from tests.members.test_roster_import import GOOD, upload

    response = upload(office)
    assert response.status_code == 302
    token = office.session["roster_import"]["token"]
    response = office.post(reverse("roster:import_preview"), {"token": token, "activation": "slip"})
    assert response.status_code == 200
    assert len(response.context["slips"]) == len(GOOD)
    assert html(response).count("<svg") >= len(GOOD)
    assert ActivationLink.objects.live().count() == len(GOOD)


# --- Scope -----------------------------------------------------------------------------------


def test_another_agencys_office_cannot_issue_print_or_revoke(client, world, other_agency_office):
    member = world.sanxia_member_2
    activation_issue(member=member, by=None)
    client.force_login(other_agency_office)
    for url in (send_of(member), slip_of(member), revoke_of(member)):
        assert client.post(url).status_code == 404, url
    assert client.get(page_of(member)).status_code == 404
    link = ActivationLink.objects.get()
    assert link.revoked_at is None
    assert ActivationLink.objects.count() == 1


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker", "member_user"])
def test_others_cannot_issue(request, client, world, persona):
    client.force_login(request.getfixturevalue(persona))
    member = world.sanxia_member_2
    for url in (send_of(member), slip_of(member), revoke_of(member)):
        assert client.post(url).status_code == 403, url
    assert not ActivationLink.objects.exists()


def test_anonymous_visitors_are_sent_to_login(client, world):
    member = world.sanxia_member_2
    for url in (send_of(member), slip_of(member), revoke_of(member)):
        response = client.post(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_office_buttons_need_a_csrf_token(world, agency_office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_office)
    assert client.post(send_of(world.sanxia_member_2)).status_code == 403
    assert not ActivationLink.objects.exists()


# --- No password anywhere --------------------------------------------------------------------


def test_no_password_is_shown_printed_or_sent(office, world, newcomer):
    world.sanxia.robot_webhook_url = ROBOT_URL
    world.sanxia.save()
    pages = [
        office.post(send_of(newcomer), follow=True),
        office.post(slip_of(newcomer)),
        office.get(page_of(newcomer)),
    ]
    newcomer.refresh_from_db()
    # Nobody but the member ever had a password to show.
    assert not newcomer.user.has_usable_password()
    slip_url = pages[1].context["slips"][0]["url"]
    member_client = Client()
    member_client.get(slip_url)
    done = set_password_post(member_client, slip_url.rstrip("/").rsplit("/", 1)[1])
    assert done.status_code == 302
    dashboard = member_client.get(done.url)
    pages += [done, dashboard, office.get(page_of(newcomer))]
    newcomer.refresh_from_db()
    for page in pages:
        body = html(page)
        assert PASSWORD not in body
        assert newcomer.user.password not in body
    for row in Notification.objects.all():
        assert PASSWORD not in row.body + row.subject + row.url
        assert "密码：" not in row.body and "password:" not in row.body.lower()


def test_the_members_page_costs_the_same_queries_with_or_without_a_link(
    office, world, newcomer, agency_office, django_assert_max_num_queries
):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as without:
        office.get(page_of(newcomer))
    activation_issue(member=newcomer, by=agency_office)
    activation_issue(member=newcomer, by=agency_office)
    with CaptureQueriesContext(connection) as with_links:
        office.get(page_of(newcomer))
    assert len(without) == len(with_links) <= 15


def test_importing_can_send_everyone_imported_their_link_through_the_robot(office, world):
    from tests.members.test_roster_import import GOOD, upload

    world.sanxia.robot_webhook_url = ROBOT_URL
    world.sanxia.save()
    assert upload(office).status_code == 302
    token = office.session["roster_import"]["token"]
    response = office.post(reverse("roster:import_preview"), {"token": token, "activation": "send"})
    assert response.status_code == 302 and response.url == reverse("roster:list")
    rows = Notification.objects.filter(kind=Notification.Kind.ACTIVATION)
    assert rows.count() == len(GOOD)
    assert set(rows.values_list("channel", flat=True)) == {Notification.Channel.WEBHOOK}
    links = ActivationLink.objects.live()
    assert {token_hash(row.url.rstrip("/").rsplit("/", 1)[1]) for row in rows} == set(
        links.values_list("token_hash", flat=True)
    )
    imported = Member.objects.filter(mobile__startswith="136")
    assert all(member.user and not member.user.has_usable_password() for member in imported)


def test_a_corrected_mobile_renames_a_login_not_yet_activated(
    office, world, newcomer, agency_office
):
    activation_issue(member=newcomer, by=agency_office)
    data = {"name": newcomer.name, "mobile": "13700000077", "is_party_member": "on"}
    assert office.post(reverse("roster:member_edit", args=[newcomer.pk]), data).status_code == 302
    newcomer.refresh_from_db()
    assert newcomer.user.username == "13700000077"
    # Once activated the username is theirs: a new mobile leaves it alone.
    activation_use(
        token=activation_issue(member=newcomer, by=agency_office).token, password=PASSWORD
    )
    data["mobile"] = "13700000088"
    office.post(reverse("roster:member_edit", args=[newcomer.pk]), data)
    newcomer.refresh_from_db()
    assert newcomer.user.username == "13700000077"
