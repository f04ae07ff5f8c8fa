"""The member list's queries at city size (issue 8): a community's report-ins are read from
their index alone, and their members' agency and name from the members' covering index, not by
hashing every member. Plans are read with sequential scans priced out (tests/plans.py)."""

import importlib

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.plans import plan_of
from tests.reports.test_evaluation_services import reported_in

pytestmark = pytest.mark.postgres


@pytest.fixture
def activity_types(transactional_db):
    """VACUUM runs outside a transaction, so this test flushes the database, activity types of
    the data migration included: they are made again first."""
    migration = importlib.import_module("activities.migrations.0002_activity_types")
    migration.create_types(apps, None)


def test_the_lists_agencies_read_the_members_from_an_index_alone(
    activity_types, client, world, community_staff
):
    reported_in(world, 40)
    reported_in(world, 400, community=world.shenzhen, agency=world.yuanlin)
    # Vacuumed, as autovacuum keeps a live database: an index is then read without the table.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("VACUUM ANALYZE members_registration")
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("members:member_list")).status_code == 200
    sql = next(
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "communities_agency"."id" AS "pk"')
    )
    # Planned as at city size, sets joined by hashing (nested loops priced out): each
    # report-in's member is still looked up by its id, in a subquery of its own — joined,
    # PostgreSQL hashed all 60,000 members for a community's 3,800 report-ins (SQL 8 -> 6 ms).
    with transaction.atomic():
        plan = plan_of(sql, nested_loops=False)
    assert "registration_community_member" in plan, plan
    lines = plan.splitlines()
    member_scans = [
        number
        for number, line in enumerate(lines)
        if " on members_member" in line and "member_left" not in line
    ]
    assert member_scans, plan
    for number in member_scans:
        assert "using member_agency_by_id" in lines[number], plan
        assert "Index Cond: (id = " in lines[number + 1], plan
