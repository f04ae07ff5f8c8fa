"""The project's contract: settings from the environment, the compose file, clean migrations."""

import ast
import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(settings.BASE_DIR)


def settings_env_names() -> set[str]:
    """Every variable xiachen/settings.py reads through `env...("NAME", ...)`."""
    tree = ast.parse((ROOT / "xiachen" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        reads_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        )
        first = node.args[0]
        if reads_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def gunicorn_env_names() -> set[str]:
    """Every variable gunicorn.conf.py reads through `os.environ.get("NAME", ...)`."""
    return set(
        re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', (ROOT / "gunicorn.conf.py").read_text())
    )


def run_python(code: str, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(env_changes)
    env["DJANGO_SETTINGS_MODULE"] = "xiachen.settings"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_python("import django; django.setup()", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_settings_start_with_a_secret_key():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)",
        DEBUG="false",
        SECRET_KEY="x" * 50,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_laptop_defaults_are_sqlite_with_wal_immediate_and_the_embedded_broker():
    result = run_python(
        "import django; django.setup(); from django.conf import settings as s; "
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode'); "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, c.fetchone()[0], "
        "s.LANGUAGE_CODE, s.TIME_ZONE, s.DATABASES['default']['OPTIONS']['transaction_mode'])",
        DATABASE_URL="sqlite:////tmp/xiachen-defaults-test.sqlite3",
        CELERY_BROKER_URL="filesystem://",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "wal",
        "zh-hans",
        "Asia/Shanghai",
        "IMMEDIATE",
    ]


def test_postgres_connections_turn_jit_and_parallel_workers_off_unless_settings_give_them():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(repr(s.DATABASES['default'].get('OPTIONS', {}).get('options')))"
    )
    url = "postgres://postgres@127.0.0.1:5432/xiachen"
    default = run_python(code, DATABASE_URL=url)
    given_back = run_python(
        code, DATABASE_URL=url, DATABASE_JIT="true", DATABASE_PARALLEL_WORKERS="2"
    )
    assert default.stdout.strip() == "'-c jit=off -c max_parallel_workers_per_gather=0'", (
        default.stderr
    )
    assert given_back.stdout.strip() == "'-c max_parallel_workers_per_gather=2'", given_back.stderr


@pytest.mark.postgres
def test_the_apps_postgres_connection_runs_without_jit_nor_parallel_workers(db):
    # PostgreSQL's JIT spent about a second compiling the activity list at city size; two
    # parallel workers made the office dashboard's overdue-review count 26 ms against 17.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone() == ("0",)


def test_quiet_hours_default_to_22_to_7_outside_the_tests(monkeypatch):
    # The test settings turn them off (tests must not depend on the hour they run at); the
    # tests of quiet hours set these same hours themselves.
    monkeypatch.delenv("QUIET_HOURS", raising=False)
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(*settings.QUIET_HOURS)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["22", "7"]
    assert settings.QUIET_HOURS == [0, 0]


def _rendered_templates(render):
    """(result, names of the templates rendered) of one call."""
    from django.test.signals import template_rendered

    rendered = []

    def note(sender, template, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(note)
    try:
        return render(), rendered
    finally:
        template_rendered.disconnect(note)


def _selects():
    """Selects of every shape the forms use, with their value: plain, grouped, several values,
    yes/no, and labels that need escaping, lazy, numbers or safe already."""
    from django import forms
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    plain = forms.Select(choices=[("", "全部"), *((n, f"单位{n} <&>") for n in range(150))])
    grouped = forms.Select(
        choices=[
            ("", gettext_lazy("All grids")),
            ("胜利一路 & 东苑", [(1, "紫林苑"), (2, mark_safe("<b>翰林苑</b>"))]),
            ("other", [(3, 3), (None, "无")]),
        ]
    )
    several = forms.SelectMultiple(choices=[("a", '"甲"'), ("b", "乙"), ("c", "丙")])
    return [
        (plain, "7", {"id": "id_agency", "class": "form-select"}),
        (plain, None, {"required": True, "disabled": False, "data-x": 'a"b'}),
        (grouped, 2, {"id": "id_grid"}),
        (several, ["a", "c"], {"class": "select form-select"}),
        (forms.NullBooleanSelect(), True, None),
    ]


def test_a_select_is_written_in_python_as_djangos_templates_write_it():
    # xiachen/renderers.py: the same HTML as Django's own select.html and select_option.html,
    # without a template loop over hundreds of options (a filter bar's biggest cost).
    from django.forms.renderers import DjangoTemplates

    for widget, value, attrs in _selects():
        html, rendered = _rendered_templates(lambda: widget.render("f", value, attrs))  # noqa: B023
        assert html == widget.render("f", value, attrs, renderer=DjangoTemplates()), html
        assert not [name for name in rendered if name.startswith("django/forms/widgets/")]
    html = _selects()[0][0].render("agency", "7")
    assert '<option value="7" selected>单位7 &lt;&amp;&gt;</option>' in html


def test_a_select_with_an_option_template_of_its_own_renders_it():
    from django import forms

    class Option(forms.Select):
        option_template_name = "django/forms/widgets/input.html"

    html, rendered = _rendered_templates(lambda: Option(choices=[(1, "一")]).render("f", 1))
    assert "django/forms/widgets/select.html" in rendered
    assert html.startswith('<select name="f">') and "<option" not in html


def _inputs():
    """Inputs of every shape the forms use, with their value: text to escape, a number (0 is a
    value, None is none), a decimal, a date, a box ticked and not, attributes true, false and
    quoted, and lazy or safe values."""
    from django import forms
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    return [
        (forms.TextInput(), 'a"<b>&', {"id": "id_q", "class": "form-control", "required": True}),
        (forms.TextInput(), None, {"disabled": False, "placeholder": gettext_lazy("Search")}),
        (forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}), 0, None),
        (forms.NumberInput(), Decimal("2.50"), {"step": "0.5"}),
        (forms.HiddenInput(), mark_safe("<i>"), None),
        (forms.EmailInput(), "王@例子.cn", {"maxlength": 254}),
        (forms.PasswordInput(render_value=True), "secret", None),
        (forms.DateInput(), dt.date(2026, 12, 7), {"type": "date"}),
        (forms.CheckboxInput(), True, {"class": "form-check-input"}),
        (forms.CheckboxInput(), False, None),
        (forms.SearchInput(), "紫林苑", None),
    ]


