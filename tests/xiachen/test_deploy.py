"""The production shape of docker-compose.yml, read from the file, and signing in against
gunicorn started with that file's environment, through the proxy's headers and over plain HTTP
on an intranet."""

import html
import http.client
import importlib
import json
import multiprocessing
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import boto3
import moto
import pytest
import redis
import yaml
from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.files.base import ContentFile
from django.db import connection
from django.urls import reverse

from tests.conftest import require_or_skip

from .test_project import run_python

ROOT = Path(settings.BASE_DIR)
APP_SERVICES = ("migrate", "web", "worker", "robot-worker", "beat")
GUNICORN_COMMAND = ["gunicorn", "--config", "gunicorn.conf.py"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value, given=None):
    """A compose value as `docker compose` fills it in: ${NAME:-default}, ${NAME:?error}, $$."""
    given = given or {}

    def fill(match):
        name, kind, default = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        if kind == "?":
            raise KeyError(f"{name} must be given: {default}")
        return default or ""

    text = re.sub(r"\$\{(\w+)(?::([-?])([^}]*))?\}", fill, str(value))
    return text.replace("$$", "$")


def compose_app_environment(compose, given) -> dict:
    return {
        name: interpolate(value, given)
        for name, value in compose["services"]["web"]["environment"].items()
    }


def replicas(service) -> int:
    return service.get("deploy", {}).get("replicas", 1)


class TestComposeShape:
    def test_web_and_workers_are_replicated_and_beat_runs_exactly_once(self, compose):
        services = compose["services"]
        assert replicas(services["web"]) >= 2
        assert replicas(services["worker"]) >= 2
        assert replicas(services["robot-worker"]) >= 1
        beats = [name for name, s in services.items() if "beat" in (s.get("command") or [])]
        assert beats == ["beat"] and replicas(services["beat"]) == 1
        assert "--beat" not in " ".join(services["worker"]["command"])
        # A fixed container name would forbid `--scale`.
        assert not [name for name, s in services.items() if "container_name" in s]

    def test_one_database_one_redis_and_a_one_shot_migrate(self, compose):
        services = compose["services"]
        images = [s.get("image", "").split(":")[0] for s in services.values()]
        assert images.count("postgres") == 1 and images.count("redis") == 1
        migrate = services["migrate"]
        assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
        assert migrate["restart"] == "no" and replicas(migrate) == 1
        for name in ("web", "worker", "robot-worker", "beat"):
            condition = services[name]["depends_on"]["migrate"]["condition"]
            assert condition == "service_completed_successfully", name

    def test_only_the_proxy_is_published_with_https_and_a_redirect(self, compose):
        services = compose["services"]
        published = {name for name, s in services.items() if s.get("ports")}
        assert published == {"proxy"}
        assert {"443:443", "80:80"} == set(services["proxy"]["ports"])
        caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
        assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
        assert "tls /certs/site.crt /certs/site.key" in caddyfile
        assert "{$SITE_SCHEME:https}://{$SITE_HOST:localhost} {" in caddyfile
        assert interpolate(services["proxy"]["environment"]["SITE_SCHEME"]) == "https"
        assert any(v.endswith(":/certs:ro") for v in services["proxy"]["volumes"])
        assert "name web" in caddyfile and "port 8000" in caddyfile
        assert "header_up X-Request-ID" in caddyfile

    def test_gunicorn_believes_the_proxy_alone(self, compose):
        services = compose["services"]
        trusted = interpolate(services["web"]["environment"]["FORWARDED_ALLOW_IPS"])
        edge = compose["networks"]["edge"]["ipam"]["config"][0]["subnet"]
        assert trusted == interpolate(edge) and trusted != "*"
        on_edge = {name for name, s in services.items() if "edge" in s.get("networks", [])}
        assert on_edge == {"proxy", "web"}

    def test_every_app_service_shares_one_environment(self, compose):
        services = compose["services"]
        environments = [services[name]["environment"] for name in APP_SERVICES]
        assert all(env == environments[0] for env in environments)
        env = environments[0]
        assert env["DEBUG"] == "false" and env["LOG_FORMAT"] == "json"
        assert urllib.parse.urlsplit(interpolate(env["DATABASE_URL"])).hostname == "db"
        assert interpolate(env["CELERY_BROKER_URL"]).startswith("redis://redis:6379/")
        # The doors' counts of tries in the one Redis too, beside the broker's database.
        cache = interpolate(env["CACHE_URL"])
        assert cache.startswith("redis://redis:6379/") and cache != env["CELERY_BROKER_URL"]
        assert interpolate(env["XIACHEN_PLAIN_HTTP"]) == "false"

    def test_the_gunicorn_config_file_is_the_one_used(self, compose):
        assert compose["services"]["web"]["command"] == GUNICORN_COMMAND
        assert f"CMD {json.dumps(GUNICORN_COMMAND)}" in (ROOT / "Dockerfile").read_text()
        assert (ROOT / "gunicorn.conf.py").exists()

    @pytest.mark.parametrize("cores, workers", [(1, 2), (2, 3), (4, 5), (16, 5)])
    def test_gunicorn_runs_a_process_a_core_plus_one_at_most_five(
        self, monkeypatch, cores, workers
    ):
        """The pages are CPU-bound Python: processes beyond the cores only take turns."""
        monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
        monkeypatch.setattr(multiprocessing, "cpu_count", lambda: cores)
        config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        assert config["workers"] == workers
        assert config["threads"] == 4
        assert config["worker_class"] == "gthread"

    def test_health_checks(self, compose):
        for name in ("web", "worker", "robot-worker", "beat", "db", "redis"):
            assert compose["services"][name]["healthcheck"]["test"], name
        assert "/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])

    def test_uploads_go_to_object_storage_not_to_a_web_node(self, compose):
        services = compose["services"]
        env = services["web"]["environment"]
        assert interpolate(env["AWS_STORAGE_BUCKET_NAME"]) == "xiachen"
        assert interpolate(env["AWS_S3_ENDPOINT_URL"]) == "http://minio:9000"
        for name in APP_SERVICES:
            assert "MEDIA_ROOT" not in services[name]["environment"]
            assert not services[name].get("volumes"), f"{name} keeps files of its own"
        assert services["minio"]["profiles"] == ["minio"]
        readme = (ROOT / "README.md").read_text()
        for documented in ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "MinIO"):
            assert documented in readme

    def test_the_connection_budget_holds(self, compose):
        """Every web thread and worker process may keep a PostgreSQL connection (CONN_MAX_AGE):
        at the replicas compose starts, they fit in max_connections less the superuser's
        reserve."""
        services = compose["services"]
        env = services["web"]["environment"]
        per_web = int(interpolate(env["GUNICORN_WORKERS"])) * int(
            interpolate(env["GUNICORN_THREADS"])
        )
        used = replicas(services["web"]) * per_web + 2  # beat, and migrate or a shell
        for name in ("worker", "robot-worker"):
            command = " ".join(services[name]["command"])
            concurrency = int(re.search(r"--concurrency=(\d+)", command).group(1))
            used += replicas(services[name]) * (concurrency + 1)
        command = " ".join(services["db"]["command"])
        max_connections = int(re.search(r"max_connections=(\d+)", command).group(1))
        assert used <= max_connections - 3
        assert f"max_connections={max_connections}" in (ROOT / "README.md").read_text()


