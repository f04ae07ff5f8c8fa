"""The outbox's promises (DESIGN.md "Reminders"), checked against real services: each reminder
is queued once however many sweeps run at once, a worker killed mid-send does not make anyone
get a message twice, a robot that is down loses nothing, and a rolled-back change tells nobody.

Only the far side of the world is played by the tests: a tiny SMTP server and a group-robot
receiver, both real servers on localhost started here. PostgreSQL and Redis are the real ones
(marked `postgres`; Redis is required through CELERY_BROKER_URL)."""

import datetime as dt
import email
import email.policy
import http.server
import importlib
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, connection, transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone
from kombu import Exchange, Queue

from activities import reminders
from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Community, Robot, StaffRole, Street
from members.models import Member
from notifications import delivery, services, tasks
from notifications.models import Notification, NotificationPreference
from notifications.notify import notify
from tests.conftest import require_or_skip
from xiachen.celery import app

UPCOMING = Notification.Kind.UPCOMING
SENT, SENDING, PENDING, FAILED = (
    Notification.State.SENT,
    Notification.State.SENDING,
    Notification.State.PENDING,
    Notification.State.FAILED,
)
NO_QUIET_HOURS = [0, 0]


# --- The far side: an SMTP server and a group robot ------------------------------------------


class SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        with self.server.lock:
            self.server.open_sockets.add(self.request)
        try:
            self.converse(self.server.hang_after)
        finally:
            with self.server.lock:
                self.server.open_sockets.discard(self.request)

    def reply(self, line: str):
        self.wfile.write(f"{line}\r\n".encode())

    def hang(self):
        """Say nothing more and wait until the client goes away."""
        self.server.hanging.set()
        while self.rfile.readline():
            pass

    def converse(self, hang_after):
        if hang_after == 0:
            return self.hang()
        self.reply("220 sink.test ESMTP")
        taken, recipients = 0, []
        while line := self.rfile.readline():
            verb = line[:4].decode("ascii", "replace").upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink.test")
            elif verb == "MAIL":
                if hang_after is not None and taken >= hang_after:
                    return self.hang()
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.decode().partition("<")[2].partition(">")[0])
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                with self.server.lock:
                    self.server.messages.append((recipients, message))
                taken += 1
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK")


class SMTPServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Django's backend; keeps each message it accepts. With `hang_after`
    set to n, a new connection takes n messages and then stops answering, like a server that
    got stuck."""

    daemon_threads = False  # server_close() joins the handlers

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.lock = threading.Lock()
        self.messages = []  # (envelope recipients, email.message.EmailMessage)
        self.open_sockets = set()
        self.hang_after = None
        self.hanging = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def to(self, address: str) -> list:
        with self.lock:
            return [message for recipients, message in self.messages if address in recipients]

    def stop(self):
        self.shutdown()
        self.thread.join()
        with self.lock:
            for sock in self.open_sockets:  # wakes up handlers still waiting on a client
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.server_close()


class RobotHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.posts.append(
                {
                    "path": self.path,
                    "content_type": self.headers["Content-Type"],
                    "json": json.loads(body),
                }
            )
        answer = json.dumps(self.server.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        pass


class RobotReceiver(http.server.ThreadingHTTPServer):
    """A WeCom/DingTalk-style group robot that keeps each POST and answers `answer`. Its port
    is bound but refuses connections (a robot that is down) until `start()`."""

    daemon_threads = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RobotHandler, bind_and_activate=False)
        self.server_bind()
        self.lock = threading.Lock()
        self.posts = []
        self.answer = {"errcode": 0, "errmsg": "ok"}
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cgi-bin/webhook/send?key=test"

    def start(self):
        self.server_activate()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self):
        if self.thread is not None:
            self.shutdown()
            self.thread.join()
        self.server_close()


@pytest.fixture
def smtp_server():
    server = SMTPServer()
    yield server
    server.stop()


@pytest.fixture
def robot():
    receiver = RobotReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def naps(monkeypatch):
    """The pauses between quick tries at a robot, recorded instead of slept."""
    slept = []
    monkeypatch.setattr(delivery, "time", SimpleNamespace(sleep=slept.append))
    return slept


# --- Data ------------------------------------------------------------------------------------


@pytest.fixture
def activity_types(transactional_db):
    """Transactional tests flush the database, activity types of the data migration included."""
    from django.apps import apps

    importlib.import_module("activities.migrations.0002_activity_types").create_types(apps, None)


def make_place(robot_url="", robot_kind=Robot.WECOM):
    street = Street.objects.create(name="万寿桥街道")
    community = Community.objects.create(
        street=street, name="胜利一路社区", robot_webhook_url=robot_url, robot_kind=robot_kind
    )
    agency = Agency.objects.create(name="三峡旅游新区管委会", short_name="三峡旅游新区")
    return community, agency


def make_member(agency, n, *, email="", login=True, channels=None):
    user = None
    if login:
        user = get_user_model().objects.create_user(
            username=f"member{n}", password=f"pw-member{n}", email=email
        )
        if channels is not None:
            NotificationPreference.objects.create(user=user, **channels)
    return Member.objects.create(agency=agency, name=f"党员{n}", mobile=f"139{n:08d}", user=user)


def make_activity(community, starts_at, members, title="沿江防汛巡逻"):
    activity = Activity.objects.create(
        community=community,
        type=ActivityType.objects.get(code=ActivityType.Code.FLOOD_PATROL),
        title=title,
        place="滨江公园",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
    )
    for member in members:
        Participation.objects.create(
            activity=activity, member=member, source=Participation.Source.SIGN_UP
        )
    return activity


def queue_upcoming(activity, members, **extra) -> int:
    """Queues the 24 h reminder of `activity` to `members`; returns how many messages are new."""
    return notify(
        kind=UPCOMING,
        recipients=members,
        obj=activity,
        slot="24h",
        robot=activity.community,
        **extra,
    ).queued


WEBHOOK_ONLY = {"inapp": False, "email": False, "webhook": True}
EMAIL_ONLY = {"inapp": False, "email": True, "webhook": False}


# --- 1. Ten sweeps at once -------------------------------------------------------------------


def next_monday_10am():
    """A fixed moment: the weekly rules are due (their slot is Monday from 09:00), the duty
    roster is not."""
    today = timezone.localdate()
    monday = today + dt.timedelta(days=(0 - today.weekday()) % 7 + 7)
    return timezone.make_aware(dt.datetime.combine(monday, dt.time(10)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_sweeps_at_once_queue_each_reminder_exactly_once(activity_types):
    now = next_monday_10am()
    community, agency = make_place(robot_url="http://127.0.0.1:9/never-called")
    with_login = [make_member(agency, n, email=f"m{n}@example.org") for n in range(6)]
    without_login = [make_member(agency, n, login=False) for n in range(6, 8)]
    office = get_user_model().objects.create_user(username="office", email="office@example.org")
    StaffRole.objects.create(user=office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=agency)
    for i in range(3):
        make_activity(
            community, now + dt.timedelta(hours=23), with_login + without_login, f"巡逻{i}"
        )
    expected = {
        # Inbox and e-mail for those with a login; the community's robot for the others.
        Notification.Kind.UPCOMING: 3 * (6 * 2 + 2),
        # The agency has no robot: members without a login get no nudge.
        Notification.Kind.INACTIVITY: 6 * 2,
        Notification.Kind.AGENCY_DIGEST: 2,
    }
    # ... and are recorded once as unreachable, which is not a queued message.
    unreachable = {Notification.Kind.INACTIVITY: 2}

    barrier = threading.Barrier(10)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait(timeout=20)
            results.append(reminders.sweep(now))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(results) == 10

    queued = Notification.objects.exclude(state=Notification.State.UNREACHABLE)
    per_kind = dict(queued.values_list("kind").annotate(Count("pk")))
    assert per_kind == expected
    missed = Notification.objects.filter(state=Notification.State.UNREACHABLE)
    assert dict(missed.values_list("kind").annotate(Count("pk"))) == unreachable
    key = ["kind", "recipient_key", "content_type", "object_id", "slot", "channel"]
    assert not Notification.objects.values(*key).annotate(n=Count("pk")).filter(n__gt=1)
    # Between them the sweeps report each message once, as `send_reminders` prints it.
    reported = Counter()
    for queued in results:
        reported.update(queued)
    assert {kind: n for kind, n in reported.items() if n} == expected


# --- 2 and 3. Real workers on Redis ----------------------------------------------------------

# A worker whose own tasks (the sweep's deliveries) go to its own queue, so that no other
# test's or person's messages reach it and it reaches none of theirs.
WORKER = """
import sys
from xiachen.celery import app
queue = sys.argv[1]
app.conf.task_default_queue = queue
app.conf.worker_enable_remote_control = False
app.worker_main(["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-Q", queue, "-n", queue + "@%h"])
"""


def redis_client():
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        require_or_skip("redis", f"CELERY_BROKER_URL is {url!r}, not Redis")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        require_or_skip("redis", f"Redis is not reachable: {exc}")
    return client


class Worker:
    def __init__(self, queue, env):
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, queue],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout))
        self.reader.start()

    def said(self, text) -> bool:
        return any(text in line for line in list(self.lines))

    def wait_until(self, check, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"{what} did not happen; the worker said:\n" + "".join(self.lines[-60:]))

    def wait_for(self, text, timeout=30):
        self.wait_until(lambda: self.said(text), f"the worker logging {text!r}", timeout)

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:  # an idle worker stops in a second or two; a stuck one is killed
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.reader.join(timeout=10)


def worker_env(**extra) -> dict:
    """The worker runs the production settings (the test settings pin e-mail to memory) on
    this test's database and broker; no quiet hours, so that the test passes at night too."""
    db = connection.settings_dict
    login = quote(db["USER"] or "")
    if db["PASSWORD"]:
        login += ":" + quote(db["PASSWORD"])
    url = f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="xiachen.settings",
        DATABASE_URL=url,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        QUIET_HOURS="0,0",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def smtp_env(smtp_server, timeout=5) -> dict:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_TIMEOUT": str(timeout),
    }


