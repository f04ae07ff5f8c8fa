"""/healthz: the database and the broker, each named when it fails."""

import json
import socket

import pytest
from django.db import connection


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.mark.django_db
def test_healthz_is_ok_when_the_database_and_the_broker_answer(client):
    # On Redis (the PostgreSQL leg of CI) this is a real connection to the broker; on the
    # embedded broker, its folder.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_healthz_names_a_broker_that_does_not_answer_and_no_secret(client, settings):
    settings.CELERY_BROKER_URL = f"redis://:s3cret-password@127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["checks"] == {"database": "ok", "broker": "unavailable"}
    assert body["failed"] == ["broker"]
    assert b"s3cret" not in response.content and b"127.0.0.1" not in response.content


@pytest.mark.django_db
def test_healthz_fails_when_the_embedded_brokers_folder_is_gone(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["failed"] == ["broker"]


@pytest.mark.django_db(transaction=True)
def test_healthz_names_a_database_that_does_not_answer(client):
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/xiachen.sqlite3"
    else:
        connection.settings_dict["PORT"] = closed_port()
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["checks"] == {"database": "unavailable", "broker": "ok"}
    assert body["failed"] == ["database"]
