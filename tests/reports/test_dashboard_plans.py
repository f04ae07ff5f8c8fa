"""The dashboards' figures are read from the indexes made for them (issue 8: each role's
dashboard in 50 ms at city size). Plans are read as tests/plans.py explains: sequential scans
priced out, so that a few rows stand in for the city's."""

import importlib

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from activities import figures
from activities.models import Participation
from activities.services.leave import pending_leave_requests
from members.models import Member
from tests.plans import plan_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def vacuumed(transactional_db):
    """VACUUM ANALYZE of the tables read (as autovacuum keeps a live database), so that the
    visibility map lets an index answer alone. VACUUM runs outside a transaction, so the test
    flushes the database: the activity types of the data migration are made again first."""
    migration = importlib.import_module("activities.migrations.0002_activity_types")
    migration.create_types(apps, None)

    def vacuum(*tables):
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {table}")

    return vacuum


def scans_of(plan: str, table: str) -> list[str]:
    return [line for line in plan.splitlines() if f" on {table}" in line]


def captured_sql(run) -> str:
    with CaptureQueriesContext(connection) as queries:
        run()
    return queries.captured_queries[-1]["sql"]


def test_a_communitys_leave_requests_are_counted_from_their_index_alone(
    vacuumed, world, community_staff
):
    # The staff dashboard's "leave requests to decide": the partial index holds leave_requests'
    # own condition, so the few pending rows answer it. With "pending" alone PostgreSQL ANDed
    # it with the index of the city's 48,000 signed-up rows (5–7 ms at city size).
    vacuumed("activities_participation")
    sql = captured_sql(lambda: pending_leave_requests(community_staff).count())
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    scans = scans_of(plan, "activities_participation")
    assert scans and all(
        "Index Only Scan using participation_leave_requests" in line for line in scans
    ), plan


def test_an_offices_overdue_reviews_are_counted_from_their_own_index(vacuumed, world):
    # The office's dashboard counts its members' records unreviewed for REVIEW_OVERDUE_DAYS:
    # a probe per member of the unreviewed records alone (sanxia's 8,000 members).
    vacuumed("activities_participation", "members_member")
    members = Member.objects.filter(agency=world.sanxia).values("pk")
    queryset = Participation.objects.review_overdue().filter(member__in=members)
    sql = captured_sql(queryset.count)
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    scans = scans_of(plan, "activities_participation")
    assert scans and all(
        "Index Only Scan using participation_review_overdue" in line for line in scans
    ), plan


def test_the_attendance_on_an_activity_is_read_from_its_index_alone(vacuumed, world):
    # An office's month of attendance looks up the month's 1,300 activities' participations
    # by their activity at city size, with their status and hours: from the index alone, not
    # from their pages (sanxia's month 16–23 ms, from the index 7 ms).
    vacuumed("activities_participation")
    participations = Participation.objects.filter(activity=world.shengli_activity)
    sql = captured_sql(lambda: figures.attendance(participations))
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    scans = scans_of(plan, "activities_participation")
    assert scans and all(
        "Index Only Scan using participation_activity_member" in line for line in scans
    ), plan


def test_an_offices_report_in_rate_probes_the_liaison_report_ins_from_their_index_alone(
    vacuumed, world
):
    # "Has this member an active liaison report-in?" for each of the office's members.
    vacuumed("members_registration", "members_member")
    sql = captured_sql(lambda: figures.report_in(Member.objects.filter(agency=world.sanxia)))
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    scans = scans_of(plan, "members_registration")
    assert scans and all(
        "Index Only Scan using registration_liaison_active" in line for line in scans
    ), plan


def test_the_checks_see_a_table_read_where_the_index_lacks_a_column(world):
    # The reading above is sound: a count that needs a column the index does not hold (the
    # leave reason) reads the table.
    queryset = Participation.objects.leave_requests().exclude(leave_reason="")
    sql = captured_sql(queryset.count)
    plan = plan_of(sql, bitmaps=False)
    assert "Index Only Scan" not in plan, plan


def test_the_agencies_of_a_communitys_members_are_read_from_an_index_alone(
    vacuumed, client, world, community_staff
):
    # "Members reported in, by agency": each report-in's agency, kept on it by the database, read
    # with its member from registration_community_agency alone, in the agencies' order: no
    # member looked up (3,789 probes of member_agency_by_id for shengli at city size, 6 ms →
    # 2 ms), nor all 60,000 hashed.
    vacuumed("members_member", "members_registration")
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    sql = next(
        query["sql"]
        for query in queries.captured_queries
        if 'COUNT(DISTINCT "members_registration"."member_id")' in query["sql"]
        and "counts" in query["sql"]
    )
    with transaction.atomic():
        plan = plan_of(sql, bitmaps=False)
    scans = scans_of(plan, "members_registration")
    assert scans and all(
        "Index Only Scan using registration_community_agency" in line for line in scans
    ), plan
    # The members who left are read from their own index (member_left); no other member.
    assert all("member_left" in line for line in scans_of(plan, "members_member")), plan