@pytest.fixture
def workers(transactional_db):
    """Starts workers on a queue of this test's own; stops them, and removes the queue from
    Redis, before the database is flushed."""
    client = redis_client()
    queue = f"xiachen-test-{uuid.uuid4().hex[:8]}"
    started = []

    def start(**env):
        worker = Worker(queue, worker_env(**env))
        started.append(worker)
        worker.wait_for("ready.")
        return worker

    def publish(name, args=(), task_id=None):
        task_id = task_id or str(uuid.uuid4())
        app.send_task(name, args=list(args), task_id=task_id, queue=queue)
        return task_id

    yield SimpleNamespace(queue=queue, start=start, publish=publish)
    for worker in started:
        worker.stop()
    with app.connection_for_write() as broker:
        bound = Queue(queue, Exchange(queue), routing_key=queue)(broker.default_channel)
        bound.declare()
        bound.delete()  # the queue and its bindings
    # A message a killed worker left unacknowledged (kombu's Redis keys), if a test failed.
    for tag, payload in client.hgetall("unacked").items():
        if json.loads(payload)[2] == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.celery_worker
def test_a_worker_on_redis_sends_what_its_sweep_queues(activity_types, smtp_server, robot, workers):
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    li = make_member(agency, 1, email="li@example.org")
    wang = make_member(agency, 2, login=False)
    chen = make_member(agency, 3, email="chen@example.org", channels=WEBHOOK_ONLY)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [li, wang, chen])
    worker = workers.start(
        **smtp_env(smtp_server),
        # Only the upcoming reminder: the weekly rules never come due in this worker.
        REMINDER_WEEKLY_WEEKDAY="6",
        REMINDER_WEEKLY_HOUR="24",
    )

    sweep = workers.publish("activities.sweep_reminders")
    worker.wait_until(
        lambda: Notification.objects.filter(state=SENT).count() == 4, "four messages sent"
    )
    worker.wait_for(f"Task activities.sweep_reminders[{sweep}] succeeded")

    rows = Notification.objects.all()
    assert {(n.recipient_key, n.channel) for n in rows} == {
        (f"u{li.user_id}", Notification.Channel.INAPP),
        (f"u{li.user_id}", Notification.Channel.EMAIL),
        (f"m{wang.pk}", Notification.Channel.WEBHOOK),
        (f"u{chen.user_id}", Notification.Channel.WEBHOOK),
    }
    assert {(n.kind, n.slot, n.state, n.object_id) for n in rows} == {
        (UPCOMING, "24h", SENT, activity.pk)
    }
    [mail] = smtp_server.to("li@example.org")
    assert len(smtp_server.messages) == 1
    assert activity.title in mail["Subject"]
    assert activity.title in mail.get_content()
    mentioned = sorted(post["json"]["text"]["mentioned_mobile_list"] for post in robot.posts)
    assert mentioned == [[wang.mobile], [chen.mobile]]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.celery_worker
