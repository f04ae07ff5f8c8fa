"""The community's report-in review (报到审核): its services, its pages, who may use them, and
the message the member gets."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from members.models import Member, Registration
from members.services import registration_approve, registration_return
from notifications.models import Notification, NotificationPreference
from tests.conftest import make_user

REVIEW = reverse("members:registration_review")


def approve_url(registration):
    return reverse("members:registration_approve", args=[registration.pk])


def return_url(registration):
    return reverse("members:registration_return", args=[registration.pk])


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def html(response):
    return response.content.decode()


@pytest.fixture
def english(client):
    """Our texts in English, so that tests do not depend on the Chinese catalogue."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def applicant(world, django_user_model):
    """A pending report-in to 胜利一路社区 of a member with a login of their own."""
    user = make_user(django_user_model, "zhang_ming", email="zhangming@example.org")
    member = Member.objects.create(
        agency=world.sanxia, name="张明", mobile="13700001234", user=user, position="科员"
    )
    return Registration.objects.create(
        member=member,
        community=world.shengli,
        applied_on=timezone.localdate() - dt.timedelta(days=2),
    )


@pytest.fixture
def wang(world):
    """王海燕's pending report-in to 胜利一路社区 (from the world fixture); she has no login."""
    return Registration.objects.get(member=world.sanxia_member_2, community=world.shengli)


@pytest.fixture
def shenzhen_pending(world):
    member = Member.objects.create(agency=world.yuanlin, name="赵敏", mobile="13700009999")
    return Registration.objects.create(
        member=member, community=world.shenzhen, applied_on=timezone.localdate()
    )


def notifications(kind, member):
    return Notification.objects.filter(kind=kind, recipient_key=member.as_recipient().key)


# --- Services ---------------------------------------------------------------------------------


class TestApproveService:
    @pytest.fixture(autouse=True)
    def in_english(self):
        # Messages are compared in their source language; tests/xiachen/test_i18n has the rest.
        with translation.override("en"):
            yield

    def test_it_reports_the_member_in_and_records_who_and_when(
        self, applicant, community_staff, world
    ):
        registration = registration_approve(
            registration=applicant, reviewer=community_staff, grid=world.zilinyuan
        )
        applicant.refresh_from_db()
        assert applicant.status == Registration.Status.ACTIVE
        assert applicant.reviewer == community_staff
        assert abs(applicant.reviewed_at - timezone.now()) < dt.timedelta(seconds=10)
        assert applicant.grid == world.zilinyuan
        assert registration.status == Registration.Status.ACTIVE

    def test_without_a_grid_the_member_is_in_none_yet(self, applicant, community_staff):
        registration_approve(registration=applicant, reviewer=community_staff)
        applicant.refresh_from_db()
        assert (applicant.status, applicant.grid) == (Registration.Status.ACTIVE, None)

    def test_the_history_keeps_the_decision_and_the_reviewer(self, applicant, community_staff):
        registration_approve(registration=applicant, reviewer=community_staff)
        latest = applicant.history.latest()
        assert latest.status == Registration.Status.ACTIVE
        assert latest.history_user == community_staff
        assert applicant.history.count() == 2  # created, approved

    def test_an_approved_report_in_cannot_be_approved_again(self, applicant, community_staff):
        registration_approve(registration=applicant, reviewer=community_staff)
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            registration_approve(registration=applicant, reviewer=community_staff)
        assert caught.value.code == "not_pending"
        assert "no longer waiting for review" in caught.value.messages[0]
        assert "Reported in" in caught.value.messages[0]

    def test_a_stale_copy_is_checked_against_the_stored_row(self, applicant, community_staff):
        stale = Registration.objects.get(pk=applicant.pk)
        registration_return(registration=applicant, reviewer=community_staff, reason="重复报到")
        with pytest.raises(ValidationError):
            registration_approve(registration=stale, reviewer=community_staff)
        stale.refresh_from_db()
        assert stale.status == Registration.Status.RETURNED

    def test_a_grid_of_another_community_is_refused_and_nothing_changes(
        self, applicant, community_staff, world
    ):
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            registration_approve(
                registration=applicant, reviewer=community_staff, grid=world.hanlinyuan
            )
        assert caught.value.code == "grid_of_another_community"
        assert "翰林苑网格 is not a grid of 胜利一路社区" in caught.value.messages[0]
        applicant.refresh_from_db()
        assert (applicant.status, applicant.grid) == (Registration.Status.PENDING, None)


