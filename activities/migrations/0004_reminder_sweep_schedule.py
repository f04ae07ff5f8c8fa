"""Schedules the reminder sweep every minute (django-celery-beat, editable in admin)."""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "send due reminders"


def _tell_beat(apps):
    # Beat reloads its schedule only when this timestamp moves; signals do not run here.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "activities.sweep_reminders",
            "interval": every_minute,
            "crontab": None,
            "solar": None,
            "clocked": None,
            "enabled": True,
            # A sweep missed while beat was down is not worth running late: the next one is.
            "expire_seconds": 55,
            "description": "Queues the reminders that are due and hands them to workers.",
        },
    )
    _tell_beat(apps)


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()
    _tell_beat(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0003_notifications_and_duty_roster"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
