"""`manage.py backup` (`make backup`): the database and the uploaded files in one archive."""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from xiachen import backup


class Command(BaseCommand):
    help = (
        "Writes one archive (.tar.gz) of the database (pg_dump on PostgreSQL, SQLite's backup "
        "API on SQLite) and of every uploaded file, with a manifest of each table's row count "
        "and checksum; `restore` loads it back."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            "-o",
            help="The archive to write (default: var/backups/xiachen-<date and time>.tar.gz).",
        )

    def handle(self, *args, output=None, **options):
        if output is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            output = Path(settings.BASE_DIR) / "var" / "backups" / f"xiachen-{stamp}.tar.gz"
        try:
            result = backup.backup(Path(output))
        except (backup.BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        rows = sum(table["rows"] for table in manifest["tables"].values())
        self.stdout.write(
            f"{result.path}: {manifest['engine']} database, {len(manifest['tables'])} tables, "
            f"{rows} rows, {len(manifest['files'])} uploaded files"
        )
