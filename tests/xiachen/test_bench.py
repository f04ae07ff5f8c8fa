"""The pieces of `make bench` that need no city: the hand-written SQL of each scope and figure
agrees with the code on the persona world, and the page comparison flags what it must."""

import datetime as dt
import os
import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports.certificates import issue
from xiachen.bench import figures as bench_figures
from xiachen.bench import load, pages, scopes, sweep
from xiachen.bench.measure import Line, Results

PERSONAS = [
    "city_admin",
    "superuser",
    "street_officer",
    "community_staff",
    "other_community_staff",
    "grid_worker",
    "agency_office",
    "other_agency_office",
    "member_user",
    "other_member_user",
]


def test_every_model_with_a_scope_has_a_sql_reference():
    labels = {model._meta.label for model in scopes.scoped_models()}
    assert "activities.Activity" in labels
    assert labels <= set(scopes.REFERENCES), labels - set(scopes.REFERENCES)


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_scopes_sql_reference_counts_the_rows_visible_to_returns(world, request, persona):
    # `world` asked for up front: the test then runs with the database tests, before any
    # transactional test flushes the activity types the data migration made.
    user = request.getfixturevalue(persona)
    # A certificate, which the world has none of: the city sees it only in the admin.
    today = timezone.localdate()
    issue(
        member=world.sanxia_member,
        first=today - dt.timedelta(days=30),
        last=today,
        issuer=world.sanxia,
        contact="",
        by=user,
    )
    for model in scopes.scoped_models():
        expected = model._default_manager.visible_to(user).count()
        assert scopes.reference_count(model, user) == expected, model._meta.label


def test_a_reference_with_nothing_in_scope_matches_nothing(world, django_user_model):
    nobody = django_user_model.objects.create_user(username="nobody", password="pw-nobody")
    for model in scopes.scoped_models():
        assert (
            scopes.reference_count(model, nobody)
            == model._default_manager.visible_to(nobody).count()
        ), model._meta.label


@pytest.mark.postgres
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_dashboard_figure_equals_its_sql_reference(world, request, persona):
    user = request.getfixturevalue(persona)
    shown = list(bench_figures.figures_of(user, timezone.now()))
    assert shown, "every persona's dashboard shows a figure"
    for name, computed, reference in shown:
        assert computed() == reference(), name


def row(username, url, queries, status=200, time=None):
    out = {
        "username": username,
        "name": "activities:activity_list",
        "url": url,
        "admin": False,
        "label": "",
        "status": status,
        "queries": queries,
        "same_object": True,
    }
    if time is not None:
        out.update(time=time, samples=1)
    return out


def test_the_comparison_flags_a_page_whose_queries_grow_with_the_data():
    demo = [row("shengli_staff", "/activities/", 9), row("shengli_staff", "/", 7)]
    city = [row("shengli_staff", "/activities/", 12), row("shengli_staff", "/", 7)]
    lines = {line.name: line for line in pages.compare(demo, city, judge_time=True)}
    assert not lines["shengli_staff /activities/"].ok
    assert "more in the city" in lines["shengli_staff /activities/"].note
    assert lines["shengli_staff /"].ok


def test_the_comparison_flags_too_many_queries_and_a_page_missing_in_the_city():
    demo = [row("admin", "/", 16), row("admin", "/members/", 8)]
    city = [row("admin", "/", 16), row("admin", "/members/", 8, status=404)]
    lines = {line.name: line for line in pages.compare(demo, city, judge_time=True)}
    assert not lines["admin /"].ok
    assert not lines["admin /members/"].ok


def test_a_slow_page_fails_only_where_times_are_judged():
    demo = [row("admin", "/", 8)]
    city = [row("admin", "/", 8, time=0.2)]
    judged = [line for line in pages.compare(demo, city, judge_time=True) if line.section == "time"]
    shown = [line for line in pages.compare(demo, city, judge_time=False) if line.section == "time"]
    assert judged[0].verdict == "FAIL"
    assert shown[0].verdict == "(FAIL)"
    results = Results(echo=False)
    results.add(shown[0])
    results.add(Line("queries", "admin /", "8", "8", True))
    assert results.failed == []
    results.add(judged[0])
    assert results.failed == judged


