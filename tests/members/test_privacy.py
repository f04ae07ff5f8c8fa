"""Personal data (issue 11 point 5): the privacy notice accepted before any page, the log of
who viewed lists of people, and a member deleting their account (members/privacy.py)."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Participation
from communities.history import ChangeReason
from members.models import (
    CalendarFeed,
    Member,
    PersonalDataView,
    PrivacyAcceptance,
    Registration,
)
from members.privacy import account_delete, personal_data_viewed
from notifications.models import Notification

NOTICE = reverse("privacy:notice")
VIEW_LOG = reverse("privacy:view_log")
DELETE = reverse("reports:my_account_delete")
ROSTER = reverse("roster:list")


def html(response):
    return response.content.decode()


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


# --- The privacy notice -----------------------------------------------------------------------


@pytest.fixture
def newcomer(world, privacy_notice_not_accepted, django_user_model):
    """A member's login that has never accepted the notice."""
    user = django_user_model.objects.create_user(username="newcomer", password="pw-newcomer")
    member = Member.objects.create(
        agency=world.sanxia, name="周新来", mobile="13900000077", user=user
    )
    assert not PrivacyAcceptance.objects.filter(user=user).exists()
    return member


@pytest.mark.parametrize(
    "url",
    ["/", reverse("reports:my_record"), reverse("activities:open_activities"), "/admin/"],
)
def test_a_new_login_is_sent_to_the_notice_before_any_page(newcomer, url):
    response = signed_in(newcomer.user).get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{NOTICE}?next={url}"


def test_a_post_before_accepting_writes_nothing(newcomer):
    client = signed_in(newcomer.user)
    response = client.post(reverse("reports:my_contact"), {"mobile": "13900000078"})
    assert response.status_code == 302 and response["Location"].startswith(NOTICE)
    newcomer.refresh_from_db()
    assert newcomer.mobile == "13900000077"


def test_the_notice_asks_a_new_login_to_accept_and_records_the_version_and_time(newcomer):
    client = signed_in(newcomer.user)
    page = client.get(NOTICE, {"next": reverse("reports:my_record")})
    assert page.status_code == 200
    assert 'data-testid="accept-form"' in html(page)
    assert "隐私政策" in html(page) and "不收集身份证号码" in html(page)
    before = timezone.now()
    response = client.post(NOTICE, {"next": reverse("reports:my_record")})
    assert response.status_code == 302 and response["Location"] == reverse("reports:my_record")
    acceptance = PrivacyAcceptance.objects.get(user=newcomer.user)
    assert acceptance.version == settings.PRIVACY_NOTICE_VERSION
    assert before <= acceptance.accepted_at <= timezone.now()
    assert client.get(reverse("reports:my_record")).status_code == 200
    # Read again later: no form, the date it was accepted.
    again = html(client.get(NOTICE))
    assert 'data-testid="accept-form"' not in again and 'data-testid="notice-version"' in again


def test_accepting_twice_keeps_one_row_and_a_hostile_next_falls_back(newcomer):
    client = signed_in(newcomer.user)
    client.post(NOTICE, {"next": "https://evil.example/"})
    response = client.post(NOTICE, {"next": "//evil.example/"})
    assert response["Location"] == reverse("reports:dashboard")
    assert PrivacyAcceptance.objects.filter(user=newcomer.user).count() == 1


def test_a_login_that_accepted_in_an_earlier_session_goes_straight_on(newcomer):
    signed_in(newcomer.user).post(NOTICE)
    assert signed_in(newcomer.user).get(reverse("reports:my_record")).status_code == 200


def test_a_new_version_is_shown_again_and_accepted_anew(member_user):
    client = signed_in(member_user)
    assert client.get(reverse("reports:my_record")).status_code == 200
    with override_settings(PRIVACY_NOTICE_VERSION="2027-01-01"):
        response = client.get(reverse("reports:my_record"))
        assert response.status_code == 302 and response["Location"].startswith(NOTICE)
        client.post(NOTICE)
        assert client.get(reverse("reports:my_record")).status_code == 200
    versions = set(member_user.privacy_acceptances.values_list("version", flat=True))
    assert versions == {settings.PRIVACY_NOTICE_VERSION, "2027-01-01"}


def test_the_notice_is_public_and_linked_from_the_sign_in_page(client, db):
    assert f'href="{NOTICE}"' in html(client.get(reverse("login")))
    page = client.get(NOTICE)
    assert page.status_code == 200
    assert "隐私政策" in html(page) and 'data-testid="accept-form"' not in html(page)
    # Posting without a login accepts nothing.
    assert client.post(NOTICE)["Location"] == reverse("login")
    assert not PrivacyAcceptance.objects.exists()


