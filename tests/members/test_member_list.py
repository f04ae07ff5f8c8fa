"""The community's list of reported-in members: filters, a grid worker's own grids first, and
placing members in grids."""

import re

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.models import Member, Registration

LIST = reverse("members:member_list")


def grid_url(registration):
    return reverse("members:member_grid", args=[registration.pk])


def html(response):
    return response.content.decode()


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def names(response):
    """The member names listed, in order."""
    return re.findall(r'data-testid="member-name">([^<]+)<', html(response))


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def li(world):
    """李建华: reported in to 胜利一路社区, in 紫林苑网格 (from the world fixture)."""
    return Registration.objects.get(member=world.sanxia_member, community=world.shengli)


@pytest.fixture
def more_members(world):
    """Two more reported-in members of 胜利一路社区: one in 万寿小区网格, one in no grid."""

    def active(agency, name, mobile, **extra):
        member = Member.objects.create(agency=agency, name=name, mobile=mobile)
        return Registration.objects.create(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
            **extra,
        )

    return {
        "zhou": active(
            world.sanxia,
            "周强",
            "13700000011",
            grid=world.wanshou,
            kind=Registration.Kind.RESIDENCE,
        ),
        "sun": active(world.yuanlin, "孙丽", "13700000012"),
    }


# --- Who may open it --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, li, world):
    for response in [client.get(LIST), client.post(grid_url(li), {"grid": world.wanshou.pk})]:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    li.refresh_from_db()
    assert li.grid == world.zilinyuan


@pytest.mark.parametrize("persona", ["agency_office", "member_user", "street_officer"])
def test_people_who_see_the_member_but_do_not_place_them_get_403(
    client, request, li, world, persona
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(LIST).status_code == 403
    assert client.post(grid_url(li), {"grid": world.wanshou.pk}).status_code == 403
    li.refresh_from_db()
    assert li.grid == world.zilinyuan


@pytest.mark.parametrize("persona", ["other_community_staff", "other_agency_office"])
def test_another_communitys_member_is_404(client, request, li, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(grid_url(li), {"grid": world.wanshou.pk}).status_code == 404
    li.refresh_from_db()
    assert li.grid == world.zilinyuan


def test_another_community_in_the_address_is_404(client, community_staff, world):
    client.force_login(community_staff)
    assert client.get(LIST, {"community": world.shenzhen.pk}).status_code == 404
    assert client.get(LIST, {"community": "x"}).status_code == 404


def test_placing_without_csrf_token_is_forbidden(li, world, community_staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(community_staff)
    assert client.post(grid_url(li), {"grid": world.wanshou.pk}).status_code == 403
    li.refresh_from_db()
    assert li.grid == world.zilinyuan


# --- What it shows ----------------------------------------------------------------------------


def test_it_lists_the_reported_in_members_with_agency_kind_grid_and_masked_mobile(
    client, community_staff, li, more_members
):
    client.force_login(community_staff)
    response = client.get(LIST)
    assert response.status_code == 200
    page = html(response)
    assert set(names(response)) == {"李建华", "周强", "孙丽"}
    for shown in ["紫林苑网格", "万寿小区网格", "三峡旅游新区", "园林局", "139****0001"]:
        assert shown in page, shown
    assert 'href="tel:13900000001"' in page
    assert ">13900000001<" not in page
    # 王海燕 is still pending; 陈思远 reported in to another community.
    assert "王海燕" not in page and "陈思远" not in page
    assert 'data-testid="member-count"' in page


def test_a_city_administrator_sees_the_list_without_call_links(client, city_admin, li, world):
    client.force_login(city_admin)
    page = html(client.get(LIST, {"community": world.shengli.pk}))
    assert "李建华" in page
    assert "tel:" not in page


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"agency": "yuanlin"}, {"孙丽"}),
        ({"grid": "wanshou"}, {"周强"}),
        ({"grid": "none"}, {"孙丽"}),
        ({"kind": "residence"}, {"周强"}),
        ({"q": "李"}, {"李建华"}),
        ({"q": "李", "kind": "residence"}, set()),
        ({"grid": ""}, {"李建华", "周强", "孙丽"}),
    ],
)
def test_the_filters_narrow_the_list(
    client, community_staff, li, more_members, world, filters, expected
):
    ids = {"yuanlin": world.yuanlin.pk, "wanshou": world.wanshou.pk}
    query = {key: ids.get(value, value) for key, value in filters.items()}
    client.force_login(community_staff)
    response = client.get(LIST, query)
    assert response.status_code == 200
    assert set(names(response)) == expected


@pytest.mark.parametrize("bad", [{"agency": "abc"}, {"grid": "999999"}, {"kind": "x"}])
def test_a_bad_filter_is_reported_and_the_others_still_apply(
    english, community_staff, li, more_members, bad
):
    english.force_login(community_staff)
    response = english.get(LIST, {"q": "周", **bad})
    assert response.status_code == 200
    assert "That is not one of the choices" in html(response)
    assert names(response) == ["周强"]


