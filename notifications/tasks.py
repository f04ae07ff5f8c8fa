"""Celery tasks of the outbox. Each takes ids or nothing, re-reads the database and calls one
service. Messages reach workers in one place, `enqueue_due`, always after the transaction that
queued them commits: each channel through a task of its own, on the queue settings route it to
(the inbox with the sweep, e-mail on `mail`, group robots on `robots`, text messages on
`sms`), with its own time limit.
"""

import datetime as dt
import uuid
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from . import delivery
from .models import Notification

# A message handed to a worker this long ago and not yet claimed is taken to be lost with its
# worker (or its broker message) and is handed out again; claims keep a second copy harmless.
REENQUEUE_AFTER = delivery.CLAIM_STALE_AFTER

RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=settings.CELERY_TASK_MAX_RETRIES,
    retry_backoff=True,
    retry_backoff_max=settings.CELERY_TASK_RETRY_BACKOFF_MAX,
    retry_jitter=True,
)
DELIVERY = dict(
    bind=True,
    time_limit=settings.NOTIFICATION_TASK_TIME_LIMIT,
    soft_time_limit=settings.NOTIFICATION_TASK_SOFT_TIME_LIMIT,
    **RETRY,
)
# A run starts no send with less than that send's timeout left before the soft limit (the settings
# keep every timeout below it, so the first send of a run always starts).
BUDGET = settings.NOTIFICATION_TASK_SOFT_TIME_LIMIT


def _token(task) -> str:
    # The task id is the claim token: a redelivery of this very task may resume its claim.
    # Called directly (no task id), a call of its own must not share another's claim.
    return task.request.id or f"direct-{uuid.uuid4().hex}"


def _report(outcome) -> dict:
    return {f"{kind}:{result}": n for (kind, result), n in outcome.items()}


@shared_task(name="notifications.deliver_inbox", **DELIVERY)
def deliver_inbox(self, ids):
    return _report(delivery.deliver_inbox(ids, token=_token(self)))


@shared_task(name="notifications.deliver_email", **DELIVERY)
def deliver_email(self, ids):
    return _report(delivery.deliver_email(ids, token=_token(self), budget=BUDGET))


@shared_task(name="notifications.deliver_robot", **DELIVERY)
def deliver_robot(self, ids):
    """One robot's messages: one post per message text."""
    return _report(delivery.deliver_robot(ids, token=_token(self), budget=BUDGET))


@shared_task(name="notifications.deliver_sms", **DELIVERY)
def deliver_sms(self, ids):
    """Text messages, one provider request each."""
    return _report(delivery.deliver_sms(ids, token=_token(self), budget=BUDGET))


Channel = Notification.Channel
# The task of each channel, and how many messages one task takes: its work stays well within its
# time limit.
TASKS = {
    Channel.INAPP: (deliver_inbox, 500),
    Channel.EMAIL: (deliver_email, 50),
    Channel.WEBHOOK: (deliver_robot, 500),
    Channel.SMS: (deliver_sms, 50),
}


def publish(task, ids) -> None:
    task.delay(ids)


def _batch(channel, robot_owner, community_id, agency_id) -> tuple:
    """Which messages go to a task together: those of a channel, and a group robot's apart from
    other robots', so that what it posts in one run is one post per text."""
    if channel == Channel.WEBHOOK:
        owner_id = community_id if robot_owner == Notification.RobotOwner.COMMUNITY else agency_id
        return (channel, robot_owner, owner_id)
    return (channel,)


def enqueue_due(now: dt.datetime | None = None) -> int:
    """Hands pending, due messages to workers — per channel, a group robot's all in one task —
    marking them so that the next sweep does not hand them out again (unless they seem lost).
    Messages whose claim went stale (their worker died) are handed out again too. Tasks go out
    after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            delivery.deliverable(now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REENQUEUE_AFTER))
            .order_by("due_at", "pk")
            .values_list("pk", "channel", "robot_owner", "community_id", "agency_id")
        )
        if not rows:
            return 0
        Notification.objects.filter(pk__in=[row[0] for row in rows]).update(enqueued_at=now)
        batches = {}
        for pk, *where in rows:
            batches.setdefault(_batch(*where), []).append(pk)
        for (channel, *_robot), ids in batches.items():
            task, size = TASKS[channel]
            for start in range(0, len(ids), size):
                transaction.on_commit(partial(publish, task, ids[start : start + size]))
    return len(rows)