def test_a_version_without_its_text_fails_the_system_check(settings):
    from members.privacy import notice_text_exists

    assert notice_text_exists() == []
    settings.PRIVACY_NOTICE_VERSION = "1999-01-01"
    assert [error.id for error in notice_text_exists()] == ["members.E001"]


def test_signing_out_works_before_accepting(newcomer):
    client = signed_in(newcomer.user)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/")["Location"].startswith(reverse("login"))


def test_the_check_costs_no_query_once_accepted(member_user):
    """The same queries with and without the middleware: the session answers."""
    url = reverse("reports:my_record")
    client = signed_in(member_user)
    client.get(url)
    from django.db import connection

    with CaptureQueriesContext(connection) as with_check:
        assert client.get(url).status_code == 200
    without = [m for m in settings.MIDDLEWARE if m != "members.privacy.PrivacyNoticeMiddleware"]
    with override_settings(MIDDLEWARE=without):
        client.get(url)
        with CaptureQueriesContext(connection) as without_check:
            assert client.get(url).status_code == 200
    assert len(with_check) == len(without_check)


# --- The log of views of personal data --------------------------------------------------------


def test_each_view_of_a_list_of_people_is_counted_per_login_page_and_day(world, agency_office):
    client = signed_in(agency_office)
    client.get(ROSTER)
    client.get(ROSTER)
    client.get(reverse("reports:roster_member", args=[world.sanxia_member.pk]))
    rows = {row.page: row for row in PersonalDataView.objects.filter(user=agency_office)}
    assert set(rows) == {PersonalDataView.Page.ROSTER, PersonalDataView.Page.ROSTER_MEMBER}
    roster = rows[PersonalDataView.Page.ROSTER]
    assert roster.views == 2 and roster.day == timezone.localdate()
    assert roster.first_at <= roster.last_at
    assert rows[PersonalDataView.Page.ROSTER_MEMBER].views == 1


@pytest.mark.parametrize(
    "persona, url, page",
    [
        ("community_staff", reverse("members:member_list"), PersonalDataView.Page.MEMBER_LIST),
        (
            "community_staff",
            reverse("members:registration_review"),
            PersonalDataView.Page.REPORT_INS,
        ),
        ("agency_office", reverse("reports:review"), PersonalDataView.Page.REVIEW),
        ("agency_office", reverse("reports:attendance"), PersonalDataView.Page.ATTENDANCE),
        ("community_staff", reverse("reports:evaluations"), PersonalDataView.Page.EVALUATIONS),
    ],
)
def test_the_lists_of_people_are_logged(request, world, persona, url, page):
    user = request.getfixturevalue(persona)
    assert signed_in(user).get(url).status_code == 200
    assert PersonalDataView.objects.get(user=user).page == page


def test_the_roll_call_and_board_are_logged(world, community_staff):
    client = signed_in(community_staff)
    activity = world.shengli_activity
    assert client.get(reverse("activities:roll_call", args=[activity.pk])).status_code == 200
    assert client.get(reverse("activities:attendance_board", args=[activity.pk])).status_code == 200
    pages = set(
        PersonalDataView.objects.filter(user=community_staff).values_list("page", flat=True)
    )
    assert pages == {PersonalDataView.Page.ROLL_CALL, PersonalDataView.Page.BOARD}


def test_a_refused_page_is_not_logged(world, other_agency_office):
    client = signed_in(other_agency_office)
    url = reverse("reports:roster_member", args=[world.sanxia_member.pk])
    assert client.get(url).status_code == 404
    assert not PersonalDataView.objects.exists()


@pytest.fixture
def logged_views(world, agency_office, other_agency_office, community_staff):
    today = timezone.now()
    earlier = today - dt.timedelta(days=10)
    personal_data_viewed(user=agency_office, page=PersonalDataView.Page.ROSTER, now=today)
    personal_data_viewed(user=agency_office, page=PersonalDataView.Page.ROSTER, now=today)
    personal_data_viewed(user=other_agency_office, page=PersonalDataView.Page.REVIEW, now=earlier)
    personal_data_viewed(user=community_staff, page=PersonalDataView.Page.ROLL_CALL, now=today)
    return today, earlier


