"""A real Celery worker, started here, consumes from the configured broker: the embedded
file-system broker on a laptop (and in the SQLite leg of CI), Redis in production (and in the
PostgreSQL leg)."""

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings

from tests.conftest import require_or_skip
from xiachen import logs
from xiachen.celery import app


@pytest.fixture
def worker():
    """A worker on a queue of its own, so that nothing else's messages reach it."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()
        except redis.ConnectionError as exc:
            require_or_skip("redis", f"Redis is not reachable: {exc}")
    queue = f"xiachen-test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="xiachen.settings_test")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "xiachen",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    yield queue, lines, process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(lines, text, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in list(lines)):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"the worker never logged {text!r}; it said:\n" + "".join(lines[-40:]))


@pytest.mark.celery_worker
def test_a_real_worker_runs_a_task_from_the_configured_broker(worker):
    queue, lines, process = worker
    wait_for(lines, "ready.", process)
    task_id = str(uuid.uuid4())
    # Queued while a request is served: the worker's lines of the task name that request.
    request_id = "req-" + uuid.uuid4().hex[:12]
    token = logs.request_id.set(request_id)
    try:
        app.send_task("xiachen.ping", task_id=task_id, queue=queue)
    finally:
        logs.request_id.reset(token)
    wait_for(lines, f"Task xiachen.ping[{task_id}] succeeded", process)
    assert any("'pong'" in line for line in lines if task_id in line)
    # The log format (text here, JSON in production) names the request and the task.
    (succeeded,) = [line for line in lines if f"Task xiachen.ping[{task_id}] succeeded" in line]
    assert f"[{request_id} {task_id}]" in succeeded
