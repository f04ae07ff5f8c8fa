"""`manage.py load_demo`: the demo streets, agencies, members, activities and accounts."""

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports import summary
from reports.summaries import overview_refresh
from xiachen import demo


class Command(BaseCommand):
    help = (
        "Loads the demo data (Yichang's 胜利一路社区 and its partners, invented people) and "
        "prints the demo accounts. Safe to run again: rows that exist are left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--today",
            metavar="YYYY-MM-DD",
            help="Date the demo is built around (default: today in Asia/Shanghai).",
        )

    def handle(self, *args, today=None, **options):
        today = self.parse_today(today)
        started = time.monotonic()
        loaded = demo.load(today=today)
        if loaded.created:
            # The overviews read figures a periodic task rebuilds: the demo shows them at once.
            overview_refresh()
        # The charts read the monthly service summary: filled now rather than at beat's first run.
        refreshed = summary.refresh()
        seconds = time.monotonic() - started

        created = loaded.created
        self.stdout.write(
            f"Demo data around {today:%Y-%m-%d} "
            f"(三峡旅游新区 agreement signed on {loaded.anchor:%Y-%m-%d})."
        )
        if created:
            self.stdout.write("Created:")
            width = max(len(label) for label in created)
            for label, n in sorted(created.items()):
                self.stdout.write(f"  {label:<{width}}  {n:>5}")
        else:
            self.stdout.write("Nothing to create: the demo data is already there.")
        self.stdout.write(f"Service summary: {refreshed.rows} rows.")
        self.stdout.write(f"Done in {seconds:.1f} s.\n")
        self.write_accounts()

    def parse_today(self, value):
        if value is None:
            return timezone.localdate()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise CommandError(
                f"--today must be a date written YYYY-MM-DD, such as 2026-11-27; got {value!r}."
            ) from None

    def write_accounts(self):
        rows = [("username", "password", "role", "scope")] + [
            (username, demo.DEMO_PASSWORD, role, scope)
            for username, role, scope in demo.DEMO_ACCOUNTS
        ]

        # CJK characters take two columns in a terminal.
        def cells(text):
            return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

        widths = [max(cells(row[i]) for row in rows) for i in range(4)]
        self.stdout.write("Demo accounts:")
        for n, row in enumerate(rows):
            padded = [text + " " * (widths[i] - cells(text)) for i, text in enumerate(row)]
            self.stdout.write("  " + " | ".join(padded).rstrip())
            if n == 0:
                self.stdout.write("  " + "-+-".join("-" * w for w in widths))
