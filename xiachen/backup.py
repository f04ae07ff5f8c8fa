"""Backups (`make backup`, `make restore`): the database and the uploaded files in one archive.

The archive is a gzipped tar holding
- `manifest.json`: when and from what it was made, each table's row count and checksum, and
  each uploaded file's size and SHA-256;
- the database: `database.dump` (pg_dump's custom format) on PostgreSQL, `database.sqlite3` (a
  copy made with SQLite's online backup API, consistent while the app writes) on SQLite;
- `files/…`: every file of the default storage (MEDIA_ROOT, or the bucket), by its name.

Restoring checks the archive against its manifest first, loads the database (pg_restore, or
SQLite's backup API the other way), puts the files back and then checks that every table has
the rows and the checksum the manifest lists.
"""

import contextlib
import datetime as dt
import hashlib
import importlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection as default_connection
from django.db import connections

FORMAT = 1
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite3"
FILES = "files/"


class BackupError(Exception):
    """Something the person running the command can act on; the message says what."""


# ---------------------------------------------------------------------------------------------
# Checksums of the records


def table_digests(connection=None) -> dict[str, dict]:
    """Every table's row count and a SHA-256 of its rows, read in primary-key order (all
    columns where a table has no single key), the same for the same data on the same engine."""
    connection = connection or default_connection
    digests = {}
    with connection.cursor() as cursor:
        tables = sorted(
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type == "t"
        )
        quote = connection.ops.quote_name
        for table in tables:
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            key = connection.introspection.get_primary_key_column(cursor, table)
            order = [key] if key else columns
            cursor.execute(
                f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} "
                f"ORDER BY {', '.join(map(quote, order))}"
            )
            sha, count = hashlib.sha256(), 0
            while rows := cursor.fetchmany(2000):
                for row in rows:
                    sha.update(repr(tuple(map(_plain, row))).encode())
                    sha.update(b"\n")
                count += len(rows)
            digests[table] = {"rows": count, "sha256": sha.hexdigest()}
    return digests


def _plain(value):
    if isinstance(value, memoryview):
        return bytes(value)
    return value


# ---------------------------------------------------------------------------------------------
# The uploaded files


def storage_names(storage=None, folder="") -> list[str]:
    """Every file's name in the storage, folders walked."""
    storage = storage or default_storage
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    names = [f"{folder}/{name}" if folder else name for name in files]
    for sub in folders:
        names += storage_names(storage, f"{folder}/{sub}" if folder else sub)
    return sorted(names)


def _sha256_of(fileobj) -> str:
    sha = hashlib.sha256()
    while chunk := fileobj.read(1 << 20):
        sha.update(chunk)
    return sha.hexdigest()


def _sha256_of_path(path: Path) -> str:
    with path.open("rb") as fileobj:
        return _sha256_of(fileobj)


# ---------------------------------------------------------------------------------------------
# The database


def _vendor(connection) -> str:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support PostgreSQL and SQLite, not {connection.vendor}")
    return connection.vendor


def _pg_command(program: str, connection) -> tuple[list[str], dict]:
    """The program's connection arguments and environment for this connection's database."""
    if not shutil.which(program):
        raise BackupError(f"{program} is not installed (Debian: apt-get install postgresql-client)")
    params = connection.get_connection_params()
    args = [program, "--dbname", params.get("dbname") or connection.settings_dict["NAME"]]
    for option, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if params.get(key):
            args += [option, str(params[key])]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return args, env


def _run(args, env):
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed: {done.stderr.strip() or done.returncode}")


def _sqlite_path(connection) -> str:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError("an in-memory SQLite database cannot be restored into")
    return name


def _dump_database(connection, folder: Path) -> str:
    if _vendor(connection) == "postgresql":
        args, env = _pg_command("pg_dump", connection)
        target = folder / PG_DUMP
        _run(
            [*args, "--format=custom", "--no-owner", "--no-privileges", "--file", str(target)], env
        )
        return PG_DUMP
    if connection.in_atomic_block:  # the copy would wait for this very transaction
        raise BackupError("SQLite is backed up outside a transaction")
    connection.ensure_connection()
    target = sqlite3.connect(folder / SQLITE_COPY)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    return SQLITE_COPY


def database_is_empty(connection) -> bool:
    with connection.cursor() as cursor:
        return not connection.introspection.table_names(cursor)


def _load_database(connection, source: Path):
    if connection.vendor == "postgresql":
        args, env = _pg_command("pg_restore", connection)
        _run([*args, "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--exit-on-error", "--single-transaction", str(source)], env)  # fmt: skip
        return
    path = _sqlite_path(connection)
    connection.close()
    copy = sqlite3.connect(source)
    target = sqlite3.connect(path)
    try:
        copy.backup(target)
    finally:
        copy.close()
        target.close()


# ---------------------------------------------------------------------------------------------
# Backing up and restoring


@dataclass
class Result:
    path: Path
    manifest: dict


