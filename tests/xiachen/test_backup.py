"""`make backup` / `make restore` (issue 11, point 8): one archive of the database and the
uploaded files; restored into a fresh database, every table has the same rows and checksum.

The backup runs in this process on the test database (committed data: pg_dump reads it from
another connection); the restore runs as `make restore` does, `manage.py restore` with the
production settings, in a new process pointed at a fresh database and an empty media folder."""

import importlib
import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection

from members.models import Member
from xiachen import backup

SCAN = b"%PDF-1.4\n" + os.urandom(2048) + b"\n%%EOF\n"


@pytest.fixture
def activity_types(transactional_db):
    """Transactional tests flush the database, activity types of the data migration included."""
    from django.apps import apps

    importlib.import_module("activities.migrations.0002_activity_types").create_types(apps, None)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def url_of(settings_dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    login = quote(settings_dict["USER"] or "")
    if settings_dict["PASSWORD"]:
        login += ":" + quote(settings_dict["PASSWORD"])
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{login}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database of the same engine as the test database: its settings."""
    if connection.vendor == "sqlite":
        yield {**connection.settings_dict, "NAME": str(tmp_path / "restored.sqlite3")}
        return
    name = f"{connection.settings_dict['NAME']}_restored_{uuid.uuid4().hex[:6]}"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield {**connection.settings_dict, "NAME": name}
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage_restore(archive, database, media_root, *extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(
        DJANGO_SETTINGS_MODULE="xiachen.settings",
        DATABASE_URL=url_of(database),
        MEDIA_ROOT=str(media_root),
        SECRET_KEY="backup-test",
    )
    return subprocess.run(
        [sys.executable, "manage.py", "restore", str(archive), *extra],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_backup_restores_into_a_fresh_database_with_the_same_records_and_files(
    activity_types, world, media, fresh_database, tmp_path
):
    world.agreement.scan.save("协议.pdf", ContentFile(SCAN))
    scan_name = world.agreement.scan.name
    archive = tmp_path / "backups" / "xiachen.tar.gz"
    out = io.StringIO()

    call_command("backup", output=str(archive), stdout=out)

    before = backup.table_digests(connection)
    assert before["members_member"]["rows"] == Member.objects.count() == 3
    assert f"{len(before)} tables" in out.getvalue() and "1 uploaded files" in out.getvalue()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    database_file = backup.PG_DUMP if connection.vendor == "postgresql" else backup.SQLITE_COPY
    assert names[:2] == [backup.MANIFEST, database_file]
    assert backup.FILES + scan_name in names
    assert backup.read_manifest(archive)["tables"] == before

    restored_media = tmp_path / "restored-media"
    done = manage_restore(archive, fresh_database, restored_media)

    assert done.returncode == 0, done.stderr
    assert "checksums equal" in done.stdout
    with backup.other_database(fresh_database) as restored:
        after = backup.table_digests(restored)
        with restored.cursor() as cursor:
            cursor.execute("SELECT name, mobile FROM members_member ORDER BY mobile")
            members = cursor.fetchall()
    assert after == before  # every table: its row count and the checksum of its rows
    assert members == list(Member.objects.order_by("mobile").values_list("name", "mobile"))
    assert (restored_media / scan_name).read_bytes() == SCAN

    # A database with tables is not overwritten unless asked to.
    again = manage_restore(archive, fresh_database, restored_media)
    assert again.returncode != 0
    assert "already has tables" in again.stderr and "Traceback" not in again.stderr
    replaced = manage_restore(archive, fresh_database, restored_media, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    with backup.other_database(fresh_database) as restored:
        assert backup.table_digests(restored) == before


def test_a_damaged_archive_is_refused_before_anything_is_restored(
    activity_types, world, media, fresh_database, tmp_path
):
    world.agreement.scan.save("scan.pdf", ContentFile(SCAN))
    archive = tmp_path / "good.tar.gz"
    call_command("backup", output=str(archive), stdout=io.StringIO())
    # The same archive with the scan's bytes changed.
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.startswith(backup.FILES):
                data = data.replace(b"%PDF", b"%XXX")
            target.addfile(member, io.BytesIO(data))
    restored_media = tmp_path / "restored-media"

    done = manage_restore(damaged, fresh_database, restored_media)

    assert done.returncode != 0
    assert "missing or damaged" in done.stderr and "Traceback" not in done.stderr
    with backup.other_database(fresh_database) as restored:
        assert backup.database_is_empty(restored)  # nothing half-restored
    assert not restored_media.exists() or not any(restored_media.rglob("*.pdf"))


def test_restore_refuses_what_is_not_a_backup_and_a_database_in_use(activity_types, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("restore", str(tmp_path / "missing.tar.gz"))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    with pytest.raises(CommandError, match="not a backup"):
        call_command("restore", str(garbage))
    archive = tmp_path / "xiachen.tar.gz"
    call_command("backup", output=str(archive), stdout=io.StringIO())
    rows = Member.objects.count()
    with pytest.raises(CommandError, match="already has tables"):
        call_command("restore", str(archive))
    assert Member.objects.count() == rows
