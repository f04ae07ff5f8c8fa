"""The agency office's summary and review count, and the charts, read their figures from an
index alone (tests/plans.py: sequential scans priced out, so a few rows stand for city size)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reports import summary
from tests.plans import plan_of
from tests.reports.test_dashboard_plans import vacuumed  # noqa: F401 (a fixture)

pytestmark = pytest.mark.postgres


def served(client, url: str, table: str) -> str:
    """The SQL of the page's query that reads `table`."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return next(q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"])


def test_the_agency_summary_reads_its_year_from_the_pairs_index(client, world, agency_office):
    # 三峡's year at city size: 12,000 pairs of 61,900, where the page joined 154,000 records.
    client.force_login(agency_office)
    sql = served(client, "/summary/agency/", "activities_agencyactivity")
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    assert "Index Scan using agencyactivity_period" in plan, plan
    assert "starts_at >=" in plan.split("agencyactivity_period")[1], plan


def test_the_review_list_counts_the_offices_records_from_the_pairs_index(
    client, world, agency_office
):
    client.force_login(agency_office)
    sql = served(client, "/review/", "activities_agencyactivity")
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    assert "Index Scan using agencyactivity_period" in plan, plan


# The places and city lenses read the rows of all agencies together: on a few rows either of
# their two indexes serves (at city size each its own: communities first, or months first).
ALL_AGENCIES = ("service_month_places_figures", "service_month_city_figures")


@pytest.mark.parametrize(
    ("persona", "indexes"),
    [
        ("agency_office", ("service_month_agency_figures",)),
        ("community_staff", ALL_AGENCIES),
        ("city_admin", ALL_AGENCIES),
    ],
)
def test_the_charts_read_the_summary_from_its_index_alone(client, request, world, persona, indexes):
    summary.refresh()
    user = request.getfixturevalue(persona)
    client.force_login(user)
    year = timezone.localdate().year
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/charts/?year={year}").status_code == 200
    groupings = [
        q["sql"] for q in queries.captured_queries if 'FROM "reports_servicemonth"' in q["sql"]
    ]
    assert len(groupings) == 3
    with transaction.atomic():
        for sql in groupings:
            plan = plan_of(sql, bitmaps=False)
            assert any(f"Index Only Scan using {index}" in plan for index in indexes), plan


def test_the_street_overview_sums_each_communitys_months_from_the_index(
    vacuumed,  # noqa: F811
    client,
    world,
    street_officer,
):
    # The months' table vacuumed as autovacuum keeps it: on the few rows of a test, with the
    # statistics another test left behind, the (community, month) key answered as cheaply from
    # the table (seen once in a run of two processes).
    vacuumed("reports_communitymonth")
    client.force_login(street_officer)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/overview/street/").status_code == 200
    sql = next(
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "communities_community"' in q["sql"] and '"reports_communitymonth" U0' in q["sql"]
    )
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    assert plan.count("Index Only Scan using communitymonth_community") == 3, plan