def test_the_city_administrator_reads_the_log_filtered_by_person_page_and_date(
    logged_views, city_admin
):
    today, earlier = logged_views
    client = signed_in(city_admin)
    assert VIEW_LOG in html(client.get(reverse("reports:overview_city")))
    everything = client.get(VIEW_LOG)
    assert everything.status_code == 200
    assert html(everything).count('data-testid="view-log-row"') == 3
    by_person = html(client.get(VIEW_LOG, {"person": "sanxia_office"}))
    assert by_person.count('data-testid="view-log-row"') == 1 and "2 次" in by_person
    by_page = html(client.get(VIEW_LOG, {"page": PersonalDataView.Page.REVIEW}))
    assert by_page.count('data-testid="view-log-row"') == 1 and "yuanlin_office" in by_page
    day = timezone.localdate(earlier).isoformat()
    by_date = html(client.get(VIEW_LOG, {"since": day, "until": day}))
    assert by_date.count('data-testid="view-log-row"') == 1 and "yuanlin_office" in by_date
    since_today = html(client.get(VIEW_LOG, {"since": timezone.localdate(today).isoformat()}))
    assert since_today.count('data-testid="view-log-row"') == 2


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-13-45"},
        {"since": "1900-01-01"},
        {"page": "nope"},
        {"since": "2026-05-02", "until": "2026-05-01"},
    ],
)
def test_bad_filters_answer_with_an_error_not_a_500(logged_views, city_admin, query):
    response = signed_in(city_admin).get(VIEW_LOG, query)
    assert response.status_code == 200
    assert 'data-testid="view-log-row"' not in html(response)
    assert "invalid-feedback" in html(response) or "alert-danger" in html(response)


@pytest.mark.parametrize(
    "persona", ["agency_office", "community_staff", "street_officer", "member_user"]
)
def test_only_the_city_administrator_reads_the_log(request, logged_views, persona):
    assert signed_in(request.getfixturevalue(persona)).get(VIEW_LOG).status_code == 403


