"""The indexes for the known queries are the ones PostgreSQL uses.

Each test takes the real query (a page's, captured while it is served, or a QuerySet method's)
and reads PostgreSQL's plan for it with sequential scans priced out (`enable_seqscan = off`), so
that a few rows stand in for city size: a plan that still sorts or scans the table has no index
to go by. Where the statistics earlier tests leave behind could make another way as cheap for a
few rows, that way is priced out too (tests/plans.py), so that each test reads the same plan
whatever ran before it in the same database."""

import datetime as dt
import importlib
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.models import Activity, Concern, Participation, WorkUpdate
from members.models import Member, Registration
from notifications.models import Notification
from reports import attendance
from tests.plans import plan_of

pytestmark = pytest.mark.postgres


def served_query(client, url: str, table: str) -> str:
    """The SQL of the page's paged list: the query on `table` with ORDER BY and LIMIT."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return next(
        query["sql"]
        for query in queries.captured_queries
        if f'FROM "{table}"' in query["sql"] and "ORDER BY" in query["sql"]
        if "LIMIT" in query["sql"]
    )


def test_the_outbox_reads_the_newest_messages_from_their_index(client, city_admin, world):
    activity = world.shengli_activity
    start = timezone.now() - dt.timedelta(days=30)
    Notification.objects.bulk_create(
        Notification(
            kind=Notification.Kind.UPCOMING,
            channel=Notification.Channel.INAPP,
            state=Notification.State.SENT,
            content_type=ContentType.objects.get_for_model(activity),
            object_id=activity.pk,
            recipient_key=f"m{number}",
            recipient_name="王海燕",
            community=world.shengli,
            subject="提醒",
            body="正文",
            created_at=start + dt.timedelta(minutes=number),
        )
        for number in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_notification")
    client.force_login(city_admin)
    sql = served_query(client, reverse("notifications:outbox"), "notifications_notification")
    assert "notification_newest" in plan_of(sql)


def test_the_activity_list_reads_its_community_from_an_index(client, community_staff, world):
    client.force_login(community_staff)
    sql = served_query(client, reverse("activities:activity_list"), "activities_activity")
    plan = plan_of(sql)
    # An index scan, or a bitmap heap scan driven by the community's index: never a seq scan.
    activity_scans = [line for line in plan.splitlines() if "on activities_activity" in line]
    assert activity_scans and not any("Seq Scan" in line for line in activity_scans), plan
    assert "activity_community" in plan, plan  # the FK index or (community, starts_at)


def test_the_city_reads_its_newest_work_updates_from_their_index(client, city_admin, world):
    WorkUpdate.objects.bulk_create(
        WorkUpdate(community=world.shengli, author=city_admin, body=f"动态{number}")
        for number in range(500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_workupdate")
    client.force_login(city_admin)
    sql = served_query(client, reverse("activities:work_update_list"), "activities_workupdate")
    assert "workupdate_newest" in plan_of(sql)


def test_pending_roll_call_looks_only_at_the_signed_up_rows(world):
    queryset = Activity.objects.filter(community=world.shengli).pending_roll_call()
    sql, params = queryset.query.sql_with_params()
    assert "participation_signed_up" in plan_of(sql, params)


@pytest.fixture
def activity_types(transactional_db):
    """VACUUM runs outside a transaction, so that test flushes the database, activity types of
    the data migration included: they are made again first."""
    migration = importlib.import_module("activities.migrations.0002_activity_types")
    migration.create_types(apps, None)


def test_a_members_scope_reads_their_report_ins_from_the_index_alone(
    activity_types, member_user, world
):
    # The Activity scope's report-in branch is a subquery on the member's report-ins; the
    # (member, community) index answers it without reading the table (once vacuumed, as
    # autovacuum keeps a live database).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_registration")
        cursor.execute("VACUUM ANALYZE activities_participation")
    sql, params = Activity.objects.visible_to(member_user).query.sql_with_params()
    with transaction.atomic():
        # A participation's few rows come by their index: a plain scan of it or a bitmap, as
        # the table's size left by earlier tests prices them; the plain one is asked.
        plan = plan_of(sql, params, bitmaps=False)
    assert "Index Only Scan using registration_member_community" in plan, plan
    participation_scans = [
        line for line in plan.splitlines() if " on activities_participation" in line
    ]
    assert participation_scans and all("Index" in line for line in participation_scans), plan


def test_reported_in_reads_the_members_who_left_from_their_index_alone(world):
    # "Of a member still with their agency" looks up the few who left (member_left), hashed
    # once: not a join to, or a probe of, every member reported in (a street's dashboard probed
    # 17,000 members, a busy community's list joined 3,800).
    queryset = Registration.objects.reported_in().filter(community=world.shengli)
    sql, params = queryset.query.sql_with_params()
    plan = plan_of(sql, params)
    # Read through member_left: by an index scan, or by a bitmap of it (as the statistics say).
    member_scans = [line for line in plan.splitlines() if "on members_member" in line]
    assert member_scans, plan
    for line in member_scans:
        assert "using member_left" in line or "Bitmap Heap Scan" in line, plan
    if any("Bitmap Heap Scan" in line for line in member_scans):
        assert "Bitmap Index Scan on member_left" in plan, plan


def test_a_concerns_handlers_are_looked_up_by_id_not_by_scanning_every_login(
    client, community_staff, grid_worker, world
):
    # The community's staff and grid workers, and the viewer: one list of ids, each read by
    # the primary key (ORed, every login of the city was checked against both).
    concern = Concern.objects.create(
        community=world.shengli, title="路灯不亮", reported_by=grid_worker
    )
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(concern.get_absolute_url()).status_code == 200
    sql = next(
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "auth_user"') and "communities_staffrole" in query["sql"]
    )
    plan = plan_of(sql)
    assert "Index Cond: (id = " in plan, plan


def test_a_communitys_open_concerns_are_counted_from_their_index_as_the_reference_does(
    activity_types, world, community_staff
):
    # The staff dashboard's figure (xiachen/bench/figures.py, "open concerns"): the scope's
    # other branch (the viewer's own reports) is answered from the index too, so the count
    # reads what its hand-written reference reads, not the rows (bitmap scans priced out too:
    # a few test rows would make one cheapest). Vacuumed, as autovacuum keeps a live database:
    # with the statistics of earlier tests (a row or two) and no page all-visible, the
    # community's own index and a filter on the rows were planned as cheap.
    Concern.objects.bulk_create(
        Concern(community=world.shengli, title=f"路灯{n}", reported_by=community_staff)
        for n in range(50)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE activities_concern")
    queryset = Concern.objects.visible_to(community_staff).filter(community__in=[world.shengli])
    with CaptureQueriesContext(connection) as queries:
        queryset.open().count()
    with transaction.atomic():
        plan = plan_of(queries.captured_queries[-1]["sql"], bitmaps=False)
    assert "Index Only Scan using concern_open_by_age" in plan, plan


def test_inactive_members_look_up_who_was_present_in_the_index_alone(world):
    # An agency office's dashboard counts its members present at none of the last 30 days'
    # activities: the present rows of those activities come from participation_present.
    queryset = figures.inactive_members(Member.objects.filter(agency=world.sanxia))
    sql, params = queryset.values("pk").query.sql_with_params()
    # Read as a set, as for an office's thousands of members: a few test rows (or statistics
    # that earlier tests left) make a probe per member of its (member, status) rows as cheap.
    plan = plan_of(sql, params, nested_loops=False, bitmaps=False)
    participation_scans = [line for line in plan.splitlines() if "activities_participation" in line]
    assert participation_scans and all(
        "using participation_present" in line for line in participation_scans
    ), plan


def test_the_checks_see_a_sort_where_there_is_no_index(world):
    # The reading above is sound: ordering by a column without an index shows in the plan.
    queryset = Participation.objects.order_by("-checked_in_at")[:20]
    sql, params = queryset.query.sql_with_params()
    assert "Sort" in plan_of(sql, params)


def test_a_members_activities_are_read_through_each_branchs_index(
    activity_types, member_user, world
):
    # ORed subqueries (`id IN (...) OR community_id IN (...)`) test every activity against a
    # hashed SubPlan each: 40 ms for a member's 1,449 activities at city size. Each branch's
    # ids are read first (permissions.in_array), and the activities' two indexes ORed.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE activities_activity")
        cursor.execute("VACUUM ANALYZE activities_participation")
    sql, params = Activity.objects.visible_to(member_user).query.sql_with_params()
    with transaction.atomic():
        plan = plan_of(sql, params)
    assert "SubPlan" not in plan, plan
    assert "Seq Scan" not in plan, plan
    # Counted (the bench's scope line), the two indexes are ORed: no activity is looked up
    # twice, as a union's ids were by the primary key.
    with CaptureQueriesContext(connection) as queries:
        Activity.objects.visible_to(member_user).count()
    with transaction.atomic():
        plan = plan_of(queries.captured_queries[-1]["sql"])
    assert "BitmapOr" in plan, plan
    assert "Index Cond: (community_id = ANY (" in plan, plan


def test_an_agency_offices_one_activity_is_looked_up_in_each_branch(world, agency_office):
    # The office's members take part in 61,576 activities at city size: a page asking for one
    # reads that one's participations (by the activity's index), not the whole set first.
    activity = world.shengli_activity
    queryset = Activity.objects.visible_to(agency_office).filter(pk=activity.pk)
    sql, params = queryset.query.sql_with_params()
    plan = plan_of(sql, params)
    assert f"(activity_id = {activity.pk})" in plan, plan


def test_an_agency_offices_activities_are_read_from_its_pairs_not_its_members_records(
    world, agency_office
):
    # At city size 三峡's 8,038 members have 154,000 participations in 61,918 activities: the
    # scope reads the agency's 61,792 pairs (AgencyActivity) from their unique index, where it
    # read every participation of every member (130 ms → docs/benchmarks.md). Sequential
    # scans priced out (SET LOCAL, this test's transaction): no statistics needed.
    # Bitmaps priced out too: on a test's few rows a bitmap of the pairs' other index on the
    # agency (agencyactivity_period) costs the same; at city size the pairs are read from this
    # one alone, the activity ids in order.
    sql, params = Activity.objects.visible_to(agency_office).query.sql_with_params()
    with transaction.atomic():
        plan = plan_of(sql, params, bitmaps=False)
    assert "activities_agencyactivity_one_per_pair" in plan, plan
    assert "activities_participation" not in plan, plan
    assert "members_member" not in plan, plan


def an_agency_offices_city(world, activities=20000, members=500, each=20):
    """City proportions for an agency office (三峡): `activities` activities, `members` of its
    members taking part in `each` of them, about 40% of the activities in all (city size:
    61,576 of 150,000), written by SQL so that the test stays quick."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO activities_activity (title, description, place, starts_at, ends_at,"
            " nature, status, resident_volunteers, cancel_reason, created_at, updated_at,"
            " community_id, type_id)"
            " SELECT 'x', '', '', now(), now() + interval '1 hour', 'service', 'published', 0,"
            " '', now(), now(), %s, %s FROM generate_series(1, %s)",
            [world.shenzhen.pk, world.cleanup.pk, activities],
        )
        cursor.execute(
            "INSERT INTO members_member (name, mobile, is_party_member, position,"
            " party_branch, skills, status, created_at, agency_id)"
            " SELECT 'm', lpad(n::text, 11, '0'), true, '', '', '', 'active', now(), %s"
            " FROM generate_series(1, %s) AS n",
            [world.sanxia.pk, members],
        )
        cursor.execute(
            "INSERT INTO activities_participation (status, leave_reason, leave_decision,"
            " leave_decision_note, source, recorded_at, review, backfill_reason, activity_id,"
            " member_id)"
            " SELECT DISTINCT 'present', '', '', '', 'roll_call', now(), 'unreviewed', '',"
            " a.first + (m.rank * 7 + k * 997) %% %s, m.id"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM members_member"
            "       WHERE mobile LIKE '0%%') AS m,"
            " (SELECT min(id) AS first FROM activities_activity WHERE title = 'x') AS a,"
            " generate_series(1, %s) AS k",
            [activities, each],
        )
        for table in (
            "activities_activity",
            "members_member",
            "activities_participation",
            "activities_agencyactivity",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def test_an_agency_offices_activities_are_one_read_of_its_pairs_not_a_union_to_sort(
    activity_types, world, agency_office
):
    # The office's activities are those its members take part in and those of its agreements:
    # at city size 61,918 of 150,000. United from the participations and the agreements, they
    # were hashed to remove the duplicates, sorted and merged with the primary key (130 ms);
    # the pairs the database keeps hold both rules, read in one index's order, joined as they
    # come (city size 40–60 ms on a loaded host, the reference 90 ms quiet).
    an_agency_offices_city(world)
    queryset = Activity.objects.visible_to(agency_office)
    with CaptureQueriesContext(connection) as queries:
        count = queryset.count()
    assert count > 5000
    # Here the agency's pairs are most of the table: sequential scans priced out, as the
    # city's 61,918 of 993,000 are not.
    with transaction.atomic():
        plan = plan_of(queries.captured_queries[-1]["sql"])
    assert "Index Only Scan using activities_agencyactivity_one_per_pair" in plan, plan
    for step in ("Sort", "HashAggregate", "Unique", "Append", "activities_participation"):
        assert step not in plan, plan


def test_community_staffs_members_are_looked_up_by_the_ids_of_their_report_ins(
    world, community_staff
):
    # Staff see the members reported in to their community: at city size 4,203 of 60,000. As
    # `id IN (SELECT member_id ...)` PostgreSQL hashed the report-ins and probed them with
    # every member (15–25 ms); the ids read first are looked up in the primary key (3–8 ms).
    # The city's proportions in small: the few members reported in among 2,000, analyzed
    # here (else the counts an earlier test left behind: for a table of three rows, reading
    # them all in the agencies' order costs as little as looking the ids up).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member (name, mobile, is_party_member, position,"
            " party_branch, skills, status, created_at, agency_id)"
            " SELECT 'm', lpad(n::text, 11, '0'), true, '', '', '', 'active', now(), %s"
            " FROM generate_series(1, 2000) AS n",
            [world.yuanlin.pk],
        )
        cursor.execute("ANALYZE members_member")
        cursor.execute("ANALYZE members_registration")
    queryset = Member.objects.visible_to(community_staff)
    sql, params = queryset.query.sql_with_params()
    # Joined to their agencies as a set, as thousands of members are: a loop over the agencies,
    # filtering each one's members by the ids, is what a few rows make cheapest.
    # (Bitmaps off: a bitmap of the primary key is the same lookup, named otherwise.)
    plan = plan_of(sql, params, nested_loops=False, bitmaps=False)
    assert "Index Scan using members_member_pkey on members_member" in plan, plan
    assert "(id = ANY ($0))" in plan, plan
    assert "Semi Join" not in plan, plan


