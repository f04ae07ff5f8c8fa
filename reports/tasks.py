from celery import shared_task
from django.db import OperationalError

from .summaries import overview_refresh


@shared_task(
    name="reports.refresh_overviews",
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def refresh_overviews() -> dict:
    """Rebuilds the street and city overviews' figures (beat, every OVERVIEW_REFRESH_MINUTES).

    Retries only a database that is briefly unavailable or locked, a few times."""
    refresh = overview_refresh()
    return {"made_at": refresh.made_at.isoformat(), "seconds": refresh.seconds}
