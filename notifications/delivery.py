"""Sending what the outbox holds, each channel on its own: claim, send, record the outcome.

Every channel has a task of its own on a queue of its own (settings.CELERY_TASK_ROUTES), so the
inbox and e-mail never wait behind a group robot, and the sweep waits behind neither.

Claims. A row is claimed (PENDING → SENDING, with the claimer's token) by one UPDATE before
anything is sent, so a second worker or a duplicate task finds nothing to claim. The token is the
Celery task id: when Redis delivers a dead worker's task again it has the same id, and only that
task may take the row back. A claim older than CLAIM_STALE_AFTER — longer than a delivery task
may run — belongs to a worker that died: the next sweep hands the row out again.

Attempts. An attempt is counted when a send is tried (the connection for it is opened, or it is
sent), never at claim time: a claim cut short before the message's turn (a worker that died, a
task out of time) uses none. Each message is marked sent as soon as it has gone out, so a worker
that dies leaves at most the one message, or robot post, it was sending to go out twice:
delivery is at least once, with a window of one message per dead worker process. Every copy of
an e-mail carries the same Message-ID, so mail clients show one.

Failures are recorded as a reason a person understands (Notification.Failure), with the
technical detail in `last_error`.
"""

import datetime as dt
import http.client
import json
import logging
import math
import smtplib
import time
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q
from django.utils import timezone

from communities.models import Robot

from . import sms
from .models import Notification

log = logging.getLogger(__name__)

Failure = Notification.Failure
SENDING = Notification.State.SENDING

CLAIM_STALE_AFTER = dt.timedelta(seconds=settings.NOTIFICATION_STALE_SECONDS)
# Quick tries at a robot that could not be connected to (it never saw the request).
WEBHOOK_TRIES = 3
# WeCom's limit for the text of one message (DingTalk takes more): longer texts are cut.
ROBOT_TEXT_MAX_BYTES = 2048
# @-mentions in one robot post; a longer list is split over several posts.
ROBOT_MENTIONS_PER_POST = 100


class DeliveryError(Exception):
    """A send that did not work: why, as a person would say it, and the technical detail."""

    def __init__(self, failure: Failure, detail: str):
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