def test_a_street_officers_participations_are_counted_from_the_activity_index_alone(
    activity_types, world, street_officer
):
    # A street's 259,000–285,000 of the city's 1.5 million participations: its activities
    # (their community index) joined to the participations' activity index, counted without
    # reading a participation (once vacuumed, as autovacuum keeps a live database). Read from
    # the table, the count costs a page of participations per activity.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE activities_participation")
    queryset = Participation.objects.visible_to(street_officer)
    with CaptureQueriesContext(connection) as queries:
        queryset.count()
    with transaction.atomic():
        plan = plan_of(queries.captured_queries[-1]["sql"])
    scans = [line for line in plan.splitlines() if " on activities_participation" in line]
    assert scans and all("Index Only Scan" in line for line in scans), plan


def outbox_messages(world, number=2000):
    """`number` messages about 胜利一路社区's activity, half of them for 深圳路社区."""
    activity = world.shengli_activity
    start = timezone.now() - dt.timedelta(days=30)
    Notification.objects.bulk_create(
        Notification(
            kind=Notification.Kind.UPCOMING,
            channel=Notification.Channel.INAPP,
            state=Notification.State.SENT if n % 7 else Notification.State.FAILED,
            content_type=ContentType.objects.get_for_model(activity),
            object_id=activity.pk,
            recipient_key=f"m{n}",
            recipient_name="王海燕",
            community=world.shengli if n % 2 else world.shenzhen,
            subject="提醒",
            body="正文",
            created_at=start + dt.timedelta(minutes=n),
        )
        for n in range(number)
    )


