"""Sending what the outbox holds: claim, send on the channel, record the outcome.

A row is claimed (PENDING → SENDING, with the claimer's token) by one UPDATE before anything is
sent, so a second worker or a duplicate task finds nothing to claim. The token is the Celery
task id: when a worker dies mid-send the broker delivers the same task again, with the same id,
and only that task may take the row back. A claim older than CLAIM_STALE_AFTER (longer than any
task may run) is free again, so a lost task cannot strand a message.
"""

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q
from django.utils import timezone

from communities.models import Robot

from .models import Notification

log = logging.getLogger(__name__)

CLAIM_STALE_AFTER = dt.timedelta(minutes=15)
WEBHOOK_TRIES = 3


class DeliveryError(Exception):
    pass


def deliverable(now: dt.datetime):
    """Messages to hand out: pending ones that are due, and those whose claim went stale (a
    worker died and the broker lost its task)."""
    stale = Q(state=Notification.State.SENDING, claimed_at__lt=now - CLAIM_STALE_AFTER)
    return Notification.objects.due(now) | Notification.objects.filter(stale)


def claim(ids, *, token: str, now: dt.datetime) -> list[Notification]:
    """Takes the rows among `ids` that are free to send and returns them, claimed by `token`."""
    free = (
        Q(state=Notification.State.PENDING, due_at__lte=now)
        | Q(state=Notification.State.SENDING, claimed_by=token)
        | Q(state=Notification.State.SENDING, claimed_at__lt=now - CLAIM_STALE_AFTER)
    )
    Notification.objects.filter(free, pk__in=list(ids)).update(
        state=Notification.State.SENDING,
        claimed_by=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
    )
    return list(
        Notification.objects.filter(
            pk__in=list(ids), state=Notification.State.SENDING, claimed_by=token
        )
    )


def deliver(ids, *, token: str, now: dt.datetime | None = None) -> Counter:
    """Claims and sends the given messages; returns counts of sent and failed per kind. Each
    message is marked sent as soon as it has gone out, so a worker killed halfway through a
    chunk leaves only the message it was sending to its redelivered task."""
    now = now or timezone.now()
    claimed = claim(ids, token=token, now=now)
    outcome = Counter()

    def failed(notification, exc):
        _failed(notification, exc, now)
        outcome[(notification.kind, "failed")] += 1

    def sent(*notifications):
        _sent(notifications, token)
        for notification in notifications:
            outcome[(notification.kind, "sent")] += 1

    inbox = [n for n in claimed if n.channel == Notification.Channel.INAPP]
    if inbox:
        sent(*inbox)  # the row itself is the inbox message

    emails = [n for n in claimed if n.channel == Notification.Channel.EMAIL]
    if emails:
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
        try:
            connection.open()
        except SoftTimeLimitExceeded:
            raise  # out of time: the task stops, its claim is resumed on redelivery
        except Exception as exc:  # an SMTP server that is away: every e-mail waits its turn
            for notification in emails:
                failed(notification, exc)
            emails = []
        for notification in emails:
            try:
                _send_email(notification, connection)
            except SoftTimeLimitExceeded:
                raise  # out of time: the task stops, its claim is resumed on redelivery
            except Exception as exc:
                failed(notification, exc)
            else:
                sent(notification)
        if emails:
            try:
                connection.close()
            except SoftTimeLimitExceeded:
                raise  # out of time: the task stops, its claim is resumed on redelivery
            except Exception as exc:  # what was sent is recorded already; only say so
                log.warning("closing the SMTP connection failed: %s", exc)
    for notification in claimed:
        if notification.channel == Notification.Channel.WEBHOOK:
            try:
                _send_webhook(notification)
            except SoftTimeLimitExceeded:
                raise  # out of time: the task stops, its claim is resumed on redelivery
            except Exception as exc:
                failed(notification, exc)
            else:
                sent(notification)
    return outcome


def _sent(notifications, token: str) -> None:
    Notification.objects.filter(
        pk__in=[n.pk for n in notifications], state=Notification.State.SENDING, claimed_by=token
    ).update(state=Notification.State.SENT, sent_at=timezone.now(), last_error="")


def _failed(notification: Notification, exc: Exception, now: dt.datetime) -> None:
    """Back to the queue with a doubling wait, or failed for good after the last attempt."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    log.warning(
        "notification %s attempt %s failed: %s", notification.pk, notification.attempts, error
    )
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        changes = {"state": Notification.State.FAILED}
    else:
        wait = settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (notification.attempts - 1)
        # Not "handed out" any more: the first sweep after due_at hands it to a worker again.
        changes = {
            "state": Notification.State.PENDING,
            "due_at": now + dt.timedelta(seconds=wait),
            "enqueued_at": None,
        }
    Notification.objects.filter(
        pk=notification.pk, state=Notification.State.SENDING, claimed_by=notification.claimed_by
    ).update(last_error=error, claimed_by="", **changes)


def _text(notification: Notification) -> str:
    return f"{notification.body}\n{notification.url}".strip()


def _send_email(notification: Notification, connection) -> None:
    count = EmailMessage(
        subject=notification.subject,
        body=_text(notification),
        to=[notification.address],
        connection=connection,
    ).send()
    if not count:  # a backend that skipped the message without raising
        raise DeliveryError(f"the e-mail backend sent nothing to {notification.address!r}")


def webhook_payload(notification: Notification, robot_kind: str) -> dict:
    """The JSON a WeCom or DingTalk group robot takes: text, with the member @-mentioned."""
    content = f"【{notification.subject}】\n{_text(notification)}"
    mobiles = [notification.recipient_mobile] if notification.recipient_mobile else []
    if robot_kind == Robot.DINGTALK:
        return {"msgtype": "text", "text": {"content": content}, "at": {"atMobiles": mobiles}}
    return {"msgtype": "text", "text": {"content": content, "mentioned_mobile_list": mobiles}}


def _send_webhook(notification: Notification) -> None:
    """POSTs to the robot with a timeout, a few quick tries with backoff, and an error unless
    the robot answers errcode 0."""
    payload = json.dumps(webhook_payload(notification, notification.robot_kind))
    request = urllib.request.Request(
        notification.address,
        data=payload.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    last = None
    for attempt in range(WEBHOOK_TRIES):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
            continue
        if answer.get("errcode", 0) != 0:
            raise DeliveryError(f"robot answered {answer}")
        return
    raise DeliveryError(f"robot unreachable after {WEBHOOK_TRIES} tries: {last}")
