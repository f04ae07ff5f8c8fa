"""The agency party office's roster (党员名册): who may open it, its scope whatever the URL or
the form says, the list's filters and queries, adding, editing, a member leaving and coming
back, and the member's page."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import Member

LIST = reverse("roster:list")
ADD = reverse("roster:member_add")


def page_of(member):
    return reverse("reports:roster_member", args=[member.pk])


def edit_of(member):
    return reverse("roster:member_edit", args=[member.pk])


def leave_of(member):
    return reverse("roster:member_leave", args=[member.pk])


def rejoin_of(member):
    return reverse("roster:member_rejoin", args=[member.pk])


def html(response):
    return response.content.decode()


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


def every_get(member):
    return [
        LIST,
        ADD,
        page_of(member),
        edit_of(member),
        leave_of(member),
        reverse("roster:import"),
        reverse("roster:import_template"),
        reverse("reports:roster_export"),
    ]


# --- Who may open it --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, world):
    for url in every_get(world.sanxia_member):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


@pytest.mark.parametrize(
    "persona",
    ["community_staff", "grid_worker", "street_officer", "city_admin", "member_user"],
)
def test_only_an_agency_office_keeps_a_roster(request, client, world, persona):
    client.force_login(request.getfixturevalue(persona))
    for url in every_get(world.sanxia_member):
        assert client.get(url).status_code == 403, (persona, url)
    assert client.post(rejoin_of(world.sanxia_member)).status_code == 403


def test_community_staff_keep_their_list_of_reported_in_members(client, community_staff):
    client.force_login(community_staff)
    assert client.get(reverse("members:member_list")).status_code == 200


def test_the_office_opens_every_page_of_its_own_members(office, world):
    for url in every_get(world.sanxia_member):
        assert office.get(url).status_code == 200, url


def test_the_navigation_offers_the_roster_to_the_office_only(office, client, community_staff):
    assert f'href="{LIST}"' in html(office.get(reverse("reports:dashboard")))
    other = Client()
    other.force_login(community_staff)
    assert f'href="{LIST}"' not in html(other.get(reverse("reports:dashboard")))


# --- Scope: another agency's member, whatever the URL or form says ----------------------------


def test_another_agencys_member_is_not_found_on_any_page(office, world):
    stranger = world.yuanlin_member
    for url in [page_of(stranger), edit_of(stranger), leave_of(stranger)]:
        assert office.get(url).status_code == 404, url


def test_posts_about_another_agencys_member_change_nothing(office, world):
    stranger = world.yuanlin_member
    before = Member.objects.values().get(pk=stranger.pk)
    versions = stranger.history.count()
    responses = [
        office.post(edit_of(stranger), {"name": "改名", "mobile": "13900000099"}),
        office.post(leave_of(stranger), {"left_on": timezone.localdate().isoformat()}),
        office.post(rejoin_of(stranger)),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert Member.objects.values().get(pk=stranger.pk) == before
    assert stranger.history.count() == versions


def test_adding_for_another_agency_is_not_found_and_adds_nothing(office, world):
    count = Member.objects.count()
    response = office.post(
        ADD, {"agency": world.yuanlin.pk, "name": "混入", "mobile": "13900000098"}
    )
    assert response.status_code == 404
    assert Member.objects.count() == count


def test_the_list_shows_only_the_offices_agency(office, world):
    page = html(office.get(LIST))
    assert world.sanxia_member.name in page
    assert world.sanxia_member_2.name in page
    assert world.yuanlin_member.name not in page


def test_the_list_masks_mobiles(office, world):
    page = html(office.get(LIST))
    assert "139****0001" in page
    assert "13900000001" not in page


# --- The list ---------------------------------------------------------------------------------


def names(response):
    import re

    return re.findall(r'data-testid="member-name">([^<]+)<', html(response))


def test_it_searches_by_name_or_the_end_of_the_mobile(office, world):
    assert names(office.get(LIST, {"q": "海燕"})) == ["王海燕"]
    assert names(office.get(LIST, {"q": "0001"})) == ["李建华"]
    assert names(office.get(LIST, {"q": "13900000002"})) == ["王海燕"]


def test_it_starts_on_active_members_and_can_show_those_who_left(office, world):
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    assert names(office.get(LIST)) == ["李建华"]
    assert names(office.get(LIST, {"status": "left"})) == ["王海燕"]
    assert sorted(names(office.get(LIST, {"status": ""}))) == sorted(["李建华", "王海燕"])


def test_it_filters_by_party_membership_and_report_in(office, world):
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(is_party_member=False)
    assert names(office.get(LIST, {"party": "false"})) == ["王海燕"]
    # 李建华 has an active liaison report-in; 王海燕's is pending.
    assert names(office.get(LIST, {"reported": "yes"})) == ["李建华"]
    assert names(office.get(LIST, {"reported": "no"})) == ["王海燕"]


def test_a_bad_filter_value_is_reported_not_a_500(office):
    response = office.get(LIST, {"status": "nonsense", "party": "x", "page": "abc"})
    assert response.status_code == 200


@pytest.mark.parametrize("extra", [5, 50])
def test_the_list_costs_the_same_queries_at_5_and_50_members(
    office, world, django_assert_num_queries, extra
):
    Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i:03}", mobile=f"137{i:08}") for i in range(extra)
    )
    office.get(LIST)  # the session and its user, read once
    # the session with its user, the second factor's device, roles with their grids and member
    # record, the agencies, count, page (joined for its rows), the navbar's unread count, the
    # view counted in the privacy log
    with django_assert_num_queries(8):
        assert office.get(LIST).status_code == 200


# --- Adding, editing, leaving -----------------------------------------------------------------


def test_the_office_adds_a_member_with_history(office, world, agency_office):
    response = office.post(
        ADD,
        {
            "name": " 赵敏 ",
            "mobile": "13600000001",
            "is_party_member": "on",
            "position": "科员",
            "residence_community": world.shenzhen.pk,
        },
    )
    member = Member.objects.get(mobile="13600000001")
    assert response.status_code == 302 and response.url == page_of(member)
    assert (member.agency, member.name, member.residence_community) == (
        world.sanxia,
        "赵敏",
        world.shenzhen,
    )
    version = member.history.get()
    assert version.history_type == "+" and version.history_user == agency_office


def test_a_mobile_already_on_the_roster_is_refused(office, world):
    count = Member.objects.count()
    response = office.post(ADD, {"name": "重复", "mobile": world.sanxia_member.mobile})
    assert response.status_code == 200
    assert "form" in response.context and "mobile" in response.context["form"].errors
    assert Member.objects.count() == count


def test_another_agency_may_have_the_same_mobile(office, world):
    # The model's rule: unique within an agency.
    office.post(ADD, {"name": "同号", "mobile": world.yuanlin_member.mobile})
    assert Member.objects.filter(mobile=world.yuanlin_member.mobile).count() == 2


def test_the_office_edits_a_member_and_the_history_names_the_change(office, world):
    member = world.sanxia_member
    response = office.post(
        edit_of(member), {"name": member.name, "mobile": "13600000002", "position": "副科长"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.mobile, member.position) == ("13600000002", "副科长")
    page = html(office.get(page_of(member)))
    assert "13600000002" in page


def test_a_member_leaves_with_the_date_and_comes_back(office, world):
    member = world.sanxia_member
    left_on = timezone.localdate() - dt.timedelta(days=3)
    response = office.post(leave_of(member), {"left_on": left_on.isoformat()})
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.status, member.left_on) == (Member.Status.LEFT, left_on)
    assert member.history.latest().history_change_reason == "left the agency"
    office.post(rejoin_of(member))
    member.refresh_from_db()
    assert (member.status, member.left_on) == (Member.Status.ACTIVE, None)


def test_leaving_needs_a_date_not_in_the_future(office, world):
    member = world.sanxia_member
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    for data in [{}, {"left_on": tomorrow.isoformat()}]:
        assert office.post(leave_of(member), data).status_code == 200
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_a_post_without_csrf_token_is_refused(agency_office, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_office)
    response = client.post(leave_of(world.sanxia_member), {"left_on": "2024-01-01"})
    assert response.status_code == 403


# --- The member's page ------------------------------------------------------------------------


def test_the_members_page_shows_report_ins_this_years_record_and_history(office, world):
    member = world.sanxia_member
    office.post(
        edit_of(member),
        {"name": member.name, "mobile": member.mobile, "is_party_member": "on", "position": "科长"},
    )
    response = office.get(page_of(member))
    page = html(response)
    assert world.shengli.name in page  # the report-in
    year = response.context["this_year"]
    # The world's one present participation this year: 2 hours.
    assert (year.participations, year.hours, year.absent, year.leaves) == (1, 2, 0, 0)
    history = response.context["history"]
    assert history[0].changes == [Member._meta.get_field("position").verbose_name]


def test_the_dashboards_inactive_members_open_their_page(office, world):
    # 王海燕 has no attendance: inactive.
    page = html(office.get(reverse("reports:dashboard")))
    assert f'href="{page_of(world.sanxia_member_2)}"' in page


def test_the_service_refuses_a_mobile_taken_meanwhile(world, agency_office):
    """The form checks the mobile; the service checks again under the roster's lock, for the
    add that came in between."""
    from django.core.exceptions import ValidationError

    from members.services import member_save

    late = Member(agency=world.sanxia, name="迟到", mobile=world.sanxia_member.mobile)
    with pytest.raises(ValidationError) as raised:
        member_save(member=late, by=agency_office)
    assert "mobile" in raised.value.message_dict
    assert late.pk is None


def test_an_office_of_two_agencies_adds_to_the_one_it_picks(client, world, django_user_model):
    from communities.models import StaffRole

    both = django_user_model.objects.create_user("both_offices")
    for agency in (world.sanxia, world.yuanlin):
        StaffRole.objects.create(user=both, kind=StaffRole.Kind.AGENCY_OFFICE, agency=agency)
    client.force_login(both)
    page = html(client.get(LIST))
    assert f"{ADD}?agency={world.yuanlin.pk}" in page
    assert world.yuanlin_member.name in page and world.sanxia_member.name in page
    response = client.post(
        f"{ADD}?agency={world.yuanlin.pk}",
        {"agency": world.yuanlin.pk, "name": "两边", "mobile": "13600000007"},
    )
    assert response.status_code == 302
    assert Member.objects.get(mobile="13600000007").agency == world.yuanlin


@pytest.mark.parametrize("versions", [1, 30])
def test_the_members_page_costs_the_same_queries_however_long_its_history(
    office, world, agency_office, django_assert_num_queries, versions
):
    from members.services import member_save

    member = world.sanxia_member
    for i in range(versions):
        member.position = f"职务{i}"
        member_save(member=member, by=agency_office)
    office.get(page_of(member))
    # the session with its user, the second factor's device, roles with their grids and member
    # record, the member, this year's figures, report-ins, history, the activation link, the
    # navbar's unread count, the view counted in the privacy log
    with django_assert_num_queries(10):
        assert office.get(page_of(member)).status_code == 200