def served_count(client, url: str) -> str:
    """The SQL of the outbox's counts per state, as the page sends it."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return next(query["sql"] for query in queries.captured_queries if "GROUP BY" in query["sql"])


def test_the_citys_outbox_counts_its_messages_by_state_from_an_index_alone(
    activity_types, client, city_admin, world
):
    # COUNT(*) by state needs only the state: the (state, due_at) index answers it without
    # the table's rows (once vacuumed, as autovacuum keeps a live database). COUNT(id) read
    # the whole table: 200,000 messages, 45 ms at city size.
    outbox_messages(world)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE notifications_notification")
    client.force_login(city_admin)
    sql = served_count(client, reverse("notifications:outbox"))
    with transaction.atomic():
        plan = plan_of(sql)
    # notification_due, or (community, state) / (agency, state), as the statistics price them.
    assert "Index Only Scan using notification_" in plan, plan


@pytest.mark.parametrize(
    "viewer, index",
    [
        ("street_officer", "notification_community_state"),
        ("community_staff", "notification_community_state"),
        ("agency_office", "notification_agency_state"),
    ],
)
def test_an_outbox_is_counted_by_state_from_each_branchs_index_alone(
    activity_types, client, request, world, viewer, index
):
    # The place's (the street's communities: ids on the message's own column, not a join to
    # the community) or the agency's messages are counted from their (column, state) index
    # without the table's rows, the viewer's own few apart (counts_by_state). ORed, the
    # branches were a bitmap of both indexes and every row read for its state: an agency
    # office's 17,000 of the city's 200,000 messages, 20-30 ms (vacuumed, as autovacuum keeps
    # a live database).
    outbox_messages(world)
    Notification.objects.filter(pk__in=Notification.objects.values("pk")[:700]).update(
        agency=world.sanxia
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE notifications_notification")
    client.force_login(request.getfixturevalue(viewer))
    sql = served_count(client, reverse("notifications:outbox"))
    with transaction.atomic():
        plan = plan_of(sql)
    assert "communities_community" not in plan, plan
    assert "BitmapOr" not in plan, plan
    assert f"Index Only Scan using {index}" in plan, plan


def review_records(world, members=200, activities=30):
    """An agency office's records (三峡's members, a tenth of them, each at every activity) among
    another agency's: `activities` activities in each community, the 深圳路社区 ones last."""
    from members.models import Member

    now = timezone.now()
    people = Member.objects.bulk_create(
        Member(
            agency=world.yuanlin if n % 10 else world.sanxia,
            name=f"成员{n}",
            mobile=f"1370000{n:04d}",
        )
        for n in range(members)
    )
    rows = []
    for community in (world.shengli, world.shenzhen):
        for n in range(activities):
            activity = Activity.objects.create(
                community=community,
                type=world.cleanup,
                title=f"清扫{n}",
                starts_at=now - dt.timedelta(days=n + 1, hours=2),
                ends_at=now - dt.timedelta(days=n + 1),
            )
            rows += [
                Participation(
                    activity=activity,
                    member=person,
                    status=Participation.Status.PRESENT,
                    hours=2,
                    source=Participation.Source.ROLL_CALL,
                )
                for person in people
            ]
    Participation.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE activities_participation")
        cursor.execute("VACUUM ANALYZE activities_activity")
        cursor.execute("VACUUM ANALYZE members_member")


