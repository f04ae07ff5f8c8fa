"""A real Celery worker, started here on the configured broker (Redis in production and in the
PostgreSQL leg of CI, where a missing Redis fails the test), writes a large export: the office
asks for it from the roster's form, is sent to the job's page, and once the worker is done the
page offers the file, which is read back with openpyxl."""

import importlib
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from reports.models import ExportJob, ExportLog
from tests.notifications.test_delivery import workers  # noqa: F401  (the fixture)

ROSTER = reverse("reports:roster_export")


@pytest.fixture
def activity_types(transactional_db):
    """Transactional tests flush the database, activity types of the data migration included."""
    from django.apps import apps

    importlib.import_module("activities.migrations.0002_activity_types").create_types(apps, None)


@pytest.mark.celery_worker
def test_a_worker_writes_a_large_export_and_its_page_offers_the_file(
    activity_types,
    workers,  # noqa: F811  (the fixture imported above)
    world,
    agency_office,
    client,
    settings,
):
    settings.EXPORT_SYNC_MAX_ROWS = 1  # the office's two members make a large export
    worker = workers.start(queues=("celery",), MEDIA_ROOT=str(settings.MEDIA_ROOT))
    client.force_login(agency_office)

    response = client.get(ROSTER, {"status": "", "full": "1"})

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response.url == job.get_absolute_url()
    worker.wait_until(
        lambda: ExportJob.objects.filter(pk=job.pk, state=ExportJob.State.DONE).exists(),
        "the export written",
        timeout=60,
    )
    worker.wait_for("Task reports.run_export[", timeout=30)
    job.refresh_from_db()
    assert job.rows_done == job.rows_total == 2
    page = client.get(job.get_absolute_url()).content.decode()
    download = reverse("reports:export_download", args=[job.pk])
    assert download in page
    response = client.get(download)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3)]
    assert [(row[0], row[1]) for row in rows] == [
        ("李建华", "13900000001"),
        ("王海燕", "13900000002"),
    ]
    entry = ExportLog.objects.get()
    assert (entry.rows, entry.full_mobiles, entry.user) == (2, True, agency_office)
