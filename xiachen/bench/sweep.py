"""The reminder sweep, as beat runs it every minute, at city size.

Whatever task beat's schedule runs every 60 seconds is run here in this process (its function,
without a worker), at the busiest minute of the week: Monday 17:30 in the site's time, when the
weekly messages (from REMINDER_WEEKLY_HOUR) and tomorrow's duty (from REMINDER_DUTY_ROSTER_HOUR)
are due besides the hourly ones. The clock is set to that minute for the run.

Everything happens in one transaction that is rolled back: what the sweeps queue and the people
made for the "10,000 due" runs leave nothing behind, and the tasks a sweep hands out on commit
are never published. E-mail goes to the locmem backend (bench settings); nothing is delivered.
"""

import datetime as dt
import gc
import time
import tracemalloc
from contextlib import contextmanager
from unittest import mock

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Community, Street
from members.models import Member
from notifications.models import Notification

from .measure import Line, count_queries, ms

IDLE_TARGET = 1.0
DUE_TARGET = 60.0
# A read and a bulk write per chunk of 1,000 per rule are fine; a query per recipient is not.
QUERIES_PER_THOUSAND = 4
ACTIVITIES = 20


class Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    """A savepoint (or transaction) whose writes are undone on leaving."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def beat_task():
    """The task beat's schedule runs every minute (xiachen/celery.py)."""
    from xiachen.celery import app

    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        schedule = entry["schedule"]
        seconds = schedule.total_seconds() if isinstance(schedule, dt.timedelta) else schedule
        if isinstance(seconds, int | float) and seconds == 60:
            return app.tasks[entry["task"]]
    raise LookupError("beat runs no task every minute")


def busiest_minute(today: dt.date | None = None) -> dt.datetime:
    """Monday 17:30 of this week, in the site's time zone."""
    today = today or timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    return timezone.make_aware(dt.datetime.combine(monday, dt.time(17, 30)))


def run_at(task, moment):
    """Runs the task's function with the clock at `moment`; (seconds, queries, messages it
    queued)."""
    before = Notification.objects.count()
    with mock.patch.object(timezone, "now", lambda: moment):
        begin = time.perf_counter()
        _, queries = count_queries(task.run)
        elapsed = time.perf_counter() - begin
    return elapsed, queries, Notification.objects.count() - before


def peak_memory(task, moment) -> int:
    """Peak bytes Python allocates during one run (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        with mock.patch.object(timezone, "now", lambda: moment):
            task.run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def make_due(size: int, moment: dt.datetime, tag: str) -> None:
    """`size` messages due at `moment`, as the weekly slot has them: `size` members, each with
    a login and no e-mail address (the in-app inbox only: one message each). Half of them are
    signed up to one of ACTIVITIES activities starting 23 hours later (an upcoming reminder
    each) and were present at an activity three days before; the other half never came
    (an inactivity nudge each)."""
    street, _ = Street.objects.get_or_create(name="压力测试街道")
    community, _ = Community.objects.get_or_create(name="压力测试社区", defaults={"street": street})
    agency = Agency.objects.create(name=f"压力测试单位{tag}", short_name=f"压测{tag}")
    cleanup = ActivityType.objects.get(code=ActivityType.Code.CLEANUP)
    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"bench-{tag}-{i}", password="!", first_name="压测") for i in range(size)
    )
    members = Member.objects.bulk_create(
        Member(agency=agency, user=user, name=f"压测{i}", mobile=f"139{i:08d}")
        for i, user in enumerate(users)
    )
    coming = members[: size // 2]
    starts = moment + dt.timedelta(hours=23)
    activities = Activity.objects.bulk_create(
        Activity(
            community=community,
            type=cleanup,
            title=f"压力测试活动{tag}-{i}",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=2),
        )
        for i in range(ACTIVITIES)
    )
    past = Activity.objects.create(
        community=community,
        type=cleanup,
        title=f"压力测试活动{tag}-已结束",
        starts_at=moment - dt.timedelta(days=3),
        ends_at=moment - dt.timedelta(days=3) + dt.timedelta(hours=2),
        status=Activity.Status.FINISHED,
    )
    Participation.objects.bulk_create(
        Participation(
            activity=activities[i % ACTIVITIES],
            member=member,
            status=Participation.Status.SIGNED_UP,
            source=Participation.Source.SIGN_UP,
        )
        for i, member in enumerate(coming)
    )
    Participation.objects.bulk_create(
        Participation(
            activity=past,
            member=member,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )
        for member in coming
    )


def bench(*, sizes: tuple[int, int], judge: bool) -> list:
    """The lines of the sweep targets."""
    task = beat_task()
    moment = busiest_minute()
    when = timezone.localtime(moment).strftime("%a %Y-%m-%d %H:%M")
    lines = []
    with rolled_back():
        first, _, first_queued = run_at(task, moment)
        lines.append(
            Line(
                "sweep",
                f"{task.name} at {when}, first run (fills the outbox)",
                f"{first_queued} queued in {first:.2f} s",
                "shown",
                True,
                judged=False,
            )
        )
        idle, idle_queries, idle_queued = run_at(task, moment)
        lines.append(
            Line(
                "sweep",
                f"{task.name} at {when} again: nothing due",
                f"{idle:.2f} s, {idle_queries} queries",
                f"≤ {IDLE_TARGET:g} s",
                idle <= IDLE_TARGET,
                judged=judge,
            )
        )
        if idle_queued:
            lines.append(Line("sweep", "nothing due queues nothing", f"{idle_queued}", "0", False))
        runs = {}
        for size in sizes:
            with rolled_back():
                make_due(size, moment, tag=str(size))
                with rolled_back():
                    runs[size] = run_at(task, moment)
                with rolled_back():
                    runs[size] += (peak_memory(task, moment),)
        (small, large) = sizes
        for size in sizes:
            seconds, queries, queued, _peak = runs[size]
            lines.append(
                Line(
                    "sweep",
                    f"{size} due: messages queued",
                    f"{queued}",
                    f"{size}",
                    queued == size,
                    note="harness: every one of them, and nothing else",
                )
            )
        seconds, queries, _queued, peak = runs[large]
        lines.append(
            Line(
                "sweep",
                f"{large} due",
                f"{seconds:.1f} s",
                f"≤ {DUE_TARGET:g} s",
                seconds <= DUE_TARGET,
                judged=judge,
            )
        )
        grown = runs[large][1] - runs[small][1]
        allowed = QUERIES_PER_THOUSAND * (large - small) // 1000
        lines.append(
            Line(
                "sweep",
                f"queries at {small} and {large} due",
                f"{runs[small][1]} and {runs[large][1]} (+{grown})",
                f"+ ≤ {allowed} ({QUERIES_PER_THOUSAND} per 1,000 recipients)",
                grown <= allowed,
            )
        )
        small_peak, large_peak = runs[small][3], runs[large][3]
        flat = large_peak <= 1.5 * small_peak + 2 * 2**20
        lines.append(
            Line(
                "sweep",
                f"peak memory at {small} and {large} due",
                f"{small_peak / 2**20:.1f} MiB and {large_peak / 2**20:.1f} MiB",
                "flat: ≤ 1.5× + 2 MiB",
                flat,
                judged=judge,
            )
        )
    return lines


__all__ = ["bench", "busiest_minute", "ms"]
