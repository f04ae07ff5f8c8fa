"""The outbox's promises (DESIGN.md "Reminders"), checked against real services: each reminder
is queued once however many sweeps run at once, a worker killed mid-send does not make anyone
get a message twice, a robot that is down loses nothing, and a rolled-back change tells nobody.

Only the far side of the world is played by the tests: a tiny SMTP server and a group-robot
receiver, both real servers on localhost started here. PostgreSQL and Redis are the real ones
(marked `postgres`; Redis is required through CELERY_BROKER_URL)."""

import contextlib
import datetime as dt
import email
import email.policy
import http.server
import importlib
import json
import os
import runpy
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection, transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone
from kombu import Exchange, Queue

from activities import reminders
from activities import tasks as activity_tasks
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
                swallow = self.server.swallow_after
                if swallow is not None and taken > swallow:
                    return self.hang()  # it has the message; the sender never hears so
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK")


class SMTPServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Django's backend; keeps each message it accepts. With `hang_after`
    set to n, a new connection takes n messages and then stops answering, like a server that
    got stuck. With `swallow_after` set to n, it takes n messages, then takes the next one but
    never answers for it (the sender cannot know it arrived)."""

    daemon_threads = False  # server_close() joins the handlers

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.lock = threading.Lock()
        self.messages = []  # (envelope recipients, email.message.EmailMessage)
        self.open_sockets = set()
        self.hang_after = None
        self.swallow_after = None
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
        # A slow robot: it has the message (and posts it) but answers late.
        self.server.stopping.wait(self.server.delay)
        answer = json.dumps(self.server.answer).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender stopped waiting for the answer

    def log_message(self, format, *args):
        pass


class RobotReceiver(http.server.ThreadingHTTPServer):
    """A WeCom/DingTalk-style group robot that keeps each POST and answers `answer`, `delay`
    seconds later. Its port is bound but refuses connections (a robot that is down) until
    `start()`."""

    daemon_threads = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RobotHandler, bind_and_activate=False)
        self.server_bind()
        self.lock = threading.Lock()
        self.posts = []
        self.answer = {"errcode": 0, "errmsg": "ok"}
        self.delay = 0
        self.stopping = threading.Event()
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cgi-bin/webhook/send?key=test"

    def start(self):
        self.server_activate()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self):
        self.stopping.set()  # a handler still making a robot wait answers now
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
    monkeypatch.setattr(
        delivery, "time", SimpleNamespace(sleep=slept.append, monotonic=time.monotonic)
    )
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


# --- 2 and 3. Real workers on the configured broker --------------------------------------------

# A worker on queues of this test's own — named after those the settings route tasks to — so
# that no other test's or person's messages reach it and it reaches none of theirs; the tasks
# it publishes (the sweep's deliveries) go to this test's queues too.
WORKER = """
import os
import sys
import uuid
from xiachen.celery import app
prefix, queues, pool = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
app.conf.task_default_queue = prefix + "-" + app.conf.task_default_queue
app.conf.task_routes = {
    name: {"queue": prefix + "-" + route["queue"]}
    for name, route in (app.conf.task_routes or {}).items()
}
app.conf.worker_enable_remote_control = False
# The file-system broker looks for messages every second; a test has no second to lose per task.
options = {**app.conf.broker_transport_options, "polling_interval": 0.1}
# On Redis, the keys of the test process that started it (xiachen/settings_test.py).
prefix_of_keys = os.environ.get("XIACHEN_TEST_REDIS_KEY_PREFIX")
if prefix_of_keys and app.conf.broker_url.startswith("redis://"):
    options["global_keyprefix"] = prefix_of_keys
app.conf.broker_transport_options = options
app.worker_main(["worker", "--pool=" + pool, "--concurrency=1", "--loglevel=INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-Q", ",".join(prefix + "-" + queue for queue in queues),
                 "-n", prefix + "-" + uuid.uuid4().hex[:6] + "@%h"])
"""
EVERY_QUEUE = ("celery", "mail", "robots")


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
    def __init__(self, prefix, queues, pool, env):
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, prefix, ",".join(queues), pool],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a group of its own, to kill with its pool
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
        """SIGKILL, to the worker and (prefork) its pool's process."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        try:  # an idle worker stops in a second or two; a stuck one is killed
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)