class TestReturnService:
    @pytest.fixture(autouse=True)
    def in_english(self):
        # Messages are compared in their source language; tests/xiachen/test_i18n has the rest.
        with translation.override("en"):
            yield

    def test_it_returns_with_the_reason(self, applicant, community_staff):
        registration_return(
            registration=applicant, reviewer=community_staff, reason="  请先在单位登记  "
        )
        applicant.refresh_from_db()
        assert applicant.status == Registration.Status.RETURNED
        assert applicant.return_reason == "请先在单位登记"
        assert applicant.reviewer == community_staff
        assert applicant.reviewed_at is not None
        assert applicant.history.latest().history_user == community_staff

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_a_reason_is_required(self, applicant, community_staff, reason):
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            registration_return(registration=applicant, reviewer=community_staff, reason=reason)
        assert caught.value.code == "no_reason"
        assert "Say why" in caught.value.messages[0]
        applicant.refresh_from_db()
        assert applicant.status == Registration.Status.PENDING

    def test_a_reason_longer_than_the_column_is_refused(self, applicant, community_staff):
        with pytest.raises(ValidationError) as caught:
            registration_return(registration=applicant, reviewer=community_staff, reason="长" * 201)
        assert caught.value.code == "reason_too_long"

    def test_only_a_pending_report_in_can_be_returned(self, applicant, community_staff):
        registration_approve(registration=applicant, reviewer=community_staff)
        with pytest.raises(ValidationError) as caught:
            registration_return(registration=applicant, reviewer=community_staff, reason="重复")
        assert caught.value.code == "not_pending"
        applicant.refresh_from_db()
        assert applicant.status == Registration.Status.ACTIVE


# --- Who may open the pages -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, applicant):
    for response in [
        client.get(REVIEW),
        client.post(approve_url(applicant)),
        client.get(return_url(applicant)),
        client.post(return_url(applicant), {"reason": "x"}),
    ]:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


@pytest.mark.parametrize("persona", ["agency_office", "member_user", "street_officer"])
def test_people_who_do_not_review_get_403(client, request, applicant, persona):
    """They may see the report-in (their member, themselves, their street) but not decide it."""
    client.force_login(request.getfixturevalue(persona))
    if persona == "member_user":
        # A member sees only their own report-ins: 李建华's pending one to another community.
        world = request.getfixturevalue("world")
        applicant = Registration.objects.create(
            member=world.sanxia_member, community=world.shenzhen, applied_on=timezone.localdate()
        )
    assert client.get(REVIEW).status_code == 403
    assert client.post(approve_url(applicant)).status_code == 403
    assert client.get(return_url(applicant)).status_code == 403
    assert client.post(return_url(applicant), {"reason": "不对"}).status_code == 403
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