def test_the_log_asks_anonymous_visitors_to_sign_in(client, db):
    assert client.get(VIEW_LOG)["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("n", [5, 50])
def test_the_log_page_costs_the_same_queries_at_5_and_50_lines(
    world, city_admin, django_user_model, django_assert_num_queries, n
):
    for i in range(n):
        user = django_user_model.objects.create_user(username=f"viewer{i}")
        personal_data_viewed(user=user, page=PersonalDataView.Page.ROSTER)
    client = signed_in(city_admin)
    client.get(VIEW_LOG)
    # the session with its user, the second factor's device, roles, the count, the page of rows
    # with their logins, the navbar's unread
    with django_assert_num_queries(6):
        assert client.get(VIEW_LOG).status_code == 200


def test_the_admin_shows_the_logs_read_only(logged_views, staff_client):
    for model in ("personaldataview", "privacyacceptance"):
        assert staff_client.get(reverse(f"admin:members_{model}_changelist")).status_code == 200
        assert staff_client.get(reverse(f"admin:members_{model}_add")).status_code == 403
    row = PersonalDataView.objects.first()
    change = reverse("admin:members_personaldataview_change", args=[row.pk])
    assert staff_client.post(change, {"views": 99}).status_code == 403
    row.refresh_from_db()
    assert row.views != 99


# --- Deleting one's account -------------------------------------------------------------------


@pytest.fixture
def deleting(world, member_user):
    """李建华 with an e-mail, a calendar address, a message and history of another mobile."""
    member = world.sanxia_member
    member_user.email = "li@example.org"
    member_user.save()
    member.mobile = "13900000091"
    member.save()
    CalendarFeed.objects.create(member=member, token="feed-token", created_at=timezone.now())
    Notification.objects.create(
        kind=Notification.Kind.UPCOMING,
        channel=Notification.Channel.EMAIL,
        recipient=member_user,
        recipient_key=f"u{member_user.pk}",
        recipient_name=member.name,
        recipient_mobile=member.mobile,
        address="li@example.org",
        # What the reminder was about: an existing row (a fixed id was gone once a
        # transactional test in the same process had flushed and made the content types anew).
        content_type=ContentType.objects.get_for_model(Member),
        object_id=member.pk,
        slot="x",
        subject="明天的活动",
    )
    return member


def test_a_member_deletes_their_account_with_their_password(deleting, member_user):
    member = deleting
    client = signed_in(member_user)
    elsewhere = signed_in(member_user)
    assert elsewhere.get(reverse("reports:my_record")).status_code == 200
    page = client.get(DELETE)
    assert page.status_code == 200 and 'data-testid="delete-form"' in html(page)

    response = client.post(DELETE, {"password": "pw-sanxia_member", "confirm": "on"})

    assert response.status_code == 302 and response["Location"] == reverse("login")
    member.refresh_from_db()
    member_user.refresh_from_db()
    # Contacts are gone: on the member, in their history, on the login and in the outbox.
    assert member.mobile == "" and member.deleted_at is not None
    assert not Member.history.filter(id=member.pk).exclude(mobile="").exists()
    assert member_user.email == "" and not member_user.is_active
    assert not member_user.has_usable_password()
    assert "1390000009" not in member_user.username
    assert (
        not Notification.objects.filter(recipient=member_user)
        .exclude(recipient_mobile="", address="")
        .exists()
    )
    assert not CalendarFeed.objects.filter(member=member).exists()
    # The records stay: participations, report-ins, the name.
    assert Participation.objects.filter(member=member).count() == 1
    assert Registration.objects.filter(member=member).count() == 1
    assert member.name == "李建华" and member.status == Member.Status.LEFT
    # Logged: the history says who and why.
    latest = member.history.first()
    assert latest.history_change_reason == ChangeReason.ACCOUNT_DELETED
    assert latest.history_user_id == member_user.pk
    # Every session ended, this one and the other.
    for session in (client, elsewhere):
        assert session.get(reverse("reports:my_record"))["Location"].startswith(reverse("login"))
    # Nor does the old mobile or username sign in.
    for username in ("13900000091", "sanxia_member", member_user.username):
        assert not Client().login(
            request=HttpRequest(), username=username, password="pw-sanxia_member"
        )


@pytest.mark.parametrize(
    "data",
    [
        {"password": "wrong", "confirm": "on"},
        {"password": "pw-sanxia_member"},
        {},
    ],
)
def test_a_wrong_password_or_no_confirmation_deletes_nothing(deleting, member_user, data):
    client = signed_in(member_user)
    response = client.post(DELETE, data)
    assert response.status_code == 200 and "is-invalid" in html(response)
    deleting.refresh_from_db()
    member_user.refresh_from_db()
    assert deleting.mobile == "13900000091" and deleting.deleted_at is None
    assert member_user.is_active and member_user.email == "li@example.org"


def test_only_a_member_deletes_their_own_account(world, agency_office, client):
    assert signed_in(agency_office).get(DELETE).status_code == 403
    assert client.get(DELETE)["Location"].startswith(reverse("login"))


def test_the_agency_office_sees_the_member_left_with_the_account_deleted(deleting, agency_office):
    account_delete(member=deleting)
    office = signed_in(agency_office)
    roster = html(office.get(ROSTER, {"status": "left"}))
    page = html(office.get(reverse("reports:roster_member", args=[deleting.pk])))
    for shown in (roster, page):
        assert 'data-testid="account-deleted"' in shown and "13900000091" not in shown
    assert "李建华" in page and 'data-testid="edit"' not in page


def test_a_deleted_account_cannot_be_deleted_or_edited_again(deleting, agency_office):
    from django.core.exceptions import ValidationError

    from members.services import member_rejoin, member_save

    account_delete(member=deleting)
    deleting.refresh_from_db()
    with pytest.raises(ValidationError):
        account_delete(member=deleting)
    deleting.mobile = "13900000092"
    with pytest.raises(ValidationError):
        member_save(member=deleting, by=agency_office)
    with pytest.raises(ValidationError):
        member_rejoin(member=deleting, by=agency_office)
    assert Member.objects.get(pk=deleting.pk).mobile == ""


def test_two_deleted_accounts_of_one_agency_both_have_no_mobile(world, django_user_model):
    account_delete(member=world.sanxia_member)
    account_delete(member=world.sanxia_member_2)  # no login: the contact fields only
    assert set(
        Member.objects.filter(agency=world.sanxia, mobile="").values_list("pk", flat=True)
    ) == {
        world.sanxia_member.pk,
        world.sanxia_member_2.pk,
    }


def test_a_member_without_a_login_is_left_with_no_mobile(world):
    member = account_delete(member=world.sanxia_member_2)
    assert member.user is None and member.mobile == ""
    assert get_user_model().objects.filter(is_active=False).count() == 0


def test_accepting_and_deleting_refuse_a_post_without_a_csrf_token(newcomer, deleting):
    for user, url, data in (
        (newcomer.user, NOTICE, {}),
        (deleting.user, DELETE, {"password": "pw-sanxia_member", "confirm": "on"}),
    ):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        assert client.post(url, data).status_code == 403
    assert not PrivacyAcceptance.objects.filter(user=newcomer.user).exists()
    deleting.refresh_from_db()
    assert deleting.deleted_at is None and deleting.mobile