def test_the_review_list_filtered_by_community_finds_its_rows_then_sorts_them(
    activity_types, client, agency_office, world
):
    # A community's records lie in one stretch of ids (at city size, the demo's at the very
    # start): `ORDER BY id DESC LIMIT 20` walked the primary key from the newest end through
    # 1.4 million rows before meeting them (1.8 s). The rows that match are read through an
    # index of theirs (the community's activities', or the office's members' review index)
    # and sorted, however few there are.
    review_records(world)
    client.force_login(agency_office)
    url = reverse("reports:review") + f"?community={world.shengli.pk}"
    sql = served_query(client, url, "activities_participation")
    with transaction.atomic():
        plan = plan_of(sql)
    assert "Index Scan Backward using activities_participation_pkey" not in plan, plan
    assert "Sort Key: ((v0.id + 0)) DESC" in plan, plan


def test_the_review_list_counts_a_period_from_the_index_alone(
    activity_types, client, agency_office, world
):
    # The period is the activity's: the office's members' rows, with their activity, are read
    # from participation_member_review and hashed against the period's activities. Without the
    # activity in that index PostgreSQL read every participation at city size (550 ms).
    review_records(world)
    client.force_login(agency_office)
    # A period of most activities (a year at city size).
    today = timezone.localdate()
    url = reverse("reports:review") + f"?date_from={today - dt.timedelta(days=60)}&date_to={today}"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    count = next(
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT COUNT(*)") and "activities_participation" in query["sql"]
    )
    with transaction.atomic():
        plan = plan_of(count)
    scans = [line for line in plan.splitlines() if " on activities_participation" in line]
    assert scans, plan
    # Either index holds the member and the activity: participation_member_figures (the
    # attendance report's) serves a count of every review state as well.
    index_only = (
        "Index Only Scan using participation_member_review",
        "Index Only Scan using participation_member_figures",
    )
    assert all(any(scan in line for scan in index_only) for line in scans), plan


