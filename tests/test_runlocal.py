"""`make run`'s heart: `manage.py runlocal` serves the app and runs a worker with beat on the
embedded broker — which deliver the demo's due reminders —, prints the URL and the demo
accounts, and Ctrl-C stops all of it."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from django.conf import settings

from xiachen.management.commands.runlocal import worker_queues


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.celery_worker
def test_runlocal_serves_runs_worker_and_beat_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="xiachen.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        CELERY_DATA_DIR=str(tmp_path / "celery"),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    migrate = subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=settings.BASE_DIR, env=env, capture_output=True
    )
    assert migrate.returncode == 0, migrate.stderr
    demo = subprocess.run(
        [*manage, "load_demo"], cwd=settings.BASE_DIR, env=env, capture_output=True
    )
    assert demo.returncode == 0, demo.stderr
    process = subprocess.Popen(
        [*manage, "runlocal", "--port", str(port)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        page = None
        while time.monotonic() < deadline and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, "".join(lines)
        assert "登录" in page
        # runlocal asks for a first sweep at once (beat's follow every minute); the demo has
        # reminders due, which the worker then delivers: reminders work on the embedded
        # broker, without Redis.
        while time.monotonic() < deadline:
            text = "".join(lines)
            if (
                "Task notifications.deliver_" in text
                and "succeeded" in text.split("Task notifications.deliver_", 1)[1]
            ):
                break
            time.sleep(0.5)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text
        assert "shengli_staff" in text and "xiachen-demo" in text
        # The worker, and the robots' worker beside it.
        assert "worker@" in text and "robots@" in text and text.count(" ready.") == 2, text
        assert "beat: Starting..." in text, text  # beat, embedded in the worker
        assert "Task activities.sweep_reminders[" in text
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            states = dict(
                db.execute("SELECT state, COUNT(*) FROM notifications_notification GROUP BY state")
            )
        assert states.get("sent", 0) > 0 and not states.get("pending"), states
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("runlocal did not stop on Ctrl-C")
    assert "Stopped the web app, the workers and beat." in "".join(lines)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)


def test_make_run_consumes_every_queue_and_gives_the_robots_a_worker_of_their_own():
    robots, others = worker_queues()
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert set(robots) | set(others) == routed | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert robots == [settings.CELERY_TASK_ROUTES["notifications.deliver_robot"]["queue"]]
    assert not set(robots) & set(others)
