"""The Celery app. The worker and beat run on the embedded file-system broker on a laptop and
on Redis in production; the code is the same."""

import logging.config
import os

from celery import Celery, signals
from celery.schedules import crontab
from django.conf import settings

from . import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiachen.settings")

app = Celery("xiachen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The periodic tasks, declared here only. Beat (xiachen/beat.py) writes each into the database
# when it starts, where administrators may change its timing or switch it off; a change there
# is kept across restarts. The names are those of the rows older databases already hold.
app.conf.beat_schedule = {
    "send due reminders": {
        "task": "activities.sweep_reminders",
        "schedule": 60.0,
        # A sweep missed while beat was down is not worth running late: the next one is.
        "options": {"expire_seconds": 55},
    },
    "escalate call-outs": {
        "task": "activities.escalate_call_outs",
        "schedule": 60.0,
        # A run missed while beat was down is made by the next one (the rule reads the clock).
        "options": {"expire_seconds": 55},
    },
    "expire agreements": {
        "task": "communities.expire_agreements",
        "schedule": crontab(minute="5", hour="0"),  # in CELERY_TIMEZONE, Asia/Shanghai
    },
    "refresh the service summary": {
        "task": "reports.refresh_summary",
        "schedule": settings.SERVICE_SUMMARY_MINUTES * 60.0,
        # A refresh missed while beat was down is made by the next one.
        "options": {"expire_seconds": settings.SERVICE_SUMMARY_MINUTES * 60 - 5},
    },
    "delete old export files": {
        "task": "reports.clean_exports",
        "schedule": crontab(minute="35"),  # every hour
    },
    "delete ended sessions": {
        "task": "members.clear_sessions",
        "schedule": crontab(minute="50", hour="3"),  # nightly
    },
    "refresh overviews": {
        "task": "reports.refresh_overviews",
        "schedule": settings.OVERVIEW_REFRESH_MINUTES * 60.0,
        # A refresh missed while beat was down is not worth running late: the next one is.
        "options": {"expire_seconds": settings.OVERVIEW_REFRESH_MINUTES * 60 - 5},
    },
}


@signals.setup_logging.connect
def use_the_project_logging(**kwargs):
    """Workers and beat log as the web app does (settings.LOGGING: JSON lines in production,
    each with the id of the task it was written in) instead of Celery's own format."""
    logging.config.dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def carry_the_request_id(headers=None, **kwargs):
    """A task queued while serving a request carries the request's id in its message, so that
    the worker's lines of that task name the request that asked for it."""
    current = logs.request_id.get()
    if current and headers is not None:
        headers.setdefault("request_id", current)


@signals.task_prerun.connect
def take_the_request_id(task=None, **kwargs):
    logs.request_id.set(getattr(task.request, "request_id", None) if task else None)


@signals.task_postrun.connect
def forget_the_request_id(**kwargs):
    logs.request_id.set(None)


@app.task(name="xiachen.ping")
def ping():
    """Answers "pong": lets a person or a test check that a worker is consuming."""
    return "pong"