def database_url() -> str:
    """This test's database, for a worker: PostgreSQL, or the SQLite file of the test settings."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        assert Path(db["NAME"]).is_file(), "workers need a file database (xiachen/settings_test.py)"
        return f"sqlite:///{db['NAME']}"
    login = quote(db["USER"] or "")
    if db["PASSWORD"]:
        login += ":" + quote(db["PASSWORD"])
    return f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(**extra) -> dict:
    """The worker runs the production settings (the test settings pin e-mail to memory) on
    this test's database and broker; no quiet hours, so that the test passes at night too."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="xiachen.settings",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_DATA_DIR=str(settings.CELERY_DATA_DIR),
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


@contextlib.contextmanager
def own_queues(prefix):
    """What this process publishes goes to queues of `prefix`, named after those the settings
    route to (as WORKER does in a worker)."""
    conf = app.conf
    routes, default = conf.task_routes or {}, conf.task_default_queue
    conf.update(
        task_default_queue=f"{prefix}-{default}",
        task_routes={
            name: {"queue": f"{prefix}-{route['queue']}"} for name, route in routes.items()
        },
    )
    try:
        yield
    finally:
        conf.update(task_routes=routes, task_default_queue=default)


@pytest.fixture
def workers(transactional_db):
    """Starts workers on queues of this test's own, to which this process publishes meanwhile;
    stops them, and removes the queues from Redis, before the database is flushed."""
    on_redis = settings.CELERY_BROKER_URL.startswith("redis://")
    client = redis_client() if on_redis else None
    prefix = f"xiachen-test-{uuid.uuid4().hex[:8]}"
    started = []

    queues_used = set(EVERY_QUEUE)

    def start(queues=EVERY_QUEUE, pool="solo", ready=True, **env):
        queues_used.update(queues)
        worker = Worker(prefix, queues, pool, worker_env(**env))
        started.append(worker)
        if ready:
            worker.wait_for("ready.", timeout=60)
        return worker

    def publish(name, args=(), task_id=None, queue=None):
        """Publishes to the test's queue the task is routed to, or to `queue` of the test's."""
        task_id = task_id or str(uuid.uuid4())
        options = {"queue": f"{prefix}-{queue}"} if queue else {}
        app.send_task(name, args=list(args), task_id=task_id, **options)
        return task_id

    with own_queues(prefix):
        yield SimpleNamespace(start=start, publish=publish)
        for worker in started:  # all at once: each takes a moment to stop
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in started:
            worker.stop()
    if client is None:
        return  # the file-system broker's folder is this test session's own
    with app.connection_for_write() as broker:
        for name in queues_used:
            queue = f"{prefix}-{name}"
            bound = Queue(queue, Exchange(queue), routing_key=queue)(broker.default_channel)
            bound.declare()
            bound.delete()  # the queue and its bindings
    # A message a killed worker left unacknowledged (kombu's Redis keys, this process's).
    keys = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    for tag, payload in client.hgetall(f"{keys}unacked").items():
        if json.loads(payload)[2].startswith(prefix):
            client.hdel(f"{keys}unacked", tag)
            client.zrem(f"{keys}unacked_index", tag)
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
    # The group gets one post that mentions both.
    [post] = robot.posts
    assert sorted(post["json"]["text"]["mentioned_mobile_list"]) == [wang.mobile, chen.mobile]


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
    first = workers.start(**smtp_env(smtp_server, timeout=25))
    original = workers.publish("notifications.deliver_email", [ids])
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
    duplicate = workers.publish("notifications.deliver_email", [ids])
    second.wait_for(f"Task notifications.deliver_email[{duplicate}] succeeded")
    stuck.refresh_from_db()
    assert (stuck.state, stuck.claimed_by) == (SENDING, original)
    assert len(smtp_server.messages) == 1
    second.stop()

    # Past the visibility timeout a starting worker has Redis deliver the unacknowledged task
    # again: same id, so it resumes its own claim and sends the one message that was missing.
    # (Every task's time limit must stay below it: the settings refuse anything else.)
    visibility = 5
    time.sleep(max(0.0, hung_at + visibility + 0.5 - time.time()))
    third = workers.start(
        **smtp_env(smtp_server, timeout=2),
        CELERY_VISIBILITY_TIMEOUT=str(visibility),
        CELERY_TASK_RETRY_BACKOFF_MAX=str(visibility - 1),
        CELERY_TASK_TIME_LIMIT=str(visibility - 1),
        NOTIFICATION_TASK_TIME_LIMIT=str(visibility - 1),
        WEBHOOK_TIMEOUT="2",
        SMS_TIMEOUT="2",
    )
    third.wait_for(f"Task notifications.deliver_email[{original}] succeeded")
    assert len(smtp_server.to("li@example.org")) == 1
    assert len(smtp_server.to("wang@example.org")) == 1
    assert len(smtp_server.messages) == 2
    stuck.refresh_from_db()
    done.refresh_from_db()
    assert (stuck.state, stuck.claimed_by, stuck.attempts) == (SENT, original, 2)
    assert (done.state, done.attempts) == (SENT, 1)


