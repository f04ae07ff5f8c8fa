"""`make run`'s heart: `manage.py runlocal` serves the app as production does (DEBUG off, static
files by WhiteNoise, the Chinese error pages) and runs a worker with beat on the embedded broker
— which deliver the demo's due reminders with links to the port being served —, prints the URL
and the demo accounts, and Ctrl-C stops all of it. `DEBUG=true` gives the developer's mode."""

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.conf import settings

from xiachen.management.commands.runlocal import child_environment, worker_queues

# `make run` makes its own SQLite database and file-system broker whatever the suite runs on:
# CI runs these in one of its two legs (pyproject.toml, `any_database`).
pytestmark = pytest.mark.any_database

# What a person typing `make run` has not set; the test's own environment must not leak in.
UNSET = (
    "DEBUG",
    "SECRET_KEY",
    "SITE_URL",
    "ALLOWED_HOSTS",
    "PORT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "XIACHEN_PLAIN_HTTP",
    "LOG_FORMAT",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_run_env(tmp_path, **changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        DJANGO_SETTINGS_MODULE="xiachen.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        CELERY_DATA_DIR=str(tmp_path / "celery"),
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONUNBUFFERED="1",
        # The demo's reminders must go out whatever the hour the test runs at.
        QUIET_HOURS="0,0",
    )
    env.update(changes)
    return env


@contextmanager
def runlocal(tmp_path, env, *, demo=True):
    """Migrates (and loads the demo), starts `manage.py runlocal` on a free port and waits for
    the login page; stops it with Ctrl-C on the way out."""
    manage = [sys.executable, "manage.py"]
    for command in [["migrate", "--noinput"], ["load_demo"]][: 2 if demo else 1]:
        done = subprocess.run(
            [*manage, *command], cwd=settings.BASE_DIR, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr
    port = free_port()
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
    run = SimpleNamespace(
        port=port,
        url=f"http://127.0.0.1:{port}",
        lines=lines,
        text=lambda: "".join(lines),
        deadline=time.monotonic() + 90,
    )
    try:
        while time.monotonic() < run.deadline:
            try:
                urllib.request.urlopen(f"{run.url}/login/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("runlocal did not stop on Ctrl-C")


class Browser:
    """Pages as a browser gets them: cookies kept (only as HTTP allows), redirects followed."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as response:
                return response.status, response.read().decode(), response.geturl(), response
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.geturl(), error

    def post_form(self, path, page, data):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.open(path, {"csrfmiddlewaretoken": token, **data})


def stylesheets(page):
    return re.findall(r'<link rel="stylesheet" href="([^"]+\.css)"', page)


@pytest.mark.celery_worker
def test_make_run_serves_as_production_runs_worker_and_beat_and_stops_on_ctrl_c(tmp_path):
    with runlocal(tmp_path, make_run_env(tmp_path)) as run:
        browser = Browser(run.url)
        status, page, _, _ = browser.open("/login/")
        assert status == 200 and "登录" in page, run.text()

        # DEBUG is off: an unknown address answers the project's Chinese 404 page.
        status, page, _, _ = browser.open("/no-such-page/")
        assert status == 404
        assert 'data-testid="error-404"' in page and "页面不存在" in page
        assert "URLconf" not in page and "DEBUG = True" not in page

        # Static files were collected (hashed names) and WhiteNoise serves them.
        sheets = stylesheets(browser.open("/login/")[1])
        assert "/static/css/xiachen.css" not in sheets
        assert any(re.fullmatch(r"/static/css/xiachen\.[0-9a-f]{12}\.css", s) for s in sheets)
        for sheet in sheets:
            status, css, _, response = browser.open(sheet)
            assert status == 200 and response.headers["Content-Type"].startswith("text/css")
            assert "immutable" in response.headers["Cache-Control"]
            assert css.strip()

        # runlocal asks for a first sweep at once (beat's follow every minute); the demo has
        # reminders due, which the worker then delivers: reminders work on the embedded
        # broker, without Redis.
        while time.monotonic() < run.deadline:
            text = run.text()
            if (
                "Task notifications.deliver_" in text
                and "succeeded" in text.split("Task notifications.deliver_", 1)[1]
            ):
                break
            time.sleep(0.5)
        text = run.text()
        assert f"http://127.0.0.1:{run.port}/" in text
        assert "shengli_staff" in text and "xiachen-demo" in text
        # The worker, and the robots' worker beside it.
        assert "worker@" in text and "robots@" in text and text.count(" ready.") == 2, text
        assert "beat: Starting..." in text, text  # beat, embedded in the worker
        assert "Task activities.sweep_reminders[" in text
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            states = dict(
                db.execute("SELECT state, COUNT(*) FROM notifications_notification GROUP BY state")
            )
            urls = {url for (url,) in db.execute("SELECT url FROM notifications_notification")}
            scheduled = dict(db.execute("SELECT name, task FROM django_celery_beat_periodictask"))
        assert states.get("sent", 0) > 0 and not states.get("pending"), states
        # The worker's links point at the port being served, not at 8000.
        assert urls and all(url.startswith(f"{run.url}/") for url in urls), urls
        # Beat wrote the schedule declared in code into the new database.
        assert scheduled["send due reminders"] == "activities.sweep_reminders"
        assert scheduled["expire agreements"] == "communities.expire_agreements"

        # A person logs in over plain HTTP and opens the message in their inbox: the web app
        # knows the same address, so the link opens here.
        status, page, _, _ = browser.open("/login/")
        status, page, url, _ = browser.post_form(
            "/login/", page, {"username": "shengli_staff", "password": "xiachen-demo"}
        )
        assert status == 200 and url == f"{run.url}/", url
        status, page, _, _ = browser.open("/notifications/inbox/")
        message = re.search(r'action="(/notifications/inbox/\d+/read/)"', page).group(1)
        status, page, url, _ = browser.post_form(message, page, {"open": "1"})
        assert status == 200
        assert re.fullmatch(rf"{run.url}/activities/\d+/", url), url
    assert "Stopped the web app, the workers and beat." in run.text()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{run.url}/login/", timeout=2)


@pytest.mark.celery_worker
def test_debug_true_make_run_is_the_developers_mode(tmp_path):
    with runlocal(tmp_path, make_run_env(tmp_path, DEBUG="true"), demo=False) as run:
        browser = Browser(run.url)
        status, page, _, _ = browser.open("/no-such-page/")
        assert status == 404
        assert "Using the URLconf defined in" in page  # Django's debug page
        # Nothing collected: the files are served from the source folders as they are edited.
        sheets = stylesheets(browser.open("/login/")[1])
        assert "/static/css/xiachen.css" in sheets
        assert browser.open("/static/css/xiachen.css")[0] == 200
        assert "Developer mode" in run.text()
    assert not (tmp_path / "static").exists()


# The environment runlocal gives the web app and the worker


def test_links_follow_the_port_unless_site_url_is_set():
    assert child_environment(host="127.0.0.1", port=8123, environment={})["SITE_URL"] == (
        "http://127.0.0.1:8123"
    )
    explicit = {"SITE_URL": "https://xiachen.example.gov.cn"}
    assert child_environment(host="127.0.0.1", port=8123, environment=explicit)["SITE_URL"] == (
        "https://xiachen.example.gov.cn"
    )


def test_a_host_other_than_the_loopback_is_allowed_and_linked_to():
    env = child_environment(host="192.168.1.20", port=8000, environment={"DEBUG": "true"})
    assert env["SITE_URL"] == "http://192.168.1.20:8000"
    assert "192.168.1.20" in env["ALLOWED_HOSTS"].split(",")
    everywhere = child_environment(host="0.0.0.0", port=8000, environment={"DEBUG": "true"})
    assert everywhere["SITE_URL"] == "http://127.0.0.1:8000"


def test_debug_is_off_unless_asked_for_and_then_a_kept_secret_key_is_made(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    env = child_environment(host="127.0.0.1", port=8000, environment={})
    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 50
    assert env["XIACHEN_PLAIN_HTTP"] == "true" and env["LOG_FORMAT"] == "text"
    key_file = tmp_path / "secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = child_environment(host="127.0.0.1", port=8000, environment={})
    assert again["SECRET_KEY"] == env["SECRET_KEY"]  # sessions survive a restart
    given = child_environment(host="127.0.0.1", port=8000, environment={"SECRET_KEY": "k" * 50})
    assert given["SECRET_KEY"] == "k" * 50

    developer = child_environment(host="127.0.0.1", port=8000, environment={"DEBUG": "true"})
    assert developer["DEBUG"] == "true" and "SECRET_KEY" not in developer


def test_make_run_consumes_every_queue_and_gives_the_robots_a_worker_of_their_own():
    robots, others = worker_queues()
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert set(robots) | set(others) == routed | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert robots == [settings.CELERY_TASK_ROUTES["notifications.deliver_robot"]["queue"]]
    assert not set(robots) & set(others)
