"""Large exports in Celery (issue 9, point 5): above EXPORT_SYNC_MAX_ROWS the same form queues a
job and opens its page, which shows the progress and then the download; the worker's file is
read back with openpyxl; only its owner finds the job and the file; the worker builds the sheet
in the office's scope of the time; failures are told plainly; old files are deleted. The
attendance records export of the review list, small enough for the request, is read back too."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from activities.models import Activity, Participation
from communities.models import StaffRole
from members.models import Member
from reports import jobs
from reports.models import ExportJob, ExportLog
from reports.records import RecordsExporter
from reports.tasks import clean_exports, run_export

ROSTER = reverse("reports:roster_export")
RECORDS = reverse("reports:records_export")
State, Error = ExportJob.State, ExportJob.Error


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


@pytest.fixture
def in_background(settings):
    """Every export of a row or more goes to a worker."""
    settings.EXPORT_SYNC_MAX_ROWS = 0


def sheet_rows(content):
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def queued(client, url, params=None):
    response = client.get(url, params or {})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert response.url == reverse("reports:export_job", args=[job.pk])
    return job


def downloaded(client, job):
    response = client.get(reverse("reports:export_download", args=[job.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


# --- The threshold: the same form, at once or in a worker ----------------------------------------


def test_up_to_the_threshold_the_file_comes_at_once(office, world, settings):
    settings.EXPORT_SYNC_MAX_ROWS = 2  # the office's two members
    response = office.get(ROSTER)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert not ExportJob.objects.exists()
    assert ExportLog.objects.get().rows == 2


def test_above_it_a_job_is_queued_and_its_page_opened(
    office, agency_office, world, in_background, django_capture_on_commit_callbacks, monkeypatch
):
    handed = []
    monkeypatch.setattr(run_export, "delay", handed.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = office.get(ROSTER, {"format": "csv", "q": "李", "full": "1", "page": "3"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("reports:export_job", args=[job.pk])
    assert handed == [job.pk]  # handed to a worker once the job is saved
    assert (job.user, job.agency, job.what, job.format) == (
        agency_office,
        world.sanxia,
        "roster",
        "csv",
    )
    assert job.full_mobiles and job.state == State.QUEUED
    assert job.filters == {"q": "李"}  # the list's filters only, as given
    assert job.rows_total == 1
    assert not ExportLog.objects.exists()  # logged when the file is written

    page = office.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in html
    assert 'data-testid="export-progress"' in html
    assert "export-download" not in html


def test_a_broker_that_cannot_be_reached_fails_the_job_plainly(
    office, world, in_background, django_capture_on_commit_callbacks, monkeypatch
):
    def down(pk):
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(run_export, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        office.get(ROSTER)
    job = ExportJob.objects.get()
    assert (job.state, job.error) == (State.FAILED, Error.QUEUE)
    assert "后台" in office.get(job.get_absolute_url()).content.decode()


# --- The worker's file ------------------------------------------------------------------------


def test_the_worker_writes_the_file_logs_it_and_the_page_offers_it(
    office, agency_office, world, in_background
):
    job = queued(office, ROSTER, {"status": ""})
    assert jobs.run_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.state == State.DONE and job.rows_done == job.rows_total == 2
    assert default_storage.exists(job.file.name)
    assert job.file.name.startswith("exports/") and "roster" not in job.file.name
    entry = ExportLog.objects.get()
    assert job.log == entry
    assert (entry.user, entry.agency, entry.what, entry.rows) == (
        agency_office,
        world.sanxia,
        "roster",
        2,
    )
    assert entry.filters == {}  # "everyone": an empty status, kept as given

    html = office.get(job.get_absolute_url()).content.decode()
    assert 'http-equiv="refresh"' not in html
    assert reverse("reports:export_download", args=[job.pk]) in html
    rows = sheet_rows(downloaded(office, job))
    assert rows[1][:2] == ["姓名", "手机号"]
    assert [row[0] for row in rows[2:]] == ["李建华", "王海燕"]
    assert rows[2][1] == "139****0001"


def test_a_job_delivered_twice_writes_one_file(office, world, in_background):
    job = queued(office, ROSTER)
    assert jobs.run_job(job.pk) == "done"
    assert jobs.run_job(job.pk) == "skipped"
    assert ExportLog.objects.count() == 1


def test_the_worker_reads_the_scope_of_its_time(office, agency_office, world, in_background):
    job = queued(office, ROSTER)
    StaffRole.objects.filter(user=agency_office).delete()
    assert jobs.run_job(job.pk) == "scope"
    job.refresh_from_db()
    assert (job.state, job.error, job.file.name) == (State.FAILED, Error.SCOPE, "")
    assert not ExportLog.objects.exists()


def test_a_failure_is_told_in_chinese_without_a_trace(office, world, in_background, monkeypatch):
    job = queued(office, RECORDS)

    def broken(self):
        raise RuntimeError("disk full at /var/secret")
        yield

    monkeypatch.setattr(RecordsExporter, "rows", broken)
    assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert (job.state, job.error) == (State.FAILED, Error.FAILED)
    html = office.get(job.get_absolute_url()).content.decode()
    assert 'data-testid="export-error"' in html
    assert "文件没能写出" in html
    assert "disk full" not in html and "RuntimeError" not in html
    assert office.get(reverse("reports:export_download", args=[job.pk])).status_code == 404
    assert not ExportLog.objects.exists()


def test_the_task_runs_the_job(office, world, in_background):
    job = queued(office, ROSTER)
    assert run_export.apply(args=[job.pk]).get() == "done"


# --- Scope --------------------------------------------------------------------------------------


def test_another_offices_job_is_not_found_and_its_file_not_served(
    client, office, world, in_background, agency_office, other_agency_office, django_user_model
):
    job = queued(office, ROSTER)
    jobs.run_job(job.pk)
    # Another agency's office, and a second office of the same agency: the job is its owner's.
    colleague = django_user_model.objects.create_user("sanxia_office_2", password="x")
    StaffRole.objects.create(user=colleague, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia)
    for other in (other_agency_office, colleague):
        client.force_login(other)
        assert client.get(job.get_absolute_url()).status_code == 404
        response = client.get(reverse("reports:export_download", args=[job.pk]))
        assert response.status_code == 404
        assert job.pk not in [
            j.pk for j in client.get(reverse("reports:export_log")).context["jobs"]
        ]


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "city_admin"])
def test_others_get_403_for_any_job(request, client, office, world, in_background, persona):
    job = queued(office, ROSTER)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(job.get_absolute_url()).status_code == 403
    assert client.get(reverse("reports:export_download", args=[job.pk])).status_code == 403
    assert client.get(RECORDS).status_code == 403


def test_an_office_that_lost_its_agency_loses_the_file(office, agency_office, world, in_background):
    job = queued(office, ROSTER)
    jobs.run_job(job.pk)
    StaffRole.objects.filter(user=agency_office).update(agency=world.yuanlin)
    assert office.get(reverse("reports:export_download", args=[job.pk])).status_code == 404


# --- An office of several agencies ----------------------------------------------------------


@pytest.fixture
def two_agencies(agency_office, world):
    StaffRole.objects.create(
        user=agency_office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin
    )


def test_an_office_of_several_chooses_the_agency(office, world, two_agencies):
    html = office.get(reverse("roster:list")).content.decode()
    assert 'data-testid="export-agency"' in html
    response = office.get(ROSTER, {"agency": world.yuanlin.pk})
    rows = sheet_rows(response.content)
    assert [row[0] for row in rows[2:]] == ["陈思远"]
    office.get(ROSTER)  # all of them
    assert list(ExportLog.objects.order_by("pk").values_list("agency", "rows")) == [
        (world.yuanlin.pk, 1),
        (None, 3),
    ]


def test_a_chosen_agency_goes_with_the_job(office, world, two_agencies, in_background):
    job = queued(office, ROSTER, {"agency": world.yuanlin.pk, "status": ""})
    assert job.agency == world.yuanlin
    jobs.run_job(job.pk)
    assert ExportLog.objects.get().agency == world.yuanlin
    # The roster of one member is not a job: the count was taken of the agency chosen.
    assert job.rows_total == 1


def test_a_job_of_all_the_offices_agencies_is_its_own(
    client, office, world, two_agencies, in_background, other_agency_office
):
    job = queued(office, ROSTER, {"status": ""})
    assert job.agency is None
    assert jobs.run_job(job.pk) == "done"
    rows = sheet_rows(downloaded(office, job))
    assert sorted(row[0] for row in rows[2:]) == ["李建华", "王海燕", "陈思远"]
    client.force_login(other_agency_office)  # 园林局's other office: not its job
    assert client.get(reverse("reports:export_download", args=[job.pk])).status_code == 404


# --- The attendance records export ----------------------------------------------------------


@pytest.fixture
def records(world, yuanlin_record):
    """Two records of 三峡's members this year (one confirmed, one absent last January), one of
    园林局's, and one of 三峡's the year before."""
    today = timezone.localdate()
    january = timezone.make_aware(dt.datetime(today.year, 1, 2, 9))
    last_year = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="=去年的清扫",
        starts_at=january.replace(year=today.year - 1),
        ends_at=january.replace(year=today.year - 1) + dt.timedelta(hours=2),
    )
    early = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="新年清扫",
        starts_at=january,
        ends_at=january + dt.timedelta(hours=2),
    )
    Participation.objects.create(
        activity=early,
        member=world.sanxia_member_2,
        status=Participation.Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
    Participation.objects.create(
        activity=last_year,
        member=world.sanxia_member,
        status=Participation.Status.PRESENT,
        hours=Decimal("1.5"),
        source=Participation.Source.ROLL_CALL,
    )
    Participation.objects.filter(pk=world.shengli_participation.pk).update(
        review=Participation.Review.CONFIRMED
    )
    return last_year


def test_the_records_export_holds_the_years_records_of_the_office_only(office, world, records):
    response = office.get(RECORDS)
    assert response.status_code == 200
    rows = sheet_rows(response.content)
    year = timezone.localdate().year
    assert rows[0][0].startswith(f"考勤记录 {year}-01-01 – {year}-12-31 · 导出时间 ")
    assert rows[1] == [
        "日期",
        "活动",
        "社区",
        "类型",
        "性质",
        "状态",
        "时长",
        "审核",
        "党员",
        "手机号",
    ]
    body = rows[2:-1]
    assert [(row[1], row[8], row[9]) for row in body] == [
        ("新年清扫", "王海燕", "139****0002"),
        ("沿江防汛巡逻", "李建华", "139****0001"),
    ]
    assert body[0][5] == "缺席" and body[0][6] is None
    patrol = body[1]
    assert patrol[0] == timezone.localdate(world.shengli_activity.starts_at).isoformat()
    assert (patrol[2], patrol[3], patrol[4]) == ("胜利一路社区", world.patrol.name, "下沉任务")
    assert (patrol[5], patrol[6], patrol[7]) == ("已参加", 2, "已确认")
    assert rows[-1][:2] == ["合计", "2 条记录"] and rows[-1][6] == 2
    entry = ExportLog.objects.get()
    assert (entry.what, entry.rows, entry.agency) == ("records", 2, world.sanxia)
    assert entry.filters == {"date_from": f"{year}-01-01", "date_to": f"{year}-12-31"}


def test_the_records_export_follows_the_review_lists_filters(office, world, records):
    year = timezone.localdate().year - 1
    params = {"date_from": f"{year}-01-01", "date_to": f"{year}-12-31", "format": "csv"}
    response = office.get(RECORDS, {**params, "status": "present", "full": "1"})
    content = response.content
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(row[1], row[9]) for row in rows[2:-1]] == [("'=去年的清扫", "13900000001")]
    assert rows[-1][6] == "1.5"
    assert ExportLog.objects.get().full_mobiles is True
    # The list offers the export with its filters.
    html = office.get(reverse("reports:review"), {"status": "present"}).content.decode()
    assert 'action="' + RECORDS + '"' in html
    assert '<input type="hidden" name="status" value="present">' in html


@pytest.mark.parametrize(
    "hostile",
    [
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
        {"date_from": "2026-13-45", "community": "abc", "type": "-1"},
        {"community": "999999999999999999999", "review": "<script>", "status": "'; DROP"},
        {"agency": "1 OR 1=1", "format": "../../etc/passwd", "full": "yes"},
        {"page": "x" * 5000, "date_to": "2000-01-01", "date_from": "2030-01-01"},
    ],
)
def test_hostile_filters_neither_fail_nor_leak(office, world, records, hostile, settings):
    for threshold in (10_000, 0):
        settings.EXPORT_SYNC_MAX_ROWS = threshold
        response = office.get(RECORDS, hostile)
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            job = ExportJob.objects.order_by("-pk").first()
            assert set(job.filters) <= set(RecordsExporter.filter_names)
            assert all(len(value) <= 100 for value in job.filters.values())
            assert jobs.run_job(job.pk) == "done"
            content = downloaded(office, job)
        else:
            content = response.content
        assert "陈思远".encode() not in content
        assert world.yuanlin_member.mobile.encode() not in content


def test_another_agencys_community_filter_brings_none_of_its_members(
    office, world, records, yuanlin_record
):
    response = office.get(RECORDS, {"community": world.shenzhen.pk, "format": "csv"})
    assert "陈思远" not in response.content.decode("utf-8-sig")


# --- Clean-up ------------------------------------------------------------------------------------


def test_files_past_the_retention_are_deleted_and_stuck_jobs_failed(
    office, agency_office, world, in_background, settings
):
    settings.EXPORT_RETENTION_HOURS = 24
    old, recent = queued(office, ROSTER), None
    jobs.run_job(old.pk)
    recent = ExportJob.objects.create(
        user=agency_office, agency=world.sanxia, what="roster", format="xlsx"
    )
    jobs.run_job(recent.pk)
    stuck = ExportJob.objects.create(
        user=agency_office,
        agency=world.sanxia,
        what="roster",
        format="xlsx",
        state=State.RUNNING,
        created_at=timezone.now() - jobs.STALE_AFTER - dt.timedelta(minutes=1),
    )
    waiting = ExportJob.objects.create(
        user=agency_office, agency=world.sanxia, what="roster", format="xlsx"
    )
    old.refresh_from_db()
    recent.refresh_from_db()
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(hours=25))

    assert clean_exports.apply().get() == {"expired": 1, "stopped": 1}

    assert not default_storage.exists(old.file.name)
    assert default_storage.exists(recent.file.name)
    old.refresh_from_db()
    assert (old.state, old.file.name) == (State.EXPIRED, "")
    assert office.get(reverse("reports:export_download", args=[old.pk])).status_code == 404
    assert "重新导出" in office.get(old.get_absolute_url()).content.decode()
    stuck.refresh_from_db()
    assert (stuck.state, stuck.error) == (State.FAILED, Error.STOPPED)
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED
    assert ExportLog.objects.count() == 2  # the log keeps its lines


def test_the_clean_up_is_on_beats_schedule():
    from xiachen.celery import app

    assert "reports.clean_exports" in {entry["task"] for entry in app.conf.beat_schedule.values()}


# --- The pages ---------------------------------------------------------------------------------


def test_the_export_log_lists_the_users_jobs(office, world, in_background):
    job = queued(office, ROSTER)
    html = office.get(reverse("reports:export_log")).content.decode()
    assert 'data-testid="export-job-row"' in html and job.get_absolute_url() in html


def test_the_job_page_has_no_inline_script_or_style(office, world, in_background):
    job = queued(office, ROSTER)
    for state in (State.QUEUED, State.DONE, State.FAILED):
        ExportJob.objects.filter(pk=job.pk).update(state=state, rows_done=1)
        html = office.get(job.get_absolute_url()).content.decode()
        assert " style=" not in html
        assert "<script>" not in html and "<script " not in html.replace('<script src="', "")


def test_the_records_are_read_in_a_fixed_number_of_queries(
    world, agency_office, django_assert_max_num_queries
):
    members = Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i:03}", mobile=f"137{i:08}") for i in range(30)
    )
    Participation.objects.bulk_create(
        Participation(
            activity=world.shengli_activity,
            member=member,
            status=Participation.Status.PRESENT,
            hours=1,
            source=Participation.Source.ROLL_CALL,
        )
        for member in members
    )
    exporter = RecordsExporter.for_office(user=agency_office, data={})
    # The rows (with a setting of the cursor and its reset on PostgreSQL), whatever their number.
    with django_assert_max_num_queries(3):
        exporter.xlsx()
    assert exporter.rows_written == 31