def test_an_input_is_written_in_python_as_djangos_templates_write_it():
    # xiachen/renderers.py: an input without input.html and attrs.html (a roll call's row has
    # five inputs: half of the page's CPU time went to their templates).
    from django.forms.renderers import DjangoTemplates

    for widget, value, attrs in _inputs():
        html, rendered = _rendered_templates(lambda: widget.render("f", value, attrs))  # noqa: B023
        assert html == widget.render("f", value, attrs, renderer=DjangoTemplates()), html
        assert not [name for name in rendered if name.startswith("django/forms/widgets/")]


def test_a_choices_radio_and_check_box_are_written_as_djangos_templates_write_them():
    # `{{ choice.tag }}` (the roll call's marks) and a choice in its label.
    from django import forms
    from django.forms.renderers import DjangoTemplates

    class Marks(forms.Form):
        status = forms.ChoiceField(
            choices=[("present", "已参加"), ("absent", '缺席 "<>"')], widget=forms.RadioSelect
        )
        days = forms.MultipleChoiceField(
            choices=[(1, "一"), (2, "二")], widget=forms.CheckboxSelectMultiple
        )

    for data in ({"status": "absent", "days": ["2"]}, None):
        ours, django = Marks(data), Marks(data, renderer=DjangoTemplates())
        for name in ("status", "days"):
            for mine, theirs in zip(ours[name], django[name], strict=True):
                assert mine.tag() == theirs.tag()
                assert mine.tag(wrap_label=True) == theirs.tag(wrap_label=True)
                assert str(mine) == str(theirs)
        assert str(ours["status"]) == str(django["status"])


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


