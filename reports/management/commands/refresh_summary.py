"""Rebuilds the monthly service summary the charts read now, as beat does every
SERVICE_SUMMARY_MINUTES: after loading data, or to show a change at once."""

from django.core.management.base import BaseCommand

from reports import summary


class Command(BaseCommand):
    help = "Rebuild the monthly service summary the charts read."

    def handle(self, *args, **options):
        done = summary.refresh()
        self.stdout.write(f"Service summary refreshed: {done.rows} rows in {done.seconds:.1f} s.")
