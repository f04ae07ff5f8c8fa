"""`make run`: the web app, Celery workers and beat together on a laptop, stopped by Ctrl-C.

They run as in production — DEBUG off, the static files collected and served by WhiteNoise, the
project's own error pages — unless DEBUG=true asks for the developer's debug pages."""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from activities.tasks import sweep_reminders
from xiachen.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, DEMO_TOTP

# Addresses that listen on every interface: links and host names use the loopback instead.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def local_secret_key() -> str:
    """A key made once per checkout and kept in var/, so that sessions survive a restart."""
    path = Path(settings.VAR_DIR) / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def child_environment(*, host: str, port: int, environment=None) -> dict:
    """The environment of the web app and the worker: production's settings on a laptop.

    What the person set wins; otherwise DEBUG is off, links in messages (SITE_URL) point at the
    address being served, the site is served over plain HTTP, which is all a laptop serves
    (XIACHEN_PLAIN_HTTP: cookies without the Secure flag, no redirect to HTTPS), and the logs
    are readable text rather than production's JSON lines."""
    env = dict(os.environ if environment is None else environment)
    debug = environ.Env.parse_value(env.get("DEBUG", "false"), bool)
    env["DEBUG"] = "true" if debug else "false"
    served_host = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in served_host:  # an IPv6 address
        served_host = f"[{served_host}]"
    env.setdefault("SITE_URL", f"http://{served_host}:{port}")
    if served_host not in settings.ALLOWED_HOSTS:
        env["ALLOWED_HOSTS"] = ",".join([*settings.ALLOWED_HOSTS, served_host])
    if not debug:
        if not env.get("SECRET_KEY"):
            env["SECRET_KEY"] = local_secret_key()
        env.setdefault("XIACHEN_PLAIN_HTTP", "true")
        env.setdefault("LOG_FORMAT", "text")
    return env


def worker_queues() -> tuple[list[str], list[str]]:
    """The queues of the robots' worker, and those of the worker for everything else: together,
    every queue the settings route a task to."""
    routes = settings.CELERY_TASK_ROUTES
    robots = [routes["notifications.deliver_robot"]["queue"]]
    every = {settings.CELERY_TASK_DEFAULT_QUEUE, *(route["queue"] for route in routes.values())}
    return robots, sorted(every - set(robots))


class Command(BaseCommand):
    help = "Runs the web app with Celery workers and beat (embedded broker by default)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host, port, **options):
        if not 0 < port < 65536:
            raise CommandError(f"Port {port} is not a TCP port.")
        Path(settings.CELERY_DATA_DIR).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        env = child_environment(host=host, port=port)
        debug = env["DEBUG"] == "true"
        if not debug:
            # As in production: hashed, compressed copies that WhiteNoise serves with long
            # cache lifetimes; a file missing from the manifest fails here, not in production.
            self.stdout.write("Collecting static files…")
            collected = subprocess.run(
                [python, manage, "collectstatic", "--noinput", "--verbosity", "0"],
                cwd=settings.BASE_DIR,
                env=env,
            )
            if collected.returncode:
                raise CommandError("collectstatic failed; see above.")
        celery = [python, "-m", "celery", "-A", "xiachen", "worker", "--pool=solo"]
        robots, others = worker_queues()
        children = {
            "web": [python, manage, "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                *celery,
                "--beat",
                "--loglevel=INFO",
                "--schedule",
                str(Path(settings.CELERY_DATA_DIR) / "beat-schedule"),
                "-Q",
                ",".join(others),
                "-n",
                "worker@%h",
            ],
            # Group robots have a worker of their own: a slow robot never holds the other one.
            "robots": [*celery, "--loglevel=INFO", "-Q", ",".join(robots), "-n", "robots@%h"],
        }
        processes = {}
        # Children get their own process group so that we, not the terminal, stop them in order.
        for name, command in children.items():
            processes[name] = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, start_new_session=True
            )

        self._print_banner(host, port, site_url=env["SITE_URL"], debug=debug)
        # Beat's first minute has not passed yet: one sweep now, so what is due goes out at once.
        sweep_reminders.delay()
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with code {process.returncode}; stopping."
                        )
                        stopping = True
                time.sleep(0.5)
        finally:
            self._stop(processes)

    def _stop(self, processes):
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.stdout.write("Stopped the web app, the workers and beat.")

    def _print_banner(self, host, port, *, site_url, debug):
        url = f"http://{host}:{port}/"
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        mode = (
            "Developer mode (DEBUG=true): Django's debug pages."
            if debug
            else "Served as in production: DEBUG off, WhiteNoise, the Chinese error pages."
        )
        lines = [
            "",
            "=" * 72,
            f"  下沉社区 Xiachen is running at {url}",
            f"  {mode}",
            f"  Links in messages point to {site_url}/",
            f"  Celery workers + beat on the {broker} broker; Ctrl-C stops everything.",
            f"  Demo accounts (password for all: {DEMO_PASSWORD}; TOTP: an authenticator's key):",
        ]
        for username, role, scope in DEMO_ACCOUNTS:
            totp = f"  TOTP {DEMO_TOTP[username]}" if username in DEMO_TOTP else ""
            lines.append(f"    {username:<20} {role:<10} {scope}{totp}")
        lines += ["=" * 72, ""]
        self.stdout.write("\n".join(lines))