# Only the upcoming reminder: the weekly rules never come due in these workers.
NO_WEEKLY_RULES = {"REMINDER_WEEKLY_WEEKDAY": "6", "REMINDER_WEEKLY_HOUR": "24"}


@pytest.mark.celery_worker
@pytest.mark.alone  # timed against the robot's 8 s (tests/conftest.py)
def test_a_slow_robot_holds_up_neither_the_inbox_nor_email_nor_the_sweep(
    activity_types, settings, smtp_server, robot, workers
):
    settings.QUIET_HOURS = NO_QUIET_HOURS
    # A robot that posts what it gets but answers only after 8 s, far past WEBHOOK_TIMEOUT.
    robot.delay = 8
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    group = [make_member(agency, n, channels=WEBHOOK_ONLY) for n in (1, 2, 3)]
    li = make_member(agency, 4, email="li@example.org")  # the inbox and e-mail
    soon = timezone.now() + dt.timedelta(hours=23)
    patrol = make_activity(community, soon, [*group, li], "沿江防汛巡逻")
    cleanup = make_activity(community, soon, [*group, li], "铁路沿线环境清扫")
    # As in production: one worker for the sweep, the inbox and e-mail, one for the robots,
    # each with real time limits (prefork).
    timings = dict(
        WEBHOOK_TIMEOUT="1", EMAIL_TIMEOUT="2", NOTIFICATION_TASK_TIME_LIMIT="8", **NO_WEEKLY_RULES
    )
    main = workers.start(
        ("celery", "mail"), "prefork", ready=False, **{**smtp_env(smtp_server, 2), **timings}
    )
    robots = workers.start(("robots",), "prefork", ready=False, **timings)
    for worker in (main, robots):
        worker.wait_for("ready.", timeout=60)

    # The group's reminders are handed out first (on commit), li's at the same moment after.
    started = time.monotonic()
    for activity in (patrol, cleanup):
        queue_upcoming(activity, group)
    for activity in (patrol, cleanup):
        queue_upcoming(activity, [li])
    sweep = workers.publish("activities.sweep_reminders")

    mine = Notification.objects.filter(recipient=li.user)
    main.wait_until(lambda: mine.filter(state=SENT).count() == 4, "li's four messages sent")
    main.wait_for(f"Task activities.sweep_reminders[{sweep}] succeeded")
    prompt = time.monotonic() - started
    print(f"inbox, e-mail and the sweep done {prompt:.1f} s after queueing")
    # Before the robot has answered even once: nothing waited for it.
    assert prompt < robot.delay, prompt
    assert len(smtp_server.to("li@example.org")) == 2

    # The robot: one post per text, each once (a timeout is not tried again at once); its
    # task ended in time, and left nothing SENDING.
    def robot_tasks_done():
        done = [line for line in list(robots.lines) if "succeeded" in line]
        return sum("Task notifications.deliver_robot[" in line for line in done) == 2

    robots.wait_until(robot_tasks_done, "the robot's two tasks done")
    group_rows = Notification.objects.filter(channel=Notification.Channel.WEBHOOK)
    assert len(robot.posts) == 2
    for post in robot.posts:
        assert sorted(post["json"]["text"]["mentioned_mobile_list"]) == [m.mobile for m in group]
    assert set(group_rows.values_list("state", "failure", "attempts")) == {
        (PENDING, Notification.Failure.ROBOT_TIMEOUT, 1)
    }
    assert not any("TimeLimitExceeded" in line for line in robots.lines + main.lines)


# The promise of README "Reliability": a dead worker's messages go out within
# NOTIFICATION_STALE_SECONDS (50 s, above a delivery task's 40 s limit) + the sweep's interval
# (beat, 60 s) of its death: 110 s. This test runs the same formula with shortened timings — tasks
# of 5 s, claims stale after 6 s, a sweep every second (played by the test as beat) — and allows
# 4 s more for the workers' own latency (the broker's polling).
TASK_SECONDS = 5
STALE_SECONDS = 6
SWEEP_EVERY = 1.0
LATENCY = 4.0