class TestComposeFile:
    def test_it_has_the_production_services(self, compose):
        assert {"web", "worker", "beat", "db", "redis"} <= set(compose["services"])
        assert "gunicorn" in compose["services"]["web"]["command"]
        assert "worker" in compose["services"]["worker"]["command"]
        assert "beat" in compose["services"]["beat"]["command"]

    def test_every_long_running_service_has_a_health_check(self, compose):
        for name in ("web", "worker", "beat", "db", "redis"):
            assert "test" in compose["services"][name]["healthcheck"], name

    def test_data_lives_in_volumes(self, compose):
        # Uploads live in the bucket (tests/xiachen/test_deploy.py), on no web node.
        assert {"pgdata", "redisdata"} <= set(compose["volumes"])
        assert "media" not in compose["volumes"]
        assert "pgdata:/var/lib/postgresql/data" in compose["services"]["db"]["volumes"]

    def test_app_services_use_postgres_and_redis(self, compose):
        for name in ("web", "worker", "beat"):
            env = compose["services"][name]["environment"]
            assert env["DATABASE_URL"].startswith("postgres://")
            assert env["CELERY_BROKER_URL"].startswith("redis://")
            assert env["DEBUG"] == "false"

    def test_every_queue_has_a_worker_and_the_robots_one_of_their_own(self, compose):
        consumed = {}
        for name, service in compose["services"].items():
            command = service.get("command") or []
            if "worker" in command:
                queues = command[command.index("-Q") + 1].split(",")
                consumed[name] = set(queues)
                assert "healthcheck" in service and service["environment"]["DEBUG"] == "false"
        routes = settings.CELERY_TASK_ROUTES
        every = {settings.CELERY_TASK_DEFAULT_QUEUE, *(r["queue"] for r in routes.values())}
        assert set().union(*consumed.values()) == every
        robots = routes["notifications.deliver_robot"]["queue"]
        assert [queues for queues in consumed.values() if robots in queues] == [{robots}]

    def test_every_variable_it_sets_is_read_by_the_settings(self, compose):
        known = settings_env_names() | gunicorn_env_names()
        for name in ("web", "worker", "robot-worker", "beat", "migrate"):
            unknown = set(compose["services"][name]["environment"]) - known
            assert not unknown, (
                f"{name} sets {unknown}, which neither xiachen/settings.py nor gunicorn.conf.py "
                "reads"
            )


def test_the_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.M))
    read = settings_env_names() | gunicorn_env_names()
    assert read <= documented, read - documented


def test_the_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("\n## ", readme.index("make test"))]
    assert "make run" in head and "make test" in head


@pytest.mark.django_db
def test_the_web_health_check_points_at_a_real_url(compose, client):
    command = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/[^'\"]*)", command).group(1)
    assert client.get(path).status_code == 200


def test_tests_never_publish_to_the_broker_folder_that_make_run_consumes():
    # On Redis (the PostgreSQL leg) there is no folder; tests use their own Redis database.
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    assert folder is None or not folder.startswith(str(settings.VAR_DIR))


def test_every_app_is_packaged_and_copied_into_the_image():
    """The image installs the apps before copying the rest: an app missing from the Dockerfile
    or from pyproject's packages would be left out of the installed package."""
    apps = [
        app.split(".")[0]
        for app in settings.INSTALLED_APPS
        if (ROOT / app.split(".")[0] / "apps.py").exists()
        or (ROOT / app.split(".")[0] / "__init__.py").exists()
    ]
    assert {"xiachen", "communities", "notifications", "members", "activities", "reports"} <= set(
        apps
    )
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for app in apps:
        assert f"COPY {app} ./{app}" in dockerfile, app
        assert f'"{app}*"' in pyproject, app


def test_the_apps_depend_one_way():
    """reports → activities → members → notifications → communities (import-linter)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