def test_the_citys_dispute_list_reads_its_page_in_index_order(client, city_admin, world):
    activities = Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            type=world.cleanup,
            title=f"清扫{number}",
            starts_at=timezone.now() - dt.timedelta(days=number + 1),
            ends_at=timezone.now() - dt.timedelta(days=number + 1) + dt.timedelta(hours=2),
        )
        for number in range(300)
    )
    Participation.objects.bulk_create(
        Participation(
            activity=activity,
            member=world.sanxia_member,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
            review=Participation.Review.DISPUTED if number % 10 == 0 else "unreviewed",
            reviewed_at=timezone.now() - dt.timedelta(hours=number),
        )
        for number, activity in enumerate(activities)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_participation")
    client.force_login(city_admin)
    sql = served_query(client, reverse("activities:dispute_list"), "activities_participation")
    # Bitmaps priced out: a bitmap of the same partial index (or of another, whatever earlier
    # tests left in the statistics) reads no order, and the page's order is what is asked.
    plan = plan_of(sql, bitmaps=False)
    # The page's ids: the first 20 read from the index in its order, nothing sorted; only the
    # page's 20 rows are sorted again once read.
    assert re.search(
        r"Limit .*\n\s*->  Index (Only )?Scan using participation_disputed_latest", plan
    ), plan


def test_the_attendance_reports_period_reads_its_activities_nature_from_an_index(
    world, agency_office
):
    # The report's totals split the period's hours by the activity's nature: the activities of
    # the period, with their nature, come from activity_period_nature alone.
    period = attendance.period_of(attendance.YEAR, year=timezone.localdate().year)
    members = attendance.report_members(agency_office, period)
    with CaptureQueriesContext(connection) as queries:
        attendance.totals(members, period)
    sql = next(
        query["sql"]
        for query in queries.captured_queries
        if "activities_participation" in query["sql"] and "duty" in query["sql"]
    )
    # Read as a set, the period's activities come by an index of starts_at: its own, or a
    # bitmap of another's that a few test rows make as cheap (bitmaps off).
    plan = plan_of(sql, nested_loops=False, bitmaps=False)
    activity_scans = [
        line for line in plan.splitlines() if " on activities_activity" in line and "Scan" in line
    ]
    assert activity_scans and all(
        "Index Only Scan using activity_period_nature" in line for line in activity_scans
    ), plan


def _outside_subplans(plan: str) -> list[str]:
    """The plan's lines that are not in a SubPlan or InitPlan (the page's few rows' columns)."""
    lines, skip_below = [], None
    for line in plan.splitlines():
        indent = len(line) - len(line.lstrip(" ->"))
        if skip_below is not None and indent > skip_below:
            continue
        skip_below = None
        if line.strip().startswith(("SubPlan", "InitPlan")):
            skip_below = indent
            continue
        lines.append(line)
    return lines


@pytest.mark.parametrize("sort", ["-present", "duty_hours", "-rate", "last"])
def test_the_attendance_report_by_a_figure_groups_every_member_in_one_pass(
    world, agency_office, sort
):
    # Sorted by a figure, the page's members are chosen on every member's figure, grouped in
    # one pass over their records: the members without records are among the groups. Two
    # SELECTs united (an Append) read the records twice: grouped, and again in an anti-join for
    # the members without any.
    query = {"period": "year", "year": timezone.localdate().year, "sort": sort}
    with CaptureQueriesContext(connection) as queries:
        attendance.report(agency_office, query)
    # The page's rows, read last.
    sql = queries.captured_queries[-1]["sql"]
    assert "LIMIT" in sql
    plan = "\n".join(_outside_subplans(plan_of(sql)))
    assert "Anti Join" not in plan and "Append" not in plan, plan
    assert re.search(r"Aggregate.*\n(.*\n)*.* on activities_participation", plan), plan


def test_the_citys_leave_requests_are_counted_from_their_index_not_each_activitys_row(
    client, city_admin, world
):
    # The requests come from participation_leave_requests alone (its condition is the whole
    # filter), and "not of a cancelled activity" is the cancelled ones hashed once from
    # activity_cancelled: checking each request's activity cost the city's list 20 ms.
    client.force_login(city_admin)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("activities:leave_request_list")).status_code == 200
    count = next(
        query["sql"]
        for query in queries.captured_queries
        if "COUNT(*)" in query["sql"] and 'FROM "activities_participation"' in query["sql"]
    )
    plan = plan_of(count, bitmaps=False)
    assert "Index Only Scan using participation_leave_requests" in plan, plan
    assert "Index Only Scan using activity_cancelled" in plan, plan
    assert "activities_activity_pkey" not in plan, plan


