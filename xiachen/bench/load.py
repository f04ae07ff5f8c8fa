"""Eight users on gunicorn: the pages of the demo accounts, served with the bench's production
settings on 127.0.0.1, loaded by locust headless for a bounded time (locustfile.py)."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from members.two_factor import pass_second_factor

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
        user = User.objects.get(username=username)
        client.force_login(user)
        pass_second_factor(client, user)  # as the code page would, for the roles that need it
        keys[username] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return keys


def rows_of_plan(path: Path) -> list[dict]:
    """The pages of an earlier run's plan (the locust-pages.json `bench` writes) as rows of the
    demo walk, for `bench --only load --load-pages`: the load run again without a walk."""
    plan = json.loads(Path(path).read_text())
    # Every page of a plan was a timed one. Its URL names are in the plan (an older plan's are
    # not: each page is then its own name, and none is the admin's).
    names = plan.get("names", {})
    rows = []
    for username, account in plan["accounts"].items():
        for url in account["urls"]:
            name = names.get(url, url)
            admin = name.startswith("admin:")
            rows.append(
                {
                    "username": username,
                    "name": name,
                    "url": url,
                    "admin": admin,
                    "label": "",
                    "status": 200,
                }
            )
    return rows


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


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds process `pid` has used so far (Linux /proc); None when it
    is gone or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command's closing parenthesis: state is field 3 of stat(5), utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_group(pgid: int) -> list[int]:
    """The processes of a process group: gunicorn's master and its workers."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def postgres_backends() -> list[int]:
    """The server processes of the other connections to this database (gunicorn's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


class CpuMeter:
    """The CPU time gunicorn (all its processes) and PostgreSQL (the backends serving this
    database) spend during a run, read from /proc every second: on a machine shared with other
    work, CPU milliseconds a request are a steadier figure than requests a second, and they say
    what two idle cores would serve. PostgreSQL must run on this machine (loopback)."""

    def __init__(self, pgid: int):
        self.pgid = pgid
        self.start = {}  # pid: CPU seconds when the run began (0 for a process born later)
        self.last = {"gunicorn": {}, "postgres": {}}
        for pids in self._pids().values():
            for pid in pids:
                self.start[pid] = cpu_seconds(pid) or 0.0

    def _pids(self) -> dict:
        return {"gunicorn": process_group(self.pgid), "postgres": postgres_backends()}

    def poll(self) -> None:
        for kind, pids in self._pids().items():
            for pid in pids:
                used = cpu_seconds(pid)
                if used is not None:
                    self.last[kind][pid] = used

    def seconds(self) -> dict:
        """{"gunicorn": s, "postgres": s} used since the meter was made, as of the last poll."""
        return {
            kind: sum(used - self.start.get(pid, 0.0) for pid, used in seen.items())
            for kind, seen in self.last.items()
        }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_note(cpu: dict, requests: int, cores: int) -> str:
    """The note of the throughput line: "CPU a request: 23.0 ms gunicorn + 11.2 ms PostgreSQL
    + 1.7 ms locust = 35.9 ms, about 56 requests/s on 2 idle cores"."""
    if not requests:
        return ""
    parts = {name: cpu[key] * 1000 / requests for key, name in CPU_NAMES.items() if key in cpu}
    total = sum(parts.values())
    text = " + ".join(f"{ms:.1f} ms {name}" for name, ms in parts.items())
    capacity = (
        f", about {cores * 1000 / total:.0f} requests/s on {cores} idle cores" if total else ""
    )
    return f"CPU a request: {text} = {total:.1f} ms{capacity}"


CPU_NAMES = {"gunicorn": "gunicorn", "postgres": "PostgreSQL", "locust": "locust"}


def pages_note(pages: dict, top: int = 5) -> str:
    """The pages that take the largest share of the run's time (count × mean), from the
    locustfile's summary {name: {"requests": n, "total_ms": t, "median_ms": m}}."""
    total = sum(page["total_ms"] for page in pages.values())
    if not total:
        return ""
    ranked = sorted(pages.items(), key=lambda item: -item[1]["total_ms"])[:top]
    return "most time: " + ", ".join(
        f"{name} {page['total_ms'] / total:.0%} (median {page['median_ms']:.0f} ms,"
        f" {page['requests']} requests)"
        for name, page in ranked
    )


def stop(process: subprocess.Popen) -> None:
    """Stops the gunicorn this bench started (its own process group), and waits for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def bench(
    pages_by_account,
    *,
    port,
    workdir: Path,
    seconds: int,
    warmup: int,
    judge: bool,
    mix: str = "",
    judge_rate: bool = True,
    names: dict | None = None,
    suffix: str = "",
):
    """The lines of the load target. `pages_by_account`: {username: [url, ...]}; `mix` names the
    pages in the lines; `judge_rate`: whether requests/s is a target of this mix (else shown);
    `names`: {url: URL name}, kept in the plan for `--load-pages`; `suffix` tells this mix's
    plan and result files from another's."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = sessions(pages_by_account)
    result = workdir / f"locust-result{suffix}.json"
    result.unlink(missing_ok=True)
    plan = workdir / f"locust-pages{suffix}.json"
    plan.write_text(
        json.dumps(
            {
                "accounts": {
                    username: {"session": keys[username], "urls": urls}
                    for username, urls in pages_by_account.items()
                },
                "names": {
                    url: names[url]
                    for urls in pages_by_account.values()
                    for url in urls
                    if names and url in names
                },
                "warmup": warmup,
                "result": str(result),
            }
        )
    )
    server = start_gunicorn(port, workdir / "gunicorn.log")
    load_average = os.getloadavg()[0]
    try:
        meter = CpuMeter(server.pid)
        locust_began = children_cpu()
        with open(workdir / "locust.log", "w") as out:
            locust = subprocess.Popen(
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
            )
            deadline = time.monotonic() + warmup + seconds + 120
            while locust.poll() is None and time.monotonic() < deadline:
                meter.poll()
                time.sleep(1)
            meter.poll()
            if locust.poll() is None:
                locust.kill()
            locust.wait()
        cpu = {**meter.seconds(), "locust": children_cpu() - locust_began}
    finally:
        stop(server)
        Session.objects.filter(session_key__in=keys.values()).delete()
    if not result.exists():
        return [Line("load", "locust", "no result", "a run", False, note=f"see {workdir}")]
    summary = json.loads(result.read_text())
    name = f"{USERS} users, {mix + ', ' if mix else ''}{seconds} s after {warmup} s warm-up"
    p95 = summary["p95_ms"]
    cores = os.cpu_count() or 1
    rate_note = "; ".join(
        part
        for part in (
            cpu_note(cpu, summary["all_requests"], cores),
            f"load average {load_average:.1f} at the start",
        )
        if part
    )
    return [
        Line(
            "load",
            f"{name}: requests/s",
            f"{summary['per_second']:.1f} ({summary['requests']} requests)",
            f"≥ {RATE_TARGET:g}" if judge_rate else "shown (the target is the workspace mix's)",
            summary["per_second"] >= RATE_TARGET,
            judged=judge and judge_rate,
            note=rate_note,
        ),
        Line(
            "load",
            f"{name}: p95",
            f"{p95:.0f} ms" if p95 is not None else "no request",
            f"≤ {P95_TARGET:g} ms",
            p95 is not None and p95 <= P95_TARGET,
            judged=judge,
            note=pages_note(summary.get("pages", {})),
        ),
        Line(
            "load",
            f"{name}: errors",
            f"{summary['errors']} of {summary['all_requests']}",
            "0",
            summary["errors"] == 0 and summary["all_requests"] > 0,
        ),
    ]
