"""The roster's export: .xlsx read back with openpyxl, .csv with its BOM, masked mobiles unless
full ones are asked for, formulas neutralised, and the office's own agency only whatever the
parameters say."""

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from members.models import Member
from reports.exports import RosterExporter, display_width, neutralised

EXPORT = reverse("reports:roster_export")


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


def sheet_of(response):
    return load_workbook(io.BytesIO(response.content)).worksheets[0]


def test_the_xlsx_has_a_title_chinese_headers_frozen_and_fitting_columns(office, world):
    response = office.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    sheet = sheet_of(response)
    assert sheet["A1"].value.startswith("党员名册 · 导出时间 ")
    headers = [cell.value for cell in sheet[2]]
    assert headers[:3] == ["姓名", "手机号", "单位"]
    assert sheet.freeze_panes == "A3"
    for index, header in enumerate(headers, start=1):
        letter = sheet.cell(row=2, column=index).column_letter
        assert sheet.column_dimensions[letter].width >= display_width(header)
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3)]
    assert [row[0] for row in rows] == ["李建华", "王海燕"]  # by name
    assert rows[0][1] == "139****0001"
    assert rows[0][2] == world.sanxia.name


def test_full_mobiles_only_when_asked(office, world):
    masked = sheet_of(office.get(EXPORT))
    full = sheet_of(office.get(EXPORT, {"full": "1"}))
    assert masked["B3"].value == "139****0001"
    assert full["B3"].value == "13900000001"


def test_the_csv_is_utf8_with_a_bom_and_the_same_rows(office, world):
    response = office.get(EXPORT, {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1][:2] == ["姓名", "手机号"]
    assert [row[0] for row in rows[2:]] == ["李建华", "王海燕"]
    assert rows[2][1] == "139****0001"


def test_the_export_follows_the_lists_filters(office, world):
    sheet = sheet_of(office.get(EXPORT, {"q": "海燕"}))
    assert [row[0].value for row in sheet.iter_rows(min_row=3)] == ["王海燕"]


def test_an_unknown_format_falls_back_to_xlsx(office, world):
    response = office.get(EXPORT, {"format": "pdf"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")


def test_no_parameter_brings_another_agencys_members(office, world):
    params = {"agency": world.yuanlin.pk, "status": "", "q": world.yuanlin_member.name}
    for extension in ["xlsx", "csv"]:
        response = office.get(EXPORT, {**params, "format": extension, "full": "1"})
        assert world.yuanlin_member.name.encode() not in response.content
        assert world.yuanlin_member.mobile.encode() not in response.content


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "city_admin"])
def test_others_get_no_export(request, client, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(EXPORT).status_code == 403


def test_cells_that_would_run_as_formulas_are_neutralised(office, world):
    Member.objects.filter(pk=world.sanxia_member.pk).update(position='=HYPERLINK("x")')
    sheet = sheet_of(office.get(EXPORT))
    assert sheet["E3"].value == '\'=HYPERLINK("x")'
    assert sheet["E3"].data_type == "s"
    assert neutralised("-1+2") == "'-1+2" and neutralised(5) == 5


def test_the_export_reads_the_members_in_one_query(world, django_assert_num_queries):
    Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i:03}", mobile=f"137{i:08}") for i in range(50)
    )
    exporter = RosterExporter(Member.objects.filter(agency=world.sanxia))
    with django_assert_num_queries(1):
        exporter.xlsx()
    assert exporter.rows_written == 52
