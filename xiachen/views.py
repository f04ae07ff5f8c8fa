"""The project's own pages that belong to no app."""

import logging
import os

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)

# Seconds the broker may take to answer; a health check must answer well within its own
# timeout (docker-compose.yml gives it 10 s).
BROKER_CHECK_TIMEOUT = 2.0


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker():
    """A connection to the broker the web app publishes tasks to. The embedded file-system
    broker of `make run` has no server: its folder must be there and writable."""
    url = settings.CELERY_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if url.startswith("filesystem://"):
        folder = options["data_folder_in"]
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise OSError(f"broker folder {folder} is missing or not writable")
        return
    with Connection(url, connect_timeout=BROKER_CHECK_TIMEOUT, transport_options=options) as conn:
        # Connecting opens a channel, which on Redis is a PING: the server really answered.
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CHECK_TIMEOUT
        )


CHECKS = {"database": check_database, "broker": check_broker}


def healthz(request):
    """For the containers' health checks and the proxy: 200 when the database and the broker
    answer, else 503 naming what failed. The reason goes to the log, never to the response
    (it may name hosts and users)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # whatever the failure, the service is unavailable
            logger.warning("health check: %s unavailable: %s: %s", name, type(exc).__name__, exc)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    failed = [name for name, result in results.items() if result != "ok"]
    body = {"status": "unavailable" if failed else "ok", "checks": results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