def settings_in_subprocess(code, **env):
    result = run_python(
        "import django; django.setup(); from django.conf import settings as s; " + code,
        DEBUG="false",
        SECRET_KEY="k" * 50,
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_is_https_with_secure_cookies_and_hsts_as_set():
    assert settings_in_subprocess(
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SECURE_PROXY_SSL_HEADER)",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    ) == ["True", "True", "True", "31536000", "True", "True", "None"]


def test_the_plain_intranet_setting_turns_secure_cookies_redirect_and_hsts_off():
    assert settings_in_subprocess(
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS)",
        XIACHEN_PLAIN_HTTP="true",
        SECURE_HSTS_SECONDS="31536000",
    ) == ["False", "False", "False", "0"]


def test_uploads_go_to_the_bucket_when_one_is_set_and_to_the_folder_otherwise():
    assert settings_in_subprocess(
        "o = s.STORAGES['default'].get('OPTIONS', {}); "
        "print(s.STORAGES['default']['BACKEND'], o['bucket_name'], o['endpoint_url'], "
        "o['addressing_style'])",
        AWS_STORAGE_BUCKET_NAME="xiachen",
        AWS_S3_ENDPOINT_URL="http://minio:9000",
    ) == ["storages.backends.s3.S3Storage", "xiachen", "http://minio:9000", "path"]
    assert settings_in_subprocess(
        "print(s.STORAGES['default']['BACKEND'])", AWS_STORAGE_BUCKET_NAME=""
    ) == ["django.core.files.storage.FileSystemStorage"]


