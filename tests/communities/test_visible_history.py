"""Issue 11, point 6: every change to agreements, report-ins, attendance records and ratings is
shown on the object's page to those who may see it — who, when, what changed, why — in
Chinese and read-only; others get a 404 whatever id they type."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Participation
from activities.services.review import (
    Correction,
    participation_backfill,
    participation_confirm,
)
from communities.history import timeline
from communities.models import Agreement
from communities.services import agreement_sign, agreement_terminate
from members.models import Registration
from members.services import registration_approve, registration_return
from reports.models import Evaluation
from reports.services import HistoryReason

pytestmark = pytest.mark.django_db


def _entries(response):
    """The rendered history: one text per entry, newest first."""
    html = response.content.decode()
    assert 'data-testid="timeline"' in html
    return html[html.index('data-testid="timeline"') :]


def _named(user, full_name):
    user.first_name = full_name
    user.save(update_fields=["first_name"])
    return user


# --- Agreements -----------------------------------------------------------------------------


@pytest.fixture
def signed(world, city_admin):
    """A draft signed, then ended early, by a city administrator with a name."""
    _named(city_admin, "市委组织部张科长")
    world.agreement.delete()
    today = timezone.localdate()
    draft = Agreement.objects.create(
        agency=world.sanxia,
        community=world.shengli,
        number="GJ-HIST-001",
        starts_on=today - dt.timedelta(days=10),
        ends_on=today + dt.timedelta(days=300),
        daily_quota=2,
    )
    agreement_sign(agreement=draft, by=city_admin)
    agreement_terminate(agreement=draft, by=city_admin, reason="单位机构调整")
    return draft


def test_the_agreement_page_shows_who_signed_and_ended_it_and_why(client, signed, community_staff):
    client.force_login(community_staff)
    response = client.get(reverse("communities:agreement_detail", args=[signed.pk]))
    assert response.status_code == 200
    assert "共驻共建协议 GJ-HIST-001" in response.content.decode()
    html = _entries(response)
    # Newest first: the termination with its reason, then the signing, then the draft.
    terminated = html.index("提前终止")
    signed_at = html.index("签署")
    assert terminated < signed_at
    assert "单位机构调整" in html
    assert html.count("市委组织部张科长") >= 2
    # What changed, old → new, in Chinese labels and values.
    assert "状态" in html and "生效" in html and "已终止" in html


@pytest.mark.parametrize(
    "viewer", ["community_staff", "agency_office", "street_officer", "city_admin", "member_user"]
)
def test_the_agreement_page_opens_for_everyone_who_may_see_the_agreement(
    request, client, signed, viewer
):
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("communities:agreement_detail", args=[signed.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "viewer", ["other_community_staff", "other_agency_office", "other_member_user"]
)
def test_another_scopes_agreement_is_a_404(request, client, signed, viewer):
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("communities:agreement_detail", args=[signed.pk]))
    assert response.status_code == 404


def test_the_agreement_page_is_read_only(client, signed, city_admin):
    client.force_login(city_admin)
    url = reverse("communities:agreement_detail", args=[signed.pk])
    assert client.post(url, {"status": "active"}).status_code == 405
    signed.refresh_from_db()
    assert signed.status == Agreement.Status.TERMINATED


def test_the_dashboards_link_to_the_agreement(client, world, agency_office):
    client.force_login(agency_office)
    html = client.get(reverse("reports:dashboard")).content.decode()
    assert reverse("communities:agreement_detail", args=[world.agreement.pk]) in html


# --- Report-ins -----------------------------------------------------------------------------


@pytest.fixture
def reviewed(world, community_staff):
    """王海燕's report-in approved into a grid by a named staff member."""
    _named(community_staff, "胜利一路社区刘书记")
    registration = Registration.objects.get(member=world.sanxia_member_2)
    return registration_approve(
        registration=registration, reviewer=community_staff, grid=world.wanshou, tell=False
    )


def test_the_report_in_page_shows_the_approval_with_who_and_the_grid(
    client, world, reviewed, agency_office
):
    client.force_login(agency_office)
    response = client.get(reverse("members:registration_detail", args=[reviewed.pk]))
    assert response.status_code == 200
    assert "王海燕" in response.content.decode()
    html = _entries(response)
    assert "胜利一路社区刘书记" in html
    assert "待审核" in html and "已报到" in html
    assert "万寿小区网格" in html


def test_a_returned_report_in_shows_the_reason_to_its_member(client, world, community_staff):
    registration = Registration.objects.create(
        member=world.sanxia_member,
        community=world.shenzhen,
        kind=Registration.Kind.RESIDENCE,
        applied_on=timezone.localdate(),
    )
    registration_return(
        registration=registration, reviewer=community_staff, reason="住址不在本社区", tell=False
    )
    client.force_login(world.sanxia_member.user)
    response = client.get(reverse("members:registration_detail", args=[registration.pk]))
    assert response.status_code == 200
    html = _entries(response)
    assert "住址不在本社区" in html
    assert "已退回" in html


@pytest.mark.parametrize(
    "viewer", ["other_community_staff", "other_agency_office", "other_member_user"]
)
def test_another_scopes_report_in_is_a_404(request, client, reviewed, viewer):
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("members:registration_detail", args=[reviewed.pk]))
    assert response.status_code == 404


