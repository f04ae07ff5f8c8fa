"""Beat's scheduler: the schedule is declared in code (`beat_schedule` in xiachen/celery.py) and
kept in the database by django-celery-beat, where city administrators edit it in admin.

django-celery-beat's own DatabaseScheduler writes every declared entry over its row at each
start, so a restart would undo an administrator's new interval. Here a declared entry the
database lacks is created; one it has keeps its timing and its on/off switch (the
administrators'), and takes what only the code knows — the task, its arguments and options.
Entries are found by name: the names are those the old data migrations used, so databases made
by them keep their rows and get no second copy."""

from celery import schedules
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
from kombu.utils.json import dumps

# Largest unit first, so that 60 seconds reads "every minute" in admin.
INTERVAL_UNITS = [
    (86400, IntervalSchedule.DAYS),
    (3600, IntervalSchedule.HOURS),
    (60, IntervalSchedule.MINUTES),
    (1, IntervalSchedule.SECONDS),
]


class Entry(ModelEntry):
    @classmethod
    def from_entry(cls, name, app=None, **entry):
        with transaction.atomic():
            task = PeriodicTask.objects.select_for_update().filter(name=name).first()
            if task is None:
                task = PeriodicTask(name=name, description=_summary(app, entry["task"]))
                task_fields = cls._unpack_fields(**entry)
            else:
                task_fields = cls._code_fields(**entry)
            changed = [f for f, value in task_fields.items() if getattr(task, f) != value]
            for field in changed:
                setattr(task, field, task_fields[field])
            if task.pk is None or changed:
                task.save()
        return cls(task, app=app)

    @classmethod
    def _code_fields(cls, schedule, args=None, kwargs=None, relative=None, options=None, **entry):
        """What the code decides for an entry already in the database: all but its timing."""
        entry.pop("enabled", None)
        return dict(
            entry,
            args=dumps(args or []),
            kwargs=dumps(kwargs or {}),
            **cls._unpack_options(**options or {}),
        )

    @classmethod
    def to_model_schedule(cls, schedule):
        schedule = schedules.maybe_schedule(schedule)
        if type(schedule) is schedules.schedule:
            seconds = int(schedule.run_every.total_seconds())
            for size, period in INTERVAL_UNITS:
                if seconds and seconds % size == 0:
                    interval, _ = IntervalSchedule.objects.get_or_create(
                        every=seconds // size, period=period
                    )
                    return interval, "interval"
        return super().to_model_schedule(schedule)


class Scheduler(DatabaseScheduler):
    Entry = Entry


def _summary(app, task_name: str) -> str:
    """The first line of the task's docstring, shown to administrators next to the entry."""
    task = app.tasks.get(task_name) if app is not None else None
    doc = (task.__doc__ or "") if task is not None else ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
