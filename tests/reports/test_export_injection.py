"""Issue 11, point 7: no cell of any export can run as a formula in a spreadsheet (CSV and XLSX
injection). Every exporter a job can run (reports.registry.EXPORTERS) and the rota's are
asked for in both formats after every text the exports show was set to a formula."""

import csv
import io

import pytest
from django.db import models
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from activities.models import Activity, DutyAssignment
from communities.models import Agency, Community, Grid, Street
from members.models import Member
from reports.registry import EXPORTERS

# The export URL of each exporter of the registry (by its identifier), and the rota's.
EXPORT_URLS = {
    "roster": lambda w: reverse("reports:roster_export"),
    "records": lambda w: reverse("reports:records_export"),
    "attendance": lambda w: reverse("reports:attendance_export") + "?period=year",
}
ROTA = "rota"
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]
DANGER = ("=", "+", "-", "@", "\t", "\r")


def hostile(model, pks, start=0):
    """Every text field of the rows set to a formula (one per field, in turn)."""
    fields = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, (models.CharField, models.TextField))
        and not f.choices
        and f.name not in ("mobile", "token", "password")
        and not f.unique
    ]
    for pk in pks:
        values = {}
        for i, f in enumerate(fields):
            # The row's id at the end keeps names unique where they must be.
            value = f"{FORMULAS[(start + i) % len(FORMULAS)]}{pk}"
            values[f.name] = value[-(f.max_length or 100) :] if len(value) > 100 else value
        model.objects.filter(pk=pk).update(**values)
    return len(fields)


@pytest.fixture
def formulas_everywhere(world, yuanlin_record):
    today = timezone.localdate()
    DutyAssignment.objects.create(agreement=world.agreement, date=today, member=world.sanxia_member)
    members = [world.sanxia_member.pk, world.sanxia_member_2.pk, world.yuanlin_member.pk]
    assert hostile(Member, members) > 3
    for i, model in enumerate((Agency, Community, Grid, Street, Activity)):
        hostile(model, model.objects.values_list("pk", flat=True), start=i)


def test_every_exporter_of_the_registry_is_checked():
    assert set(EXPORTERS) == set(EXPORT_URLS)


def cells_of(response, extension):
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if extension == "xlsx":
        book = load_workbook(io.BytesIO(content))
        return [
            (cell.value, cell.data_type)
            for sheet in book.worksheets
            for line in sheet.iter_rows()
            for cell in line
            if cell.value is not None
        ]
    text = content.decode("utf-8-sig")
    return [(value, "s") for line in csv.reader(io.StringIO(text)) for value in line if value]


def formula_like(value, data_type) -> bool:
    if data_type == "f":  # an XLSX cell stored as a formula
        return True
    if not isinstance(value, str) or not value.startswith(DANGER):
        return False
    try:  # a number written as text in a CSV ("-3") is read as the number
        float(value)
        return False
    except ValueError:
        return True


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
@pytest.mark.parametrize("what", [*sorted(EXPORT_URLS), ROTA])
def test_no_exported_cell_runs_as_a_formula(
    client, agency_office, world, formulas_everywhere, what, extension
):
    client.force_login(agency_office)
    if what == ROTA:
        url = reverse("reports:rota_export", args=[world.agreement.pk])
    else:
        url = EXPORT_URLS[what](world)
    response = client.get(url, {"format": extension, "full": "1"})
    assert response.status_code == 200, url
    cells = cells_of(response, extension)
    # The formulas are there, kept as text behind an apostrophe.
    neutralised = [v for v, _t in cells if isinstance(v, str) and v.startswith("'")]
    assert neutralised, f"no member text reached the {what} export"
    assert [v for v, t in cells if formula_like(v, t)] == []
