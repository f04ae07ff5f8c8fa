"""Logs that several machines can share: one JSON object a line, each carrying the request id
(the same one the reverse proxy logged and the browser got back in `X-Request-ID`) or the id of
the Celery task it was written in, so that one request or one task can be followed across web
replicas and workers.

`LOG_FORMAT=json` (the default with DEBUG off) selects `JsonFormatter`; `text` (the default
under `make run` and with DEBUG on) keeps one readable line with the same ids."""

import contextvars
import logging
import re
import uuid

from celery._state import get_current_task
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

# The id of the request being served in this thread (or task), None outside any request.
request_id = contextvars.ContextVar("request_id", default=None)

# What a proxy may hand us as a request id: short, and made of characters that cannot break a
# log line or a header (Caddy sends a UUID, nginx 32 hex digits).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

JSON_FIELDS = ["levelname", "name", "message", "request_id", "task_id"]


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(given: str | None) -> str:
    """The proxy's id when it is one we can safely repeat, else a new one."""
    if given and _SAFE_REQUEST_ID.fullmatch(given):
        return given
    return new_request_id()


class ContextFilter(logging.Filter):
    """Puts the request id and the Celery task (id and name) on every record, "-" when there
    is none, so that both formats can always name them."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        if not hasattr(record, "task_id"):
            task = get_current_task()
            task_id = getattr(task.request, "id", None) if task is not None else None
            record.task_id = task_id or "-"
            record.task_name = task.name if task_id else "-"
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """python-json-logger with the project's field names: time (ISO 8601, UTC), level,
    logger, message, request_id, task_id, and any `extra=` a caller gives (the access log's
    method, path, status…). Chinese stays readable (no \\u escapes)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(**kwargs)
