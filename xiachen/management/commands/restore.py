"""`manage.py restore ARCHIVE` (`make restore BACKUP=…`): loads an archive of `backup`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from xiachen import backup


class Command(BaseCommand):
    help = (
        "Restores an archive written by `backup` into the configured database (an empty one, "
        "e.g. just created with createdb, unless --replace) and the uploaded files' storage, "
        "then checks every table's row count and checksum against the archive's manifest."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The .tar.gz written by `manage.py backup`.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Overwrite a database that already has tables (its data is lost).",
        )

    def handle(self, *args, archive, replace=False, **options):
        try:
            manifest = backup.restore(Path(archive), replace=replace)
        except (backup.BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        rows = sum(table["rows"] for table in manifest["tables"].values())
        self.stdout.write(
            f"restored {archive} (made {manifest['made_at']}): {len(manifest['tables'])} "
            f"tables, {rows} rows and {len(manifest['files'])} files, checksums equal"
        )
