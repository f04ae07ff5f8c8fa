"""Attendance review (考勤审核), the pages: the agency office's list, bulk confirm and record page;
the community's disputes, answer and backfill pages. Per role and scope: another agency's or
community's ids in the URL or the POST change nothing."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.models import Activity, Dispute, Participation
from activities.services.review import (
    participation_confirm,
    participation_dispute,
    reviewable_by,
)
from communities.models import StaffRole
from members.models import Member

Review = Participation.Review
Status = Participation.Status


def _many(world, n):
    activities = Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            type=world.patrol,
            title=f"巡逻{i}",
            starts_at=world.shengli_activity.starts_at - dt.timedelta(days=i + 1),
            ends_at=world.shengli_activity.ends_at - dt.timedelta(days=i + 1),
        )
        for i in range(n)
    )
    rows = Participation.objects.bulk_create(
        Participation(
            activity=a,
            member=world.sanxia_member_2,
            status=Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
            review=Review.DISPUTED if i % 3 == 0 else Review.UNREVIEWED,
        )
        for i, a in enumerate(activities)
    )
    Dispute.objects.bulk_create(
        Dispute(participation=p, reason="请核实") for p in rows if p.review == Review.DISPUTED
    )
    return rows


# --- Who may open them ------------------------------------------------------------------


OFFICE_PAGES = ["/review/", "/review/{pk}/"]
COMMUNITY_PAGES = [
    "/activities/disputes/",
    "/activities/records/{pk}/answer/",
    "/activities/records/{pk}/backfill/",
]


@pytest.mark.parametrize("url", OFFICE_PAGES + COMMUNITY_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, world, url):
    response = client.get(url.format(pk=world.shengli_participation.pk))
    assert response.status_code == 302 and "/login/" in response.url


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "street_officer"])
@pytest.mark.parametrize("url", OFFICE_PAGES)
def test_only_an_agency_office_opens_the_review(client, request, world, persona, url):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url.format(pk=world.shengli_participation.pk)).status_code == 403


@pytest.mark.parametrize("persona", ["agency_office", "member_user", "street_officer"])
@pytest.mark.parametrize("url", COMMUNITY_PAGES)
def test_only_community_staff_open_the_disputes(client, request, world, persona, url):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url.format(pk=world.shengli_participation.pk)).status_code == 403


def test_another_agencys_record_is_not_found(client, world, other_agency_office):
    client.force_login(other_agency_office)
    pk = world.shengli_participation.pk
    assert client.get(f"/review/{pk}/").status_code == 404
    response = client.post(f"/review/{pk}/", {"reason": "不对"})
    assert response.status_code == 404
    world.shengli_participation.refresh_from_db()
    assert world.shengli_participation.review == Review.UNREVIEWED


@pytest.mark.parametrize("url", COMMUNITY_PAGES[1:])
def test_another_communitys_record_is_not_found(client, world, other_community_staff, url):
    client.force_login(other_community_staff)
    assert client.get(url.format(pk=world.shengli_participation.pk)).status_code == 404


def test_confirming_without_csrf_token_is_forbidden(world, agency_office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_office)
    response = client.post("/review/confirm/", {"ids": [world.shengli_participation.pk]})
    assert response.status_code == 403
    world.shengli_participation.refresh_from_db()
    assert world.shengli_participation.review == Review.UNREVIEWED


# --- The office's list -------------------------------------------------------------------


def test_the_office_sees_its_members_records_and_not_another_agencys(
    client, world, agency_office, yuanlin_record
):
    client.force_login(agency_office)
    response = client.get("/review/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-pk="{world.shengli_participation.pk}"' in html
    assert f'data-pk="{yuanlin_record.pk}"' not in html
    assert "陈思远" not in html


def test_the_list_filters_by_review_state_status_community_type_and_period(
    client, world, agency_office
):
    rows = _many(world, 6)
    elsewhere = Participation.objects.create(
        activity=world.shenzhen_activity,
        member=world.sanxia_member_2,
        status=Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
    client.force_login(agency_office)
    everyone = [world.shengli_participation, *rows, elsewhere]

    def shown(query):
        html = client.get("/review/" + query).content.decode()
        return {p.pk for p in everyone if f'data-pk="{p.pk}"' in html}

    disputed = {p.pk for p in rows if p.review == Review.DISPUTED}
    assert shown("?review=disputed") == disputed
    assert shown("?status=absent") == {elsewhere.pk}
    assert shown(f"?community={world.shengli.pk}") == {p.pk for p in everyone} - {elsewhere.pk}
    assert shown(f"?type={world.cleanup.pk}") == {elsewhere.pk}
    day = timezone.localdate(world.shengli_activity.starts_at - dt.timedelta(days=2)).isoformat()
    assert shown(f"?date_from={day}&date_to={day}") == {rows[1].pk}
    # A bad value is reported, not a 500.
    assert client.get("/review/?date_from=nonsense&review=bogus").status_code == 200


def test_the_community_filter_offers_the_agreements_and_the_members_report_in_communities(
    client, world, agency_office, other_agency_office
):
    """Sanxia's office: Shengli (its agreement, its members' report-ins) and Jianshe, where one
    of its members' report-in was returned; not Shenzhen (only a yuanlin member's report-in)
    nor Dongshan (nobody's). Yuanlin's office, without an agreement: Shenzhen alone."""
    from communities.models import Community
    from members.models import Registration

    jianshe = Community.objects.create(street=world.wanshouqiao, name="建设社区")
    Community.objects.create(street=world.dongyuan, name="东山花园社区")
    Registration.objects.create(
        member=world.sanxia_member_2,
        community=jianshe,
        status=Registration.Status.RETURNED,
        return_reason="不在本社区",
        applied_on=timezone.localdate(),
    )

    def offered(user):
        client.force_login(user)
        form = client.get("/review/").context["form"]
        return set(form.fields["community"].queryset.values_list("name", flat=True))

    assert offered(agency_office) == {"胜利一路社区", "建设社区"}
    assert offered(other_agency_office) == {"深圳路社区"}


def test_the_filters_options_are_written_by_name_with_the_chosen_one_selected(
    client, world, agency_office
):
    client.force_login(agency_office)
    html = client.get(
        f"/review/?community={world.shengli.pk}&type={world.patrol.pk}"
    ).content.decode()
    assert f'<option value="{world.shengli.pk}" selected>胜利一路社区</option>' in html
    assert f'<option value="{world.patrol.pk}" selected>{world.patrol.name}</option>' in html
    assert f'<option value="{world.cleanup.pk}">{world.cleanup.name}</option>' in html
    assert "深圳路社区" not in html
    # Another office's community is not a choice: reported, and the list is not narrowed by it.
    response = client.get(f"/review/?community={world.shenzhen.pk}")
    assert "community" in response.context["form"].errors
    assert f'data-pk="{world.shengli_participation.pk}"' in response.content.decode()


@pytest.mark.parametrize("n", [5, 50])
def test_the_list_costs_the_same_queries_with_5_or_50_records(
    client, world, agency_office, django_assert_num_queries, n
):
    _many(world, n)
    client.force_login(agency_office)
    client.get("/review/")  # per-process caches (content types…)
    # (one of them the view counted in the privacy log, one the office's second factor's device;
    # the session and its login are one statement)
    with django_assert_num_queries(9):
        response = client.get("/review/?page=2")
    assert response.status_code == 200


def test_the_whole_list_is_counted_from_the_figures_kept_per_agency_and_activity(
    client, world, agency_office, yuanlin_record
):
    _many(world, 7)
    Participation.objects.create(
        activity=world.shenzhen_activity,
        member=world.sanxia_member_2,
        source=Participation.Source.SIGN_UP,
    )  # signed up: not a record to review yet
    client.force_login(agency_office)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/review/")

    assert response.context["page"].paginator.count == reviewable_by(agency_office).count() == 8
    assert 'data-testid="review-count"' in response.content.decode()
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert not [sql for sql in counts if '"activities_participation"' in sql]
    # Narrowed, the list counts its own rows.
    response = client.get("/review/?review=disputed")
    assert response.context["page"].paginator.count == 3
    response = client.get(f"/review/?member={world.sanxia_member.pk}")
    assert response.context["page"].paginator.count == 1


def test_bulk_confirm_ignores_another_agencys_ids(client, world, agency_office, yuanlin_record):
    client.force_login(agency_office)
    mine = world.shengli_participation
    response = client.post(
        "/review/confirm/", {"ids": [mine.pk, yuanlin_record.pk, "x", "-1"], "next": "/review/"}
    )
    assert response.status_code == 302 and response.url == "/review/"
    mine.refresh_from_db()
    yuanlin_record.refresh_from_db()
    assert mine.review == Review.CONFIRMED
    assert yuanlin_record.review == Review.UNREVIEWED
    assert yuanlin_record.history.count() == 1


def test_confirm_all_on_the_page(client, world, agency_office):
    rows = _many(world, 3)
    client.force_login(agency_office)
    html = client.get("/review/").content.decode()
    assert 'data-testid="confirm-page"' in html
    ids = [p.pk for p in [world.shengli_participation, *rows]]
    client.post("/review/confirm/", {"all": "1", "page_ids": ids})
    assert Participation.objects.filter(pk__in=ids, review=Review.CONFIRMED).count() == 4


def test_the_office_disputes_on_the_record_page_and_reads_the_answer(
    client, world, agency_office, community_staff
):
    pk = world.shengli_participation.pk
    client.force_login(agency_office)
    response = client.post(f"/review/{pk}/", {"reason": "本人当天出差"})
    assert response.status_code == 302
    client.force_login(community_staff)
    html = client.get("/activities/disputes/").content.decode()
    assert f'data-pk="{pk}"' in html and "本人当天出差" in html
    response = client.post(
        f"/activities/records/{pk}/answer/",
        {"answer": "经核实已改为缺席", "status": Status.ABSENT, "hours": "", "leave_reason": ""},
    )
    assert response.status_code == 302
    client.force_login(agency_office)
    html = client.get(f"/review/{pk}/").content.decode()
    assert "经核实已改为缺席" in html
    assert 'data-testid="record-history"' in html
    client.post("/review/confirm/", {"ids": [pk]})
    record = Participation.objects.get(pk=pk)
    assert record.status == Status.ABSENT and record.review == Review.CONFIRMED


def test_a_dispute_without_reason_is_shown_again_with_the_error(client, world, agency_office):
    client.force_login(agency_office)
    response = client.post(f"/review/{world.shengli_participation.pk}/", {"reason": ""})
    assert response.status_code == 400


# --- The community's side ---------------------------------------------------------------


def test_the_community_sees_only_its_own_disputes(
    client, world, agency_office, other_agency_office, other_community_staff
):
    participation_dispute(
        by=agency_office, participation=world.shengli_participation, reason="请核实"
    )
    client.force_login(other_community_staff)
    html = client.get("/activities/disputes/").content.decode()
    assert f'data-pk="{world.shengli_participation.pk}"' not in html
    assert 'data-testid="no-disputes"' in html


@pytest.mark.parametrize("n", [5, 50])
def test_the_dispute_list_costs_the_same_queries_with_5_or_50(
    client, world, community_staff, django_assert_num_queries, n
):
    _many(world, n)
    client.force_login(community_staff)
    client.get("/activities/disputes/")
    with django_assert_num_queries(6):  # the session with its login in one statement
        assert client.get("/activities/disputes/").status_code == 200


def test_the_roll_call_links_a_confirmed_record_to_its_backfill(
    client, world, agency_office, community_staff
):
    participation_confirm(by=agency_office, ids=[world.shengli_participation.pk])
    client.force_login(community_staff)
    html = client.get(f"/activities/{world.shengli_activity.pk}/roll-call/").content.decode()
    assert f"/activities/records/{world.shengli_participation.pk}/backfill/" in html


def test_a_backfill_through_the_page(client, world, agency_office, community_staff):
    pk = world.shengli_participation.pk
    participation_confirm(by=agency_office, ids=[pk])
    client.force_login(community_staff)
    url = f"/activities/records/{pk}/backfill/"
    form = {"status": Status.PRESENT, "hours": "1", "leave_reason": "", "reason": ""}
    assert client.post(url, form).status_code == 400  # no reason
    form["reason"] = "据签到表补录"
    assert client.post(url, form).status_code == 302
    record = Participation.objects.get(pk=pk)
    assert record.source == Participation.Source.BACKFILL
    assert record.backfill_reason == "据签到表补录"
    assert record.recorded_by == community_staff


def test_the_menu_offers_the_review_and_the_disputes(client, world, agency_office, community_staff):
    client.force_login(agency_office)
    assert 'href="/review/"' in client.get("/").content.decode()
    client.force_login(community_staff)
    assert 'href="/activities/disputes/"' in client.get("/").content.decode()


def test_the_office_dashboard_counts_overdue_records(client, world, agency_office, settings):
    Participation.objects.filter(pk=world.shengli_participation.pk).update(
        recorded_at=world.shengli_activity.ends_at - dt.timedelta(days=20)
    )
    client.force_login(agency_office)
    html = client.get("/").content.decode()
    assert 'data-figure="review_overdue">1<' in html


def test_the_office_dashboard_counts_the_overdue_records_of_its_agencies_members(
    client, world, agency_office, yuanlin_record
):
    # Its members' records recorded before the cutoff and still unreviewed, also of a member
    # who has left since; not another agency's, not a confirmed one, not one recorded since.
    long_ago = timezone.now() - dt.timedelta(days=20)
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    for member, review, recorded_at in [
        (world.sanxia_member_2, Participation.Review.UNREVIEWED, long_ago),
        (world.sanxia_member, Participation.Review.CONFIRMED, long_ago),
        (world.sanxia_member, Participation.Review.UNREVIEWED, timezone.now()),
    ]:
        Participation.objects.create(
            activity=Activity.objects.create(
                community=world.shengli,
                type=world.cleanup,
                title="楼道清理",
                starts_at=recorded_at - dt.timedelta(hours=3),
                ends_at=recorded_at - dt.timedelta(hours=1),
            ),
            member=member,
            status=Participation.Status.ABSENT,
            source=Participation.Source.ROLL_CALL,
            review=review,
            recorded_at=recorded_at,
        )
    Participation.objects.filter(pk__in=[world.shengli_participation.pk, yuanlin_record.pk]).update(
        recorded_at=long_ago
    )
    client.force_login(agency_office)
    assert 'data-figure="review_overdue">2<' in client.get("/").content.decode()
    # An office of both agencies counts both's.
    StaffRole.objects.create(
        user=agency_office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin
    )
    assert 'data-figure="review_overdue">3<' in client.get("/").content.decode()


@pytest.mark.parametrize("disputed", [False, True])
def test_a_page_of_records_costs_the_same_queries_with_disputes_or_none(
    client, world, agency_office, community_staff, django_assert_num_queries, disputed
):
    # A prefetch of the disputes is skipped when no row has any: the bench found the
    # community's list one query dearer in the city (with disputes) than in the demo (none).
    rows = _many(world, 6)
    if not disputed:
        Dispute.objects.all().delete()
        Participation.objects.filter(pk__in=[p.pk for p in rows]).update(review=Review.CONFIRMED)
    client.force_login(agency_office)
    client.get("/review/")
    # the view counted in the privacy log, and the office's second factor's device (the session
    # and its login: one statement)
    with django_assert_num_queries(9):
        assert client.get("/review/").status_code == 200
    client.force_login(community_staff)
    client.get("/activities/disputes/?page=1")
    with django_assert_num_queries(6):
        response = client.get("/activities/disputes/?page=1")
    assert response.status_code == 200
    assert ("请核实" in response.content.decode()) is disputed
