"""The largest agency's yearly attendance records as .xlsx, written as a Celery worker writes it
(issue 9, point 5: ≤ 10 s and ≤ 200 MB of memory at city size).

The export runs in a process of its own, started here with the bench's settings and database:
the job's function (reports.jobs.run_job, what reports.run_export calls in a worker) writes the
file into the default storage and its log line. Time is the function's wall time (beside the
process's CPU time: on a busy machine the two part); memory is the process's peak resident size
as the kernel counts it (VmHWM of /proc/self/status, which starts anew with the process's
program: getrusage's ru_maxrss would carry the bench's own size over from the fork), so
everything the export holds — Django, the query's rows, openpyxl, the file's buffers — counts,
the interpreter and Django's own start included. Its rows are written in one transaction that
is rolled back, and the file is deleted: the city is left as it was.

"The largest agency's year" is the agency and calendar year with the most attendance records
(one query); the export is made as one of that agency's office logins.
"""

import json
import os
import subprocess
import sys

from django.conf import settings
from django.db import connection

from .measure import Line

TIME_TARGET = 10.0
MEMORY_TARGET_MB = 200

SCRIPT = """
import json, sys, time
import django
django.setup()


def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

from django.core.files.storage import default_storage
from django.db import transaction
from communities.models import StaffRole
from reports.jobs import run_job
from reports.models import ExportJob

agency_id, year = int(sys.argv[1]), int(sys.argv[2])
before = peak_kb()
with transaction.atomic():
    office = StaffRole.objects.filter(kind="agency_office", agency=agency_id).order_by("pk").first()
    job = ExportJob.objects.create(
        user_id=office.user_id, agency_id=agency_id, what="records", format="xlsx",
        filters={"date_from": f"{year}-01-01", "date_to": f"{year}-12-31"},
    )
    begin, cpu_begin = time.perf_counter(), time.process_time()
    outcome = run_job(job.pk)
    seconds, cpu_end = time.perf_counter() - begin, time.process_time()
    job.refresh_from_db()
    size = job.file.size if job.file else 0
    if job.file:
        default_storage.delete(job.file.name)
    transaction.set_rollback(True)
print(json.dumps({"outcome": outcome, "seconds": seconds, "rows": job.rows_done, "bytes": size,
                  "peak_kb": peak_kb(), "start_kb": before, "cpu": cpu_end - cpu_begin}))
"""

LARGEST = """
SELECT m.agency_id, EXTRACT(YEAR FROM a.starts_at AT TIME ZONE %s)::int AS year, COUNT(*)
FROM activities_participation p
JOIN members_member m ON m.id = p.member_id
JOIN activities_activity a ON a.id = p.activity_id
WHERE p.status IN ('present', 'absent', 'leave')
  AND m.agency_id IN (SELECT agency_id FROM communities_staffrole WHERE kind = 'agency_office')
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 1
"""


def largest_year() -> tuple[int, int, int] | None:
    """(agency id, year, records) of the agency with an office and the year with the most
    records."""
    with connection.cursor() as cursor:
        cursor.execute(LARGEST, [settings.TIME_ZONE])
        return cursor.fetchone()


def measure(agency_id: int, year: int) -> dict:
    """Runs the export in a process of its own; what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(agency_id), str(year)],
        cwd=settings.BASE_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "no output")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(*, judge: bool) -> list[Line]:
    name = "largest agency's yearly attendance records .xlsx (worker)"
    largest = largest_year()
    if largest is None:
        return [Line("export", name, "no records", "an agency with records", False)]
    agency_id, year, records = largest
    try:
        result = measure(agency_id, year)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return [Line("export", name, f"failed: {exc}", "a file", False)]
    what = f"{name}, agency {agency_id}, {year}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy = f"load average {load:.1f} on {os.cpu_count()} cores" if load is not None else ""
    peak_mb = result["peak_kb"] / 1024
    start_mb = result["start_kb"] / 1024
    return [
        Line(
            "export",
            f"{what}: rows",
            f"{result['rows']:,} rows, {result['bytes'] / 2**20:.1f} MB file",
            f"{records:,} records, written",
            result["outcome"] == "done" and result["rows"] == records,
        ),
        Line(
            "export",
            f"{what}: time",
            f"{result['seconds']:.2f} s ({result['cpu']:.2f} s of the process's CPU)",
            f"≤ {TIME_TARGET:g} s",
            result["seconds"] <= TIME_TARGET,
            judged=judge,
            note=busy,
        ),
        Line(
            "export",
            f"{what}: peak memory",
            f"{peak_mb:.0f} MB peak RSS of the process ({start_mb:.0f} MB after Django's start)",
            f"≤ {MEMORY_TARGET_MB} MB",
            peak_mb <= MEMORY_TARGET_MB,
            judged=judge,
        ),
    ]
