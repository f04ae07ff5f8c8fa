"""The beat schedule: declared once in code (xiachen/celery.py), written into the database when
beat starts (xiachen/beat.py), and edited there by administrators without a restart undoing it."""

import datetime as dt

import pytest
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from xiachen.beat import Scheduler
from xiachen.celery import app

SWEEP, EXPIRY = "send due reminders", "expire agreements"

# Beat works in autocommit and closes connections a test transaction would hold open, so these
# tests commit for real (the database is flushed after each).
pytestmark = pytest.mark.django_db(transaction=True)


def start_beat() -> Scheduler:
    """What beat does when it starts: builds its scheduler, which syncs the declared schedule."""
    return Scheduler(app=app)


def test_beat_uses_the_scheduler_that_keeps_the_schedule_in_the_database():
    assert settings.CELERY_BEAT_SCHEDULER == "xiachen.beat:Scheduler"
    assert app.conf.beat_scheduler == "xiachen.beat:Scheduler"


def test_every_declared_task_is_a_registered_task_and_the_sweep_keeps_its_name():
    app.loader.import_default_modules()
    declared = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"activities.sweep_reminders", "communities.expire_agreements"} <= declared
    start_beat()
    for name in PeriodicTask.objects.values_list("task", flat=True):
        assert name in app.tasks, name


def test_a_new_database_gets_the_periodic_tasks_when_beat_starts():
    assert not PeriodicTask.objects.exists()  # the migrations create none

    beat = start_beat()

    sweep = PeriodicTask.objects.select_related("interval").get(name=SWEEP)
    assert sweep.task == "activities.sweep_reminders"
    assert sweep.enabled
    assert (sweep.interval.every, sweep.interval.period) == (1, IntervalSchedule.MINUTES)
    assert sweep.expire_seconds == 55
    assert sweep.description.startswith("Every minute")
    expiry = PeriodicTask.objects.select_related("crontab").get(name=EXPIRY)
    assert expiry.task == "communities.expire_agreements"
    assert expiry.enabled
    crontab = expiry.crontab
    assert (crontab.minute, crontab.hour) == ("5", "0")
    assert (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == ("*", "*", "*")
    assert str(crontab.timezone) == "Asia/Shanghai"
    assert beat.schedule[SWEEP].schedule.run_every == dt.timedelta(minutes=1)
    assert {SWEEP, EXPIRY} <= set(beat.schedule)


def test_a_second_start_changes_nothing():
    start_beat()
    before = list(PeriodicTask.objects.order_by("pk").values())
    schedules = (IntervalSchedule.objects.count(), CrontabSchedule.objects.count())

    start_beat()

    assert list(PeriodicTask.objects.order_by("pk").values()) == before
    assert (IntervalSchedule.objects.count(), CrontabSchedule.objects.count()) == schedules


def test_an_administrators_interval_and_switch_survive_a_restart():
    start_beat()
    every_5_minutes = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    sweep = PeriodicTask.objects.get(name=SWEEP)
    sweep.interval = every_5_minutes
    sweep.save()
    at_one = CrontabSchedule.objects.create(minute="30", hour="1", timezone="Asia/Shanghai")
    expiry = PeriodicTask.objects.get(name=EXPIRY)
    expiry.crontab = at_one
    expiry.enabled = False
    expiry.save()

    beat = start_beat()

    sweep.refresh_from_db()
    expiry.refresh_from_db()
    assert sweep.interval == every_5_minutes and sweep.enabled
    assert beat.schedule[SWEEP].schedule.run_every == dt.timedelta(minutes=5)
    assert expiry.crontab == at_one and not expiry.enabled
    assert EXPIRY not in beat.schedule  # switched off: beat does not run it
    assert PeriodicTask.objects.filter(name__in=[SWEEP, EXPIRY]).count() == 2


def test_the_code_still_decides_the_task_and_its_options_of_an_existing_entry():
    start_beat()
    PeriodicTask.objects.filter(name=SWEEP).update(task="activities.old_name", expire_seconds=None)

    start_beat()

    sweep = PeriodicTask.objects.get(name=SWEEP)
    assert (sweep.task, sweep.expire_seconds) == ("activities.sweep_reminders", 55)


def test_a_database_scheduled_by_the_old_migrations_keeps_its_rows_and_gets_no_copy():
    # What activities 0004 and communities 0002 used to create, before the schedule moved to code.
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    nightly = CrontabSchedule.objects.create(minute="5", hour="0", timezone="Asia/Shanghai")
    old = {
        SWEEP: PeriodicTask.objects.create(
            name=SWEEP,
            task="activities.sweep_reminders",
            interval=every_minute,
            expire_seconds=55,
            description="Queues the reminders that are due and hands them to workers.",
        ),
        EXPIRY: PeriodicTask.objects.create(
            name=EXPIRY, task="communities.expire_agreements", crontab=nightly
        ),
    }

    start_beat()

    for name, row in old.items():
        assert PeriodicTask.objects.filter(task=row.task).get().pk == row.pk, name
    sweep = PeriodicTask.objects.get(name=SWEEP)
    assert sweep.interval == every_minute
    assert sweep.description == "Queues the reminders that are due and hands them to workers."
    assert PeriodicTask.objects.get(name=EXPIRY).crontab == nightly