@pytest.mark.redis
@pytest.mark.any_database  # CI's leg with Redis is the PostgreSQL one
def test_every_web_process_counts_the_same_tries_at_a_door_through_the_shared_cache():
    # Two processes, as two gunicorn processes or two replicas: the second one's knock is the
    # third of the door's three, so it is shut only when the first one's two count there too.
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        require_or_skip("redis", f"CELERY_BROKER_URL is {broker!r}, not Redis")
    about = uuid.uuid4().hex

    def knock(times, **env):
        return settings_in_subprocess(
            "from django.test import RequestFactory; from communities.throttle import Door; "
            "door = Door('shared-cache-test', 3, 60); request = RequestFactory().get('/'); "
            f"[door.knock(request, {about!r}) for _ in range({times})]; "
            f"print(s.CACHES['default']['BACKEND'], door.shut(request, {about!r}))",
            **env,
        )

    assert knock(2, CACHE_URL=broker) == ["django.core.cache.backends.redis.RedisCache", "False"]
    assert knock(1, CACHE_URL=broker) == ["django.core.cache.backends.redis.RedisCache", "True"]
    # Without a shared cache (the laptop's default) each process counts alone.
    assert knock(2) == ["django.core.cache.backends.locmem.LocMemCache", "False"]
    assert knock(1) == ["django.core.cache.backends.locmem.LocMemCache", "False"]


def test_logs_are_json_in_production_and_text_when_asked():
    show = "print(s.LOGGING['handlers']['console']['formatter'])"
    assert settings_in_subprocess(show) == ["json"]
    assert settings_in_subprocess(show, LOG_FORMAT="text") == ["text"]
    refused = run_python(
        "import django; django.setup()", DEBUG="false", SECRET_KEY="k" * 50, LOG_FORMAT="xml"
    )
    assert "LOG_FORMAT must be json or text" in refused.stderr


# Signing in against gunicorn, as compose runs it.

PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A client that keeps cookies as a browser would, sending them whatever the scheme (the
    TLS is the proxy's), from `source` (the proxy's address, or another)."""

    def __init__(self, port, host="localhost", source="127.0.0.1", headers=None):
        self.port, self.host, self.source = port, host, source
        self.headers = headers or {}
        self.cookies, self.set_cookies = {}, []

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(self.source, 0)
        )
        sent = {"Host": self.host, **self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        response.text = response.read().decode()
        conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(header)
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return response

    def cookie_flags(self, name):
        header = [h for h in self.set_cookies if h.startswith(name + "=")][-1]
        return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}

    def sign_in(self, origin, username):
        form = self.request("GET", "/login/")
        assert form.status == 200, form.text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": html.unescape(token),
                "username": username,
                "password": PASSWORD,
            }
        )
        return self.request(
            "POST",
            "/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": origin,
                "Referer": origin + "/login/",
            },
        )


class Gunicorn:
    def __init__(self, env):
        self.port = free_port()
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout))
        self.reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail("gunicorn did not start:\n" + "".join(self.lines[-40:]))

    def json_lines(self):
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    """What the image's build collects: production settings need the manifest."""
    folder = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "xiachen.settings",
        "DEBUG": "false",
        "SECRET_KEY": "k" * 50,
        "STATIC_ROOT": str(folder),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def activity_types(transactional_db):
    """Committed data for gunicorn's eyes: the flush after each such test takes the activity
    types of the data migration with it, so put them back first."""
    importlib.import_module("activities.migrations.0002_activity_types").create_types(apps, None)


