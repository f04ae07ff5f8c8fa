"""A member reporting in (报到, 双报到) and the community's report-in poster (issue 10, point 2)."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
import segno
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communities.models import Agreement, Community, Street
from members.models import Member, Registration

REPORT_IN = "/members/report-in/"


def community_url(community):
    return f"/members/report-in/{community.pk}/"


def report_in(client, community, kind):
    return client.post(community_url(community), {"kind": kind})


@pytest.fixture
def member_client(client, member_user):
    client.force_login(member_user)
    return client


@pytest.fixture
def shenzhen_agreement(world):
    """An agreement of 三峡 with 深圳路社区 in force: 深圳路 is offered as a liaison community."""
    today = timezone.localdate()
    return Agreement.objects.create(
        agency=world.sanxia,
        community=world.shenzhen,
        number="GJ-TEST-002",
        starts_on=today - dt.timedelta(days=10),
        ends_on=today + dt.timedelta(days=300),
        status=Agreement.Status.ACTIVE,
        signed_on=today - dt.timedelta(days=10),
    )


def live(member, **filters):
    return Registration.objects.filter(
        member=member, status__in=Registration.LIVE_STATUSES, **filters
    )


def test_the_page_offers_the_agencys_liaison_communities_not_reported_in_yet(
    member_client, world, shenzhen_agreement
):
    page = member_client.get(REPORT_IN).content.decode()
    offered = page.split('data-testid="liaison"')[1].split('data-testid="residence"')[0]
    # 胜利一路 is reported in already; 深圳路 has an agreement in force now.
    assert "深圳路社区" in offered and "胜利一路社区" not in offered
    assert 'data-testid="my-report-in"' in page and "已报到" in page


def test_a_member_reports_in_to_a_liaison_community_and_waits_for_review(
    member_client, world, member_user, shenzhen_agreement
):
    response = report_in(member_client, world.shenzhen, "liaison")
    assert response.status_code == 302 and response.url == REPORT_IN
    registration = live(world.sanxia_member, community=world.shenzhen).get()
    assert registration.kind == Registration.Kind.LIAISON
    assert registration.status == Registration.Status.PENDING
    assert registration.applied_on == timezone.localdate()
    assert registration.history.first().history_user == member_user
    page = member_client.get(REPORT_IN).content.decode()
    assert "已向深圳路社区报到" in page
    assert "待审核" in page
    # The community's review desk has it.
    review = Registration.objects.filter(community=world.shenzhen, status="pending")
    assert registration in review


def test_no_liaison_report_in_without_an_agreement_in_force(
    member_client, world, shenzhen_agreement
):
    shenzhen_agreement.ends_on = timezone.localdate() - dt.timedelta(days=1)
    shenzhen_agreement.save()
    response = report_in(member_client, world.shenzhen, "liaison")
    assert response.status_code == 302
    page = member_client.get(response.url).content.decode()
    assert "没有生效的共建协议" in page
    assert not live(world.sanxia_member, community=world.shenzhen).exists()


def test_reporting_in_twice_is_refused_plainly(member_client, world):
    before = Registration.objects.count()
    report_in(member_client, world.shengli, "liaison")
    page = member_client.get(community_url(world.shengli)).content.decode()
    assert "您已向胜利一路社区报到" in page
    assert Registration.objects.count() == before


def test_a_member_finds_where_they_live_by_street_and_reports_in_once(member_client, world):
    page = member_client.get(REPORT_IN, {"street": world.dongyuan.pk}).content.decode()
    results = page.split('data-testid="search-results"')[1]
    assert "深圳路社区" in results and "胜利一路社区" not in results
    assert "胜利一路社区" in member_client.get(REPORT_IN, {"q": "胜利"}).content.decode()
    report_in(member_client, world.shenzhen, "residence")
    home = live(world.sanxia_member, kind=Registration.Kind.RESIDENCE).get()
    assert home.community == world.shenzhen and home.status == Registration.Status.PENDING
    # One residence at a time: a second is refused with the first named.
    report_in(member_client, world.shengli, "residence")
    page = member_client.get(REPORT_IN).content.decode()
    assert "您已作为深圳路社区的居民报到" in page
    assert live(world.sanxia_member, kind=Registration.Kind.RESIDENCE).count() == 1
    # The search gives way to the home community.
    assert 'data-testid="home"' in page and 'data-testid="community-search"' not in page


@pytest.mark.parametrize(
    "params",
    [
        {"street": "abc"},
        {"street": "999999"},
        {"street": "1 OR 1=1"},
        {"q": "x" * 500},
        {"q": "<script>alert(1)</script>"},
        {"q": "%"},
        {"street": "", "q": "\x00"},
    ],
)
def test_hostile_search_parameters_get_an_answer_not_an_error(member_client, world, params):
    response = member_client.get(REPORT_IN, params)
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.content.decode()


@pytest.mark.parametrize("kind", ["", "bogus", "active", "LIAISON"])
def test_an_unknown_kind_records_nothing(member_client, world, kind):
    before = Registration.objects.count()
    response = report_in(member_client, world.shenzhen, kind)
    assert response.status_code == 302
    assert "请选择报到方式" in member_client.get(response.url).content.decode()
    assert Registration.objects.count() == before


def test_an_unknown_community_is_a_404(member_client, world):
    assert member_client.get("/members/report-in/999999/").status_code == 404
    assert member_client.post("/members/report-in/999999/", {"kind": "residence"}).status_code == (
        404
    )


def test_a_member_who_left_cannot_report_in(member_client, world):
    Member.objects.filter(pk=world.sanxia_member.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    report_in(member_client, world.shenzhen, "residence")
    assert "无法报到" in member_client.get(REPORT_IN).content.decode()
    assert not live(world.sanxia_member, community=world.shenzhen).exists()


def test_a_member_withdraws_a_pending_report_in_but_nobody_elses(
    member_client, world, other_member_user
):
    report_in(member_client, world.shenzhen, "residence")
    mine = live(world.sanxia_member, community=world.shenzhen).get()
    others = world.sanxia_member_2.registrations.get()  # pending, another member's
    assert member_client.post(f"/members/report-in/withdraw/{others.pk}/").status_code == 404
    others.refresh_from_db()
    assert others.status == Registration.Status.PENDING
    assert member_client.get(f"/members/report-in/withdraw/{mine.pk}/").status_code == 405
    member_client.post(f"/members/report-in/withdraw/{mine.pk}/")
    mine.refresh_from_db()
    assert mine.status == Registration.Status.REVOKED
    assert mine.ended_on == timezone.localdate()
    # An approved one is the community's to end: refused, unchanged.
    active = live(world.sanxia_member, status="active").get()
    member_client.post(f"/members/report-in/withdraw/{active.pk}/")
    active.refresh_from_db()
    assert active.status == Registration.Status.ACTIVE
    # Withdrawn, the member may report in there again.
    report_in(member_client, world.shenzhen, "residence")
    assert live(world.sanxia_member, community=world.shenzhen).count() == 1


def test_the_pages_are_for_members(client, community_staff, agency_office, world):
    for user in (community_staff, agency_office):
        client.force_login(user)
        assert client.get(REPORT_IN).status_code == 403
        assert report_in(client, world.shengli, "residence").status_code == 403
    assert not Registration.objects.filter(member__user__in=[community_staff, agency_office])


def test_the_posters_link_signed_out_goes_through_sign_in_to_that_community(
    client, world, member_user
):
    url = community_url(world.shenzhen)
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"/login/?next={url}"
    response = client.post(
        "/login/", {"username": "13900000001", "password": "pw-sanxia_member", "next": url}
    )
    assert response.url == url
    page = client.get(url).content.decode()
    assert 'data-testid="community"' in page and "深圳路社区" in page
    # No agreement with 深圳路: only as a resident.
    assert 'data-testid="report-in-residence"' in page
    assert 'data-testid="report-in-liaison"' not in page
    client.post(url, {"kind": "residence"})
    assert live(world.sanxia_member, community=world.shenzhen).exists()


# The poster.


def test_staff_print_their_communitys_poster_with_its_qr_code(client, community_staff, world):
    client.force_login(community_staff)
    response = client.get("/members/report-ins/poster/")
    assert response.status_code == 200
    page = response.content.decode()
    link = f"http://testserver-site/members/report-in/{world.shengli.pk}/"
    assert "胜利一路社区" in page and "扫码报到" in page
    assert f'data-testid="poster-url">{link}<' in page
    expected = segno.make(link, error="q").svg_inline(scale=10, border=2, omitsize=True)
    assert expected in page


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver-site"


def test_the_qr_code_downloads_as_an_svg_file(client, community_staff, world):
    client.force_login(community_staff)
    response = client.get("/members/report-ins/poster.svg")
    assert response["Content-Type"] == "image/svg+xml"
    assert "attachment" in response["Content-Disposition"]
    root = ET.fromstring(response.content)
    assert root.tag.endswith("svg")
    assert root.find("{http://www.w3.org/2000/svg}title").text == "胜利一路社区"


def test_another_communitys_poster_is_a_404_and_members_get_a_403(
    client, community_staff, member_user, world
):
    client.force_login(community_staff)
    for url in ("/members/report-ins/poster/", "/members/report-ins/poster.svg"):
        assert client.get(url, {"community": world.shenzhen.pk}).status_code == 404
        assert client.get(url, {"community": "abc"}).status_code == 404
    client.force_login(member_user)
    assert client.get("/members/report-ins/poster/").status_code == 403


def test_the_page_costs_the_same_queries_with_many_communities(member_client, world):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get(REPORT_IN, {"q": "社区"}).status_code == 200
        return [q["sql"][:150] for q in captured]

    few = queries()
    street = Street.objects.create(name="西陵街道")
    for n in range(40):
        community = Community.objects.create(street=street, name=f"测试{n}社区")
        Agreement.objects.create(
            agency=world.sanxia,
            community=community,
            number=f"GJ-Q-{n}",
            starts_on=timezone.localdate(),
            ends_on=timezone.localdate() + dt.timedelta(days=30),
            status=Agreement.Status.ACTIVE,
            signed_on=timezone.localdate(),
        )
    many = queries()
    assert len(many) == len(few), "\n".join(many)
