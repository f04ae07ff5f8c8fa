"""QR check-in (签到 / 签退): the signed link's window, who may check in, walk-ins, check-out
hours, locked records, the organiser's code page and hostile links."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from activities.services.checkin import (
    CHECK_IN_OPENS_BEFORE,
    BadCode,
    OtherActivityCode,
    check_in_activity_id,
    check_in_token,
    hours_between,
    participation_check_in,
    participation_check_out,
)
from activities.views.checkin import BAD_CODES_ALLOWED
from communities.history import ChangeReason
from members.models import Member, Registration

Status = Participation.Status
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def gathering(world):
    """胜利一路社区's clean-up, starting in an hour and lasting two: 李建华 signed up."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑环境清扫",
        place="紫林苑北门",
        starts_at=now + dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=3),
    )
    Participation.objects.create(
        activity=activity, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )
    return activity


@pytest.fixture
def running(world):
    """An activity on now (started ten minutes ago, two hours long): 李建华 signed up."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="万寿小区环境清扫",
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(hours=1, minutes=50),
    )
    Participation.objects.create(
        activity=activity, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )
    return activity


def link(activity, token=None):
    return reverse("activities:check_in", args=[activity.pk, token or check_in_token(activity)])


def record(activity, member):
    return Participation.objects.filter(activity=activity, member=member).first()


def member_with_login(world, django_user_model, *, registration_status=None, community=None):
    member = Member.objects.create(
        agency=world.yuanlin,
        name="周晓雯",
        mobile="13900000009",
        user=django_user_model.objects.create_user("zhou", password="pw-zhou"),
    )
    if registration_status:
        Registration.objects.create(
            member=member,
            community=community or world.shengli,
            status=registration_status,
            applied_on=timezone.localdate(),
        )
    return member


# The window: from 30 minutes before the start until the end.


def test_the_link_opens_30_minutes_before_the_start(world, gathering):
    opens = gathering.starts_at - CHECK_IN_OPENS_BEFORE
    with pytest.raises(ValidationError, match="还未开始") as refused:
        participation_check_in(activity=gathering, member=world.sanxia_member, now=opens - SECOND)
    assert refused.value.code == "closed"
    assert record(gathering, world.sanxia_member).status == Status.SIGNED_UP

    done = participation_check_in(
        activity=gathering, member=world.sanxia_member, now=opens + SECOND
    )
    assert done.changed
    assert done.participation.checked_in_at == opens + SECOND


def test_the_link_expires_at_the_end(world, gathering):
    with pytest.raises(ValidationError, match="已过期"):
        participation_check_in(
            activity=gathering, member=world.sanxia_member, now=gathering.ends_at + SECOND
        )
    assert record(gathering, world.sanxia_member).status == Status.SIGNED_UP
    done = participation_check_in(
        activity=gathering, member=world.sanxia_member, now=gathering.ends_at - SECOND
    )
    assert done.participation.status == Status.PRESENT


@pytest.mark.parametrize("status", [Activity.Status.CANCELLED, Activity.Status.DRAFT])
def test_a_cancelled_or_draft_activity_refuses(world, running, status):
    running.status = status
    running.save()
    with pytest.raises(ValidationError) as refused:
        participation_check_in(activity=running, member=world.sanxia_member)
    assert refused.value.code == "closed"
    assert record(running, world.sanxia_member).status == Status.SIGNED_UP


# Checking in.


def test_a_signed_up_member_is_marked_present_with_the_time(world, running):
    now = timezone.now()
    done = participation_check_in(activity=running, member=world.sanxia_member, now=now)
    p = record(running, world.sanxia_member)
    assert (p.status, p.checked_in_at, p.source) == (Status.PRESENT, now, "qr")
    assert p.hours == running.duration_hours  # the activity's length until they check out
    assert p.recorded_by == world.sanxia_member.user
    latest = p.history.latest()
    assert latest.history_change_reason == ChangeReason.QR_CHECK_IN
    assert latest.history_user == world.sanxia_member.user
    assert done.changed and not done.added


def test_checking_in_twice_changes_nothing(world, running):
    first = timezone.now()
    participation_check_in(activity=running, member=world.sanxia_member, now=first)
    versions = record(running, world.sanxia_member).history.count()
    again = participation_check_in(
        activity=running, member=world.sanxia_member, now=first + dt.timedelta(minutes=5)
    )
    p = record(running, world.sanxia_member)
    assert not again.changed
    assert p.checked_in_at == first
    assert p.history.count() == versions


@pytest.mark.parametrize(
    "status, decision",
    [
        (Status.LEAVE, Participation.LeaveDecision.APPROVED),
        (Status.SIGNED_UP, Participation.LeaveDecision.PENDING),  # asked, not decided yet
    ],
)
def test_a_member_on_leave_who_comes_is_present_and_the_leave_goes(
    world, running, status, decision
):
    p = record(running, world.sanxia_member)
    p.status, p.leave_reason, p.leave_decision = status, "出差", decision
    p.save()
    participation_check_in(activity=running, member=world.sanxia_member)
    p.refresh_from_db()
    assert (p.status, p.leave_reason, p.leave_decision) == (Status.PRESENT, "", "")
    assert p.history.filter(leave_reason="出差").exists()  # kept in the history


def test_a_record_marked_present_at_the_roll_call_stands(world, running):
    p = record(running, world.sanxia_member)
    p.status, p.hours, p.source = Status.PRESENT, Decimal("1.5"), Participation.Source.ROLL_CALL
    p.save()
    done = participation_check_in(activity=running, member=world.sanxia_member)
    p.refresh_from_db()
    assert not done.changed
    assert (p.hours, p.source, p.checked_in_at) == (Decimal("1.5"), "roll_call", None)


def test_a_walk_in_reported_in_to_the_community_is_added(world, running, django_user_model):
    walk_in = member_with_login(
        world, django_user_model, registration_status=Registration.Status.ACTIVE
    )
    done = participation_check_in(activity=running, member=walk_in)
    p = record(running, walk_in)
    assert done.added and done.changed
    assert (p.status, p.source, p.recorded_by) == (Status.PRESENT, "qr", walk_in.user)
    assert p.checked_in_at is not None


@pytest.mark.parametrize(
    "registration",
    [
        None,  # never reported in
        "pending",  # waiting for the community's review
        "elsewhere",  # reported in to another community
    ],
)
def test_a_member_neither_on_it_nor_reported_in_is_told_and_nothing_recorded(
    world, running, django_user_model, registration
):
    member = member_with_login(
        world,
        django_user_model,
        registration_status={
            None: None,
            "pending": Registration.Status.PENDING,
            "elsewhere": Registration.Status.ACTIVE,
        }[registration],
        community=world.shenzhen if registration == "elsewhere" else None,
    )
    with pytest.raises(ValidationError, match="胜利一路社区") as refused:
        participation_check_in(activity=running, member=member)
    assert refused.value.code == "not_reported_in"
    assert record(running, member) is None


@pytest.mark.parametrize("reported_in", [True, False])
def test_a_member_on_the_waitlist_comes_in_as_a_walk_in_does(
    world, running, django_user_model, reported_in
):
    member = member_with_login(
        world,
        django_user_model,
        registration_status=Registration.Status.ACTIVE if reported_in else None,
    )
    Participation.objects.create(
        activity=running,
        member=member,
        status=Status.WAITLISTED,
        waitlisted_at=timezone.now(),
        source=Participation.Source.SIGN_UP,
    )
    if reported_in:
        participation_check_in(activity=running, member=member)
        assert record(running, member).status == Status.PRESENT
    else:
        with pytest.raises(ValidationError) as refused:
            participation_check_in(activity=running, member=member)
        assert refused.value.code == "not_reported_in"
        assert record(running, member).status == Status.WAITLISTED


def test_a_member_who_left_the_agency_is_not_added_as_a_walk_in(world, running, django_user_model):
    member = member_with_login(
        world, django_user_model, registration_status=Registration.Status.ACTIVE
    )
    member.status, member.left_on = Member.Status.LEFT, timezone.localdate()
    member.save()
    with pytest.raises(ValidationError):
        participation_check_in(activity=running, member=member)
    assert record(running, member) is None


# Checking out.


def test_check_out_sets_the_hours_from_check_in_to_check_out(world, running):
    checked_in = timezone.now() - dt.timedelta(minutes=5)
    participation_check_in(activity=running, member=world.sanxia_member, now=checked_in)
    out = checked_in + dt.timedelta(hours=1, minutes=40)
    running.ends_at = out + dt.timedelta(minutes=10)
    running.save()
    done = participation_check_out(activity=running, member=world.sanxia_member, now=out)
    p = record(running, world.sanxia_member)
    assert done.changed
    assert p.checked_out_at == out
    assert p.hours == hours_between(checked_in, out) == Decimal("1.7")
    assert p.history.latest().history_change_reason == ChangeReason.QR_CHECK_OUT

    # A second check-out changes nothing.
    again = participation_check_out(
        activity=running, member=world.sanxia_member, now=out + dt.timedelta(minutes=5)
    )
    p.refresh_from_db()
    assert not again.changed
    assert (p.checked_out_at, p.hours) == (out, Decimal("1.7"))


def test_hours_are_rounded_as_the_roll_call_rounds_and_kept_in_range():
    start = timezone.now()
    assert hours_between(start, start + dt.timedelta(minutes=100)) == Decimal("1.7")
    for minutes in (1, 9, 20, 40, 95, 181):
        end = start + dt.timedelta(minutes=minutes)
        # The roll call's default hours: the activity's length (Activity.duration_hours).
        assert hours_between(start, end) == Activity(starts_at=start, ends_at=end).duration_hours
    assert hours_between(start, start - dt.timedelta(minutes=9)) == Decimal("0.0")
    assert hours_between(start, start + dt.timedelta(hours=30)) == Participation.MAX_HOURS


def test_check_out_needs_a_check_in(world, running):
    with pytest.raises(ValidationError) as refused:
        participation_check_out(activity=running, member=world.sanxia_member)
    assert refused.value.code == "not_checked_in"
    p = record(running, world.sanxia_member)
    assert (p.status, p.checked_out_at) == (Status.SIGNED_UP, None)


def test_a_record_the_agency_office_confirmed_is_not_changed(world, running, agency_office):
    p = record(running, world.sanxia_member)
    p.review, p.reviewed_by = Participation.Review.CONFIRMED, agency_office
    p.save()
    with pytest.raises(ValidationError) as refused:
        participation_check_in(activity=running, member=world.sanxia_member)
    assert refused.value.code == "locked"
    p.refresh_from_db()
    assert (p.status, p.checked_in_at) == (Status.SIGNED_UP, None)

    # Checked in before it was confirmed: the check-out is refused too.
    p.status, p.checked_in_at, p.hours = Status.PRESENT, timezone.now(), Decimal(2)
    p.save()
    with pytest.raises(ValidationError) as refused:
        participation_check_out(activity=running, member=world.sanxia_member)
    assert refused.value.code == "locked"
    p.refresh_from_db()
    assert (p.checked_out_at, p.hours) == (None, Decimal(2))


# The signed link.


def test_the_token_names_the_activity_and_nothing_else_reads_as_one(world, running, gathering):
    token = check_in_token(running)
    assert check_in_activity_id(token, pk=running.pk) == running.pk
    assert str(world.sanxia_member.pk) not in token.split(":")[-1]
    with pytest.raises(OtherActivityCode):
        check_in_activity_id(token, pk=gathering.pk)
    with pytest.raises(BadCode):
        check_in_activity_id(token[:-1] + ("A" if token[-1] != "A" else "B"), pk=running.pk)
    # Signed with another salt (another of the site's signed values) is not a check-in code.
    from django.core import signing

    with pytest.raises(BadCode):
        check_in_activity_id(signing.Signer().sign_object(running.pk), pk=running.pk)
    with pytest.raises(BadCode):
        check_in_activity_id(
            signing.Signer(salt="activities.check-in").sign_object("1"), pk=running.pk
        )


# The member's page.


def test_opening_the_link_checks_the_member_in_and_again_changes_nothing(
    client, world, running, member_user
):
    client.force_login(member_user)
    response = client.get(link(running))
    assert response.status_code == 200
    assert "签到成功" in response.content.decode()
    p = record(running, world.sanxia_member)
    assert p.status == Status.PRESENT
    first = p.checked_in_at
    versions = p.history.count()

    response = client.get(link(running))
    assert response.status_code == 200
    assert "签到成功" not in response.content.decode()
    assert "您已于" in response.content.decode()
    p.refresh_from_db()
    assert (p.checked_in_at, p.history.count()) == (first, versions)


def test_signed_out_the_link_goes_through_the_sign_in_and_back(client, world, running):
    url = link(running)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert record(running, world.sanxia_member).status == Status.SIGNED_UP
    response = client.post(
        response.url,
        {"username": "sanxia_member", "password": "pw-sanxia_member"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url
    assert record(running, world.sanxia_member).status == Status.PRESENT


def test_checking_out_on_the_page(client, world, running, member_user):
    client.force_login(member_user)
    client.get(link(running))
    response = client.post(link(running), follow=True)
    assert response.status_code == 200
    assert "签退成功" in response.content.decode()
    p = record(running, world.sanxia_member)
    assert p.checked_out_at is not None
    assert p.hours == hours_between(p.checked_in_at, p.checked_out_at)
    page = response.content.decode()
    assert "您已于" in page and "签退，记录服务时长" in page


def test_the_check_out_needs_the_csrf_token(world, running, member_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    client.get(link(running))
    response = client.post(link(running))
    assert response.status_code == 403
    assert record(running, world.sanxia_member).checked_out_at is None


def test_an_early_link_says_when_it_opens_and_records_nothing(
    client, world, gathering, member_user
):
    gathering.starts_at = timezone.now() + dt.timedelta(hours=2)
    gathering.save()
    client.force_login(member_user)
    response = client.get(link(gathering))
    assert response.status_code == 409
    assert "签到还未开始" in response.content.decode()
    assert record(gathering, world.sanxia_member).status == Status.SIGNED_UP


def test_an_expired_link_says_so_and_records_nothing(client, world, member_user):
    client.force_login(member_user)
    response = client.get(link(world.shengli_activity))  # ended an hour ago
    assert response.status_code == 409
    assert "签到码已过期" in response.content.decode()


def test_a_member_not_reported_in_is_told_plainly(client, world, running, other_member_user):
    client.force_login(other_member_user)
    response = client.get(link(running))
    assert response.status_code == 409
    assert "未向胜利一路社区报到" in response.content.decode()
    assert record(running, world.yuanlin_member) is None


def test_a_tampered_or_other_activitys_link_says_so_and_records_nothing(
    client, world, running, gathering, member_user
):
    client.force_login(member_user)
    token = check_in_token(running)
    tampered = client.get(link(running, token[:-2] + "xx"))
    assert tampered.status_code == 404
    assert "签到码无效" in tampered.content.decode()
    assert "未作任何记录" in tampered.content.decode()
    other = client.get(link(gathering, token))
    assert other.status_code == 404
    assert "另一个活动" in other.content.decode()
    assert not Participation.objects.filter(checked_in_at__isnull=False).exists()


@pytest.mark.parametrize(
    "token",
    [
        "x",
        ":",
        "::::",
        "MQ:" + "a" * 5000,
        "eyJhIjoxfQ:abc:def",
        "签到:签到",
        "%00",
        "..",
        "'; DROP TABLE activities_activity; --",
    ],
)
def test_hostile_tokens_never_fail_the_page(client, world, running, member_user, token):
    client.force_login(member_user)
    response = client.get(reverse("activities:check_in", args=[running.pk, token]))
    assert response.status_code == 404
    assert record(running, world.sanxia_member).status == Status.SIGNED_UP


def test_a_nul_or_broken_escape_in_the_address_never_fails_the_page(
    client, world, running, member_user
):
    client.force_login(member_user)
    token = check_in_token(running)
    for path in (f"{token}%00", f"%00{token}", "%ff%fe", f"{token[:3]}%0a{token[3:]}"):
        response = client.get(f"/activities/{running.pk}/check-in/{path}/")
        assert response.status_code == 404
    assert record(running, world.sanxia_member).status == Status.SIGNED_UP


def test_an_address_that_keeps_opening_bad_links_is_turned_away(
    client, world, running, member_user
):
    client.force_login(member_user)
    for _ in range(BAD_CODES_ALLOWED):
        assert client.get(link(running, "bad:code")).status_code == 404
    response = client.get(link(running))  # even the right one, for a while
    assert response.status_code == 429
    assert record(running, world.sanxia_member).status == Status.SIGNED_UP


def test_staff_without_a_member_record_are_told_only_members_check_in(
    client, world, running, community_staff
):
    client.force_login(community_staff)
    response = client.get(link(running))
    assert response.status_code == 403
    assert "只有党员本人可以签到" in response.content.decode()


def test_the_member_page_costs_the_same_queries_however_many_are_on_it(
    client, world, running, member_user
):
    client.force_login(member_user)
    client.get(link(running))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(link(running)).status_code == 200
        return len(captured)

    few = queries()
    for n in range(40):
        member = Member.objects.create(
            agency=world.sanxia, name=f"成员{n}", mobile=f"1380000{n:04d}"
        )
        Participation.objects.create(
            activity=running, member=member, source=Participation.Source.SIGN_UP
        )
    assert queries() == few


# The organiser's page.


@pytest.mark.parametrize("who", ["community_staff", "grid_worker"])
def test_the_organiser_sees_the_qr_code_of_the_signed_link(
    client, world, running, who, request, settings
):
    settings.SITE_URL = "https://xiachen.example"
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("activities:check_in_code", args=[running.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert re.search(r'data-testid="check-in-qr"><svg', page)
    assert "data-print" in page and "js/print.js" in page
    assert "签到码有效时间" in page and "不收集位置信息" in page  # in Chinese, no location
    assert "css/checkin.css" in page
    url = re.search(r'data-testid="check-in-url">([^<]+)<', page).group(1)
    assert url == "https://xiachen.example" + link(running)


def test_the_code_page_shows_no_code_for_a_cancelled_or_ended_activity(
    client, world, running, community_staff
):
    client.force_login(community_staff)
    ended = client.get(reverse("activities:check_in_code", args=[world.shengli_activity.pk]))
    assert ended.status_code == 200
    assert 'data-testid="check-in-qr"' not in ended.content.decode()
    assert "已过期" in ended.content.decode()
    running.status = Activity.Status.CANCELLED
    running.save()
    cancelled = client.get(reverse("activities:check_in_code", args=[running.pk]))
    assert 'data-testid="check-in-qr"' not in cancelled.content.decode()
    assert "已取消" in cancelled.content.decode()


def test_the_code_page_is_the_organisers_alone(
    client, world, running, other_community_staff, member_user, agency_office
):
    url = reverse("activities:check_in_code", args=[running.pk])
    assert client.get(url).status_code == 302  # signed out: the sign-in
    client.force_login(other_community_staff)
    assert client.get(url).status_code == 404  # another community's: not in their scope
    client.force_login(agency_office)  # sees it (its member is on it), manages nothing
    assert client.get(url).status_code == 403
    client.force_login(member_user)
    assert client.get(url).status_code in (403, 404)


def test_the_activity_page_links_its_managers_to_the_code(
    client, world, running, community_staff, agency_office
):
    client.force_login(community_staff)
    code = reverse("activities:check_in_code", args=[running.pk])
    assert code in client.get(running.get_absolute_url()).content.decode()
    client.force_login(agency_office)
    assert code not in client.get(running.get_absolute_url()).content.decode()


def test_the_code_page_costs_the_same_queries_however_many_checked_in(
    client, world, running, community_staff
):
    client.force_login(community_staff)
    url = reverse("activities:check_in_code", args=[running.pk])
    client.get(url)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries()
    now = timezone.now()
    for n in range(40):
        member = Member.objects.create(
            agency=world.sanxia, name=f"成员{n}", mobile=f"1380000{n:04d}"
        )
        Participation.objects.create(
            activity=running,
            member=member,
            status=Status.PRESENT,
            hours=2,
            checked_in_at=now,
            source=Participation.Source.QR,
        )
    assert queries() == few