@pytest.fixture
def compose_gunicorn(compose, collected_static, activity_types, community_staff):
    """Starts gunicorn as the compose file's web service does, its environment taken from the
    file, with the database and the broker of this test run in place of the `db` and `redis`
    services and this machine's loopback as the proxy."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        require_or_skip("redis", f"CELERY_BROKER_URL is {broker!r}, not Redis")
    try:
        redis.Redis.from_url(broker).ping()
    except redis.ConnectionError as exc:
        require_or_skip("redis", f"Redis is not reachable: {exc}")
    # The production hasher (the tests' settings use a fast one gunicorn does not know).
    community_staff.password = PBKDF2PasswordHasher().encode(PASSWORD, "saltsalt", 1000)
    community_staff.save(update_fields=["password"])
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    here = dict(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        CACHE_URL=broker,
        STATIC_ROOT=str(collected_static),
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        FORWARDED_ALLOW_IPS="127.0.0.1",  # the proxy, here
    )
    started = []

    def start(**dotenv):
        """`dotenv`: what the operator's .env beside docker-compose.yml would say."""
        given = {"SECRET_KEY": "k" * 50, "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "s"}
        env = compose_app_environment(compose, {**given, **dotenv})
        started.append(Gunicorn({**base, **env, **here}))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_signing_in_through_the_https_proxy_on_gunicorn_as_compose_runs_it(compose_gunicorn):
    server = compose_gunicorn()
    proxy = Browser(server.port, headers={"X-Forwarded-Proto": "https"})

    signed_in = proxy.sign_in("https://localhost", "shengli_staff")
    assert signed_in.status == 302, signed_in.text
    assert signed_in.getheader("Location") == "/"
    assert {"secure", "httponly"} <= proxy.cookie_flags("sessionid")
    assert "secure" in proxy.cookie_flags("csrftoken")
    dashboard = proxy.request("GET", "/")
    assert dashboard.status == 200
    assert "胜利一路社区" in dashboard.text

    # Plain HTTP reaching the node, and a client other than the proxy claiming HTTPS, are
    # sent to HTTPS: gunicorn believes X-Forwarded-Proto from FORWARDED_ALLOW_IPS only.
    for browser in (
        Browser(server.port),
        Browser(server.port, source="127.0.0.2", headers={"X-Forwarded-Proto": "https"}),
    ):
        redirected = browser.request("GET", "/login/")
        assert redirected.status == 301
        assert redirected.getheader("Location") == "https://localhost/login/"

    health = Browser(server.port).request("GET", "/healthz")
    assert health.status == 200
    assert json.loads(health.text)["checks"] == {"database": "ok", "broker": "ok"}

    # The access log is JSON, and names the request by the id its response carried.
    request_id = dashboard.getheader("X-Request-ID")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        access = [line for line in server.json_lines() if line["logger"] == "gunicorn.access"]
        if any(line["request_id"] == request_id for line in access):
            break
        time.sleep(0.1)
    (line,) = [line for line in access if line["request_id"] == request_id]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/", 200)


@pytest.mark.postgres
@pytest.mark.redis
def test_signing_in_over_plain_http_on_an_intranet_that_says_so(compose_gunicorn):
    server = compose_gunicorn(SITE_SCHEME="http", XIACHEN_PLAIN_HTTP="true")
    browser = Browser(server.port)

    signed_in = browser.sign_in("http://localhost", "shengli_staff")
    assert signed_in.status == 302, signed_in.text
    assert "secure" not in browser.cookie_flags("sessionid")
    assert browser.request("GET", "/").status == 200
    warnings = [line for line in server.json_lines() if line["logger"] == "xiachen.security"]
    assert warnings and warnings[0]["level"] == "WARNING"
    assert "XIACHEN_PLAIN_HTTP" in warnings[0]["message"]


# Uploads in the bucket. The object store is the edge of the world: moto plays it.

SCAN = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def bucket(settings):
    """STORAGES["default"] exactly as xiachen/settings.py builds it from the compose file's
    bucket settings, against an S3 that lives in this process."""
    shown = settings_in_subprocess(
        "import json; print(json.dumps(s.STORAGES['default']))",
        AWS_STORAGE_BUCKET_NAME="xiachen",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_S3_REGION_NAME="us-east-1",
    )
    storage = json.loads(" ".join(shown))
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="xiachen")
        settings.STORAGES = {**settings.STORAGES, "default": storage}
        yield boto3.resource("s3", region_name="us-east-1").Bucket("xiachen")


def test_a_scan_goes_to_the_bucket_and_back_through_the_scope_checked_page(
    world, client, agency_office, bucket
):
    # A name no other test saves, so a file left in the local media folder cannot answer.
    world.agreement.scan.save(f"signed-{uuid.uuid4().hex}.pdf", ContentFile(SCAN))
    (stored,) = bucket.objects.all()
    assert stored.key.startswith("media/agreements/") and stored.key.endswith(".pdf")
    assert stored.get()["Body"].read() == SCAN
    assert not (Path(settings.MEDIA_ROOT) / world.agreement.scan.name).exists()

    client.force_login(agency_office)
    url = reverse("communities:agreement_scan", args=[world.agreement.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SCAN


def test_a_scan_missing_from_the_bucket_is_not_found(world, client, agency_office, bucket):
    # A name no other test saves, so a file left in the local media folder cannot answer.
    world.agreement.scan.save(f"signed-{uuid.uuid4().hex}.pdf", ContentFile(SCAN))
    bucket.objects.all().delete()
    client.force_login(agency_office)
    url = reverse("communities:agreement_scan", args=[world.agreement.pk])
    assert client.get(url).status_code == 404
