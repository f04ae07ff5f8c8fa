"""The evaluation list's queries at city size (issue 8): its page walks the members by name and
stops at the page, and its count reads the community's report-ins alone.

Plans are read with sequential scans priced out (tests/plans.py), so that a few rows stand in
for a city's 60,000 members."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.services import rateable_count
from tests.plans import plan_of

from .test_evaluation_services import reported_in

pytestmark = pytest.mark.postgres


def served_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_the_list_walks_the_members_by_name_to_its_page(client, world, community_staff):
    # A city in small: most members are reported in elsewhere, a few here.
    reported_in(world, 40)
    reported_in(world, 2000, community=world.shenzhen, agency=world.yuanlin)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")
        cursor.execute("ANALYZE members_registration")
    client.force_login(community_staff)
    sql = next(
        sql
        for sql in served_queries(client, "/evaluations/")
        if sql.startswith('SELECT "members_member"."id"') and "LIMIT 20" in sql
    )
    # Sorting priced out as well: at city size the rows before the page cost far more than the
    # walk (60,000 members hashed and sorted for 20); a plan that still sorts has no index that
    # gives the list's order.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
    plan = plan_of(sql)
    member_scans = [line for line in plan.splitlines() if " on members_member " in line]
    assert member_scans and all("using member_name" in line for line in member_scans), plan
    assert "Sort Key: members_member.name" not in plan, plan
    # Each member walked is looked up among the community's report-ins (an index probe), so the
    # walk stops at the page: not the report-ins all read first and matched against each name.
    assert re.search(
        r"on members_registration \w+ .*\n *Index Cond: \(member_id = members_member\.id\)", plan
    ), plan


def test_the_count_reads_the_report_ins_alone(world):
    reported_in(world, 30)
    with CaptureQueriesContext(connection) as queries:
        assert rateable_count(world.shengli) == 31  # 李建华 and the 30
    (sql,) = [query["sql"] for query in queries.captured_queries]
    plan = plan_of(sql)
    assert "registration_community_member" in plan, plan
    # Members are read only to leave out those who left, through their own small index.
    member_scans = [line for line in plan.splitlines() if " on members_member" in line]
    for line in member_scans:
        assert "using member_left" in line or "Bitmap Heap Scan" in line, plan
    assert "members_member_pkey" not in plan, plan
