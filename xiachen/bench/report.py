"""The machine, and docs/benchmarks.md."""

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection

SECTIONS = {
    "harness": "The harness",
    "queries": "Queries of every page of every role: demo size and city size",
    "time": "One user: median time of each page",
    "scope": "Scopes: `visible_to(user).count()` beside hand-written SQL (ratio: SQL to SQL)",
    "figure": "Dashboard figures beside hand-written SQL (ratio: SQL to SQL)",
    "export": "The largest agency's yearly records .xlsx, written as a worker writes it",
    "sweep": "The reminder sweep (beat's every-minute task)",
    "load": "Load: gunicorn and locust",
}


def machine() -> dict:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "postgresql": postgres,
        "system": platform.platform(),
        "commit": commit or "?",
    }


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown(lines, *, scale, about: dict, facts: list[str], elapsed: float) -> str:
    failed = [line for line in lines if line.judged and not line.ok]
    judged = [line for line in lines if line.judged]
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python manage.py bench`, xiachen/bench/); do not edit by hand.",
        "",
        f"- Scale: {scale:g} (`make bench SCALE={scale:g}`)"
        + (
            ""
            if scale >= 1
            else " — below 1 only query counts, equal figures and the harness"
            " are judged; times are shown, not judged"
        ),
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {about['commit']}",
        f"- Machine: {about['cores']} cores, {about['memory']} RAM, Python {about['python']},"
        f" PostgreSQL {about['postgresql']} ({about['system']})",
        *(f"- {fact}" for fact in facts),
        f"- Result: {len(judged) - len(failed)} of {len(judged)} judged targets pass,"
        f" {len(failed)} fail; the bench took {elapsed / 60:.1f} min",
        "",
    ]
    for section, title in SECTIONS.items():
        rows = [line for line in lines if line.section == section]
        if not rows:
            continue
        out += [f"## {title}", "", "| | What | Measured | Target | Note |", "|---|---|---|---|---|"]
        out += [
            f"| {line.verdict} | {_cell(line.name)} | {_cell(line.figure)} | "
            f"{_cell(line.target)} | {_cell(line.note)} |"
            for line in rows
        ]
        out.append("")
    return "\n".join(out)
