"""The admin lists of members and report-ins at city size: agencies and communities are found
by search, never listed in the filters, and rows cost no extra queries."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from communities.models import Agency, Community
from members.models import Member, Registration


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def add_members(world, count, start):
    for i in range(start, start + count):
        agency = Agency.objects.create(name=f"第{i}单位", short_name=f"单位{i}")
        community = Community.objects.create(street=world.wanshouqiao, name=f"第{i}社区")
        member = Member.objects.create(agency=agency, name=f"成员{i}", mobile=f"1390000{i:04d}")
        Registration.objects.create(
            member=member,
            community=community,
            kind=Registration.Kind.RESIDENCE,
            status=Registration.Status.ACTIVE,
            applied_on=dt.date(2026, 3, 1),
        )


def changelist(model):
    return reverse(f"admin:members_{model._meta.model_name}_changelist")


def shown(client, url, **params):
    client.get(url, params)  # the session and content types, out of the count
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return len(queries), response


@pytest.mark.parametrize("model", [Member, Registration])
def test_the_changelist_costs_the_same_queries_for_n_and_3n_rows(staff_client, world, model):
    add_members(world, 8, 100)
    small, response = shown(staff_client, changelist(model))
    rows = len(response.context["cl"].result_list)
    add_members(world, 2 * rows, 200)
    large, response = shown(staff_client, changelist(model))
    assert len(response.context["cl"].result_list) == 3 * rows
    assert small == large


@pytest.mark.parametrize(
    "model, listed", [(Member, "第{}单位"), (Registration, "第{}社区")], ids=["agency", "community"]
)
def test_the_filters_have_no_option_per_agency_or_community(staff_client, world, model, listed):
    add_members(world, 30, 100)
    html = staff_client.get(changelist(model)).content.decode()
    options = " ".join(re.findall(r"<option\b[^>]*>([^<]*)</option>", html))
    for i in range(100, 130):
        assert listed.format(i) not in options
    assert re.search(r"<select[^>]*data-filter-param=", html)


def test_members_filtered_by_an_agency_found_by_search(staff_client, world):
    add_members(world, 5, 100)
    found = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "members", "model_name": "member", "field_name": "agency", "term": "单位103"},
    ).json()["results"]
    assert [r["text"] for r in found] == ["第103单位"]
    response = staff_client.get(changelist(Member), {"agency__id__exact": found[0]["id"]})
    assert [m.name for m in response.context["cl"].result_list] == ["成员103"]


def test_the_autocomplete_of_members_finds_them_by_name_and_mobile(staff_client, world):
    add_members(world, 5, 100)

    def search(term):
        response = staff_client.get(
            reverse("admin:autocomplete"),
            {
                "app_label": "activities",
                "model_name": "participation",
                "field_name": "member",
                "term": term,
            },
        )
        return [r["text"] for r in response.json()["results"]]

    assert search("成员102") == ["成员102"]
    assert search("13900000104") == ["成员104"]


def test_the_member_form_picks_agency_and_community_by_search(staff_client, world):
    add_members(world, 5, 100)
    html = staff_client.get(reverse("admin:members_member_add")).content.decode()
    autocompleted = re.findall(r'<select name="([\w-]+)"[^>]*class="admin-autocomplete', html)
    assert {"agency", "residence_community"} <= set(autocompleted)
    assert "第101单位" not in html


def test_the_member_list_is_newest_first_along_the_primary_key(staff_client, world):
    add_members(world, 3, 100)
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(changelist(Member))
    listing = next(
        q["sql"] for q in queries if 'FROM "members_member"' in q["sql"] and "ORDER BY" in q["sql"]
    )
    assert listing.split("ORDER BY")[1].split("LIMIT")[0].strip() == '"members_member"."id" DESC'