def test_the_load_line_says_the_cpu_a_request_costs_and_what_two_cores_would_serve():
    cpu = {"gunicorn": 2.3, "postgres": 1.1, "locust": 0.6}  # seconds, over 100 requests
    note = load.cpu_note(cpu, 100, 2)
    assert note == (
        "CPU a request: 23.0 ms gunicorn + 11.0 ms PostgreSQL + 6.0 ms locust = 40.0 ms,"
        " about 50 requests/s on 2 idle cores"
    )
    assert load.cpu_note(cpu, 0, 2) == ""


def test_the_p95_line_names_the_pages_that_take_the_most_time():
    pages_ = {
        "/": {"requests": 10, "total_ms": 1000.0, "median_ms": 90.0},
        "/notifications/outbox/": {"requests": 5, "total_ms": 3000.0, "median_ms": 580.0},
        "/notifications/inbox/": {"requests": 20, "total_ms": 1000.0, "median_ms": 45.0},
    }
    note = load.pages_note(pages_, top=2)
    assert note.startswith("most time: /notifications/outbox/ 60% (median 580 ms, 5 requests), ")
    assert note.count("(median") == 2
    assert load.pages_note({}) == ""


def test_the_load_run_can_take_the_pages_of_an_earlier_run(tmp_path):
    plan = tmp_path / "locust-pages.json"
    plan.write_text(
        '{"accounts": {"admin": {"session": "k", "urls": ["/", "/admin/members/member/"]},'
        ' "sanxia_member": {"session": "l", "urls": ["/notifications/inbox/"]}}}'
    )
    rows = load.rows_of_plan(plan)
    assert [(row["username"], row["url"]) for row in rows] == [
        ("admin", "/"),
        ("admin", "/admin/members/member/"),
        ("sanxia_member", "/notifications/inbox/"),
    ]
    assert all(pages.Page.of(row).timed for row in rows)  # as the load section picks them


def test_the_cpu_meter_reads_processes_from_proc():
    began = time.process_time()
    while time.process_time() - began < 0.05:  # some CPU of our own to see
        pass
    assert load.cpu_seconds(os.getpid()) >= 0.05
    assert load.cpu_seconds(2**22 + 1) is None  # above Linux's largest pid: none
    assert os.getpid() in load.process_group(os.getpgid(0))


def test_every_page_with_an_id_says_which_demo_object_it_shows():
    with_ids = {name for name, args in pages.url_names() if args}
    assert "activities:attendance_board" in with_ids
    # The activation page is opened by a one-time token, not by an account: left out.
    assert "members:activate" in with_ids & pages.NOT_ROLE_PAGES
    with_ids -= pages.NOT_ROLE_PAGES
    assert with_ids <= set(pages.OBJECTS), with_ids - set(pages.OBJECTS)


def test_the_page_walk_skips_pages_an_account_may_not_open(world, community_staff, member_user):
    planned, unknown = pages.plan([community_staff.username, member_user.username])
    assert unknown == []
    by_account = {}
    for page in planned:
        by_account.setdefault(page.username, set()).add(page.name)
    assert "members:registration_review" in by_account["shengli_staff"]
    assert "members:registration_review" not in by_account["sanxia_member"]
    assert "reports:dashboard" in by_account["sanxia_member"]
    # A member's list of activities to join is walked; the sign-up POSTs answer a GET with 405.
    assert "activities:open_activities" in by_account["sanxia_member"]
    assert "activities:open_activities" not in by_account["shengli_staff"]
    assert "activities:sign_up" not in by_account["sanxia_member"]


@pytest.mark.second_factor  # the bench passes the factor itself, as the code page would
def test_the_bench_walks_the_pages_of_the_roles_behind_the_second_factor(
    world, agency_office, superuser
):
    planned, unknown = pages.plan([agency_office.username, superuser.username])
    by_account = {}
    for page in planned:
        by_account.setdefault(page.username, set()).add(page.name)
    assert {"reports:dashboard", "reports:review"} <= by_account["sanxia_office"]
    assert {"admin:index", "admin:auth_user_changelist"} <= by_account["root"]
    rows = pages.walk([p for p in planned if p.username == "sanxia_office"], timing=False)
    assert rows and {row["status"] for row in rows} == {200}
    # The load test's sessions too.
    cookie = load.sessions(["sanxia_office"])["sanxia_office"]
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert client.get("/review/").status_code == 200


def test_the_sweep_bench_runs_the_task_beat_runs_every_minute():
    assert sweep.beat_task().name == "activities.sweep_reminders"


