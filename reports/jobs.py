"""Exports run in the request or in a Celery worker (issue 9, point 5), from the same form.

`export` serves a list's export: the sheet is built from the query string (the list's filters,
the format, full mobiles, the agency chosen by an office of several) and counted; up to
EXPORT_SYNC_MAX_ROWS rows it is written in the request and downloaded at once, above that an
`ExportJob` is queued and the office is sent to its page, which refreshes itself (a meta
refresh: no script) and shows the progress bar, then the download link. Either way the export
log gets one line, once the file is written.

The worker (`run_job`, reports.tasks.run_export) builds the sheet again from the job's exporter
name (reports.registry) and raw filters, in the office's scope of the time, writes it to a
temporary file and then into the default storage, which is never served publicly: the file is
downloaded through `export_download`, which finds only the requester's own jobs of agencies
they still keep. Files are deleted EXPORT_RETENTION_HOURS after they were written
(reports.tasks.clean_exports).
"""

import datetime as dt
import logging
import tempfile
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.views.decorators.http import require_http_methods

from communities.models import Agency
from communities.permissions import can_see_export_log, export_log_agency_ids

from .exports import CONTENT_TYPES, FORMATS, XLSX
from .models import ExportJob, export_file_name

logger = logging.getLogger(__name__)
State, Error = ExportJob.State, ExportJob.Error
# The progress page asks again this many seconds after it was shown, while the job runs.
REFRESH_SECONDS = 2
# A job still unfinished this long after it was asked for lost its worker or its message (a
# task's time limit and its retries take well under it): the clean-up fails it, plainly.
STALE_AFTER = dt.timedelta(hours=1)


