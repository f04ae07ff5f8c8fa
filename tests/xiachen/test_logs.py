"""Log lines that name their request (X-Request-ID) or their Celery task."""

import io
import json
import logging

import pytest
from celery import shared_task

from xiachen.logs import ContextFilter, JsonFormatter

logger = logging.getLogger("tests.xiachen.logs")


@shared_task(name="tests.xiachen.say_hello")
def say_hello():
    logger.warning("hello from a task")


@pytest.fixture
def json_log():
    """The lines logged meanwhile, as the production handler writes them (LOG_FORMAT=json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_requests_log_line_is_json_with_the_id_on_its_response(client, json_log):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    (line,) = [line for line in json_log() if line["logger"] == "django.request"]
    assert line["level"] == "WARNING"
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["request_id"] == request_id
    assert {"time", "task_id"} <= set(line)


@pytest.mark.django_db
def test_the_proxys_request_id_is_kept(client, json_log):
    given = "5f0c6c1e-8f3b-4a8e-9d55-0b6a1c2d3e4f"  # Caddy's {http.request.uuid}
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert [line["request_id"] for line in json_log() if line["logger"] == "django.request"] == [
        given
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hostile",
    [
        'abc123456" forged="x',
        "abcdefgh\nlevel=ERROR forged line",
        "a" * 65,
        "short",
        "<script>alert(1)</script>",
    ],
)
def test_a_hostile_request_id_is_replaced(client, json_log, hostile):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=hostile)
    request_id = response["X-Request-ID"]
    assert request_id != hostile and len(request_id) == 32 and request_id.isalnum()
    assert [line["request_id"] for line in json_log() if line["logger"] == "django.request"] == [
        request_id
    ]


def test_no_request_id_outside_a_request(json_log):
    logger.warning("between requests")
    (line,) = json_log()
    assert line["request_id"] == "-" and line["task_id"] == "-"


def test_a_tasks_log_lines_carry_its_id(json_log):
    result = say_hello.apply()
    (line,) = [line for line in json_log() if line["message"] == "hello from a task"]
    assert line["task_id"] == result.id
    assert line["task_name"] == "tests.xiachen.say_hello"
    assert line["request_id"] == "-"
