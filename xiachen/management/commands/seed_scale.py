"""`manage.py seed_scale`: a city-size dataset around the demo, on PostgreSQL, for benchmarks."""

import datetime as dt
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from communities.models import CitySeed
from reports import summary
from xiachen import scale as city

DEFAULT_SEED = 20200630


class Command(BaseCommand):
    help = (
        "Seeds a prefecture-level city around the demo (PostgreSQL only): 200 communities, "
        "1,000 agencies, 60,000 members, 150,000 activities, 1.5 million participations, "
        "200,000 notifications at --scale 1. Needs an empty (migrated) database or one with only "
        "the demo; --reuse leaves a city of the same scale and seed as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiplies every count (0.01 makes ~600 members and ~15,000 participations).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="Random seed: same seed, same city."
        )
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="If this database already holds a city of this scale and seed, do nothing.",
        )
        parser.add_argument(
            "--today",
            metavar="YYYY-MM-DD",
            help="Day the city is built around (default: today in Asia/Shanghai).",
        )

    def handle(self, *args, scale, seed, reuse, today, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "seed_scale needs PostgreSQL (it loads with COPY): set DATABASE_URL to a "
                "PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/xiachen_city, "
                "and run migrate first."
            )
        if not 0 < scale <= 10:
            raise CommandError(f"--scale must be above 0 and at most 10; got {scale}.")
        today = self.parse_today(today)
        seeded = CitySeed.objects.order_by("-seeded_at").first()
        if seeded is not None:
            same = seeded.scale == scale and seeded.seed == seed
            if reuse and same:
                self.stdout.write(
                    f"A city at scale {scale:g} (seed {seed}) is already here, seeded "
                    f"{timezone.localtime(seeded.seeded_at):%Y-%m-%d %H:%M} around "
                    f"{seeded.today:%Y-%m-%d}: nothing to do."
                )
                return
            raise CommandError(
                f"This database already holds a city seeded at scale {seeded.scale:g} (seed "
                f"{seeded.seed}); seed_scale builds a city only on an empty database or one with "
                "only the demo. Use another database, or drop and re-create this one."
            )
        if not city.demo_only():
            raise CommandError(
                "This database holds data other than the demo; seed_scale builds a city only on "
                "an empty database or one with only the demo. Use another database."
            )

        started = time.monotonic()
        self.stdout.write(f"Loading the demo around {today:%Y-%m-%d} …")
        call_command("load_demo", today=today.isoformat(), stdout=_Quiet())
        self.stdout.write(f"  {'demo':<28} {time.monotonic() - started:6.1f} s")
        self.stdout.write(f"Seeding the city at scale {scale:g} (seed {seed}) …")
        seeded = city.seed(scale=scale, seed=seed, today=today, log=self.stdout.write)
        record = seeded.record
        refresh_started = time.monotonic()
        refreshed = summary.refresh()
        self.stdout.write(
            f"  {'service summary':<28} {time.monotonic() - refresh_started:6.1f} s"
            f"  ({refreshed.rows:,} rows)"
        )
        record.seconds = round(time.monotonic() - started, 1)
        record.save(update_fields=["seconds"])

        self.stdout.write("Rows added, and seconds spent sending them:")
        width = max(len(table) for table in record.counts)
        for table, rows in sorted(record.counts.items(), key=lambda item: -item[1]):
            seconds = seeded.seconds.get(table, 0)
            self.stdout.write(f"  {table:<{width}}  {rows:>10,}  {seconds:6.1f} s")
        total = sum(record.counts.values())
        self.stdout.write(f"  {'total':<{width}}  {total:>10,}")
        self.stdout.write(f"Checksum {record.checksum}")
        self.stdout.write(self.style.SUCCESS(f"Seeded in {record.seconds:.1f} s."))

    def parse_today(self, value):
        if value is None:
            return timezone.localdate()
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise CommandError(
                f"--today must be a date written YYYY-MM-DD, such as 2026-11-27; got {value!r}."
            ) from None


class _Quiet:
    """Where load_demo's account table goes: the demo's README lists the accounts."""

    def write(self, *args, **kwargs):
        pass

    def flush(self):
        pass
