"""Importing a roster from an .xlsx: the template, every bad cell named, duplicates, all or
nothing, corrupt files and limits, the preview and its confirmation, and scope."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from members.imports import COLUMNS, check_rows, read_rows
from members.models import Member
from members.roster import PENDING_IMPORT

IMPORT = reverse("roster:import")
PREVIEW = reverse("roster:import_preview")
TEMPLATE = reverse("roster:import_template")
HEADERS = ["姓名", "手机号", "是否党员（是/否）", "职务", "党支部", "居住地社区", "特长"]


def xlsx(rows, headers=HEADERS, name="roster.xlsx"):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return SimpleUploadedFile(name, output.getvalue())


GOOD = [
    ["赵敏", "13600000001", "是", "科员", "第一支部", "深圳路社区", "摄影"],
    ["钱进", 13600000002, "否", "", "", "", ""],  # a mobile typed into a number cell
    ["孙悦", "13600000003", "", "", "", "", ""],
]


@pytest.fixture
def office(client, agency_office):
    client.force_login(agency_office)
    return client


def upload(client, rows=GOOD, **kwargs):
    return client.post(IMPORT, {"file": xlsx(rows, **kwargs)})


def errors_of(response):
    return [(e.row, e.column, e.message) for e in response.context["checked"].errors]


# --- The template ---------------------------------------------------------------------------


def test_the_template_has_the_headers_the_import_reads(office, world):
    response = office.get(TEMPLATE)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    assert headers == HEADERS
    assert sheet.max_row == 1 or all(
        c.value is None for row in sheet.iter_rows(min_row=2) for c in row
    )


def test_a_filled_in_template_imports(office, world):
    template = load_workbook(io.BytesIO(office.get(TEMPLATE).content))
    template.worksheets[0].append(GOOD[0])
    output = io.BytesIO()
    template.save(output)
    response = office.post(IMPORT, {"file": SimpleUploadedFile("名册.xlsx", output.getvalue())})
    assert response.status_code == 302 and response.url == PREVIEW


# --- Preview, then confirm ------------------------------------------------------------------


def test_a_good_file_is_previewed_then_imported_with_history(office, world, agency_office):
    count = Member.objects.count()
    response = upload(office)
    assert response.status_code == 302 and response.url == PREVIEW
    assert Member.objects.count() == count  # nothing before the confirmation
    preview = office.get(PREVIEW)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "赵敏" in page and "136****0001" in page
    token = office.session[PENDING_IMPORT]["token"]
    response = office.post(PREVIEW, {"token": token})
    assert response.status_code == 302 and response.url == reverse("roster:list")
    imported = Member.objects.filter(mobile__startswith="136").order_by("mobile")
    assert [(m.name, m.agency, m.is_party_member) for m in imported] == [
        ("赵敏", world.sanxia, True),
        ("钱进", world.sanxia, False),
        ("孙悦", world.sanxia, True),
    ]
    assert imported[0].residence_community == world.shenzhen
    assert imported[0].history.get().history_user == agency_office
    assert imported[0].history.get().history_change_reason == "roster import"
    assert PENDING_IMPORT not in office.session


def test_confirming_needs_the_previews_token(office, world):
    upload(office)
    count = Member.objects.count()
    office.post(PREVIEW, {"token": "forged"})
    assert Member.objects.count() == count


def test_cancelling_imports_nothing(office, world):
    upload(office)
    count = Member.objects.count()
    token = office.session[PENDING_IMPORT]["token"]
    office.post(PREVIEW, {"token": token, "cancel": "1"})
    assert Member.objects.count() == count
    assert PENDING_IMPORT not in office.session


def test_a_mobile_added_after_the_preview_stops_the_whole_import(office, world):
    upload(office)
    Member.objects.create(agency=world.sanxia, name="抢先", mobile="13600000002")
    count = Member.objects.count()
    token = office.session[PENDING_IMPORT]["token"]
    response = office.post(PREVIEW, {"token": token})
    assert response.status_code == 200
    assert [e.row for e in response.context["checked"].errors] == [3]
    assert Member.objects.count() == count


def test_another_office_cannot_confirm_an_import(office, world, other_agency_office):
    """The pending import lives in the uploader's session and names its login and agency: a
    session carried over to another login (or an office that lost the agency) finds none."""
    upload(office)
    session = office.session
    pending = session[PENDING_IMPORT]
    pending["user"] = other_agency_office.pk
    session[PENDING_IMPORT] = pending
    session.save()
    office.force_login(other_agency_office)
    session = office.session
    session[PENDING_IMPORT] = pending
    session.save()
    count = Member.objects.count()
    response = office.post(PREVIEW, {"token": pending["token"]})
    assert response.status_code == 302 and response.url == IMPORT
    assert Member.objects.count() == count


def test_an_import_for_another_agency_is_refused(office, world):
    count = Member.objects.count()
    response = office.post(IMPORT, {"agency": world.yuanlin.pk, "file": xlsx(GOOD)})
    # The agency field offers the office's own agency only; a hidden field is not trusted.
    assert response.status_code == 200
    assert "agency" in response.context["form"].errors
    assert PENDING_IMPORT not in office.session
    assert Member.objects.count() == count


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "city_admin"])
def test_others_cannot_import(request, client, world, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(IMPORT, {"file": xlsx(GOOD)}).status_code == 403
    assert client.post(PREVIEW, {"token": "x"}).status_code == 403


# --- Bad cells, duplicates: nothing imported --------------------------------------------------


def test_every_bad_cell_is_named_by_row_column_and_reason(office, world):
    rows = [
        GOOD[0],
        ["", "12345", "也许", "", "", "无此社区", ""],
        ["李四", "1380000000x", "是", "x" * 51, "", "", ""],
    ]
    response = upload(office, rows)
    assert response.status_code == 200
    errors = errors_of(response)
    cells = {(row, column.split(" · ")[0]) for row, column, _message in errors}
    assert cells == {(3, "A"), (3, "B"), (3, "C"), (3, "F"), (4, "B"), (4, "D")}
    messages = dict(((row, column.split(" · ")[0]), message) for row, column, message in errors)
    assert "无此社区" in messages[(3, "F")]
    assert "是" in messages[(3, "C")]
    page = response.content.decode()
    assert page.count('data-testid="import-error"') == 6
    assert "B · 手机号" in page
    assert PENDING_IMPORT not in office.session
    assert not Member.objects.filter(mobile="13600000001").exists()


def test_duplicates_in_the_file_and_on_the_roster_are_caught(office, world):
    rows = [
        GOOD[0],
        ["又一个赵敏", "13600000001", "", "", "", "", ""],
        ["李建华", world.sanxia_member.mobile, "", "", "", "", ""],
        # Another agency's member's mobile is fine: unique within the agency (the model's rule).
        ["陈思远", world.yuanlin_member.mobile, "", "", "", "", ""],
    ]
    errors = errors_of(upload(office, rows))
    assert [(row, column.split(" · ")[0]) for row, column, _m in errors] == [(3, "B"), (4, "B")]
    assert "2" in errors[0][2]  # names the row it repeats
    assert not Member.objects.filter(mobile="13600000001").exists()


def test_columns_are_found_by_their_headers_in_any_order_and_in_english(world):
    from django.utils import translation

    with translation.override("en"):
        english = [str(label) for _name, label, _width in COLUMNS]
    file = xlsx([["13600000009", "周到"]], headers=[english[1], english[0]])
    assert read_rows(file) == [(2, {"name": "周到", "mobile": "13600000009"})]
    assert check_rows(world.sanxia, read_rows(file)).valid


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(office, world):
    rows = [GOOD[0], [None] * 7, ["", "123", "", "", "", "", ""]]
    assert {row for row, _c, _m in errors_of(upload(office, rows))} == {4}


# --- Files that are not a roster --------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        SimpleUploadedFile("roster.xlsx", b"not a spreadsheet"),
        SimpleUploadedFile("roster.xlsx", b"PK\x03\x04 truncated zip"),
        SimpleUploadedFile("roster.csv", "姓名,手机号\n赵敏,13600000001\n".encode()),
        SimpleUploadedFile("roster.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel"),
    ],
    ids=["text", "corrupt-zip", "csv", "xls"],
)
def test_a_file_that_is_not_an_xlsx_is_a_clear_error(office, world, file):
    response = office.post(IMPORT, {"file": file})
    assert response.status_code == 200
    assert "file" in response.context["form"].errors
    assert ".xlsx" in " ".join(response.context["form"].errors["file"])


def test_a_zip_that_is_not_a_workbook_is_a_clear_error(office, world):
    import zipfile

    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("hello.txt", "hi")
    response = office.post(IMPORT, {"file": SimpleUploadedFile("r.xlsx", output.getvalue())})
    assert response.status_code == 200
    assert "file" in response.context["form"].errors


def test_a_file_without_the_headers_is_refused(office, world):
    response = upload(office, [["赵敏", "13600000001"]], headers=["甲", "乙"])
    assert "姓名" in " ".join(response.context["form"].errors["file"])


def test_an_empty_file_is_refused(office, world):
    response = upload(office, [])
    assert response.context["form"].errors["file"]


def test_too_many_rows_or_too_big_a_file_is_refused(office, world, settings):
    settings.ROSTER_IMPORT_MAX_ROWS = 2
    response = upload(office)
    assert "2" in " ".join(response.context["form"].errors["file"])
    settings.ROSTER_IMPORT_MAX_ROWS = 2000
    settings.ROSTER_IMPORT_MAX_BYTES = 100
    response = upload(office)
    assert "100" in " ".join(response.context["form"].errors["file"])
    assert PENDING_IMPORT not in office.session


def test_errors_are_in_chinese(agency_office, world):
    client = Client()  # no language cookie: the default, zh-hans
    client.force_login(agency_office)
    response = upload(client, [["", "123", "", "", "", "", ""]])
    page = response.content.decode()
    assert "没有导入" in page or "未导入" in page


def test_a_sheet_of_endless_blank_rows_is_refused(world, settings):
    settings.ROSTER_IMPORT_MAX_ROWS = 5
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    sheet.cell(row=2000, column=1, value="赵敏")  # 1,998 blank rows above it
    output = io.BytesIO()
    workbook.save(output)
    with pytest.raises(ValidationError) as raised:
        read_rows(SimpleUploadedFile("r.xlsx", output.getvalue()))
    assert raised.value.code == "too_many_rows"


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_read(
    office, world, monkeypatch
):
    """A "zip bomb": a small upload whose archive unpacks to far more than any roster. It is
    refused from the sizes the archive declares, before openpyxl reads it; nothing imported."""
    import zipfile

    from members import imports

    monkeypatch.setattr(imports, "MAX_UNPACKED_BYTES", 1024 * 1024)
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx(GOOD).read())) as good:
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as bomb:
            for info in good.infolist():
                bomb.writestr(info, good.read(info))
            bomb.writestr("xl/media/padding.bin", b"\0" * (2 * 1024 * 1024))
    assert len(output.getvalue()) < 100 * 1024  # small to upload
    with pytest.raises(ValidationError) as raised:
        read_rows(SimpleUploadedFile("roster.xlsx", output.getvalue()))
    assert raised.value.code == "too_large"
    members = Member.objects.count()
    response = office.post(IMPORT, {"file": SimpleUploadedFile("roster.xlsx", output.getvalue())})
    assert response.status_code == 200
    assert "解压后" in " ".join(response.context["form"].errors["file"])  # said plainly, in Chinese
    assert PENDING_IMPORT not in office.session
    assert Member.objects.count() == members
