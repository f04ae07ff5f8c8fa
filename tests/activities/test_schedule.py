"""The reminder sweep's schedule lives in the database (editable in admin), made by a migration."""

import pytest
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from xiachen.celery import app


@pytest.mark.django_db
def test_the_sweep_runs_every_minute_from_the_database_schedule():
    task = PeriodicTask.objects.get(task="activities.sweep_reminders")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (1, IntervalSchedule.MINUTES)
    assert settings.CELERY_BEAT_SCHEDULER.startswith("django_celery_beat.")


@pytest.mark.django_db
def test_the_nightly_expiry_of_agreements_is_scheduled_too():
    task = PeriodicTask.objects.get(task="communities.expire_agreements")
    assert (task.crontab.hour, task.crontab.minute) == ("0", "5")


def test_every_scheduled_task_name_is_a_registered_task(db):
    app.loader.import_default_modules()
    for name in PeriodicTask.objects.values_list("task", flat=True):
        assert name in app.tasks, name
