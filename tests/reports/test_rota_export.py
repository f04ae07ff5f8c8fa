"""The duty rota's month as a spreadsheet: the office's agreement only, mobiles masked unless
asked for, every download in the export log."""

import datetime as dt
import io

from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from activities.models import DutyAssignment
from activities.services.rota import month_days
from communities.validators import mask_mobile
from reports.models import ExportLog


def next_month():
    return (timezone.localdate().replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def export_url(world, month, **params):
    query = "&".join(
        f"{key}={value}" for key, value in {"month": f"{month:%Y-%m}", **params}.items()
    )
    return f"{reverse('reports:rota_export', args=[world.agreement.pk])}?{query}"


def test_the_office_downloads_the_month_a_day_a_line_and_it_is_logged(world, client, agency_office):
    month = next_month()
    DutyAssignment.objects.create(
        agreement=world.agreement, date=month + dt.timedelta(days=2), member=world.sanxia_member
    )
    client.force_login(agency_office)
    response = client.get(export_url(world, month))
    assert response.status_code == 200

    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert world.agreement.community.name in rows[0][0]
    days = rows[2:]
    assert len(days) == len(month_days(month))
    third = days[2]
    assert third[2] == world.sanxia_member.name
    assert third[3] == mask_mobile(world.sanxia_member.mobile)
    assert third[4] == "1/1"
    assert days[0][2] in (None, "") and days[0][4] == "0/1"

    log = ExportLog.objects.get()
    assert (log.user, log.agency, log.what, log.rows) == (
        agency_office,
        world.sanxia,
        ExportLog.What.ROTA,
        len(month_days(month)),
    )
    assert log.filters == {"agreement": world.agreement.number, "month": f"{month:%Y-%m}"}
    assert log.full_mobiles is False


def test_full_mobiles_are_given_when_asked_for_and_the_log_says_so(world, client, agency_office):
    month = next_month()
    DutyAssignment.objects.create(agreement=world.agreement, date=month, member=world.sanxia_member)
    client.force_login(agency_office)
    response = client.get(export_url(world, month, full=1, format="csv"))
    assert world.sanxia_member.mobile in response.content.decode("utf-8-sig")
    assert ExportLog.objects.get().full_mobiles is True


def test_another_agency_and_the_community_get_no_file_and_no_log(
    world, client, other_agency_office, community_staff
):
    client.force_login(other_agency_office)
    assert client.get(export_url(world, next_month())).status_code == 404
    client.force_login(community_staff)
    assert client.get(export_url(world, next_month())).status_code == 403
    assert not ExportLog.objects.exists()
