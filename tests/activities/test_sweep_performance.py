"""How `manage.py send_reminders` scales: 10,000 due reminders queued and sent in one run within
a minute, with memory that does not grow with the number of messages.

PostgreSQL only (the CI leg that has it). `pytest -s` prints the figures. The data is built with
bulk_create: `size` ÷ 200 activities starting in 23 hours with 100 members signed up to each;
every member has a login with an e-mail address and default preferences, so two messages each
(in-app and e-mail). Everyone attended an activity three days ago, so no inactivity nudge joins
in, and quiet hours are off so that the hour the suite runs at does not matter.

Django's locmem e-mail backend (the test settings') keeps every e-mail in `mail.outbox`, by
design: with it memory grows by the outbox, which a real SMTP backend does not keep. The memory
test therefore runs with RenderingBackend, which builds each message as SMTP would send it and
keeps nothing; that is the figure asserted flat.
"""

import datetime as dt
import gc
import re
import resource
import time
import tracemalloc
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from activities import reminders
from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Community, Street
from members.models import Member
from notifications.models import Notification
from notifications.tasks import enqueue_due
from tests.conftest import alone

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    # Off, so that messages are due at once whatever the hour.
    pytest.mark.usefixtures("no_quiet_hours"),
]

MEMBERS_PER_ACTIVITY = 100
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
RENDERING = f"{__name__}.RenderingBackend"
# The memory test's two runs, in messages: two per member, so one and three whole chunks of the
# sweep's 1,000 people (notifications.notify.CHUNK). Below a chunk the peak still grows with
# the chunk: 4.8 MiB for 1,000 messages.
SIZES = (2_000, 6_000)


@pytest.fixture
def no_quiet_hours():
    with override_settings(QUIET_HOURS=[0, 0]):
        yield


class RenderingBackend(BaseEmailBackend):
    """Renders every message to the bytes SMTP would send, then forgets it."""

    sent = 0

    def send_messages(self, messages):
        for message in messages:
            message.message().as_bytes()
        RenderingBackend.sent += len(messages)
        return len(messages)