def test_a_member_reported_in_twice_in_one_street_is_counted_once(world, member_user):
    # Two report-ins to one community (liaison and residence): one street, one community.
    from members.models import Registration

    Registration.objects.create(
        member=world.sanxia_member,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        applied_on=timezone.localdate(),
    )
    for model in scopes.scoped_models():
        expected = model._default_manager.visible_to(member_user).count()
        assert scopes.reference_count(model, member_user) == expected, model._meta.label


@pytest.mark.django_db
def test_the_database_clock_leaves_out_the_time_python_spends():
    import time

    from django.db import connection

    def python_then_sql():
        time.sleep(0.05)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]

    [(value, timing)] = scopes.timed(python_then_sql, timeout=None, repeat=3)
    assert value == 1
    assert timing.wall >= 0.05
    assert 0 < timing.database < 0.05


@pytest.mark.django_db
def test_calls_compared_are_timed_in_turn_and_each_gets_its_own_value():
    order = []
    results = scopes.timed(
        lambda: order.append("reference") or "r",
        lambda: order.append("scope") or "s",
        timeout=None,
        repeat=3,
    )
    assert [value for value, _ in results] == ["r", "s"]
    assert order == ["reference", "scope"] * 4  # a round to warm up, then three


def test_a_scope_is_judged_on_its_sql_against_the_reference_sql_and_on_its_wall_time():
    fast_sql = scopes.Timing(wall=0.0020, database=0.0004)
    reference = scopes.Timing(wall=0.0006, database=0.0002)
    line = scopes._scope_line("x", 5, fast_sql, 5, reference, judge_time=True)
    assert line.ok, line.figure  # 3.3× in wall time, but the SQL is 2× the reference's
    slow_sql = scopes.Timing(wall=0.0020, database=0.0010)
    assert not scopes._scope_line("x", 5, slow_sql, 5, reference, judge_time=True).ok
    too_slow = scopes.Timing(wall=0.150, database=0.0004)
    assert not scopes._scope_line("x", 5, too_slow, 5, reference, judge_time=True).ok
    assert not scopes._scope_line("x", 5, fast_sql, 6, reference, judge_time=True).ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_bench_vacuums_the_dead_rows_a_rolled_back_sweep_leaves():
    from django.db import connection

    from xiachen.management.commands.bench import Command

    def dead_rows():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute(
                "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'bench_dead_rows'"
            )
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_dead_rows (id integer)")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_dead_rows SELECT generate_series(1, 5000)")
            cursor.execute("DELETE FROM bench_dead_rows")
        assert dead_rows() == 5000
        assert "bench_dead_rows" in Command().vacuum_dead_rows()
        assert dead_rows() == 0
        assert "bench_dead_rows" not in Command().vacuum_dead_rows()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_dead_rows")


def test_a_download_is_held_to_the_export_target_and_a_page_to_the_page_target():
    export = {
        **row("sanxia_office", "/roster/export/", 5, time=3.0),
        "name": "reports:roster_export",
    }
    page = row("sanxia_office", "/roster/", 5, time=3.0)
    demo = [
        row("sanxia_office", "/roster/export/", 5),
        row("sanxia_office", "/roster/", 5),
    ]
    lines = {
        line.name: line
        for line in pages.compare(demo, [export, page], judge_time=True)
        if line.section == "time"
    }
    assert lines["sanxia_office /roster/export/"].ok
    assert "10000" in lines["sanxia_office /roster/export/"].target.replace(".0", "")
    assert not lines["sanxia_office /roster/"].ok


def test_the_load_mix_is_the_accounts_timed_pages_without_the_downloads():
    rows = [
        row("sanxia_office", "/roster/", 5),
        {**row("sanxia_office", "/roster/export/", 5), "name": "reports:roster_export"},
        {
            **row("admin", "/admin/auth/group/", 5),
            "admin": True,
            "name": "admin:auth_group_changelist",
        },
        row("admin", "/activities/", 12),
    ]
    assert pages.workload(rows) == {"sanxia_office": ["/roster/"], "admin": ["/activities/"]}


def test_the_workspace_mix_is_the_pages_issue_8_names():
    rows = [
        {**row("shengli_staff", "/", 5), "name": "reports:dashboard"},
        {**row("shengli_staff", "/activities/", 5), "name": "activities:activity_list"},
        {**row("sanxia_office", "/attendance/", 5), "name": "reports:attendance"},
        {**row("sanxia_member", "/certificates/1.pdf", 5), "name": "reports:certificate_pdf"},
        {
            **row("admin", "/admin/members/member/", 5),
            "admin": True,
            "name": "admin:members_member_changelist",
        },
        {
            **row("admin", "/admin/auth/group/", 5),
            "admin": True,
            "name": "admin:auth_group_changelist",
        },
    ]
    assert pages.workload(rows, names=pages.WORKSPACE) == {
        "shengli_staff": ["/", "/activities/"],
        "admin": ["/admin/members/member/"],
    }
    # Every page of every role: the report and the certificate join them.
    assert pages.workload(rows)["sanxia_office"] == ["/attendance/"]
    assert pages.workload(rows)["sanxia_member"] == ["/certificates/1.pdf"]