def chosen_agency(value, agency_ids) -> int | None:
    """The agency an office of several chose (`agency=`), when it is one of its own; None for
    all of them (and for anything else)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in agency_ids else None


def export_options(request) -> dict:
    """What the export form offers the office: its agencies when it has several."""
    agency_ids = export_log_agency_ids(request.user)
    agencies = []
    if len(agency_ids) > 1:
        agencies = list(Agency.objects.filter(pk__in=agency_ids).order_by("name"))
    return {"export_agencies": agencies}


def export(request, exporter_class):
    """The export of `exporter_class` asked for by `request`'s query string: the file, or (when
    it holds more than EXPORT_SYNC_MAX_ROWS rows) a redirect to the page of the job writing it.
    The caller has checked that the user may export this list."""
    user = request.user
    agency_ids = export_log_agency_ids(user)
    if not agency_ids:
        raise PermissionDenied
    chosen = chosen_agency(request.GET.get("agency"), agency_ids)
    extension = request.GET.get("format", XLSX)
    if extension not in FORMATS:
        extension = XLSX
    full_mobiles = request.GET.get("full") == "1"
    exporter = exporter_class.for_office(
        user=user,
        data=request.GET,
        agency_ids=None if chosen is None else {chosen},
        full_mobiles=full_mobiles,
    )
    # The log's agency: the one chosen, or the office's only one; none for several at once.
    agency_id = chosen or (next(iter(agency_ids)) if len(agency_ids) == 1 else None)
    total = exporter.count()
    if total <= settings.EXPORT_SYNC_MAX_ROWS:
        response = exporter.response(extension)
        exporter.log(user=user, filters=exporter.filters_in_use, agency_id=agency_id)
        return response
    job = ExportJob.objects.create(
        user=user,
        agency_id=agency_id,
        what=exporter.identifier,
        format=extension,
        filters=exporter.raw_filters,
        full_mobiles=full_mobiles,
        rows_total=total,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    transaction.on_commit(partial(queue, job.pk))
    return redirect(job)


def queue(job_pk) -> None:
    """Hands the job to a worker; a broker that cannot be reached fails the job plainly."""
    from .tasks import run_export

    try:
        run_export.delay(job_pk)
    except Exception:
        logger.exception("export job %s could not be queued", job_pk)
        fail(job_pk, Error.QUEUE)


def fail(job_pk, error) -> None:
    ExportJob.objects.filter(pk=job_pk).exclude(state=State.DONE).update(
        state=State.FAILED, error=error, finished_at=timezone.now()
    )


def _progress(job_pk, rows) -> None:
    ExportJob.objects.filter(pk=job_pk).update(rows_done=rows)


def run_job(job_pk, *, last_try: bool = True) -> str:
    """Writes the job's file and its log line; returns what happened. A job already done or
    failed is left alone (a message delivered twice); one found running was cut off with its
    worker and starts again. A database that is away is raised for Celery to retry, unless
    this is the `last_try`; anything else fails the job with a reason the office can read."""
    started = ExportJob.objects.filter(pk=job_pk, state__in=[State.QUEUED, State.RUNNING]).update(
        state=State.RUNNING, started_at=timezone.now(), rows_done=0
    )
    if not started:
        return "skipped"
    job = ExportJob.objects.select_related("user").get(pk=job_pk)
    try:
        with translation.override(job.language):
            return _write(job)
    except SoftTimeLimitExceeded:
        fail(job_pk, Error.TIMEOUT)
        return "timeout"
    except (OperationalError, InterfaceError):
        if not last_try:
            ExportJob.objects.filter(pk=job_pk, state=State.RUNNING).update(state=State.QUEUED)
            raise
        logger.exception("export job %s failed", job_pk)
        fail(job_pk, Error.FAILED)
        return "failed"
    except Exception:
        logger.exception("export job %s failed", job_pk)
        fail(job_pk, Error.FAILED)
        return "failed"


def _write(job) -> str:
    from .registry import EXPORTERS

    exporter_class = EXPORTERS.get(job.what)
    agency_ids = export_log_agency_ids(job.user) if job.user.is_active else frozenset()
    if (
        exporter_class is None
        or not agency_ids
        or (job.agency_id and job.agency_id not in agency_ids)
    ):
        fail(job.pk, Error.SCOPE)
        return "scope"
    exporter = exporter_class.for_office(
        user=job.user,
        data=job.filters,
        agency_ids=None if job.agency_id is None else {job.agency_id},
        full_mobiles=job.full_mobiles,
    )
    total = exporter.count()
    ExportJob.objects.filter(pk=job.pk).update(rows_total=total)
    with tempfile.TemporaryFile() as output:
        exporter.write(job.format, output, partial(_progress, job.pk))
        output.seek(0)
        name = default_storage.save(export_file_name(job, f"x.{job.format}"), File(output))
    with transaction.atomic():
        log = exporter.log(user=job.user, filters=exporter.filters_in_use, agency_id=job.agency_id)
        written = ExportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(
            state=State.DONE,
            file=name,
            filename=exporter.filename(job.format),
            rows_done=exporter.rows_written,
            rows_total=max(total, exporter.rows_written),
            finished_at=timezone.now(),
            log=log,
        )
        if not written:  # failed or cleaned meanwhile: no file, no line
            transaction.set_rollback(True)
    if not written:
        default_storage.delete(name)
        return "skipped"
    return "done"


def _own_job(request, pk):
    if not can_see_export_log(request.user):
        raise PermissionDenied
    return get_object_or_404(ExportJob.objects.of(request.user).select_related("agency"), pk=pk)


@login_required
@require_http_methods(["GET", "HEAD"])
def export_job(request, pk):
    """The job's page: its progress while it runs (refreshed every REFRESH_SECONDS), the
    download link when the file is written, the reason when it failed."""
    job = _own_job(request, pk)
    return render(
        request,
        "reports/export_job.html",
        {
            "job": job,
            "refresh": REFRESH_SECONDS if job.in_progress else None,
            "retention_hours": settings.EXPORT_RETENTION_HOURS,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def export_download(request, pk):
    """The job's file, to its owner only; 404 for anyone else's job and for a file that is not
    (or no longer) there."""
    job = _own_job(request, pk)
    if job.state != State.DONE or not job.file:
        raise Http404
    try:
        handle = default_storage.open(job.file.name, "rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=job.filename or job.file.name.rsplit("/", 1)[-1],
        content_type=CONTENT_TYPES[job.format],
    )


def clean(now=None) -> dict:
    """Deletes the files written more than EXPORT_RETENTION_HOURS ago (the job stays, marked
    expired) and fails the jobs still unfinished STALE_AFTER after they were asked for."""
    now = now or timezone.now()
    before = now - dt.timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    expired = 0
    old = ExportJob.objects.filter(state=State.DONE, finished_at__lt=before).order_by("pk")
    for job in old.only("pk", "file").iterator(chunk_size=500):
        if job.file:
            default_storage.delete(job.file.name)
        expired += ExportJob.objects.filter(pk=job.pk, state=State.DONE).update(
            state=State.EXPIRED, file=""
        )
    stopped = ExportJob.objects.filter(
        state__in=[State.QUEUED, State.RUNNING], created_at__lt=now - STALE_AFTER
    ).update(state=State.FAILED, error=Error.STOPPED, finished_at=now)
    return {"expired": expired, "stopped": stopped}
