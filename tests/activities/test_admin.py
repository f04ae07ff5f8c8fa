"""The admin lists of activities and participations at city size: a constant number of queries
whatever the rows, an order an index serves, and filters that search instead of listing every
agency and community."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from communities.models import Agency, Community
from members.models import Member

Status = Participation.Status


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def add_activities(world, count, start):
    """`count` activities, each in a community and with a member of an agency of its own, so
    that rows share nothing a cache could hide."""
    now = timezone.now()
    for i in range(start, start + count):
        agency = Agency.objects.create(name=f"第{i}单位", short_name=f"单位{i}")
        community = Community.objects.create(street=world.wanshouqiao, name=f"第{i}社区")
        member = Member.objects.create(agency=agency, name=f"成员{i}", mobile=f"1390000{i:04d}")
        activity = Activity.objects.create(
            community=community,
            type=world.cleanup,
            title=f"活动{i}",
            starts_at=now - dt.timedelta(days=i),
            ends_at=now - dt.timedelta(days=i) + dt.timedelta(hours=2),
        )
        Participation.objects.create(
            activity=activity, member=member, status=Status.PRESENT, source="roll_call"
        )


def queries_for(client, url):
    client.get(url)  # content types and the session, out of the count
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), len(response.context["cl"].result_list), queries


@pytest.mark.parametrize("model", [Participation, Activity])
def test_the_changelist_costs_the_same_queries_for_n_and_3n_rows(staff_client, world, model):
    add_activities(world, 6, 100)
    small, shown_small, _ = queries_for(staff_client, changelist(model))
    add_activities(world, 2 * shown_small, 200)
    large, shown_large, _ = queries_for(staff_client, changelist(model))
    assert shown_large == 3 * shown_small
    assert small == large


def options(html):
    return re.findall(r"<option\b[^>]*>([^<]*)</option>", html)


@pytest.mark.parametrize("model", [Participation, Activity])
def test_the_filters_search_agencies_and_communities_instead_of_listing_them(
    staff_client, world, model
):
    add_activities(world, 25, 100)
    response = staff_client.get(changelist(model))
    html = response.content.decode()
    listed = " ".join(options(html))
    for i in range(100, 125):
        assert f"第{i}社区" not in listed
        assert f"第{i}单位" not in listed
        assert f"?community__id__exact={Community.objects.get(name=f'第{i}社区').pk}" not in html
    # In their place, boxes that ask Django's autocomplete view.
    boxes = re.findall(r'<select[^>]*data-filter-param="([\w]+)"', html)
    expected = {
        Participation: ["member__agency__id__exact", "activity__community__id__exact"],
        Activity: ["community__id__exact"],
    }[model]
    assert boxes == expected
    assert "admin/js/autocomplete.js" in html
    assert "js/admin_autocomplete_filter.js" in html


def test_a_chosen_agency_filters_the_participations_and_shows_in_its_box(staff_client, world):
    add_activities(world, 5, 100)
    agency = Agency.objects.get(name="第102单位")
    response = staff_client.get(changelist(Participation), {"member__agency__id__exact": agency.pk})
    assert [p.member.name for p in response.context["cl"].result_list] == ["成员102"]
    html = response.content.decode()
    assert options(html).count("第102单位") == 1  # the one chosen, selected in its box
    assert re.search(rf'<option value="{agency.pk}" selected>第102单位</option>', html)


def test_a_filter_value_that_is_no_id_is_refused_not_a_crash(staff_client, world):
    response = staff_client.get(changelist(Participation), {"member__agency__id__exact": "x"})
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def rows_query(queries, model):
    """The changelist's query of its rows (a single page has no LIMIT)."""
    return next(
        q["sql"]
        for q in queries
        if f'FROM "{model._meta.db_table}"' in q["sql"] and "ORDER BY" in q["sql"]
    )


def ordering(queries, model):
    return rows_query(queries, model).split("ORDER BY")[1].split("LIMIT")[0].strip()


def test_the_participation_list_is_newest_first_along_the_primary_key(staff_client, world):
    add_activities(world, 4, 100)
    _, _, queries = queries_for(staff_client, changelist(Participation))
    order = ordering(queries, Participation)
    assert order == '"activities_participation"."id" DESC'


def test_the_activity_list_is_latest_first_on_its_admin_sort_index(staff_client, world):
    add_activities(world, 4, 100)
    _, _, queries = queries_for(staff_client, changelist(Activity))
    order = ordering(queries, Activity)
    assert order == '"activities_activity"."starts_at" DESC, "activities_activity"."id" DESC'
    index = next(i for i in Activity._meta.indexes if i.name == "activities_activity_admin_sort")
    assert index.fields == ["starts_at", "id"]


@pytest.mark.postgres
@pytest.mark.parametrize("model", [Participation, Activity])
def test_postgresql_reads_the_first_page_in_order_from_an_index(staff_client, world, model):
    """With sorting priced out, a plan still sorts only if no index gives the order."""
    add_activities(world, 4, 100)
    _, _, queries = queries_for(staff_client, changelist(model))
    listing = rows_query(queries, model)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + listing)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan, plan
    assert "Index" in plan, plan


def test_the_participation_form_picks_activity_and_member_by_search(staff_client, world):
    add_activities(world, 3, 100)
    participation = Participation.objects.first()
    url = reverse("admin:activities_participation_change", args=[participation.pk])
    html = staff_client.get(url).content.decode()
    autocompleted = re.findall(r'<select name="(\w+)"[^>]*class="admin-autocomplete', html)
    assert {"activity", "member"} <= set(autocompleted)
    assert "成员101" not in " ".join(options(html))


def test_the_autocomplete_finds_agencies_for_the_participation_filter(staff_client, world):
    add_activities(world, 3, 100)
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "members",
            "model_name": "member",
            "field_name": "agency",
            "term": "第101",
        },
    )
    assert [r["text"] for r in response.json()["results"]] == ["第101单位"]