def backup(output: Path, connection=None, storage=None) -> Result:
    """Writes the archive to `output` (through a temporary file beside it, so that a failure
    leaves no half-written archive)."""
    connection = connection or default_connection
    storage = storage or default_storage
    vendor = _vendor(connection)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xiachen-backup-") as work:
        work = Path(work)
        # The checksums and the dump are of the same moment on SQLite (the copy is what is
        # summed); on PostgreSQL pg_dump's snapshot and the checksums read just before it may
        # differ if the app writes meanwhile, which `restore` reports.
        database = _dump_database(connection, work)
        if vendor == "sqlite":
            tables = sqlite_file_digests(work / database)
        else:
            tables = table_digests(connection)
        files = []
        for name in storage_names(storage):
            with storage.open(name, "rb") as fileobj:
                files.append(
                    {"name": name, "size": storage.size(name), "sha256": _sha256_of(fileobj)}
                )
        manifest = {
            "format": FORMAT,
            "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "engine": vendor,
            "database": database,
            "database_sha256": _sha256_of_path(work / database),
            "tables": tables,
            "files": files,
        }
        partial = output.with_name(output.name + ".partial")
        try:
            with tarfile.open(partial, "w:gz") as archive:
                data = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(dt.datetime.now().timestamp())
                archive.addfile(info, io.BytesIO(data))
                archive.add(work / database, arcname=database)
                for entry in files:
                    with storage.open(entry["name"], "rb") as fileobj:
                        info = tarfile.TarInfo(FILES + entry["name"])
                        info.size, info.mtime = entry["size"], info.mtime
                        archive.addfile(info, fileobj)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    return Result(output, manifest)


@contextlib.contextmanager
def other_database(settings_dict, alias="xiachen_backup"):
    """A connection of Django's to another database than the app's (the copy in an archive, a
    restored database), under an alias of its own while the block runs."""
    backend = importlib.import_module(f"{settings_dict['ENGINE']}.base")
    connection = backend.DatabaseWrapper(settings_dict, alias)
    # Known to the handler (which Django's schema introspection asks), not to the settings.
    connections[alias] = connection
    try:
        yield connection
    finally:
        connection.close()
        del connections[alias]


def sqlite_file_digests(path) -> dict[str, dict]:
    """table_digests of another SQLite file, read as the live database is (dates, decimals and
    booleans converted alike)."""
    with other_database({**default_connection.settings_dict, "NAME": str(path)}) as copy:
        return table_digests(copy)


def read_manifest(archive_path: Path) -> dict:
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            member = archive.getmember(MANIFEST)
            manifest = json.load(archive.extractfile(member))
    except FileNotFoundError:
        raise BackupError(f"{archive_path}: no such file") from None
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise BackupError(f"{archive_path} is not a backup of this app: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path}: unknown backup format {manifest.get('format')!r}")
    return manifest


def restore(archive_path: Path, connection=None, storage=None, *, replace=False) -> dict:
    """Restores the archive into the configured database and storage; returns the manifest.
    Refuses a database that has tables unless `replace`; checks the files before loading
    anything and the tables after."""
    connection = connection or default_connection
    storage = storage or default_storage
    archive_path = Path(archive_path)
    manifest = read_manifest(archive_path)
    vendor = _vendor(connection)
    if manifest["engine"] != vendor:
        raise BackupError(f"the backup is of a {manifest['engine']} database; this one is {vendor}")
    if not replace and not database_is_empty(connection):
        raise BackupError(
            "the database already has tables: restore into an empty one, or pass --replace "
            "to overwrite it"
        )
    with tempfile.TemporaryDirectory(prefix="xiachen-restore-") as work:
        work = Path(work)
        expected = {entry["name"]: entry for entry in manifest["files"]}
        with tarfile.open(archive_path, "r:gz") as archive:
            names = archive.getnames()
            if manifest["database"] not in names:
                raise BackupError(f"{archive_path} lacks its database ({manifest['database']})")
            with (work / "database").open("wb") as copy:
                shutil.copyfileobj(archive.extractfile(manifest["database"]), copy)
            if _sha256_of_path(work / "database") != manifest.get("database_sha256"):
                raise BackupError(f"{archive_path}: the database file is damaged")
            for name, entry in expected.items():
                try:
                    fileobj = archive.extractfile(FILES + name)
                except KeyError:
                    fileobj = None
                if fileobj is None or _sha256_of(fileobj) != entry["sha256"]:
                    raise BackupError(f"{archive_path}: the file {name} is missing or damaged")
            _load_database(connection, work / "database")
            for name in expected:
                if storage.exists(name):
                    storage.delete(name)
                saved = storage.save(name, File(archive.extractfile(FILES + name), name=name))
                if saved != name:
                    raise BackupError(f"the file {name} was stored as {saved}")
    found = table_digests(connection)
    differing = sorted(
        table for table in set(found) | set(manifest["tables"])
        if found.get(table) != manifest["tables"].get(table)
    )  # fmt: skip
    if differing:
        raise BackupError(
            "restored, but these tables differ from the backup: " + ", ".join(differing)
        )
    return manifest