def test_a_plan_keeps_the_pages_names_for_the_next_load_run(tmp_path):
    plan = tmp_path / "locust-pages.json"
    plan.write_text(
        '{"accounts": {"admin": {"session": "k", "urls": ["/", "/admin/members/member/"]}},'
        ' "names": {"/": "reports:dashboard",'
        ' "/admin/members/member/": "admin:members_member_changelist"}}'
    )
    rows = load.rows_of_plan(plan)
    assert [(row["name"], row["admin"]) for row in rows] == [
        ("reports:dashboard", False),
        ("admin:members_member_changelist", True),
    ]
    assert pages.workload(rows, names=pages.WORKSPACE) == {"admin": ["/", "/admin/members/member/"]}


def test_the_leave_pages_are_walked_where_they_open_and_the_posts_listed(
    world, community_staff, member_user
):
    from activities.services.signup import participation_sign_up
    from tests.activities.test_signup import coming

    activity = coming(world)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    planned, unknown = pages.plan([community_staff.username, member_user.username])
    assert unknown == []
    by_account = {}
    for page in planned:
        by_account.setdefault(page.username, set()).add(page.url)
    # The member's leave form for the seat they hold; the POSTs answer a GET with 405.
    assert reverse("activities:leave_request", args=[activity.pk]) in by_account["sanxia_member"]
    assert (
        reverse("activities:leave_withdraw", args=[activity.pk]) not in by_account["sanxia_member"]
    )
    # The organizers' list of pending requests, at its first page and its deepest.
    listed = reverse("activities:leave_request_list")
    assert {listed, listed + pages.DEEPEST} <= by_account["shengli_staff"]
    assert listed not in by_account["sanxia_member"]
    assert pages.OBJECTS["activities:leave_decide"](community_staff) is None  # none pending


def test_the_walk_opens_a_called_members_answer_page_by_its_signed_link(
    world, community_staff, member_user
):
    from tests.activities.test_callouts import raise_call

    now = timezone.now()
    call = raise_call(world, community_staff, needed=2, now=now)
    answer = call.answers.get(member=world.sanxia_member)
    planned, unknown = pages.plan([community_staff.username, member_user.username])
    assert unknown == []
    walked = [p for p in planned if p.name == "activities:callout_answer"]
    # The page 3,000 members open at once from their messages: the member's own, by its token.
    assert [(p.username, p.url) for p in walked] == [("sanxia_member", answer.get_absolute_url())]
    [row] = pages.walk(walked)
    assert row["status"] == 200 and row["same_object"] and row["queries"]


def test_the_call_out_bench_calls_the_largest_communities_and_leaves_nothing(
    world, street_officer, city_admin
):
    from activities.models import CallOut
    from notifications.models import Notification
    from xiachen.bench import callouts

    lines = callouts.bench(judge=True, size=1, officer="street_officer", admin="city_admin")

    harness, timed = lines
    assert harness.ok, harness.text()
    assert "by street_officer to 1 communities" in harness.name
    assert timed.judged and timed.ok and "queries" in timed.figure
    assert not CallOut.objects.exists() and not Notification.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_bench_vacuums_many_dead_rows_of_a_big_table_too():
    # 28,000 participations inserted and rolled back are 2% of the city's: under the share,
    # and still enough to slow the index they crowd. A table's dead rows past `rows` count.
    from django.db import connection

    from xiachen.management.commands.bench import Command

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_big_table (id integer)")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_big_table SELECT generate_series(1, 100000)")
            cursor.execute("VACUUM ANALYZE bench_big_table")
            cursor.execute("DELETE FROM bench_big_table WHERE id <= 3000")  # 3% of the rows
            cursor.execute("SELECT pg_stat_force_next_flush()")
        assert "bench_big_table" not in Command().vacuum_dead_rows(rows=5000)
        assert "bench_big_table" in Command().vacuum_dead_rows(rows=2000)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_big_table")