def test_a_worker_killed_mid_send_leaves_each_recipient_one_message(
    activity_types, settings, smtp_server, workers
):
    settings.QUIET_HOURS = NO_QUIET_HOURS
    community, agency = make_place()
    li = make_member(agency, 1, email="li@example.org", channels=EMAIL_ONLY)
    wang = make_member(agency, 2, email="wang@example.org", channels=EMAIL_ONLY)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [li, wang])
    assert queue_upcoming(activity, [li, wang], enqueue=False) == 2
    ids = sorted(Notification.objects.values_list("pk", flat=True))

    # The SMTP server takes the first message, then hangs; the worker is killed while waiting.
    smtp_server.hang_after = 1
    first = workers.start(**smtp_env(smtp_server, timeout=30))
    original = workers.publish("notifications.deliver", [ids])
    assert smtp_server.hanging.wait(timeout=30), "".join(first.lines[-60:])
    hung_at = time.time()
    [(delivered_to, _message)] = smtp_server.messages
    done = Notification.objects.get(address__in=delivered_to)
    stuck = Notification.objects.exclude(pk=done.pk).get()
    assert (done.state, stuck.state, stuck.claimed_by) == (SENT, SENDING, original)
    first.kill()
    smtp_server.hang_after = None

    # A duplicate task (another id) finds the message claimed by the dead task and leaves it.
    # This worker's hour-long visibility timeout keeps the dead task's message where it is.
    second = workers.start(**smtp_env(smtp_server), CELERY_VISIBILITY_TIMEOUT="3600")
    duplicate = workers.publish("notifications.deliver", [ids])
    second.wait_for(f"Task notifications.deliver[{duplicate}] succeeded")
    stuck.refresh_from_db()
    assert (stuck.state, stuck.claimed_by) == (SENDING, original)
    assert len(smtp_server.messages) == 1
    second.stop()

    # Past the visibility timeout a starting worker has Redis deliver the unacknowledged task
    # again: same id, so it resumes its own claim and sends the one message that was missing.
    visibility = 2
    time.sleep(max(0.0, hung_at + visibility + 0.5 - time.time()))
    third = workers.start(
        **smtp_env(smtp_server),
        CELERY_VISIBILITY_TIMEOUT=str(visibility),
        CELERY_TASK_RETRY_BACKOFF_MAX=str(visibility - 1),
    )
    third.wait_for(f"Task notifications.deliver[{original}] succeeded")
    assert len(smtp_server.to("li@example.org")) == 1
    assert len(smtp_server.to("wang@example.org")) == 1
    assert len(smtp_server.messages) == 2
    stuck.refresh_from_db()
    done.refresh_from_db()
    assert (stuck.state, stuck.claimed_by, stuck.attempts) == (SENT, original, 2)
    assert (done.state, done.attempts) == (SENT, 1)


# --- 4. A robot that is down -----------------------------------------------------------------


