"""Local calendar days as moments: lists, figures and reminders bound datetime columns by them."""

import datetime as dt

from django.utils import timezone


def local_midnight(day: dt.date) -> dt.datetime:
    """The first moment of a local calendar day (Asia/Shanghai by default)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