@pytest.mark.celery_worker
def test_a_dead_workers_messages_go_out_within_the_promised_time(
    activity_types, settings, smtp_server, workers
):
    settings.QUIET_HOURS = NO_QUIET_HOURS
    community, agency = make_place()
    names = ["li", "wang", "chen", "zhao"]
    people = [
        make_member(agency, n, email=f"{name}@example.org", channels=EMAIL_ONLY)
        for n, name in enumerate(names, 1)
    ]
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), people)
    assert queue_upcoming(activity, people, enqueue=False) == 4
    rows = {n.address.partition("@")[0]: n for n in Notification.objects.all()}

    # Another worker runs beside the one that is going to die, as in production.
    rescuer = workers.start(
        ("celery", "mail"),
        ready=False,
        **smtp_env(smtp_server, timeout=2),
        WEBHOOK_TIMEOUT="2",
        SMS_TIMEOUT="2",
        NOTIFICATION_TASK_TIME_LIMIT=str(TASK_SECONDS),
        NOTIFICATION_STALE_SECONDS=str(STALE_SECONDS),
        **NO_WEEKLY_RULES,
    )
    # The server takes li's e-mail, then takes wang's but never answers: the worker dies waiting.
    smtp_server.swallow_after = 1
    doomed = workers.start(("doomed",), "prefork", **smtp_env(smtp_server, timeout=25))
    rescuer.wait_for("ready.", timeout=60)
    ids = sorted(n.pk for n in rows.values())
    workers.publish("notifications.deliver_email", [ids], queue="doomed")
    assert smtp_server.hanging.wait(timeout=30), "".join(doomed.lines[-60:])
    for row in rows.values():
        row.refresh_from_db()
    # wang's e-mail was being sent: its attempt counts. chen's and zhao's were claimed but never
    # tried: they used no attempt.
    assert {name: (n.state, n.attempts) for name, n in rows.items()} == {
        "li": (SENT, 1),
        "wang": (SENDING, 1),
        "chen": (SENDING, 0),
        "zhao": (SENDING, 0),
    }

    doomed.kill()
    died = timezone.now()
    smtp_server.swallow_after = None
    promised = STALE_SECONDS + SWEEP_EVERY
    deadline = time.monotonic() + promised + LATENCY + 10
    waiting = Notification.objects.exclude(state=SENT)
    while waiting.exists() and time.monotonic() < deadline:
        workers.publish("activities.sweep_reminders")
        time.sleep(SWEEP_EVERY)
    assert not waiting.exists(), "".join(rescuer.lines[-60:])
    last = max(Notification.objects.values_list("sent_at", flat=True))
    took = (last - died).total_seconds()
    print(f"a dead worker's messages went out {took:.1f} s after it died")
    assert took <= promised + LATENCY

    # At least once, with a window of one message: the one in flight went out twice, both
    # copies with the same Message-ID; every other e-mail once.
    for name, row in rows.items():
        copies = smtp_server.to(f"{name}@example.org")
        assert len(copies) == (2 if name == "wang" else 1), name
        assert {mail["Message-ID"] for mail in copies} == {delivery.message_id(row)}
    attempts = dict(Notification.objects.values_list("address", "attempts"))
    assert attempts == {
        "li@example.org": 1,
        "wang@example.org": 2,
        "chen@example.org": 1,
        "zhao@example.org": 1,
    }


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
        assert row.failure == Notification.Failure.ROBOT_UNREACHABLE
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
    assert (row.state, row.attempts, row.failure, row.last_error) == (SENT, 1, "", "")

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
    assert row.failure == Notification.Failure.ROBOT_REFUSED
    assert row.last_error == "errcode 93000: invalid webhook url"
    # The robot heard it and said no: asking again at once would not help.
    assert len(robot.posts) == 1
    assert naps == []


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=0.5, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_robot_that_answers_too_late_gets_each_message_once_per_attempt(robot, naps):
    robot.delay = 3  # it posts the message at once, and answers long after the timeout
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    li = make_member(agency, 1, channels=WEBHOOK_ONLY)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [li])
    queue_upcoming(activity, [li], enqueue=False)
    row = Notification.objects.get()

    now = row.due_at
    for attempt in (1, 2):
        outcome = delivery.deliver([row.pk], token=f"task-{attempt}", now=now)
        # Sent, then no answer: the group may have it, so it is not sent again at once.
        assert len(robot.posts) == attempt
        assert outcome == Counter({(UPCOMING, "failed"): 1})
        row.refresh_from_db()
        assert (row.state, row.attempts) == (PENDING, attempt)
        assert row.failure == Notification.Failure.ROBOT_TIMEOUT
        now = row.due_at
    assert naps == []


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_robot_changed_after_queueing_gets_the_message_at_its_new_address(robot, naps):
    robot.start()
    community, agency = make_place(robot_url="http://127.0.0.1:9/the-old-robot")
    wang = make_member(agency, 2, login=False)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [wang])
    queue_upcoming(activity, [wang], enqueue=False)
    row = Notification.objects.get()
    # The community's group moved to DingTalk before the message went out.
    community.robot_webhook_url, community.robot_kind = robot.url, Robot.DINGTALK
    community.save()
    assert delivery.deliver([row.pk], token="t", now=row.due_at) == Counter({(UPCOMING, "sent"): 1})
    [post] = robot.posts
    assert post["json"]["at"] == {"atMobiles": [wang.mobile]}
    row.refresh_from_db()
    # Queued for the community's robot, sent at its new address (which the row now records).
    assert row.robot_owner == Notification.RobotOwner.COMMUNITY
    assert (row.state, row.address, row.robot_kind) == (SENT, robot.url, Robot.DINGTALK)
    assert naps == []


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_robot_removed_after_queueing_fails_its_messages_with_a_clear_reason(robot, naps):
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    wang = make_member(agency, 2, login=False)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [wang])
    queue_upcoming(activity, [wang], enqueue=False)
    row = Notification.objects.get()

    community.robot_webhook_url = ""
    community.save()
    outcome = delivery.deliver([row.pk], token="t", now=row.due_at)
    assert outcome == Counter({(UPCOMING, "failed"): 1})
    row.refresh_from_db()
    # For good (trying again would not help) and without an attempt: nothing was tried.
    assert (row.state, row.attempts) == (FAILED, 0)
    assert row.failure == Notification.Failure.ROBOT_REMOVED
    assert community.name in row.last_error
    assert robot.posts == []


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_what_goes_to_one_robot_in_one_run_is_one_post_per_text(
    robot, naps, django_capture_on_commit_callbacks
):
    robot.start()
    community, agency = make_place()
    agency.robot_webhook_url = robot.url
    agency.save()
    # Fifteen members without a login, inactive: the agency's group is where they are reached.
    members = [make_member(agency, n, login=False) for n in range(1, 16)]
    office = get_user_model().objects.create_user(username="office")
    StaffRole.objects.create(user=office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=agency)
    NotificationPreference.objects.create(user=office, **WEBHOOK_ONLY)
    now = next_monday_10am()
    queued = reminders.sweep(now)
    assert (queued[Notification.Kind.INACTIVITY], queued[Notification.Kind.AGENCY_DIGEST]) == (
        15,
        1,
    )

    with django_capture_on_commit_callbacks() as handed_out:
        assert tasks.enqueue_due(now) == 16
    assert len(handed_out) == 1  # the agency's robot: one task
    ids = list(Notification.objects.values_list("pk", flat=True))
    outcome = delivery.deliver(ids, token="run", now=now)

    # One post per text: the nudge once, mentioning all fifteen; the digest once.
    assert len(robot.posts) == 2
    assert outcome == Counter(
        {(Notification.Kind.INACTIVITY, "sent"): 15, (Notification.Kind.AGENCY_DIGEST, "sent"): 1}
    )
    nudge, digest = sorted(
        robot.posts, key=lambda p: -len(p["json"]["text"]["mentioned_mobile_list"])
    )
    assert sorted(nudge["json"]["text"]["mentioned_mobile_list"]) == [m.mobile for m in members]
    assert digest["json"]["text"]["mentioned_mobile_list"] == []
    assert set(Notification.objects.values_list("state", "attempts")) == {(SENT, 1)}
    [(task, handed)] = [callback.args for callback in handed_out]
    assert (task, sorted(handed)) == (tasks.deliver_robot, sorted(ids))


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_post_stays_within_the_robots_limits(robot, naps, monkeypatch):
    # As if a robot took four mentions a post (the real limit is ROBOT_MENTIONS_PER_POST).
    monkeypatch.setattr(delivery, "ROBOT_MENTIONS_PER_POST", 4)
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    members = [make_member(agency, n, login=False) for n in range(1, 11)]
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), members)
    queue_upcoming(activity, members, enqueue=False)
    ids = list(Notification.objects.values_list("pk", flat=True))

    assert delivery.deliver_robot(ids, token="t") == Counter({(UPCOMING, "sent"): 10})
    mentions = [post["json"]["text"]["mentioned_mobile_list"] for post in robot.posts]
    assert [len(m) for m in mentions] == [4, 4, 2]
    assert sorted(sum(mentions, [])) == [m.mobile for m in members]

    # A text longer than WeCom takes is cut, and keeps its link.
    long = Notification(subject="通知", body="很长的内容" * 300, url="http://127.0.0.1:8000/a/1/")
    text = delivery.robot_text(long)
    assert len(text.encode()) <= delivery.ROBOT_TEXT_MAX_BYTES
    assert text.startswith("【通知】\n很长的内容") and text.endswith(
        "…\nhttp://127.0.0.1:8000/a/1/"
    )


