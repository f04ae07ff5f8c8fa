"""City-size data for benchmarks (`manage.py seed_scale`): the demo plus a prefecture-level city
around it, loaded with COPY in one transaction and recorded in communities.CitySeed."""

import datetime as dt
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from activities.models import (
    Activity,
    AgencyActivity,
    Concern,
    Dispute,
    DoorToDoorUnit,
    DutyAssignment,
    Participation,
    WorkUpdate,
    agency_activity,
    doors,
)
from communities.models import (
    Agency,
    Agreement,
    CitySeed,
    Community,
    Compound,
    Grid,
    StaffRole,
    Street,
)
from members.models import AGENCY_FILL, AGENCY_TRIGGERS, Member, Registration
from notifications.models import Notification

from .city import FULL, City, counts_at

__all__ = ["FULL", "SEEDED_MODELS", "Seeded", "counts_at", "demo_only", "seed", "settle"]

# Every table the city writes to, parents first.
SEEDED_MODELS = [
    get_user_model(),
    Street,
    Community,
    Compound,
    Grid,
    Agency,
    StaffRole,
    StaffRole.grids.through,
    Agreement,
    Agreement.history.model,
    Member,
    Registration,
    Registration.history.model,
    Activity,
    Participation,
    Participation.history.model,
    AgencyActivity,
    Dispute,
    DoorToDoorUnit,
    DutyAssignment,
    WorkUpdate,
    Concern,
    Notification,
]

# The triggers that keep figures of the seeded tables (the pairs of agencies and activities, the
# door units' agency and start, the report-ins' agency): off while the rows stream in, their
# columns filled afterwards.
KEPT_TRIGGERS = [
    (table, trigger)
    for kept in (agency_activity.TRIGGERS, doors.TRIGGERS, AGENCY_TRIGGERS)
    for table, triggers in kept.items()
    for trigger in triggers
]


@dataclass(frozen=True)
class Seeded:
    record: CitySeed
    seconds: dict  # table: seconds spent sending its rows


def demo_only() -> bool:
    """Whether the database holds nothing but (some of) the demo: the city may be built here.
    Its places, agencies, agreements and members are known by name, number and mobile."""
    from xiachen.demo.loader import data

    demo = data()
    streets = set(demo["streets"])
    communities = {name for street in demo["streets"].values() for name in street}
    agencies = {a["name"] for a in demo["agencies"]}
    agreements = rf"^GJ-\d{{4}}-00[1-{len(demo['agreements'])}]$"
    mobiles = r"^13900\d{6}$"
    return (
        not CitySeed.objects.exists()
        and not Street.objects.exclude(name__in=streets).exists()
        and not Community.objects.exclude(name__in=communities).exists()
        and not Agency.objects.exclude(name__in=agencies).exists()
        and not Agreement.objects.exclude(number__regex=agreements).exists()
        and not Member.objects.exclude(mobile__regex=mobiles).exists()
        # The demo's activities, and those its verified resident needs were recorded on and
        # its call-outs made.
        and Activity.objects.filter(need__isnull=True, call_out__isnull=True).count()
        <= len(demo["activities"])
    )


def _set_aside(cursor, tables) -> list[str]:
    """Drops the foreign keys, unique constraints and indexes of `tables` (all but primary
    keys) and returns the statements that put them back. Rows stream in faster without them,
    in any order; putting them back checks every row at once (a join per foreign key, a sort
    per index) and fails the whole load if one row breaks a rule. Check constraints stay, and
    check each row as it comes."""
    cursor.execute(
        """
        SELECT rel.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
        WHERE con.contype IN ('f', 'u') AND rel.relname = ANY(%s)
        ORDER BY con.contype DESC, rel.relname, con.conname
        """,
        [list(tables)],
    )
    constraints = cursor.fetchall()  # unique ones first: foreign keys go back last
    cursor.execute(
        """
        SELECT idx.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class rel ON rel.oid = i.indrelid
        JOIN pg_class idx ON idx.oid = i.indexrelid
        WHERE rel.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY rel.relname, idx.relname
        """,
        [list(tables)],
    )
    indexes = cursor.fetchall()
    for table, name, _kind, _ in reversed(constraints):
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    restore = [definition for _, definition in indexes]
    restore += [
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
        for table, name, _, definition in constraints
    ]
    return restore


def settle(tables, using=connection) -> str:
    """Leaves the freshly loaded tables as autovacuum keeps a live city's: statistics for the
    planner (ANALYZE) and, outside a transaction, the visibility map (VACUUM). Without the map
    PostgreSQL cannot answer from an index alone: the dashboard's month of attendance then
    reads every activity of five years instead of the month's entries in their index (a
    dashboard query 32 ms → 9 ms at city size). A server may run without autovacuum (this
    one does), so the seed does not wait for it. Says which of the two it ran."""
    command = "ANALYZE" if using.in_atomic_block else "VACUUM ANALYZE"
    with using.cursor() as cursor:
        for table in tables:
            cursor.execute(f'{command} "{table}"')
    return command


def seed(*, scale: float, seed: int, today: dt.date, log=print) -> Seeded:
    started = time.monotonic()
    tables = [model._meta.db_table for model in SEEDED_MODELS]
    with transaction.atomic():
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor  # psycopg2's own, for copy_expert
            # Checks still pending in this transaction (the demo's, when it was loaded in the
            # same one) are run now: a table with pending checks cannot be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            restore = _set_aside(cursor, tables)
            # The pairs of agencies and activities are counted once at the end rather than by
            # a trigger for each of 1.5 million rows (whose unique index is set aside anyway),
            # and the door units' agency and start and the report-ins' agency (a chunk of
            # report-ins may be sent before the chunk of their members) are filled in one
            # statement each.
            for table, trigger in KEPT_TRIGGERS:
                cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
            city = City(scale=scale, seed=seed, today=today, log=log)
            loader = city.run(cursor)
            checked = time.monotonic()
            for statement in [*agency_activity.REBUILD, *doors.REBUILD, AGENCY_FILL]:
                cursor.execute(statement)
            for table, trigger in KEPT_TRIGGERS:
                cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"')
            for statement in restore:
                cursor.execute(statement)
            for statement in connection.ops.sequence_reset_sql(no_style(), SEEDED_MODELS):
                cursor.execute(statement)
            log(f"  {'pairs, indexes, keys, sequences':<28} {time.monotonic() - checked:6.1f} s")
        record = CitySeed.objects.create(
            scale=scale,
            seed=seed,
            today=today,
            seeded_at=timezone.now(),
            seconds=0,
            counts=loader.counts(),
            checksum=loader.digest.hexdigest(),
        )
    analysed = time.monotonic()
    settled = settle(tables)
    log(f"  {settled:<28} {time.monotonic() - analysed:6.1f} s")
    record.seconds = round(time.monotonic() - started, 1)
    record.save(update_fields=["seconds"])
    return Seeded(record=record, seconds=dict(loader.seconds))