def test_the_member_and_review_pages_link_to_the_report_in(client, world, community_staff):
    pending = Registration.objects.get(member=world.sanxia_member_2)
    client.force_login(community_staff)
    html = client.get(reverse("members:registration_review")).content.decode()
    assert reverse("members:registration_detail", args=[pending.pk]) in html
    mine = Registration.objects.get(member=world.sanxia_member)
    client.force_login(world.sanxia_member.user)
    html = client.get(reverse("members:report_in")).content.decode()
    assert reverse("members:registration_detail", args=[mine.pk]) in html


# --- Attendance records ---------------------------------------------------------------------


@pytest.fixture
def backfilled(world, agency_office, community_staff):
    """李建华's record confirmed by the office, then backfilled by the community with a reason."""
    _named(agency_office, "三峡党办周干事")
    _named(community_staff, "胜利一路社区刘书记")
    record = world.shengli_participation
    participation_confirm(by=agency_office, ids=[record.pk])
    record.refresh_from_db()
    return participation_backfill(
        by=community_staff,
        participation=record,
        correction=Correction(status=Participation.Status.PRESENT, hours=Decimal("3.5")),
        reason="签到表漏记半小时",
    )


@pytest.mark.parametrize("viewer", ["member_user", "agency_office", "community_staff"])
def test_the_record_page_shows_the_review_and_the_backfill_with_who_and_why(
    request, client, world, backfilled, viewer
):
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("activities:participation_detail", args=[backfilled.pk]))
    assert response.status_code == 200
    html = _entries(response)
    assert "签到表漏记半小时" in html
    assert "三峡党办周干事" in html and "胜利一路社区刘书记" in html
    # The hours changed from 2 to 3.5, shown old → new.
    assert "服务时长" in html
    assert "3.5" in html


@pytest.mark.parametrize(
    "viewer", ["other_member_user", "other_agency_office", "other_community_staff"]
)
def test_another_scopes_record_is_a_404(request, client, world, backfilled, viewer):
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("activities:participation_detail", args=[backfilled.pk]))
    assert response.status_code == 404


def test_my_record_and_the_activity_link_to_the_record(client, world, member_user):
    client.force_login(member_user)
    url = reverse("activities:participation_detail", args=[world.shengli_participation.pk])
    assert url in client.get(reverse("reports:my_record")).content.decode()
    activity = reverse("activities:activity_detail", args=[world.shengli_activity.pk])
    assert url in client.get(activity).content.decode()


def test_the_record_page_costs_the_same_queries_however_long_its_history(
    client, world, community_staff, django_assert_max_num_queries
):
    record = world.shengli_participation
    url = reverse("activities:participation_detail", args=[record.pk])
    client.force_login(community_staff)
    client.get(url)
    with CaptureQueriesContext(connection) as short:
        assert client.get(url).status_code == 200
    for hours in ("1.0", "1.5", "2.5", "3.0", "4.0"):
        record.hours = Decimal(hours)
        record.recorded_by = community_staff
        record._change_reason = "roll call"
        record.save()
    with CaptureQueriesContext(connection) as long:
        assert client.get(url).status_code == 200
    assert len(long) == len(short)


# --- Ratings ---------------------------------------------------------------------------------


def test_my_evaluations_show_each_ratings_history(client, world, community_staff, member_user):
    _named(community_staff, "胜利一路社区刘书记")
    evaluation = Evaluation(
        member=world.sanxia_member,
        community=world.shengli,
        year=timezone.localdate().year,
        rating=Evaluation.Rating.QUALIFIED,
        rated_by=community_staff,
        rated_at=timezone.now(),
    )
    evaluation._change_reason = HistoryReason.RATED
    evaluation._history_user = community_staff
    evaluation.save()
    evaluation.rating = Evaluation.Rating.EXCELLENT
    evaluation._change_reason = HistoryReason.OBJECTION_ANSWERED
    evaluation._history_user = community_staff
    evaluation.save()
    client.force_login(member_user)
    html = _entries(client.get(reverse("reports:evaluations_mine")))
    assert "胜利一路社区刘书记" in html
    assert "答复异议" in html or "异议" in html
    assert "优秀" in html and "合格" in html


# --- The timeline itself ----------------------------------------------------------------------


def test_the_timeline_names_only_what_changed(world, community_staff):
    record = world.shengli_participation
    record.hours = Decimal("4")
    record._change_reason = "roll call"
    record.save()
    newest, oldest = timeline(record, ["status", "hours", "review"])[:2]
    label = {n: str(Participation._meta.get_field(n).verbose_name) for n in ("status", "hours")}
    assert [c.label for c in newest.changes] == [label["hours"]]
    assert newest.changes[0].old != newest.changes[0].new
    assert oldest.created and {c.label for c in oldest.changes} >= set(label.values())


def test_the_timeline_shows_the_newest_versions_only(world):
    record = world.shengli_participation
    for n in range(25):
        record.hours = Decimal(n % 10)
        record.save()
    entries = timeline(record, ["hours"], limit=5)
    assert len(entries) == 5
    assert not any(e.created for e in entries)
    assert all(e.changes for e in entries)
