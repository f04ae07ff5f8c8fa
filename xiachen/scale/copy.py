"""Streaming rows into PostgreSQL with COPY: each table's rows are written as COPY text into a
buffer that is sent whenever it holds CHUNK rows, so that memory stays flat whatever the size."""

import datetime as dt
import hashlib
import io
import queue
import threading
import time
from collections import Counter

CHUNK = 50_000


def text(value) -> str:
    """One value in COPY's text format."""
    kind = type(value)
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    if value is None:
        return "\\N"
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is dt.datetime:
        return value.isoformat(" ")
    return str(value)


def line(*values) -> str:
    return "\t".join(map(text, values)) + "\n"


class Table:
    def __init__(self, loader, name: str, columns: list[str]):
        self.loader = loader
        self.name = name
        self.columns = columns
        self.lines: list[str] = []
        self.count = 0

    def add(self, *values):
        """A row whose values are in the order of `columns`."""
        self.lines.append(line(*values))
        if len(self.lines) >= CHUNK:
            self.flush()

    def add_line(self, text_line: str):
        """A row already in COPY text (one line, ending in a newline)."""
        self.lines.append(text_line)
        if len(self.lines) >= CHUNK:
            self.flush()

    def flush(self):
        if not self.lines:
            return
        data = "".join(self.lines)
        self.count += len(self.lines)
        self.lines = []
        self.loader.send(self, data)


class CopyLoader:
    """The tables being filled, with the rows and seconds each took and a checksum of all the
    data sent (the same seed and day give the same checksum).

    Chunks are sent by a thread of their own while the next ones are generated: PostgreSQL
    parses and stores one chunk while Python writes the next (psycopg2 lets go of the GIL while
    it talks to the server). At most QUEUED chunks wait, so memory stays flat."""

    QUEUED = 4

    def __init__(self, cursor):
        self.cursor = cursor  # a psycopg2 cursor, used only by the sending thread until close()
        self.tables: dict[str, Table] = {}
        self.seconds = Counter()
        self.digest = hashlib.sha256()
        self.chunks = queue.Queue(maxsize=self.QUEUED)
        self.failure = None
        self.sender = threading.Thread(target=self._send_all, name="copy", daemon=True)
        self.sender.start()

    def table(self, name: str, columns: list[str]) -> Table:
        if name not in self.tables:
            self.tables[name] = Table(self, name, columns)
        return self.tables[name]

    def send(self, table: Table, data: str):
        if self.failure is not None:
            self.close()
        encoded = data.encode()
        self.digest.update(table.name.encode())
        self.digest.update(encoded)
        self.chunks.put((table, encoded))

    def _send_all(self):
        while True:
            item = self.chunks.get()
            if item is None:
                return
            if self.failure is not None:
                continue  # drain: the load has failed, close() says why
            table, encoded = item
            started = time.monotonic()
            columns = ", ".join(f'"{c}"' for c in table.columns)
            try:
                self.cursor.copy_expert(
                    f'COPY "{table.name}" ({columns}) FROM STDIN',
                    io.BytesIO(encoded),
                    size=1 << 20,
                )
            except Exception as error:  # raised again in the loading thread by close()
                self.failure = error
            self.seconds[table.name] += time.monotonic() - started

    def flush(self, *names):
        for name in names or list(self.tables):
            self.tables[name].flush()

    def close(self):
        """Sends what is left and waits for the sending thread; raises what it met."""
        if self.sender.is_alive():
            self.chunks.put(None)
            self.sender.join()
        if self.failure is not None:
            raise self.failure

    def counts(self) -> dict[str, int]:
        return {name: table.count for name, table in self.tables.items() if table.count}