@pytest.mark.django_db
@override_settings(WEBHOOK_TIMEOUT=1, QUIET_HOURS=NO_QUIET_HOURS)
def test_a_robot_post_that_would_not_fit_in_its_task_waits_untried(robot, naps):
    robot.start()
    community, agency = make_place(robot_url=robot.url)
    wang = make_member(agency, 2, login=False)
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), [wang])
    queue_upcoming(activity, [wang], enqueue=False)
    row = Notification.objects.get()

    # Less time left than one wait for the robot: the post waits for the next run.
    assert delivery.deliver_robot([row.pk], token="t", now=row.due_at, budget=0.5) == Counter()
    row.refresh_from_db()
    assert (row.state, row.attempts, row.enqueued_at, row.claimed_by) == (PENDING, 0, None, "")
    assert row.due_at <= timezone.now()
    assert robot.posts == []


@pytest.mark.django_db
def test_a_run_out_of_time_leaves_nothing_sending_and_uses_no_attempt_it_did_not_try(
    smtp_server, settings
):
    settings.QUIET_HOURS = NO_QUIET_HOURS
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        smtp_server.port,
        10,
    )
    community, agency = make_place()
    people = [
        make_member(agency, n, email=f"m{n}@example.org", channels=EMAIL_ONLY) for n in (1, 2, 3)
    ]
    activity = make_activity(community, timezone.now() + dt.timedelta(hours=23), people)
    queue_upcoming(activity, people, enqueue=False)
    first, second, third = Notification.objects.order_by("pk")

    # The server takes one e-mail and hangs; then Celery's soft time limit strikes, as the
    # pool's signal raises it in a worker.
    smtp_server.hang_after = 1

    def soft_time_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_time_limit)
    alarm = threading.Thread(
        target=lambda: smtp_server.hanging.wait(10) and os.kill(os.getpid(), signal.SIGALRM)
    )
    alarm.start()
    try:
        outcome = delivery.deliver([first.pk, second.pk, third.pk], token="t", now=first.due_at)
    finally:
        alarm.join()
        signal.signal(signal.SIGALRM, previous)

    assert outcome == Counter({(UPCOMING, "sent"): 1, (UPCOMING, "failed"): 1})
    states = {n.address: (n.state, n.attempts, n.failure) for n in Notification.objects.all()}
    assert states == {
        "m1@example.org": (SENT, 1, ""),
        "m2@example.org": (PENDING, 1, Notification.Failure.OUT_OF_TIME),
        "m3@example.org": (PENDING, 0, ""),
    }