@pytest.mark.django_db
@override_settings(
    WEBHOOK_TIMEOUT=1,
    NOTIFICATION_MAX_ATTEMPTS=4,
    NOTIFICATION_RETRY_BASE_SECONDS=60,
    QUIET_HOURS=NO_QUIET_HOURS,
)
def test_a_robot_that_is_down_gets_the_message_once_it_is_back(
    robot, naps, django_capture_on_commit_callbacks
):
    community, agency = make_place(robot_url=robot.url)
    li = make_member(agency, 1, email="li@example.org", channels=WEBHOOK_ONLY)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [li])
    queue_upcoming(activity, [li], enqueue=False)
    row = Notification.objects.get()
    subject, body = row.subject, row.body

    now, waits = row.due_at, []
    for attempt in range(1, 5):
        # Each time it is due again, the next sweep hands it out again.
        assert tasks.enqueue_due(now) == 1
        outcome = delivery.deliver([row.pk], token=f"task-{attempt}", now=now)
        assert outcome == Counter({(UPCOMING, "failed"): 1})
        row.refresh_from_db()
        assert row.attempts == attempt
        assert "Connection refused" in row.last_error
        if attempt == 4:
            break
        assert row.state == PENDING
        waits.append((row.due_at - now).total_seconds())
        # Not before its time: neither a sweep nor a worker takes it early.
        early = row.due_at - dt.timedelta(seconds=1)
        assert tasks.enqueue_due(early) == 0
        assert delivery.deliver([row.pk], token="early", now=early) == Counter()
        now = row.due_at
    assert waits == [60, 120, 240]
    assert naps == [0.5, 1.0] * 4  # each attempt knocked WEBHOOK_TRIES times

    # Failed for good, with the reason, and nothing lost.
    assert row.state == FAILED
    assert (row.subject, row.body, row.address) == (subject, body, robot.url)
    later = now + dt.timedelta(days=1)
    assert tasks.enqueue_due(later) == 0
    assert delivery.deliver([row.pk], token="later", now=later) == Counter()

    # The robot is back; staff send the message again from the failed-messages page.
    robot.start()
    with django_capture_on_commit_callbacks() as callbacks:
        services.notification_retry(notification=row)
    assert callbacks == [tasks.enqueue_due]
    with django_capture_on_commit_callbacks() as handed_out:
        assert tasks.enqueue_due() == 1
    assert len(handed_out) == 1
    outcome = delivery.deliver([row.pk], token="after-retry")
    assert outcome == Counter({(UPCOMING, "sent"): 1})
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_error) == (SENT, 1, "")

    [post] = robot.posts
    assert post["path"] == "/cgi-bin/webhook/send?key=test"
    assert post["content_type"] == "application/json; charset=utf-8"
    assert post["json"] == {
        "msgtype": "text",
        "text": {"content": post["json"]["text"]["content"], "mentioned_mobile_list": [li.mobile]},
    }
    content = post["json"]["text"]["content"]
    assert content.startswith(f"【{subject}】\n{body}")
    assert content.endswith(activity.get_absolute_url())


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_dingtalk_robot_gets_its_own_json_and_mentions_a_member_without_login(robot, naps):
    robot.start()
    community, agency = make_place(robot_url=robot.url, robot_kind=Robot.DINGTALK)
    wang = make_member(agency, 2, login=False)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [wang])
    queue_upcoming(activity, [wang], enqueue=False)
    row = Notification.objects.get()

    assert delivery.deliver([row.pk], token="t", now=row.due_at) == Counter({(UPCOMING, "sent"): 1})
    [post] = robot.posts
    content = post["json"]["text"]["content"]
    assert post["json"] == {
        "msgtype": "text",
        "text": {"content": content},
        "at": {"atMobiles": [wang.mobile]},
    }
    assert content.startswith(f"【{row.subject}】\n{row.body}")
    assert naps == []


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_robot_that_answers_an_error_code_is_a_failed_attempt(robot, naps):
    robot.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    li = make_member(agency, 1, channels=WEBHOOK_ONLY)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [li])
    queue_upcoming(activity, [li], enqueue=False)
    row = Notification.objects.get()

    outcome = delivery.deliver([row.pk], token="t", now=row.due_at)
    assert outcome == Counter({(UPCOMING, "failed"): 1})
    row.refresh_from_db()
    assert (row.state, row.attempts) == (PENDING, 1)
    assert "93000" in row.last_error
    # The robot heard it and said no: asking again at once would not help.
    assert len(robot.posts) == 1
    assert naps == []


# --- 5. Transactions -------------------------------------------------------------------------