def detail_of(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def deliverable(now: dt.datetime):
    """Messages to hand out: pending ones that are due, and those whose claim went stale (the
    worker that claimed them died)."""
    stale = Q(state=SENDING, claimed_at__lt=now - CLAIM_STALE_AFTER)
    return Notification.objects.due(now) | Notification.objects.filter(stale)


def claim(ids, *, token: str, now: dt.datetime, channel: str | None = None) -> list[Notification]:
    """Takes the rows among `ids` (of `channel`, when given) that are free to send and returns
    them, claimed by `token`, in the order they fell due. Uses no attempt."""
    free = (
        Q(state=Notification.State.PENDING, due_at__lte=now)
        | Q(state=SENDING, claimed_by=token)
        | Q(state=SENDING, claimed_at__lt=now - CLAIM_STALE_AFTER)
    )
    rows = Notification.objects.filter(pk__in=list(ids))
    if channel is not None:
        rows = rows.filter(channel=channel)
    rows.filter(free).update(state=SENDING, claimed_by=token, claimed_at=now)
    return list(
        rows.filter(state=SENDING, claimed_by=token)
        .select_related("community", "agency")
        .order_by("due_at", "pk")
    )


class Run:
    """One delivery run's bookkeeping: every change it records touches only rows that are still
    its own (SENDING under its token), and it counts what was sent and failed per kind."""

    def __init__(self, token: str, now: dt.datetime | None, budget: float | None):
        self.token = token
        self.now = now or timezone.now()
        self.outcome = Counter()
        self.deadline = None if budget is None else time.monotonic() + budget

    def time_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    def _own(self, rows):
        return Notification.objects.filter(
            pk__in=[n.pk for n in rows], state=SENDING, claimed_by=self.token
        )

    def tried(self, rows) -> None:
        """A send of these is about to be tried: that uses an attempt, recorded first, so that a
        message that takes its worker down with it still runs out of attempts."""
        self._own(rows).update(attempts=F("attempts") + 1)
        for notification in rows:
            notification.attempts += 1

    def sent(self, rows, **changes) -> None:
        self._own(rows).update(
            state=Notification.State.SENT,
            sent_at=timezone.now(),
            failure="",
            last_error="",
            **changes,
        )
        for notification in rows:
            self.outcome[(notification.kind, "sent")] += 1

    def failed(self, rows, error: DeliveryError) -> dt.datetime | None:
        """Back to the queue with a doubling wait, or failed for good after the last attempt.
        Returns when they are due again (None when they failed for good)."""
        detail = error.detail[:2000]
        due_again = None
        by_attempts = {}
        for notification in rows:
            by_attempts.setdefault(notification.attempts, []).append(notification)
            self.outcome[(notification.kind, "failed")] += 1
        for attempts, same in by_attempts.items():
            log.warning(
                "notifications %s attempt %s failed: %s (%s)",
                [n.pk for n in same],
                attempts,
                error.failure.value,
                detail,
            )
            if attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
                changes = {"state": Notification.State.FAILED}
            else:
                wait = settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
                due = self.now + dt.timedelta(seconds=wait)
                due_again = due if due_again is None else min(due_again, due)
                # Not "handed out" any more: the first sweep after due_at hands it out again.
                changes = {"state": Notification.State.PENDING, "due_at": due, "enqueued_at": None}
            self._own(same).update(
                failure=error.failure, last_error=detail, claimed_by="", **changes
            )
        return due_again

    def give_up(self, rows, error: DeliveryError) -> None:
        """Failed for good without a try: nothing could be sent however often it were tried."""
        self._own(rows).update(
            state=Notification.State.FAILED,
            failure=error.failure,
            last_error=error.detail[:2000],
            claimed_by="",
        )
        for notification in rows:
            self.outcome[(notification.kind, "failed")] += 1

    def put_back(self, rows, due_at: dt.datetime | None = None) -> None:
        """Never tried in this run: back to the queue without using an attempt; the first sweep
        after `due_at` (by default: the next one) hands them out again. Rows no longer this
        run's (sent, failed, put back already) are left as they are."""
        if rows:
            self._own(rows).update(
                state=Notification.State.PENDING,
                due_at=due_at or self.now,
                enqueued_at=None,
                claimed_by="",
            )

    def out_of_time(self, in_flight, untried) -> None:
        """The task's soft time limit struck (the checks of time_left keep this rare): the send
        in flight was tried and failed; the rest were never tried."""
        log.warning("delivery run %s ran out of time", self.token)
        if in_flight:
            self.failed(
                in_flight,
                DeliveryError(Failure.OUT_OF_TIME, "the delivery task reached its time limit"),
            )
        self.put_back(untried)


def deliver(ids, *, token: str, now: dt.datetime | None = None) -> Counter:
    """Sends the given messages here and now, each channel as its task would (for
    `send_reminders` and tests); returns counts of sent and failed per kind."""
    outcome = Counter()
    outcome.update(deliver_inbox(ids, token=token, now=now))
    outcome.update(deliver_email(ids, token=token, now=now))
    outcome.update(deliver_robot(ids, token=token, now=now))
    outcome.update(deliver_sms(ids, token=token, now=now))
    return outcome


# --- In-app inbox ----------------------------------------------------------------------------


def deliver_inbox(ids, *, token: str, now: dt.datetime | None = None) -> Counter:
    """The row itself is the inbox message: sending it is marking it sent."""
    run = Run(token, now, budget=None)
    rows = claim(ids, token=token, now=run.now, channel=Notification.Channel.INAPP)
    if rows:
        run.sent(rows, attempts=F("attempts") + 1)
    return run.outcome


# --- E-mail ----------------------------------------------------------------------------------


def message_id(notification: Notification) -> str:
    """The same for every copy of a message, so that a mail client shows one."""
    host = urlsplit(settings.SITE_URL).hostname or "xiachen.local"
    return f"<xiachen-notification-{notification.pk}@{host}>"


def _mail_error(exc: Exception, *, connecting: bool) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        failure = Failure.ADDRESS_REFUSED
    elif isinstance(exc, smtplib.SMTPConnectError) or (
        connecting and isinstance(exc, OSError | smtplib.SMTPServerDisconnected)
    ):
        failure = Failure.MAIL_UNREACHABLE
    elif isinstance(exc, smtplib.SMTPResponseException):
        failure = Failure.MAIL_REFUSED
    elif isinstance(exc, TimeoutError):
        failure = Failure.MAIL_TIMEOUT
    elif isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
        failure = Failure.MAIL_DROPPED
    else:
        failure = Failure.OTHER
    return DeliveryError(failure, detail_of(exc))


# After these the connection cannot be trusted: the next message opens a new one.
CONNECTION_LOST = (Failure.MAIL_TIMEOUT, Failure.MAIL_DROPPED, Failure.OTHER)


def deliver_email(
    ids, *, token: str, now: dt.datetime | None = None, budget: float | None = None
) -> Counter:
    """Sends the e-mails among `ids` over one SMTP connection. A server that cannot be reached
    fails every e-mail left in the run (each was tried: it was waiting on that connection); one
    the server refuses fails alone; after a lost connection the next e-mail opens a new one. No
    send starts unless it fits in `budget` seconds."""
    run = Run(token, now, budget)
    rows = claim(ids, token=token, now=run.now, channel=Notification.Channel.EMAIL)
    untried, connection, in_flight = list(rows), None, []
    try:
        while untried:
            if run.time_left() < settings.EMAIL_TIMEOUT:
                run.put_back(untried)
                untried = []
                break
            if connection is None:
                connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
                try:
                    connection.open()
                except SoftTimeLimitExceeded:
                    raise
                except Exception as exc:  # every failure is recorded
                    in_flight, untried, connection = untried, [], None
                    run.tried(in_flight)
                    run.failed(in_flight, _mail_error(exc, connecting=True))
                    in_flight = []
                    break
            in_flight, untried = untried[:1], untried[1:]
            run.tried(in_flight)
            try:
                _send_email(in_flight[0], connection)
            except SoftTimeLimitExceeded:
                raise
            except Exception as exc:  # every failure is recorded
                error = _mail_error(exc, connecting=False)
                run.failed(in_flight, error)
                if error.failure in CONNECTION_LOST:
                    _abandon(connection)
                    connection = None
            else:
                run.sent(in_flight)
            in_flight = []
    except SoftTimeLimitExceeded:
        if connection is not None:
            _abandon(connection)
            connection = None
        # Whatever is still this run's and not in flight was never tried.
        run.out_of_time(in_flight, [n for n in rows if n not in in_flight])
    if connection is not None:
        try:
            connection.close()
        except SoftTimeLimitExceeded:
            _abandon(connection)
        except Exception as exc:  # what was sent is recorded already
            log.warning("closing the SMTP connection failed: %s", exc)
    return run.outcome


def _abandon(connection) -> None:
    """Drops a connection that cannot be trusted without a word: saying QUIT to a server that
    hangs would wait EMAIL_TIMEOUT once more."""
    smtp = getattr(connection, "connection", None)
    if smtp is not None:
        smtp.close()
        connection.connection = None


def _text(notification: Notification) -> str:
    return f"{notification.body}\n{notification.url}".strip()


def _send_email(notification: Notification, connection) -> None:
    count = EmailMessage(
        subject=notification.subject,
        body=_text(notification),
        to=[notification.address],
        headers={"Message-ID": message_id(notification)},
        connection=connection,
    ).send()
    if not count:  # a backend that skipped the message without raising
        raise DeliveryError(
            Failure.OTHER, f"the e-mail backend sent nothing to {notification.address!r}"
        )


# --- Group robots ----------------------------------------------------------------------------

# After these a robot is in trouble: its other posts of the run wait for the failed one's retry.
ROBOT_TROUBLE = (Failure.ROBOT_UNREACHABLE, Failure.ROBOT_TIMEOUT, Failure.ROBOT_DROPPED)


def robot_of(notification: Notification):
    """The community or agency whose group robot posts the message, or None if it is gone."""
    if notification.robot_owner == Notification.RobotOwner.COMMUNITY:
        return notification.community
    if notification.robot_owner == Notification.RobotOwner.AGENCY:
        return notification.agency
    return None


def robot_text(notification: Notification) -> str:
    """The text of a post, cut to what a robot takes (the link kept)."""
    text = f"【{notification.subject}】\n{_text(notification)}"
    if len(text.encode()) <= ROBOT_TEXT_MAX_BYTES:
        return text
    tail = f"…\n{notification.url}" if notification.url else "…"
    room = ROBOT_TEXT_MAX_BYTES - len(tail.encode())
    head = f"【{notification.subject}】\n{notification.body}".encode()[:room]
    return head.decode(errors="ignore") + tail


def robot_payload(text: str, mobiles: list[str], robot_kind: str) -> dict:
    """The JSON a WeCom or DingTalk group robot takes: text, with the people @-mentioned."""
    if robot_kind == Robot.DINGTALK:
        return {"msgtype": "text", "text": {"content": text}, "at": {"atMobiles": mobiles}}
    return {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": mobiles}}


def robot_posts(rows) -> list[list[Notification]]:
    """One post per message text, @-mentioning everyone it is for: rows of one robot grouped by
    kind and text, in the order they fell due, split when the mentions would be too many."""
    groups = {}
    for notification in rows:
        key = (notification.kind, notification.subject, notification.body, notification.url)
        groups.setdefault(key, []).append(notification)
    size = ROBOT_MENTIONS_PER_POST
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def deliver_robot(
    ids, *, token: str, now: dt.datetime | None = None, budget: float | None = None
) -> Counter:
    """Posts the group-robot messages among `ids`: to each robot, one post per message text
    with everyone it is for @-mentioned; every row of a post shares its outcome. The robot's
    address and kind are read now, from its community or agency. When a robot cannot be reached
    or does not answer, its other posts are not tried: they wait for the failed one's retry. No
    post starts unless it fits in `budget` seconds."""
    run = Run(token, now, budget)
    rows = claim(ids, token=token, now=run.now, channel=Notification.Channel.WEBHOOK)
    by_robot = {}
    for notification in rows:
        robot = robot_of(notification)
        if robot is None or not robot.robot_webhook_url:
            run.give_up([notification], _robot_removed(notification, robot))
            continue
        key = (notification.robot_owner, robot.pk)
        by_robot.setdefault(key, (robot, []))[1].append(notification)
    plan = [  # (robot url, robot kind, robot key, the rows of one post)
        (robot.robot_webhook_url, robot.robot_kind, key, post)
        for key, (robot, robot_rows) in by_robot.items()
        for post in robot_posts(robot_rows)
    ]

    in_flight, troubled = [], {}
    try:
        while plan:
            url, kind, key, post = plan.pop(0)
            if key in troubled:
                run.put_back(post, due_at=troubled[key])
                continue
            if run.time_left() < settings.WEBHOOK_TIMEOUT:
                run.put_back(post + [n for *_, rest in plan for n in rest])
                plan = []
                break
            in_flight = post
            run.tried(post)
            mobiles = list(dict.fromkeys(n.recipient_mobile for n in post if n.recipient_mobile))
            try:
                _post(url, robot_payload(robot_text(post[0]), mobiles, kind), run)
            except DeliveryError as error:
                due_again = run.failed(post, error)
                if error.failure in ROBOT_TROUBLE:
                    troubled[key] = due_again
            else:
                run.sent(post, address=url, robot_kind=kind)
            in_flight = []
    except SoftTimeLimitExceeded:
        # Whatever is still this run's and not in flight was never tried.
        run.out_of_time(in_flight, [n for n in rows if n not in in_flight])
    return run.outcome


def _robot_removed(notification: Notification, robot) -> DeliveryError:
    if robot is None:
        detail = "the message names no community or agency whose group robot posts it"
    else:
        detail = f"{robot} ({notification.robot_owner} {robot.pk}) has no group robot webhook"
    return DeliveryError(Failure.ROBOT_REMOVED, detail)


def _post(url: str, payload: dict, run: Run) -> None:
    """POSTs to the robot; raises DeliveryError unless it answers errcode 0. Only a request that
    never reached the robot (refused, unknown host, no route) is tried again at once: after a
    timeout the robot may have posted it, and asking again now could post it twice."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    unreachable = None
    for attempt in range(WEBHOOK_TRIES):
        if attempt:
            pause = 0.5 * 2 ** (attempt - 1)
            if run.time_left() < pause + settings.WEBHOOK_TIMEOUT:
                break
            time.sleep(pause)
        try:
            with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:  # it answered, with an error status
            raise DeliveryError(Failure.ROBOT_REFUSED, f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:  # connecting failed: the robot saw nothing
            unreachable = exc
            continue
        except TimeoutError as exc:
            raise DeliveryError(Failure.ROBOT_TIMEOUT, detail_of(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(Failure.ROBOT_DROPPED, detail_of(exc)) from exc
        try:
            answer = json.loads(raw or b"{}")
            errcode, errmsg = answer.get("errcode", 0), answer.get("errmsg", "")
        except (ValueError, AttributeError) as exc:
            raise DeliveryError(
                Failure.ROBOT_REFUSED, f"not a robot's answer: {raw[:200]!r}"
            ) from exc
        if errcode != 0:
            raise DeliveryError(Failure.ROBOT_REFUSED, f"errcode {errcode}: {errmsg}")
        return
    raise DeliveryError(Failure.ROBOT_UNREACHABLE, detail_of(unreachable))


# --- Text messages ---------------------------------------------------------------------------


def deliver_sms(
    ids, *, token: str, now: dt.datetime | None = None, budget: float | None = None
) -> Counter:
    """Sends the text messages among `ids`, one request each, through the configured backend
    (notifications.sms), recording each one's billed parts. A service that cannot be reached
    or does not answer holds the rest of the run for the failed one's retry (each would wait
    as long); a number the service refuses fails for good at once. No send starts unless it
    fits in `budget` seconds."""
    run = Run(token, now, budget)
    rows = claim(ids, token=token, now=run.now, channel=Notification.Channel.SMS)
    if not rows:
        return run.outcome
    backend = sms.backend()
    untried, in_flight = list(rows), []
    try:
        while untried:
            if run.time_left() < settings.SMS_TIMEOUT:
                run.put_back(untried)
                break
            in_flight, untried = untried[:1], untried[1:]
            notification = in_flight[0]
            run.tried(in_flight)
            try:
                parts = backend.send(notification.address, notification)
            except sms.SmsError as exc:
                error = DeliveryError(exc.failure, exc.detail)
                if not exc.retry:
                    run.give_up(in_flight, error)
                else:
                    due_again = run.failed(in_flight, error)
                    if exc.failure in SMS_TROUBLE:
                        run.put_back(untried, due_at=due_again)
                        untried = []
            else:
                run.sent(in_flight, sms_parts=parts)
            in_flight = []
    except SoftTimeLimitExceeded:
        run.out_of_time(in_flight, [n for n in rows if n not in in_flight])
    return run.outcome


# After these the service is in trouble: the run's other messages wait for the failed one's retry.
SMS_TROUBLE = (Failure.SMS_UNREACHABLE, Failure.SMS_TIMEOUT)
