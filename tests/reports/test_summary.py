"""The monthly service summary (reports.summary): equal to the live figures of
`figures.service_by` on crafted records, rebuilt by the beat task and the command, read by the
charts with its time shown, and the charts counting live while it was never refreshed."""

import datetime as dt
import importlib
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count, DateField
from django.db.models.functions import TruncMonth
from django.test import Client
from django.utils import timezone

from activities.figures import service_by
from activities.models import Activity, Participation
from communities.permissions import ChartLens
from reports import summary
from reports.charts import figures_of, fold, participations_of
from reports.models import ServiceMonth, SummaryRefresh
from reports.tasks import refresh_summary
from tests.notifications.test_delivery import workers  # noqa: F401  (the fixture)
from tests.reports.test_charts import URL, _at, _records, _year, crafted  # noqa: F401
from xiachen.celery import app

Status = Participation.Status


@pytest.fixture
def draft(world):
    """A draft activity with someone present: the summary counts it as service_by does."""
    activity = Activity.objects.create(
        community=world.shenzhen,
        type=world.cleanup,
        title="草稿",
        starts_at=_at(_year(), 6, 3),
        ends_at=_at(_year(), 6, 3, 11),
        status=Activity.Status.DRAFT,
    )
    return Participation.objects.create(
        activity=activity,
        member=world.yuanlin_member,
        status=Status.PRESENT,
        hours=Decimal("0.5"),
        source=Participation.Source.ROLL_CALL,
    )


def _live_rows():
    month = TruncMonth(
        "activity__starts_at", tzinfo=timezone.get_current_timezone(), output_field=DateField()
    )
    rows = service_by(
        Participation.objects.all(),
        "member__agency",
        "activity__community",
        "activity__type",
        "activity__nature",
        month=month,
    )
    return {
        (
            row["month"],
            row["member__agency"],
            row["activity__community"],
            row["activity__type"],
            row["activity__nature"],
        ): (row["participations"], row["hours"])
        for row in rows
    }


def _summary_rows():
    return {
        (row.month, row.agency_id, row.community_id, row.type_id, row.nature): (
            row.present,
            row.hours,
        )
        for row in ServiceMonth.objects.filter(present__gt=0, agency__isnull=False)
    }


def _all_agencies(rows):
    """Rows by agency added up over the agencies, as the summary's rows without one."""
    added = {}
    for (month, _agency, community, type_, nature), (n, hours) in rows.items():
        key = (month, None, community, type_, nature)
        total = added.get(key, (0, Decimal(0)))
        added[key] = (total[0] + n, total[1] + hours)
    return added


def test_the_summary_equals_service_by(world, crafted, draft):  # noqa: F811
    summary.refresh()
    live = _live_rows()
    assert len(live) >= 5
    assert _summary_rows() == live
    assert {
        (row.month, None, row.community_id, row.type_id, row.nature): (row.present, row.hours)
        for row in ServiceMonth.objects.filter(present__gt=0, agency__isnull=True)
    } == _all_agencies(live)
    # Absences and leaves beside them, as the records hold them.
    for status, column in ((Status.ABSENT, "absent"), (Status.LEAVE, "leave")):
        counted = Participation.objects.filter(status=status).count()
        for by_agency in (True, False):
            rows = ServiceMonth.objects.filter(agency__isnull=not by_agency)
            assert counted and sum(getattr(row, column) for row in rows) == counted
    # A month of signed-up records alone makes no row.
    signed_up = Participation.objects.filter(status=Status.SIGNED_UP).select_related("activity")
    assert signed_up.exists()
    for record in signed_up:
        month = timezone.localtime(record.activity.starts_at).date().replace(day=1)
        assert not ServiceMonth.objects.filter(
            month=month, community=record.activity.community, type=record.activity.type_id
        ).exists()


@pytest.mark.parametrize(
    ("persona", "lens"),
    [
        ("agency_office", ChartLens.AGENCY),
        ("other_agency_office", ChartLens.AGENCY),
        ("community_staff", ChartLens.PLACES),
        ("street_officer", ChartLens.PLACES),
        ("city_admin", ChartLens.CITY),
    ],
)
@pytest.mark.parametrize("months", [(1, 12), (7, 9), (1, 1)])
def test_the_charts_figures_from_the_summary_equal_the_live_ones(
    request,
    world,
    crafted,  # noqa: F811
    draft,
    persona,
    lens,
    months,
):
    user = request.getfixturevalue(persona)
    summary.refresh()
    year = _year()
    from_summary = fold(
        summary.groups_of(user, lens, year=year, months=months), year=year, months=months
    )
    live = figures_of(participations_of(user, lens), year=year, months=months)
    assert from_summary == live
    if months == (1, 12):
        assert any(row.total for row in live["months"])


def test_a_lens_the_viewer_lacks_reads_nothing(world, crafted, agency_office, community_staff):  # noqa: F811
    summary.refresh()
    assert summary.groups_of(agency_office, ChartLens.CITY, year=_year(), months=(1, 12)) == []
    assert summary.groups_of(agency_office, ChartLens.PLACES, year=_year(), months=(1, 12)) == []
    assert summary.groups_of(community_staff, "anything", year=_year(), months=(1, 12)) == []


