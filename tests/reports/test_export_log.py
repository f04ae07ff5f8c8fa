"""The export log (issue 9, point 5): each export of the roster, .xlsx or .csv, writes one line
— who, the office's agency, the filters as cleaned, the rows, whether mobiles were full — and a
failing one none; the office reads its agencies' log on a page of a fixed number of queries,
and never another office's; the admin shows it read-only."""

import gc
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from communities.models import StaffRole
from members.models import Member
from reports.exports import Column, ListExporter, RosterExporter
from reports.models import ExportLog

EXPORT = reverse("reports:roster_export")
LOG = reverse("reports:export_log")


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


@pytest.mark.parametrize("extension", ["xlsx", "csv"])
def test_each_export_writes_one_line_with_who_what_filters_and_rows(
    office, agency_office, world, extension
):
    response = office.get(EXPORT, {"format": extension, "q": "海燕", "bogus": "<x>"})
    assert response.status_code == 200
    entry = ExportLog.objects.get()
    assert entry.user == agency_office
    assert entry.agency == world.sanxia
    assert entry.what == ExportLog.What.ROSTER
    assert entry.format == extension
    # The cleaned filters, the list's starting status included; nothing the form did not take.
    assert entry.filters == {"q": "海燕", "status": Member.Status.ACTIVE}
    assert entry.rows == 1
    assert entry.full_mobiles is False


def test_full_mobiles_are_recorded(office, world):
    office.get(EXPORT, {"full": "1"})
    office.get(EXPORT, {"format": "csv"})
    assert list(ExportLog.objects.order_by("pk").values_list("full_mobiles", "rows")) == [
        (True, 2),
        (False, 2),
    ]


def test_a_filter_the_form_rejects_is_not_logged(office, world):
    office.get(EXPORT, {"status": "<script>"})
    assert ExportLog.objects.get().filters == {}


def test_a_failing_export_writes_no_line(office, world, monkeypatch):
    def broken(self):
        raise RuntimeError("disk full")
        yield

    monkeypatch.setattr(RosterExporter, "rows", broken)
    with pytest.raises(RuntimeError):
        office.get(EXPORT)
    assert not ExportLog.objects.exists()


def test_an_office_of_several_agencies_logs_no_single_agency_and_sees_its_own(
    client, agency_office, other_agency_office, world
):
    StaffRole.objects.create(
        user=agency_office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin
    )
    client.force_login(agency_office)
    client.get(EXPORT)
    entry = ExportLog.objects.get()
    assert entry.agency is None and entry.rows == 3
    assert list(ExportLog.objects.visible_to(agency_office)) == [entry]
    assert not ExportLog.objects.visible_to(other_agency_office).exists()


def _log(user, agency, count):
    ExportLog.objects.bulk_create(
        ExportLog(user=user, agency=agency, what="roster", format="xlsx", rows=i, filters={})
        for i in range(count)
    )


def test_the_office_sees_its_log_newest_first(office, agency_office, world):
    office.get(EXPORT, {"format": "csv"})
    office.get(EXPORT, {"full": "1"})
    response = office.get(LOG)
    assert response.status_code == 200
    entries = response.context["page"].object_list
    assert [(e.format, e.full_mobiles) for e in entries] == [("xlsx", True), ("csv", False)]
    assert 'data-testid="full-mobiles"' in response.content.decode()


def test_filters_show_by_their_labels_in_chinese(office, world):
    office.get(EXPORT, {"q": "海燕", "party": "true"})
    page = office.get(LOG).content.decode()
    assert "姓名或手机号 海燕 · 状态 在册 · 中共党员 党员" in page


def test_the_rota_and_the_reports_order_show_in_words(office, world):
    rota = reverse("reports:rota_export", args=[world.agreement.pk])
    office.get(rota, {"month": "2026-11"})
    office.get(reverse("reports:attendance_export"), {"format": "csv", "sort": "-rate"})
    page = office.get(LOG).content.decode()
    assert f"共驻共建协议 {world.agreement.number} · 月份 2026-11" in page
    assert "排序 出勤率 ↓" in page
    assert "agreement" not in page and "-rate" not in page


def test_another_offices_log_is_invisible(office, agency_office, other_agency_office, world):
    _log(other_agency_office, world.yuanlin, 3)
    assert not ExportLog.objects.visible_to(agency_office).exists()
    response = office.get(LOG, {"agency": world.yuanlin.pk})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 0
    assert 'data-testid="export-entry"' not in response.content.decode()


def test_the_roster_links_to_the_log(office, world):
    assert LOG in office.get(reverse("roster:list")).content.decode()


def test_anonymous_visitors_are_sent_to_login(client, world):
    response = client.get(LOG)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "city_admin"])
def test_others_get_403(request, client, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(LOG).status_code == 403


def _queries(client, url):
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


def test_the_page_costs_the_same_queries_empty_or_full(office, agency_office, world):
    empty = _queries(office, LOG)
    _log(agency_office, world.sanxia, 30)
    full = _queries(office, LOG)
    deepest = _queries(office, LOG + "?page=2")
    assert empty == full == deepest <= 15


def test_the_admin_is_read_only(staff_client, agency_office, world):
    _log(agency_office, world.sanxia, 1)
    entry = ExportLog.objects.get()
    assert staff_client.get(reverse("admin:reports_exportlog_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:reports_exportlog_add")).status_code == 403
    delete = reverse("admin:reports_exportlog_delete", args=[entry.pk])
    assert staff_client.get(delete).status_code == 403
    change = reverse("admin:reports_exportlog_change", args=[entry.pk])
    staff_client.post(change, {"rows": 99})
    entry.refresh_from_db()
    assert entry.rows == 0


@pytest.mark.parametrize("persona", ["agency_office", "other_agency_office", "community_staff"])
def test_the_scope_counts_what_the_benchs_sql_reference_counts(request, world, persona):
    from xiachen.bench import scopes

    office = request.getfixturevalue("agency_office")
    other = request.getfixturevalue("other_agency_office")
    _log(office, world.sanxia, 2)
    _log(other, world.yuanlin, 3)
    _log(office, None, 1)  # several agencies at once: the office's own
    user = request.getfixturevalue(persona)
    visible = ExportLog.objects.visible_to(user).count()
    assert visible == scopes.reference_count(ExportLog, user)
    assert visible == {"agency_office": 3, "other_agency_office": 3, "community_staff": 0}[persona]


def test_an_export_failing_mid_sheet_leaves_no_writer_behind(monkeypatch):
    """The write-only sheet streams as it goes: a failure mid-sheet finishes it, so that the
    garbage collector finds no half-written writer (it raised from nowhere, in a later test)."""

    class Broken(ListExporter):
        title = "roster"

        def columns(self):
            return [Column("name", 10)]

        def rows(self):
            yield ["李建华"]
            raise RuntimeError("disk full")

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable))
    with pytest.raises(RuntimeError):
        Broken().xlsx()
    gc.collect()
    assert seen == []