def build(size: int, tag: str) -> list[int]:
    """Makes `size` messages due; returns the ids of the activities made."""
    now = timezone.now()
    members_count = size // 2
    street, _ = Street.objects.get_or_create(name="性能测试街道")
    community, _ = Community.objects.get_or_create(name="性能测试社区", defaults={"street": street})
    agency = Agency.objects.create(name=f"性能测试单位{tag}")
    cleanup = ActivityType.objects.get(code=ActivityType.Code.CLEANUP)
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(
                username=f"perf-{tag}-{i:05d}",
                email=f"perf-{tag}-{i:05d}@example.org",
                password="!",
            )
            for i in range(members_count)
        ],
        batch_size=2000,
    )
    members = Member.objects.bulk_create(
        [
            Member(agency=agency, user=user, name=f"成员{i:05d}", mobile=f"13{i:09d}")
            for i, user in enumerate(users)
        ],
        batch_size=2000,
    )
    past = Activity.objects.create(
        community=community,
        type=cleanup,
        title=f"三天前的清扫 {tag}",
        starts_at=now - dt.timedelta(days=3),
        ends_at=now - dt.timedelta(days=3, hours=-2),
    )
    upcoming = Activity.objects.bulk_create(
        [
            Activity(
                community=community,
                type=cleanup,
                title=f"明天的清扫 {tag}-{n}",
                place="性能测试社区",
                starts_at=now + dt.timedelta(hours=23),
                ends_at=now + dt.timedelta(hours=25),
            )
            for n in range(members_count // MEMBERS_PER_ACTIVITY)
        ]
    )
    attended = [
        Participation(
            activity=past,
            member=member,
            status=Participation.Status.PRESENT,
            hours=Decimal("2.0"),
            source=Participation.Source.ROLL_CALL,
        )
        for member in members
    ]
    signed_up = [
        Participation(
            activity=upcoming[i // MEMBERS_PER_ACTIVITY],
            member=member,
            source=Participation.Source.SIGN_UP,
        )
        for i, member in enumerate(members)
    ]
    Participation.objects.bulk_create(attended + signed_up, batch_size=5000)
    analyze()
    return [past.pk, *(a.pk for a in upcoming)]


def analyze():
    """Brings PostgreSQL's statistics up to date, as autovacuum does within a minute of a load
    this size: planned on a freshly loaded table that looks empty, the sweep's anti-join over
    the outbox is read row by row."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def retire(activity_ids):
    """Takes a finished scenario out of the next one's way (cancelled: no rule looks at it)."""
    Activity.objects.filter(pk__in=activity_ids).update(status=Activity.Status.CANCELLED)


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Run:
    size: int
    backend: str
    seconds: float
    queries: int
    queued: int
    sent: int
    emails: int
    rss_before: float
    rss_after: float
    peak: float | None = None  # MiB allocated at the worst moment (tracemalloc)
    retained: float | None = None  # MiB still allocated after the run

    def __str__(self):
        memory = ""
        if self.peak is not None:
            memory = f", tracemalloc peak {self.peak:.1f} MiB (retained {self.retained:.1f})"
        return (
            f"{self.size:>6} messages, {self.backend:<9}: {self.seconds:5.1f} s, "
            f"{self.queries} queries, queued {self.queued}, sent {self.sent}, "
            f"e-mails {self.emails}{memory}, "
            f"maxrss {self.rss_before:.0f} → {self.rss_after:.0f} MiB"
        )


def send_reminders(size: int, backend: str, *, traced: bool) -> Run:
    mail.outbox = []
    RenderingBackend.sent = 0
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    out = StringIO()
    gc.collect()
    rss_before = maxrss_mib()
    with override_settings(EMAIL_BACKEND=backend), connection.execute_wrapper(count):
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        with translation.override("en"):  # the totals line is read back below
            call_command("send_reminders", stdout=out)
        seconds = time.perf_counter() - started
        if traced:
            retained, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    total = re.search(r"^Total: queued (\d+), sent (\d+)$", out.getvalue(), re.MULTILINE)
    run = Run(
        size=size,
        backend="locmem" if backend == LOCMEM else "rendering",
        seconds=seconds,
        queries=queries,
        queued=int(total[1]),
        sent=int(total[2]),
        emails=len(mail.outbox) if backend == LOCMEM else RenderingBackend.sent,
        rss_before=rss_before,
        rss_after=maxrss_mib(),
    )
    if traced:
        run.peak, run.retained = peak / 2**20, retained / 2**20
    print(run)
    return run


def check(run: Run, since: dt.datetime):
    assert (run.queued, run.sent, run.emails) == (run.size, run.size, run.size // 2)
    rows = Notification.objects.filter(kind=Notification.Kind.UPCOMING, created_at__gte=since)
    assert rows.filter(state=Notification.State.SENT).count() == run.size
    assert not Notification.objects.exclude(state=Notification.State.SENT).exists()


def scenario(size: int, tag: str, backend: str, *, traced: bool, timed: bool = False) -> Run:
    """`size` messages made due, sent, checked, then retired. `timed`: the sending is held to
    a time, so under pytest-xdist it runs while no other test does (tests/conftest.py)."""
    activities = build(size, tag)
    since = timezone.now()
    with alone() if timed else nullcontext():
        run = send_reminders(size, backend, traced=traced)
    check(run, since)
    retire(activities)
    return run


def test_10000_reminders_are_queued_and_sent_within_a_minute():
    runs = {
        size: scenario(size, f"t{size}", LOCMEM, traced=False, timed=True)
        for size in (2_000, 10_000)
    }

    assert runs[10_000].seconds < 60
    # Linear in what it asks the database: five times the messages, five times the queries
    # (about one per message and a few per chunk), not a query per message per message.
    assert runs[10_000].queries <= 5 * runs[2_000].queries + 100
    # The time is not held to a ratio here: on a clean PostgreSQL run the 10,000 took 27–38 s
    # against 2.2–2.4 s for the 2,000 (12–16×, more than linear; 35.3 s against 3.4 s was seen
    # before with the load at 7). The minute above is issue 8's target; the ratio is an open
    # finding for the bench's sweep lines, not a pass/fail of this suite.


def test_memory_does_not_grow_with_the_number_of_messages():
    # A first, small run untraced: what a process loads once (the URL conf, the templates, the
    # translations: 60–65 MiB, kept) is not what the messages take, and would swamp the figures.
    warm_up = build(200, "m-warm-up")
    send_reminders(200, RENDERING, traced=False)
    retire(warm_up)
    runs = {size: scenario(size, f"m{size}", RENDERING, traced=True) for size in SIZES}

    # Three times the messages take about the same memory: the messages are read, queued and
    # sent a chunk at a time, so the peak stops growing once a chunk is full. Measured on
    # PostgreSQL: 8.2 MiB for 2,000 and 9.8 for 10,000 messages, 0.2 KiB for each message more.
    # Holding every message would take more than 2 KiB each, 8 MiB for the 4,000 more of the
    # larger run here; the bound below is half that. (RenderingBackend only: the locmem backend of
    # the other tests keeps every e-mail by design.) The sizes are CI's: a traced run costs
    # about 8 ms a message.
    small, large = runs[SIZES[0]], runs[SIZES[1]]
    grown = large.peak - small.peak
    more = SIZES[1] - SIZES[0]
    print(f"peak {small.peak:.1f} → {large.peak:.1f} MiB, {grown * 2**10 / more:.2f} KiB a message")
    assert grown < 4, f"the peak grew by {grown:.1f} MiB for {more} messages more"
    assert large.peak < 20
    assert large.retained < 5


# --- The beat task's sweep alone: what runs every minute -----------------------------------------
#
# Measured on the project's 2-core machine, busy with other work (load average 6–8), PostgreSQL
# 15: 10,000 due in 5.2 s and 32 queries (2,000 in 1.5 s, 13 queries); 40,000 inactive members
# (tests/activities/test_sweep_city.py),
# three in four unreachable: the week's first sweep 31 s and 192 queries, then nothing left to
# do in 0.4–0.5 s and 8 queries. On `seed_scale`'s full city (60,000 members, 200,000 outbox
# rows): the week's first sweep 11 s and 231 queries (15,410 nudges queued, 31,087 unreachable
# recorded), each sweep after it 0.3–0.6 s and 7–13 queries.


def sweep_once(now: dt.datetime) -> tuple[int, float, int]:
    """(messages queued, seconds, queries) of one sweep as beat runs it: the rules, then the
    hand-out to workers (published on commit, which a test never reaches). Not traced:
    tracemalloc slows Python down several times (the memory test above covers the sweep)."""
    reverse("reports:dashboard")  # the URLconf is loaded by the first message, not counted
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        queued = sum(reminders.sweep(now).values())
        enqueue_due(now)
    return queued, time.perf_counter() - started, len(queries)


def test_a_sweep_queues_10000_reminders_in_a_few_queries_per_thousand():
    runs = {}
    for size in (2_000, 10_000):
        scenario = build(size, f"s{size}")
        with alone():  # timed: never beside another test under pytest-xdist
            runs[size] = sweep_once(timezone.now())
        print(f"sweep, {size:>6} due: {runs[size][1]:5.1f} s, {runs[size][2]} queries")
        assert runs[size][0] == size
        retire(scenario)

    queued, seconds, queries = runs[10_000]
    assert seconds < 60
    # A fixed few per rule, then per 1,000 people due one read and per 1,000 rows one insert
    # (two rows each here, in-app and e-mail); before, five per activity and two per message.
    assert queries - runs[2_000][2] <= 3 * (10_000 - 2_000) // 1_000
    assert queries < 60