# --- 5. Transactions -------------------------------------------------------------------------


@pytest.fixture
def broker_queue():
    """Tasks go to queues of this test's own on the configured broker (one per routed queue),
    where the test reads them back; no worker sees them."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        redis_client().close()
    prefix = f"xiachen-test-{uuid.uuid4().hex[:8]}"
    with own_queues(prefix), app.connection_for_read() as broker:
        queues = {name: broker.SimpleQueue(f"{prefix}-{name}") for name in EVERY_QUEUE}

        def received():
            """The messages published meanwhile, by queue."""
            messages = {}
            for name, simple in queues.items():
                while True:
                    try:
                        message = simple.get_nowait()
                    except simple.Empty:
                        break
                    message.ack()
                    messages.setdefault(name, []).append(message)
            return messages

        yield received
        received()
        for simple in queues.values():
            simple.queue.delete()
            simple.close()


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
    assert broker_queue() == {}


def test_a_committed_change_hands_its_messages_to_a_worker_after_commit(
    two_members, broker_queue, django_capture_on_commit_callbacks
):
    activity, members = two_members
    li, wang = members
    NotificationPreference.objects.filter(user=li.user).update(inapp=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            assert queue_upcoming(activity, members) == 3
        assert broker_queue() == {}  # not before the commit
    assert callbacks[0] is tasks.enqueue_due  # which published the delivery tasks
    assert Notification.objects.filter(enqueued_at__isnull=False).count() == 3
    # Each channel through its own task, on its own queue.
    published = {
        queue: [(m.headers["task"], sorted(m.decode()[0][0])) for m in messages]
        for queue, messages in broker_queue().items()
    }
    inbox, email = (
        sorted(Notification.objects.filter(channel=channel).values_list("pk", flat=True))
        for channel in (Notification.Channel.INAPP, Notification.Channel.EMAIL)
    )
    assert published == {
        "celery": [("notifications.deliver_inbox", inbox)],
        "mail": [("notifications.deliver_email", email)],
    }


# --- 6. The parts ----------------------------------------------------------------------------


@pytest.fixture
def one_message(two_members):
    activity, (li, _wang) = two_members
    queue_upcoming(activity, [li], enqueue=False)
    return Notification.objects.get()


def test_a_claim_belongs_to_its_token_until_it_goes_stale(one_message):
    pk, due = one_message.pk, one_message.due_at
    stale, second = delivery.CLAIM_STALE_AFTER, dt.timedelta(seconds=1)
    minute = stale / 2  # a while, shorter than a claim lives

    assert delivery.claim([pk], token="A", now=due - second) == []  # not due yet
    assert [n.pk for n in delivery.claim([pk], token="A", now=due)] == [pk]
    assert delivery.claim([pk], token="B", now=due + minute) == []
    # The same task, delivered again by the broker, takes its claim back (and renews it).
    [again] = delivery.claim([pk], token="A", now=due + minute)
    assert delivery.claim([pk], token="B", now=due + minute + stale - second) == []
    [taken] = delivery.claim([pk], token="B", now=due + minute + stale + second)
    assert (again.claimed_by, taken.state, taken.claimed_by) == ("A", SENDING, "B")
    assert delivery.claim([pk], token="A", now=due + minute + stale + second) == []
    # Claims that never tried to send used no attempt.
    assert Notification.objects.get(pk=pk).attempts == 0


def test_every_copy_of_an_email_carries_the_message_id_of_its_outbox_row(one_message, mailoutbox):
    pk, due = one_message.pk, one_message.due_at
    assert delivery.deliver([pk], token="A", now=due) == Counter({(UPCOMING, "sent"): 1})
    # Sent again, as after a worker died before it could record the first copy.
    Notification.objects.filter(pk=pk).update(state=PENDING)
    assert delivery.deliver([pk], token="B", now=due) == Counter({(UPCOMING, "sent"): 1})
    ids = {mail.message()["Message-ID"] for mail in mailoutbox}
    assert ids == {f"<xiachen-notification-{pk}@127.0.0.1>"}
    assert len(mailoutbox) == 2


def test_delivering_the_same_messages_twice_sends_them_once(two_members, mailoutbox):
    activity, members = two_members
    queue_upcoming(activity, members, enqueue=False)
    ids = list(Notification.objects.values_list("pk", flat=True))

    assert delivery.deliver(ids, token="A") == Counter({(UPCOMING, "sent"): 2})
    assert delivery.deliver(ids, token="A") == Counter()
    assert delivery.deliver(ids, token="B") == Counter()
    # As Celery tasks, each with an id of its own.
    for task in (tasks.deliver_inbox, tasks.deliver_email, tasks.deliver_robot):
        task.apply(args=[ids])
        task(ids)
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
    _task, chunk = tasks.TASKS[Notification.Channel.INAPP]
    Notification.objects.bulk_create(
        [Notification(object_id=i, **common) for i in range(chunk + 1)]
        + [Notification(object_id=10**6, **{**common, "due_at": now + dt.timedelta(hours=1)})]
        + [Notification(object_id=10**6 + 1, state=SENT, **common)]
    )
    due = chunk + 1

    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.enqueue_due(now) == due
    assert len(callbacks) == 2  # one task per chunk
    assert Notification.objects.filter(enqueued_at=now).count() == due
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.enqueue_due(now + tasks.REENQUEUE_AFTER / 2) == 0
    assert callbacks == []
    almost = now + tasks.REENQUEUE_AFTER - dt.timedelta(seconds=1)
    assert tasks.enqueue_due(almost) == 0
    # Later, their tasks seem lost: they go out again (claims keep them single).
    assert tasks.enqueue_due(now + tasks.REENQUEUE_AFTER + dt.timedelta(seconds=1)) == due


def test_a_message_whose_worker_vanished_is_handed_out_again_once_its_claim_is_stale(
    one_message, django_capture_on_commit_callbacks
):
    pk, now = one_message.pk, one_message.due_at
    assert tasks.enqueue_due(now) == 1
    delivery.claim([pk], token="a-task-the-broker-lost", now=now)
    # Its task may still be running: nobody else is given the message.
    assert tasks.enqueue_due(now + delivery.CLAIM_STALE_AFTER - dt.timedelta(seconds=1)) == 0
    stale = now + delivery.CLAIM_STALE_AFTER + dt.timedelta(seconds=1)
    assert tasks.enqueue_due(stale) == 1
    assert delivery.deliver([pk], token="a-new-task", now=stale) == Counter({(UPCOMING, "sent"): 1})


def load_settings(**env) -> dict:
    """xiachen/settings.py as it reads `env` (over the production defaults), in a namespace of
    its own: the settings in use stay as they are."""
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environment.update(CELERY_BROKER_URL="redis://127.0.0.1:6379/14", **env)  # never connected
    with pytest.MonkeyPatch.context() as patch:
        for name in set(os.environ) - set(environment):
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        return runpy.run_path(str(Path(settings.BASE_DIR) / "xiachen" / "settings.py"))


@pytest.mark.parametrize(
    "env, refusal",
    [
        (
            {"NOTIFICATION_TASK_TIME_LIMIT": "60", "NOTIFICATION_STALE_SECONDS": "60"},
            "NOTIFICATION_STALE_SECONDS must exceed NOTIFICATION_TASK_TIME_LIMIT",
        ),
        (
            {"NOTIFICATION_TASK_TIME_LIMIT": "20", "EMAIL_TIMEOUT": "15"},
            "EMAIL_TIMEOUT, WEBHOOK_TIMEOUT and SMS_TIMEOUT must be below",
        ),
        (
            {"NOTIFICATION_TASK_TIME_LIMIT": "8", "WEBHOOK_TIMEOUT": "6", "EMAIL_TIMEOUT": "2"},
            "EMAIL_TIMEOUT, WEBHOOK_TIMEOUT and SMS_TIMEOUT must be below",
        ),
        (
            {"NOTIFICATION_TASK_TIME_LIMIT": "20", "SMS_TIMEOUT": "16"},
            "EMAIL_TIMEOUT, WEBHOOK_TIMEOUT and SMS_TIMEOUT must be below",
        ),
        (
            {"CELERY_VISIBILITY_TIMEOUT": "300", "CELERY_TASK_RETRY_BACKOFF_MAX": "60"},
            "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT",
        ),
        (
            {"CELERY_VISIBILITY_TIMEOUT": "60", "CELERY_TASK_RETRY_BACKOFF_MAX": "60"},
            "CELERY_TASK_RETRY_BACKOFF_MAX must be below CELERY_VISIBILITY_TIMEOUT",
        ),
        (
            {
                "CELERY_VISIBILITY_TIMEOUT": "90",
                "CELERY_TASK_TIME_LIMIT": "60",
                "CELERY_TASK_RETRY_BACKOFF_MAX": "60",
            },
            None,
        ),
    ],
)
def test_settings_refuse_delivery_timings_that_do_not_fit_together(env, refusal):
    if refusal is None:
        assert load_settings(**env)["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 90
        return
    with pytest.raises(ImproperlyConfigured, match=refusal):
        load_settings(**env)


def test_the_production_timings_keep_the_promise_of_two_minutes():
    defaults = load_settings()
    # README: a dead worker's messages go out within NOTIFICATION_STALE_SECONDS + one sweep
    # interval (beat, every minute), plus the sending itself.
    assert defaults["NOTIFICATION_STALE_SECONDS"] + 60 <= 110
    assert defaults["NOTIFICATION_TASK_TIME_LIMIT"] < defaults["NOTIFICATION_STALE_SECONDS"]
    visibility = defaults["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"]
    assert defaults["CELERY_TASK_TIME_LIMIT"] < visibility


def test_the_outbox_tasks_ack_late_survive_lost_workers_and_retry_a_bounded_number_of_times():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    delivering = [tasks.deliver_inbox, tasks.deliver_email, tasks.deliver_robot]
    for task in [activity_tasks.sweep_reminders, *delivering]:
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert OperationalError in task.autoretry_for
        assert task.max_retries == settings.CELERY_TASK_MAX_RETRIES
        assert 0 < task.max_retries <= 10
        assert task.retry_backoff and task.retry_jitter
        assert task.retry_backoff_max < visibility
    assert activity_tasks.sweep_reminders.time_limit == conf.task_time_limit  # the default
    for task in delivering:
        # Each delivery task has its own, shorter limits; a claim goes stale, and a handed-out
        # message goes out again, only when no task that could still hold it can be running.
        assert 0 < task.soft_time_limit < task.time_limit == settings.NOTIFICATION_TASK_TIME_LIMIT
        assert delivery.CLAIM_STALE_AFTER.total_seconds() > task.time_limit
    # A slow robot holds only the robots' queue.
    routes = settings.CELERY_TASK_ROUTES
    queues = {
        t.name: routes.get(t.name, {}).get("queue", conf.task_default_queue) for t in delivering
    }
    assert queues == {
        "notifications.deliver_inbox": "celery",
        "notifications.deliver_email": "mail",
        "notifications.deliver_robot": "robots",
    }
