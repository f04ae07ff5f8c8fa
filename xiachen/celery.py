"""The Celery app. The worker and beat run on the embedded file-system broker on a laptop and
on Redis in production; the code is the same."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiachen.settings")

app = Celery("xiachen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="xiachen.ping")
def ping():
    """Answers "pong": lets a person or a test check that a worker is consuming."""
    return "pong"
