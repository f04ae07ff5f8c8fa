"""The member list's queries at city size (issue 8): a community's report-ins are read from
their index alone, with the agency the database keeps on each, not by hashing every member.
Plans are read with sequential scans priced out (tests/plans.py)."""

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


def test_the_lists_agencies_are_read_from_the_report_ins_index_alone(
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
    # report-in's agency is read with it from registration_community_agency alone, no member
    # looked up — joined, PostgreSQL hashed all 60,000 members for a community's 3,800
    # report-ins (SQL 8 -> 6 ms); looked up by each member's id, it probed them 3,800 times.
    with transaction.atomic():
        plan = plan_of(sql, nested_loops=False)
    scans = [line for line in plan.splitlines() if " on members_registration" in line]
    assert scans and all(
        "Index Only Scan using registration_community_agency" in line for line in scans
    ), plan
    # The members who left are read from their own index (member_left); no other member.
    member_scans = [line for line in plan.splitlines() if " on members_member" in line]
    assert all("member_left" in line for line in member_scans), plan