def test_a_refresh_replaces_the_summary_and_records_its_time(world, crafted):  # noqa: F811
    first = summary.refresh()
    before = ServiceMonth.objects.count()
    Participation.objects.filter(status=Status.PRESENT).delete()
    second = summary.refresh()
    assert before and not ServiceMonth.objects.filter(present__gt=0).exists()
    assert SummaryRefresh.objects.get() == second
    assert second.refreshed_at >= first.refreshed_at
    assert second.rows == ServiceMonth.objects.count()


def test_the_beat_task_refreshes_the_summary(world, crafted):  # noqa: F811
    assert not SummaryRefresh.objects.exists()
    rows = refresh_summary.apply().get()
    assert rows == ServiceMonth.objects.count() > 0
    assert _summary_rows() == _live_rows()


def test_beat_runs_the_refresh_every_service_summary_minutes():
    (entry,) = [
        e for e in app.conf.beat_schedule.values() if e["task"] == "reports.refresh_summary"
    ]
    assert entry["schedule"] == settings.SERVICE_SUMMARY_MINUTES * 60
    assert "reports.refresh_summary" in app.tasks


def test_the_command_refreshes_the_summary(world, crafted, capsys):  # noqa: F811
    call_command("refresh_summary")
    assert SummaryRefresh.objects.get().rows == ServiceMonth.objects.count() > 0
    assert "rows" in capsys.readouterr().out


# --- The page ---------------------------------------------------------------------------


def test_the_page_reads_the_summary_and_shows_its_time(client, world, crafted, agency_office):  # noqa: F811
    refreshed = summary.refresh()
    client.force_login(agency_office)
    shown = client.get(URL, {"year": _year()})
    total = shown.context["charts"][0].total.total
    # A record added since is not counted until the next refresh: the page read the summary.
    _records(world, 3)
    later = client.get(URL, {"year": _year()}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert later.context["charts"][0].total.total == total
    at = timezone.localtime(refreshed.refreshed_at)
    assert f"统计截至 {at:%H:%M}" in later.content.decode()
    summary.refresh()
    assert client.get(URL, {"year": _year()}).context["charts"][0].total.total == total + 3


def test_a_summary_of_another_day_shows_its_date(client, world, crafted, agency_office):  # noqa: F811
    refreshed = summary.refresh()
    refreshed.refreshed_at -= dt.timedelta(days=2)
    refreshed.save()
    client.force_login(agency_office)
    text = client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"统计截至 {timezone.localtime(refreshed.refreshed_at):%Y-%m-%d %H:%M}" in text


def test_never_refreshed_the_page_counts_live_without_a_time(client, world, crafted, agency_office):  # noqa: F811
    client.force_login(agency_office)
    response = client.get(URL, {"year": _year()})
    assert b'data-testid="chart-as-of"' not in response.content
    live = Participation.objects.filter(
        member__agency=world.sanxia, status=Status.PRESENT, activity__starts_at__year=_year()
    ).aggregate(n=Count("pk"))["n"]
    assert live and response.context["charts"][0].total.total == live


@pytest.mark.parametrize("n", [5, 50])
@pytest.mark.parametrize(
    "persona", ["agency_office", "community_staff", "street_officer", "city_admin"]
)
def test_the_page_from_the_summary_costs_the_same_queries_with_5_or_50_records(
    request, world, django_assert_num_queries, n, persona
):
    _records(world, n)
    summary.refresh()
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    # The session with its login (one statement), the second factor's device (not for community
    # staff), roles (a street officer's: and the street's communities), the bell, the member
    # record, the summary's time, the figures by month, by type and by community.
    queries = 7 + (persona == "street_officer") + (persona != "community_staff")
    with django_assert_num_queries(queries):
        response = client.get(URL, {"year": _year()})
    shown = response.context["charts"][0].total.total
    if persona in ("community_staff", "street_officer"):
        assert shown == sum(1 for i in range(n) if i % 2 == 0)  # 胜利一路社区's activities
    else:
        assert shown == n


@pytest.fixture
def activity_types(transactional_db):
    """Transactional tests flush the database, activity types of the data migration included."""
    from django.apps import apps

    importlib.import_module("activities.migrations.0002_activity_types").create_types(apps, None)


@pytest.mark.celery_worker
def test_a_worker_refreshes_the_summary_beat_asks_for(
    activity_types,
    workers,  # noqa: F811  (the fixture imported above)
    world,
    crafted,  # noqa: F811
):
    worker = workers.start(queues=("celery",))
    workers.publish("reports.refresh_summary")
    worker.wait_until(SummaryRefresh.objects.exists, "the summary refreshed", timeout=60)
    assert _summary_rows() == _live_rows()


def test_the_demo_leaves_the_summary_filled(db):
    call_command("load_demo", stdout=io.StringIO())
    assert SummaryRefresh.objects.get().rows == ServiceMonth.objects.count() > 0
    assert _summary_rows() == _live_rows()


@pytest.mark.postgres
def test_a_refresh_waits_for_one_under_way(activity_types, world, crafted):  # noqa: F811
    """Two rebuilds at once (beat's and the command's) leave each row once: the second waits
    for the first's table lock."""
    import threading

    from django.db import connections, transaction

    summary.refresh()
    expected = ServiceMonth.objects.count()
    entered, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            summary.refresh()
            entered.set()
            release.wait(30)
        connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(30)
    second = threading.Thread(target=lambda: (summary.refresh(), connections.close_all()))
    second.start()
    second.join(1)
    assert second.is_alive()  # waiting for the lock
    release.set()
    thread.join(30)
    second.join(30)
    assert ServiceMonth.objects.count() == expected