def test_an_agreements_duty_fulfilment_reads_its_periods_duties_from_the_index_alone(world):
    # The street overview's agreements and the dashboards' (figures.with_duty_fulfilment): each
    # agreement's duties of the period come from activity_agreement_duty alone, not every
    # activity of the agreement fetched from the table to keep the period's duties.
    from communities.models import Agreement

    today = timezone.localdate()
    with CaptureQueriesContext(connection) as queries:
        list(
            figures.with_duty_fulfilment(
                Agreement.objects.all(), start=today.replace(month=1, day=1), end=today
            )
        )
    (sql,) = [query["sql"] for query in queries.captured_queries]
    plan = plan_of(sql, bitmaps=False)
    activity_scans = [
        line for line in plan.splitlines() if " on activities_activity" in line and "Scan" in line
    ]
    assert activity_scans and all(
        "Index Only Scan using activity_agreement_duty" in line for line in activity_scans
    ), plan


def test_an_agencys_households_of_a_year_are_read_from_the_index_alone(world):
    # The yearly summary's households (reports.evidence.agency_totals): the agency's units of
    # the year from doortodoorunit_agency_period, without the members or the activities.
    # Joined through them, every unit of the city was read for each summary (13–23 ms).
    from activities.models import DoorToDoorUnit
    from reports.evidence import Period, agency_totals

    DoorToDoorUnit.objects.create(
        activity=world.shengli_activity, building="1栋", households=10, member=world.sanxia_member
    )
    with CaptureQueriesContext(connection) as queries:
        evidence = agency_totals(world.sanxia, Period.year(timezone.localdate().year))
    assert evidence.households == 10
    (sql,) = [q["sql"] for q in queries.captured_queries if "activities_doortodoorunit" in q["sql"]]
    plan = plan_of(sql, bitmaps=False)
    assert "Index Only Scan using doortodoorunit_agency_period" in plan, plan
    assert "members_member" not in plan and "activities_activity" not in plan, plan


@pytest.mark.django_db
def test_participations_are_sampled_widely_enough_to_count_the_activities_they_name():
    # activities migration 0030: with the default sample PostgreSQL guessed half the city's
    # activities, and a street officer's participations were counted by hashing the whole
    # activity index as often as through it (140 against 45–70 ms).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute"
            " WHERE attrelid = 'activities_participation'::regclass AND attname = 'activity_id'"
        )
        assert cursor.fetchone()[0] == 1000
