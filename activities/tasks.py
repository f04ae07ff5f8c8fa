"""Celery tasks of the reminder rules. Each is also reachable by hand (`manage.py
send_reminders`)."""

from celery import shared_task
from django.utils import timezone

from notifications.tasks import RETRY, enqueue_due

from . import reminders


@shared_task(name="activities.sweep_reminders", **RETRY)
def sweep_reminders():
    """Every minute (beat): queue what is due, then hand what is pending to workers."""
    queued = reminders.sweep(timezone.now())
    handed = enqueue_due()
    return {"queued": dict(queued), "handed_out": handed}


@shared_task(name="activities.escalate_call_outs", **RETRY)
def escalate_call_outs():
    """Every minute (beat): escalate the open call-outs whose need has waited long enough."""
    from .services.callouts import callout_escalate_due

    escalated = callout_escalate_due(now=timezone.now())
    return {"escalated": [call.pk for call in escalated]}
