from celery import shared_task

from notifications.tasks import RETRY

from .sessions import SessionStore


@shared_task(name="members.clear_sessions", **RETRY)
def clear_sessions() -> int:
    """Deletes ended sessions (members.sessions); by hand: `manage.py clearsessions`."""
    return SessionStore.clear_expired()
