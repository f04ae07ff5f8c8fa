"""Writes that touch several rows, one module per part of the workspace. Views import the
functions from here."""

from .activity import activity_cancel, activity_notify_changed, is_news

__all__ = [
    "activity_cancel",
    "activity_notify_changed",
    "is_news",
]
