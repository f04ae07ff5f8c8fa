"""Writes that touch several rows, one module per part of the workspace. Views import the
functions from here."""

from .activity import activity_cancel, activity_notify_changed
from .notifications import notification_mark_read, notification_retry, notifications_mark_all_read

__all__ = [
    "activity_cancel",
    "activity_notify_changed",
    "notification_mark_read",
    "notification_retry",
    "notifications_mark_all_read",
]
