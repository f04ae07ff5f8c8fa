"""Celery tasks of the outbox. Each takes ids or nothing, re-reads the database and calls one
service. Messages reach workers in one place, `enqueue_due`, always after the transaction that
queued them commits."""

import datetime as dt
import uuid

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from . import delivery
from .models import Notification

DELIVERY_CHUNK = 200
# A delivery task not done by then is taken to be lost and its messages are handed out again.
REENQUEUE_AFTER = dt.timedelta(minutes=10)

RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=settings.CELERY_TASK_MAX_RETRIES,
    retry_backoff=True,
    retry_backoff_max=settings.CELERY_TASK_RETRY_BACKOFF_MAX,
    retry_jitter=True,
)


@shared_task(name="notifications.deliver", bind=True, **RETRY)
def deliver_notifications(self, ids):
    # The task id is the claim token: a redelivery of this very task may resume its claim.
    # Called directly (no task id), a call of its own must not share another's claim.
    token = self.request.id or f"direct-{uuid.uuid4().hex}"
    outcome = delivery.deliver(ids, token=token)
    return {f"{kind}:{result}": n for (kind, result), n in outcome.items()}


def enqueue_due(now: dt.datetime | None = None) -> int:
    """Hands pending, due messages to workers in chunks, marking them so the next sweep does
    not hand them out again (unless the task seems lost). Messages whose claim went stale (a
    worker died and the broker lost its task) are handed out again too. Tasks go out after
    commit."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            delivery.deliverable(now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REENQUEUE_AFTER))
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Notification.objects.filter(pk__in=ids).update(enqueued_at=now)
        chunks = [ids[i : i + DELIVERY_CHUNK] for i in range(0, len(ids), DELIVERY_CHUNK)]
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: deliver_notifications.delay(chunk))
    return len(ids)
