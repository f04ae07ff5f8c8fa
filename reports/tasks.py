"""Celery tasks of the exports: the job that writes a large export, and the clean-up (beat)."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from notifications.tasks import RETRY

from . import jobs, summary
from .summaries import overview_refresh


@shared_task(name="reports.run_export", bind=True, **RETRY)
def run_export(self, job_pk):
    """Writes an export job's file (reports.jobs.run_job): acknowledged when done, so a worker
    lost mid-file leaves the message to another, which starts the file again."""
    return jobs.run_job(job_pk, last_try=self.request.retries >= settings.CELERY_TASK_MAX_RETRIES)


@shared_task(name="reports.clean_exports", **RETRY)
def clean_exports():
    """Every hour (beat): deletes export files older than EXPORT_RETENTION_HOURS."""
    return jobs.clean()


@shared_task(
    name="reports.refresh_overviews",
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def refresh_overviews() -> dict:
    """Rebuilds the street and city overviews' figures (beat, every OVERVIEW_REFRESH_MINUTES).

    Retries only a database that is briefly unavailable or locked, a few times."""
    refresh = overview_refresh()
    return {"made_at": refresh.made_at.isoformat(), "seconds": refresh.seconds}


@shared_task(name="reports.refresh_summary", **RETRY)
def refresh_summary():
    """Every SERVICE_SUMMARY_MINUTES (beat): rebuilds the monthly service summary the charts
    read."""
    return summary.refresh().rows