def test_a_grid_worker_starts_with_their_grids_and_can_see_all(
    client, grid_worker, li, more_members
):
    client.force_login(grid_worker)
    response = client.get(LIST)
    assert names(response) == ["李建华"]  # 紫林苑网格 is theirs
    page = html(response)
    assert 'data-testid="own-grids"' in page
    assert 'href="?grid=&amp;' in page or 'href="?grid="' in page
    everyone = client.get(LIST, {"grid": ""})
    assert set(names(everyone)) == {"李建华", "周强", "孙丽"}
    assert 'data-testid="own-grids"' not in html(everyone)


def test_community_staff_start_with_the_whole_community(client, community_staff, li, more_members):
    client.force_login(community_staff)
    response = client.get(LIST)
    assert len(names(response)) == 3
    assert 'data-testid="own-grids"' not in html(response)


def test_the_list_is_paginated(client, community_staff, world):
    add_active(world, 25)
    client.force_login(community_staff)
    first = client.get(LIST)
    assert len(names(first)) == 20
    second = client.get(LIST, {"page": 2})
    assert len(names(second)) == 6  # 25 and 李建华
    assert set(names(first)).isdisjoint(names(second))


def add_active(world, count):
    start = Member.objects.count()
    members = Member.objects.bulk_create(
        Member(
            agency=world.sanxia if i % 2 else world.yuanlin,
            name=f"成员{start + i:03d}",
            mobile=f"1380000{start + i:04d}",
        )
        for i in range(count)
    )
    Registration.objects.bulk_create(
        Registration(
            member=m,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
            grid=world.wanshou if i % 3 else None,
        )
        for i, m in enumerate(members)
    )


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_the_list_costs_the_same_queries_for_5_and_50_members(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST, {"grid": ""}).status_code == 200
        return len(captured)

    add_active(world, 4)  # and 李建华
    at_5 = queries()
    add_active(world, 45)
    assert queries() == at_5
    assert at_5 <= 11


# --- Placing members in grids -----------------------------------------------------------------


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_staff_move_a_member_to_another_grid(english, request, li, world, persona):
    user = request.getfixturevalue(persona)
    english.force_login(user)
    back = f"{LIST}?grid=&page=1"
    response = english.post(grid_url(li), {"grid": world.wanshou.pk, "next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    assert messages_of(response) == ["李建华 is now in 万寿小区网格."]
    li.refresh_from_db()
    assert li.grid == world.wanshou
    latest = li.history.latest()
    assert (latest.grid_id, latest.history_user) == (world.wanshou.pk, user)


def test_an_empty_choice_takes_the_member_out_of_any_grid(english, community_staff, li):
    english.force_login(community_staff)
    response = english.post(grid_url(li), {"grid": ""})
    assert messages_of(response) == ["李建华 is in no grid now."]
    li.refresh_from_db()
    assert li.grid is None


@pytest.mark.parametrize("grid", ["abc", "999999", "hanlinyuan"])
def test_an_unknown_grid_is_a_clear_message(english, community_staff, li, world, grid):
    if grid == "hanlinyuan":
        grid = world.hanlinyuan.pk
    english.force_login(community_staff)
    response = english.post(grid_url(li), {"grid": grid})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?community={world.shengli.pk}"
    assert messages_of(response) == ["Choose one of this community's grids."]
    li.refresh_from_db()
    assert li.grid == world.zilinyuan


def test_a_pending_report_in_is_placed_when_it_is_approved_not_here(
    english, community_staff, world
):
    wang = Registration.objects.get(member=world.sanxia_member_2, community=world.shengli)
    english.force_login(community_staff)
    response = english.post(grid_url(wang), {"grid": world.wanshou.pk})
    assert response.status_code == 302
    assert messages_of(response) == [
        "Only a member who has reported in can be placed in a grid; this report-in is "
        "“Pending review”."
    ]
    wang.refresh_from_db()
    assert wang.grid is None


def test_saving_the_same_grid_adds_no_history(client, community_staff, li, world):
    client.force_login(community_staff)
    before = li.history.count()
    client.post(grid_url(li), {"grid": world.zilinyuan.pk})
    assert li.history.count() == before


def test_each_row_has_a_grid_form_that_works_without_javascript(client, community_staff, li, world):
    client.force_login(community_staff)
    page = html(client.get(LIST))
    form = page[page.index(f'action="{grid_url(li)}"') :]
    form = form[: form.index("</form>")]
    assert 'name="csrfmiddlewaretoken"' in form
    assert 'name="next"' in form
    assert f'<option value="{world.zilinyuan.pk}" selected>' in form
    assert 'type="submit"' in form