@pytest.mark.parametrize("persona", ["other_community_staff", "other_agency_office"])
def test_another_communitys_report_in_is_404(client, request, applicant, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(approve_url(applicant)).status_code == 404
    assert client.get(return_url(applicant)).status_code == 404
    assert client.post(return_url(applicant), {"reason": "不对"}).status_code == 404
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


def test_an_unknown_report_in_is_404(client, community_staff):
    client.force_login(community_staff)
    assert client.post(reverse("members:registration_approve", args=[999999])).status_code == 404
    assert client.get(reverse("members:registration_return", args=[999999])).status_code == 404


@pytest.mark.parametrize("value", ["abc", "999999"])
def test_a_community_that_is_not_the_viewers_is_404(client, community_staff, world, value):
    client.force_login(community_staff)
    assert client.get(REVIEW, {"community": value}).status_code == 404
    assert client.get(REVIEW, {"community": world.shenzhen.pk}).status_code == 404


def test_approving_without_csrf_token_is_forbidden(applicant, community_staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(community_staff)
    assert client.post(approve_url(applicant)).status_code == 403
    assert client.post(return_url(applicant), {"reason": "不对"}).status_code == 403
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


def test_approving_by_get_is_not_allowed(client, applicant, community_staff):
    client.force_login(community_staff)
    assert client.get(approve_url(applicant)).status_code == 405
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


# --- The review list --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_the_list_shows_the_communitys_pending_report_ins(
    client, request, applicant, wang, shenzhen_pending, persona
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(REVIEW)
    assert response.status_code == 200
    page = html(response)
    for shown in ["张明", "王海燕", "三峡旅游新区", "137****1234", "139****0002", "科员"]:
        assert shown in page, shown
    assert "13700001234" in page  # only in the tap-to-call link
    assert 'href="tel:13700001234"' in page
    assert ">13700001234<" not in page
    # 李建华 has reported in already; 赵敏 is another community's.
    for hidden in ["李建华", "赵敏", "深圳路社区"]:
        assert hidden not in page, hidden
    assert page.index("张明") < page.index("王海燕")  # the oldest first


def test_a_city_administrator_reviews_any_community_without_call_links(
    client, city_admin, world, applicant, shenzhen_pending
):
    client.force_login(city_admin)
    page = html(client.get(REVIEW, {"community": world.shenzhen.pk}))
    assert "赵敏" in page and "张明" not in page
    assert "tel:" not in page
    assert 'data-testid="community-switch"' in page


def test_someone_in_two_communities_can_switch(client, community_staff, world, shenzhen_pending):
    community_staff.staff_roles.create(kind="community_staff", community=world.shenzhen)
    client.force_login(community_staff)
    page = html(client.get(REVIEW, {"community": world.shenzhen.pk}))
    assert "赵敏" in page
    assert 'data-testid="community-switch"' in page


def test_a_page_number_that_is_not_one_shows_the_first_page(client, community_staff, wang):
    client.force_login(community_staff)
    response = client.get(REVIEW, {"page": "abc"})
    assert response.status_code == 200
    assert "王海燕" in html(response)


def test_nothing_to_review_says_so(client, community_staff, wang):
    wang.delete()
    client.force_login(community_staff)
    assert 'data-testid="nothing-pending"' in html(client.get(REVIEW))


def add_pending(world, count):
    start = Member.objects.count()
    members = Member.objects.bulk_create(
        Member(
            agency=world.sanxia if i % 2 else world.yuanlin,
            name=f"待审{start + i}",
            mobile=f"1380000{start + i:04d}",
        )
        for i in range(count)
    )
    Registration.objects.bulk_create(
        Registration(member=m, community=world.shengli, applied_on=timezone.localdate())
        for m in members
    )


def test_the_review_list_costs_the_same_queries_for_5_and_50_report_ins(
    client, community_staff, world
):
    client.force_login(community_staff)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(REVIEW).status_code == 200
        return len(captured)

    add_pending(world, 4)  # and 王海燕
    at_5 = queries()
    add_pending(world, 45)
    assert queries() == at_5
    assert at_5 <= 10


# --- Approving --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker", "city_admin"])
def test_approving_reports_the_member_in_and_tells_them(
    english, request, applicant, world, persona
):
    user = request.getfixturevalue(persona)
    english.force_login(user)
    response = english.post(
        approve_url(applicant), {"grid": world.zilinyuan.pk, "next": f"{REVIEW}?page=1"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{REVIEW}?page=1"
    assert messages_of(response) == ["张明 has reported in to 胜利一路社区, in 紫林苑网格."]
    applicant.refresh_from_db()
    assert (applicant.status, applicant.grid, applicant.reviewer) == (
        Registration.Status.ACTIVE,
        world.zilinyuan,
        user,
    )
    told = notifications(Notification.Kind.REGISTRATION_APPROVED, applicant.member)
    # The in-app inbox and e-mail, the member's default channels.
    assert set(told.values_list("channel", flat=True)) == {"inapp", "email"}
    assert told.filter(recipient=applicant.member.user).count() == 2
    assert "胜利一路社区" in told.first().subject
    assert applicant.history.latest().history_user == user


def test_a_member_without_a_login_is_told_in_the_communitys_group_chat(
    client, community_staff, wang, world
):
    world.shengli.robot_webhook_url = "https://robot.example.org/send?key=1"
    world.shengli.save()
    client.force_login(community_staff)
    client.post(approve_url(wang))
    told = notifications(Notification.Kind.REGISTRATION_APPROVED, wang.member)
    assert list(told.values_list("channel", "address")) == [
        ("webhook", "https://robot.example.org/send?key=1")
    ]


def test_approving_without_a_grid_leaves_the_grid_empty(english, community_staff, applicant):
    english.force_login(community_staff)
    response = english.post(approve_url(applicant), {"grid": ""})
    assert messages_of(response) == ["张明 has reported in to 胜利一路社区."]
    applicant.refresh_from_db()
    assert (applicant.status, applicant.grid) == (Registration.Status.ACTIVE, None)


@pytest.mark.parametrize("grid", ["abc", "999999", "hanlinyuan"])
def test_an_unknown_grid_is_a_clear_message_and_nothing_changes(
    english, community_staff, applicant, world, grid
):
    if grid == "hanlinyuan":
        grid = world.hanlinyuan.pk  # a grid of another community
    english.force_login(community_staff)
    response = english.post(approve_url(applicant), {"grid": grid})
    assert response.status_code == 302
    assert response["Location"] == f"{REVIEW}?community={world.shengli.pk}"
    assert messages_of(response) == ["Choose one of this community's grids."]
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING
    assert not Notification.objects.exists()


def test_approving_an_approved_report_in_again_is_a_message_not_an_error(
    english, community_staff, applicant
):
    english.force_login(community_staff)
    english.post(approve_url(applicant))
    response = english.post(approve_url(applicant))
    assert response.status_code == 302
    # (The first approval's message has not been shown yet: no page was opened in between.)
    assert messages_of(response)[-1] == (
        "This report-in is no longer waiting for review: it is “Reported in”."
    )
    # Told once only.
    assert notifications(Notification.Kind.REGISTRATION_APPROVED, applicant.member).count() == 2


def test_a_next_address_off_the_site_is_ignored(client, community_staff, applicant, world):
    client.force_login(community_staff)
    response = client.post(approve_url(applicant), {"next": "https://evil.example.org/"})
    assert response["Location"] == f"{REVIEW}?community={world.shengli.pk}"


# --- Returning --------------------------------------------------------------------------------


def test_the_return_page_shows_the_report_in_and_a_reason_box(client, community_staff, applicant):
    client.force_login(community_staff)
    response = client.get(return_url(applicant))
    assert response.status_code == 200
    page = html(response)
    assert "张明" in page and "三峡旅游新区管委会" in page
    assert 'name="reason"' in page
    assert 'name="csrfmiddlewaretoken"' in page


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_returning_with_a_reason_tells_the_member_why(english, request, applicant, persona):
    user = request.getfixturevalue(persona)
    english.force_login(user)
    response = english.post(return_url(applicant), {"reason": "请先完成单位在职党员登记"})
    assert response.status_code == 302
    assert response["Location"] == f"{REVIEW}?community={applicant.community_id}"
    assert messages_of(response) == ["The report-in of 张明 is returned; they have been told why."]
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.RETURNED
    assert applicant.return_reason == "请先完成单位在职党员登记"
    told = notifications(Notification.Kind.REGISTRATION_RETURNED, applicant.member)
    assert told.count() == 2
    assert "请先完成单位在职党员登记" in told.first().body
    history = list(applicant.history.order_by("history_date"))
    assert [h.status for h in history] == ["pending", "returned"]
    assert history[-1].history_user == user


def test_returning_the_report_in_of_someone_nothing_reaches_says_they_were_not_told(
    english, community_staff, wang, world
):
    """王海燕 has no login and 胜利一路社区 no group robot: the page must not say she was told,
    and the outbox records the message as unreachable."""
    english.force_login(community_staff)
    response = english.post(return_url(wang), {"reason": "请先完成单位在职党员登记"})
    assert response.status_code == 302
    assert messages_of(response) == [
        "The report-in of 王海燕 is returned.",
        "Not told, as no channel reaches them: 王海燕 (no login of their own, and no group "
        "robot to mention them in).",
    ]
    row = notifications(Notification.Kind.REGISTRATION_RETURNED, wang.member).get()
    assert (row.state, row.unreachable_reason, row.community, row.agency) == (
        Notification.State.UNREACHABLE,
        Notification.Unreachable.NO_LOGIN,
        world.shengli,
        world.sanxia,
    )


def test_approving_someone_who_chose_only_a_group_robot_there_is_not_says_so(
    english, community_staff, applicant
):
    NotificationPreference.objects.create(
        user=applicant.member.user, inapp=False, email=False, webhook=True
    )
    english.force_login(community_staff)
    response = english.post(approve_url(applicant))
    assert messages_of(response) == [
        "张明 has reported in to 胜利一路社区.",
        "Not told, as no channel reaches them: 张明 (chose only the group robot, and there is "
        "none here).",
    ]
    told = notifications(Notification.Kind.REGISTRATION_APPROVED, applicant.member)
    assert list(told.values_list("state", flat=True)) == [Notification.State.UNREACHABLE]


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_shows_the_form_again_with_an_error(
    english, community_staff, applicant, reason
):
    english.force_login(community_staff)
    response = english.post(return_url(applicant), {"reason": reason})
    assert response.status_code == 200
    assert "Say why the report-in is returned" in html(response)
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING
    assert not Notification.objects.exists()


def test_a_reason_too_long_is_shown_again_as_typed(english, community_staff, applicant):
    english.force_login(community_staff)
    reason = "太长" * 101
    response = english.post(return_url(applicant), {"reason": reason})
    assert response.status_code == 200
    page = html(response)
    assert reason in page  # nothing typed is lost
    assert "at most 200 characters" in page
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.PENDING


def test_returning_an_approved_report_in_says_it_was_decided(english, community_staff, applicant):
    english.force_login(community_staff)
    english.post(approve_url(applicant))
    response = english.post(return_url(applicant), {"reason": "重复"})
    assert response.status_code == 200
    page = html(response)
    assert "no longer waiting for review" in page
    applicant.refresh_from_db()
    assert applicant.status == Registration.Status.ACTIVE
    assert not notifications(Notification.Kind.REGISTRATION_RETURNED, applicant.member).exists()
    # The page for a decided one has no form to fill.
    assert 'data-testid="return-form"' not in html(english.get(return_url(applicant)))


@pytest.mark.parametrize("decide", ["approve", "return"])
def test_a_decision_entered_for_an_earlier_day_is_dated_then_and_tells_nobody(
    applicant, community_staff, decide
):
    # The demo enters June's report-ins this way: the news is old, nobody is told now.
    then = timezone.now() - dt.timedelta(days=1)
    if decide == "approve":
        decided = registration_approve(
            registration=applicant, reviewer=community_staff, now=then, tell=False
        )
    else:
        decided = registration_return(
            registration=applicant,
            reviewer=community_staff,
            reason="材料不全",
            now=then,
            tell=False,
        )

    assert decided.reviewed_at == then
    assert decided.notified.queued == 0
    assert decided.history.latest("history_id").history_date == then
    assert not Notification.objects.exists()
