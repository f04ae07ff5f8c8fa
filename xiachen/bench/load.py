"""Eight users on gunicorn: the pages of the demo accounts, served with the bench's production
settings on 127.0.0.1, loaded by locust headless for a bounded time (locustfile.py)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from .measure import Line

USERS = 8
RATE_TARGET = 100.0
P95_TARGET = 300.0


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def sessions(usernames) -> dict[str, str]:
    """A signed-in session of each account, as the login page would make it."""
    User = get_user_model()
    keys = {}
    for username in usernames:
        client = Client()
        client.force_login(User.objects.get(username=username))
        keys[username] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return keys


def start_gunicorn(port: int, log: Path) -> subprocess.Popen:
    """gunicorn with the project's configuration (gunicorn.conf.py, where there is one),
    bound to loopback; returns once it answers."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "xiachen.bench.settings"}
    address = f"127.0.0.1:{port}"
    env["GUNICORN_BIND"] = address
    command = [_bin("gunicorn"), "--bind", address]
    config = Path(settings.BASE_DIR) / "gunicorn.conf.py"
    if config.exists():
        command += ["--config", str(config)]
    else:
        command += ["--workers", "3", "--threads", "4", "--worker-class", "gthread"]
    command.append("xiachen.wsgi:application")
    with open(log, "w") as out:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn stopped at start; see {log}")
        try:
            with urllib.request.urlopen(f"http://{address}/login/", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"gunicorn did not answer on {address} within 60 s; see {log}")


def stop(process: subprocess.Popen) -> None:
    """Stops the gunicorn this bench started (its own process group), and waits for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def bench(pages_by_account, *, port, workdir: Path, seconds: int, warmup: int, judge: bool):
    """The lines of the load target. `pages_by_account`: {username: [url, ...]}."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = sessions(pages_by_account)
    result = workdir / "locust-result.json"
    result.unlink(missing_ok=True)
    plan = workdir / "locust-pages.json"
    plan.write_text(
        json.dumps(
            {
                "accounts": {
                    username: {"session": keys[username], "urls": urls}
                    for username, urls in pages_by_account.items()
                },
                "warmup": warmup,
                "result": str(result),
            }
        )
    )
    server = start_gunicorn(port, workdir / "gunicorn.log")
    try:
        with open(workdir / "locust.log", "w") as out:
            subprocess.run(
                [
                    _bin("locust"),
                    "--locustfile",
                    str(Path(__file__).with_name("locustfile.py")),
                    "--headless",
                    "--users",
                    str(USERS),
                    "--spawn-rate",
                    str(USERS),
                    "--run-time",
                    f"{warmup + seconds}s",
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--only-summary",
                    "--stop-timeout",
                    "10",
                ],
                env={**os.environ, "XIACHEN_BENCH_PAGES": str(plan)},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=warmup + seconds + 120,
                check=False,
            )
    finally:
        stop(server)
        Session.objects.filter(session_key__in=keys.values()).delete()
    if not result.exists():
        return [Line("load", "locust", "no result", "a run", False, note=f"see {workdir}")]
    summary = json.loads(result.read_text())
    name = f"{USERS} users, {seconds} s after {warmup} s warm-up"
    p95 = summary["p95_ms"]
    return [
        Line(
            "load",
            f"{name}: requests/s",
            f"{summary['per_second']:.1f} ({summary['requests']} requests)",
            f"≥ {RATE_TARGET:g}",
            summary["per_second"] >= RATE_TARGET,
            judged=judge,
        ),
        Line(
            "load",
            f"{name}: p95",
            f"{p95:.0f} ms" if p95 is not None else "no request",
            f"≤ {P95_TARGET:g} ms",
            p95 is not None and p95 <= P95_TARGET,
            judged=judge,
        ),
        Line(
            "load",
            f"{name}: errors",
            f"{summary['errors']} of {summary['all_requests']}",
            "0",
            summary["errors"] == 0 and summary["all_requests"] > 0,
        ),
    ]