@pytest.fixture
def broker_queue():
    """Tasks published without a queue go to a queue of this test's own on the configured
    broker, where the test reads them back; no worker sees them."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        redis_client().close()
    queue = f"xiachen-test-{uuid.uuid4().hex[:8]}"
    default_queue, app.conf.task_default_queue = app.conf.task_default_queue, queue
    try:
        with app.connection_for_read() as broker:
            simple = broker.SimpleQueue(queue)

            def received():
                messages = []
                while True:
                    try:
                        message = simple.get_nowait()
                    except simple.Empty:
                        return messages
                    message.ack()
                    messages.append(message)

            yield received
            received()
            simple.queue.delete()
            simple.close()
    finally:
        app.conf.task_default_queue = default_queue


@pytest.fixture
def two_members(db, settings):
    settings.QUIET_HOURS = NO_QUIET_HOURS
    community, agency = make_place()
    members = [
        make_member(agency, n, email=f"m{n}@example.org", channels=EMAIL_ONLY) for n in (1, 2)
    ]
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), members)
    return activity, members


def test_a_rolled_back_change_queues_and_publishes_nothing(
    two_members, broker_queue, django_capture_on_commit_callbacks
):
    activity, members = two_members
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            assert queue_upcoming(activity, members) == 2
            raise RuntimeError("the rest of the change failed")
    assert callbacks == []
    assert not Notification.objects.exists()
    assert broker_queue() == []


def test_a_committed_change_hands_its_messages_to_a_worker_after_commit(
    two_members, broker_queue, django_capture_on_commit_callbacks
):
    activity, members = two_members
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            assert queue_upcoming(activity, members) == 2
        assert broker_queue() == []  # not before the commit
    assert len(callbacks) == 2
    assert callbacks[0] is tasks.enqueue_due  # which published the delivery task
    ids = sorted(Notification.objects.values_list("pk", flat=True))
    assert Notification.objects.filter(enqueued_at__isnull=False).count() == 2
    [message] = broker_queue()
    assert message.headers["task"] == "notifications.deliver"
    args, kwargs, _embed = message.decode()
    assert sorted(args[0]) == ids


# --- 6. The parts ----------------------------------------------------------------------------


@pytest.fixture
def one_message(two_members):
    activity, (li, _wang) = two_members
    queue_upcoming(activity, [li], enqueue=False)
    return Notification.objects.get()


def test_a_claim_belongs_to_its_token_until_it_goes_stale(one_message):
    pk, due = one_message.pk, one_message.due_at
    minute = dt.timedelta(minutes=1)
    stale, second = delivery.CLAIM_STALE_AFTER, dt.timedelta(seconds=1)

    assert delivery.claim([pk], token="A", now=due - second) == []  # not due yet
    assert [n.pk for n in delivery.claim([pk], token="A", now=due)] == [pk]
    assert delivery.claim([pk], token="B", now=due + minute) == []
    # The same task, delivered again by the broker, takes its claim back (and renews it).
    [again] = delivery.claim([pk], token="A", now=due + minute)
    assert (again.claimed_by, again.attempts) == ("A", 2)
    assert delivery.claim([pk], token="B", now=due + minute + stale - second) == []
    [taken] = delivery.claim([pk], token="B", now=due + minute + stale + second)
    assert (taken.state, taken.claimed_by, taken.attempts) == (SENDING, "B", 3)
    assert delivery.claim([pk], token="A", now=due + minute + stale + second) == []


def test_delivering_the_same_messages_twice_sends_them_once(two_members, mailoutbox):
    activity, members = two_members
    queue_upcoming(activity, members, enqueue=False)
    ids = list(Notification.objects.values_list("pk", flat=True))

    assert delivery.deliver(ids, token="A") == Counter({(UPCOMING, "sent"): 2})
    assert delivery.deliver(ids, token="A") == Counter()
    assert delivery.deliver(ids, token="B") == Counter()
    # As Celery tasks, each with an id of its own.
    tasks.deliver_notifications.apply(args=[ids])
    tasks.deliver_notifications(ids)
    assert sorted(m.to[0] for m in mailoutbox) == ["m1@example.org", "m2@example.org"]
    assert set(Notification.objects.values_list("state", flat=True)) == {SENT}


def test_enqueue_due_hands_each_message_out_once_until_its_task_seems_lost(
    db, django_user_model, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_user(username="li")
    now = timezone.now()
    common = dict(
        kind=Notification.Kind.MESSAGE,
        channel=Notification.Channel.INAPP,
        recipient=user,
        recipient_key=f"u{user.pk}",
        content_type=ContentType.objects.get_for_model(user),
        subject="通知",
        body="内容",
        due_at=now,
    )
    Notification.objects.bulk_create(
        [Notification(object_id=i, **common) for i in range(tasks.DELIVERY_CHUNK + 1)]
        + [Notification(object_id=10**6, **{**common, "due_at": now + dt.timedelta(hours=1)})]
        + [Notification(object_id=10**6 + 1, state=SENT, **common)]
    )
    due = tasks.DELIVERY_CHUNK + 1

    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.enqueue_due(now) == due
    assert len(callbacks) == 2  # one task per chunk
    assert Notification.objects.filter(enqueued_at=now).count() == due
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.enqueue_due(now + dt.timedelta(minutes=1)) == 0
    assert callbacks == []
    almost = now + tasks.REENQUEUE_AFTER - dt.timedelta(seconds=1)
    assert tasks.enqueue_due(almost) == 0
    # Ten minutes on, their tasks seem lost: they go out again (claims keep them single).
    assert tasks.enqueue_due(now + tasks.REENQUEUE_AFTER + dt.timedelta(seconds=1)) == due


def test_a_message_whose_worker_vanished_is_handed_out_again_once_its_claim_is_stale(
    one_message, django_capture_on_commit_callbacks
):
    pk, now = one_message.pk, one_message.due_at
    assert tasks.enqueue_due(now) == 1
    delivery.claim([pk], token="a-task-the-broker-lost", now=now)
    # Its task may still be running: nobody else is given the message.
    assert tasks.enqueue_due(now + tasks.REENQUEUE_AFTER + dt.timedelta(seconds=1)) == 0
    stale = now + delivery.CLAIM_STALE_AFTER + dt.timedelta(seconds=1)
    assert tasks.enqueue_due(stale) == 1
    assert delivery.deliver([pk], token="a-new-task", now=stale) == Counter({(UPCOMING, "sent"): 1})


def run_settings(**env):
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environment.update(env, DJANGO_SETTINGS_MODULE="xiachen.settings")
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], "
        "s.CELERY_TASK_RETRY_BACKOFF_MAX)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_a_retry_backoff_as_long_as_the_visibility_timeout():
    redis_url = "redis://127.0.0.1:6379/14"  # only read, never connected to
    refused = run_settings(
        CELERY_BROKER_URL=redis_url,
        CELERY_VISIBILITY_TIMEOUT="60",
        CELERY_TASK_RETRY_BACKOFF_MAX="60",
    )
    assert refused.returncode != 0
    assert "CELERY_TASK_RETRY_BACKOFF_MAX must be below CELERY_VISIBILITY_TIMEOUT" in (
        refused.stderr
    )
    accepted = run_settings(
        CELERY_BROKER_URL=redis_url,
        CELERY_VISIBILITY_TIMEOUT="60",
        CELERY_TASK_RETRY_BACKOFF_MAX="59",
    )
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.split() == ["60", "59"]


def test_the_outbox_tasks_ack_late_survive_lost_workers_and_retry_a_bounded_number_of_times():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    # A claim goes stale, and a handed-out message goes out again, only when no task that
    # could still hold it can be running.
    assert delivery.CLAIM_STALE_AFTER.total_seconds() > conf.task_time_limit
    assert tasks.REENQUEUE_AFTER.total_seconds() > conf.task_time_limit
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    for name in ("activities.sweep_reminders", "notifications.deliver"):
        task = app.tasks[name]
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.time_limit == conf.task_time_limit
        assert OperationalError in task.autoretry_for
        assert task.max_retries == settings.CELERY_TASK_MAX_RETRIES
        assert 0 < task.max_retries <= 10
        assert task.retry_backoff and task.retry_jitter
        assert task.retry_backoff_max < visibility
