"""Schedules the nightly task that stores EXPIRED on agreements past their end date."""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "expire agreements"
CRONTAB = {
    "minute": "5",
    "hour": "0",
    "day_of_week": "*",
    "day_of_month": "*",
    "month_of_year": "*",
    "timezone": "Asia/Shanghai",
}


def _tell_beat(apps):
    # Beat reloads its schedule only when this timestamp moves; signals do not run here.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab = CrontabSchedule.objects.filter(**CRONTAB).first()
    if crontab is None:
        crontab = CrontabSchedule.objects.create(**CRONTAB)
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "communities.expire_agreements",
            "crontab": crontab,
            "interval": None,
            "solar": None,
            "clocked": None,
            "enabled": True,
            "description": "Stores EXPIRED on active agreements whose end date has passed.",
        },
    )
    _tell_beat(apps)


def remove_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()
    CrontabSchedule.objects.filter(**CRONTAB, periodictask__isnull=True).delete()
    _tell_beat(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("communities", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
