from celery import shared_task
from django.db import OperationalError

from .services import agreements_expire


@shared_task(
    name="communities.expire_agreements",
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def expire_agreements() -> int:
    """Nightly (beat, 00:05): stores EXPIRED on agreements past their end date.

    Retries only a database that is briefly unavailable or locked, a few times."""
    return agreements_expire()
