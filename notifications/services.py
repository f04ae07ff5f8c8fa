"""Writes to the outbox that people make from its pages."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from .models import Notification
from .tasks import enqueue_due


@transaction.atomic
def notification_retry(*, notification: Notification) -> Notification:
    """Puts a failed message back in the queue with a fresh set of attempts, and hands it to a
    worker once this commits."""
    updated = Notification.objects.filter(
        pk=notification.pk, state=Notification.State.FAILED
    ).update(
        state=Notification.State.PENDING,
        attempts=0,
        due_at=timezone.now(),
        enqueued_at=None,
        claimed_by="",
    )
    if not updated:
        raise ValidationError(gettext_lazy("Only a failed message can be sent again."))
    transaction.on_commit(enqueue_due)
    notification.refresh_from_db()
    return notification


def notification_mark_read(*, notification: Notification) -> Notification:
    """Marks one inbox message read; reading it again keeps the first time."""
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Marks every unread inbox message of `user` read; returns how many there were."""
    return (
        Notification.objects.inbox(user).filter(read_at__isnull=True).update(read_at=timezone.now())
    )
