"""Issue 11, point 4: the security headers of every response, the Content Security Policy and
the endpoint its reports go to, templates the policy lets work, and Django's deploy check on
the production settings. The browser's side: tests/e2e/test_content_security_policy.py."""

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.test import Client
from django.urls import reverse

from communities.models import Agreement
from xiachen import security
from xiachen.logs import ContextFilter, JsonFormatter

from .test_deploy import compose_app_environment, settings_in_subprocess

ROOT = Path(settings.BASE_DIR)


def policy_of(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [values]}."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def json_log():
    """The lines logged meanwhile, as the production handler writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


# --- The headers ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_sends_the_policy_and_the_other_headers(client, world, signed_in):
    if signed_in:
        client.force_login(world.sanxia_member.user)
    for path in ("/login/", "/", "/no-such-page/", "/healthz"):
        response = client.get(path)
        policy = policy_of(response)
        assert policy["default-src"] == ["'self'"], path
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["img-src"] == ["'self'", "data:"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        assert policy["report-uri"] == [reverse("csp_report")]
        assert policy["report-to"] == ["csp"]
        assert response["Reporting-Endpoints"] == 'csp="http://testserver/csp-report/"'
        # Nothing inline is ever allowed.
        assert not any("unsafe" in value for values in policy.values() for value in values)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        features = dict(
            item.strip().split("=", 1) for item in response["Permissions-Policy"].split(",")
        )
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()", feature
    assert client.get("/login/")["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_a_host_not_allowed_is_a_400_with_the_policy_and_no_endpoint(client):
    response = client.get("/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert policy_of(response)["script-src"] == ["'self'"]
    assert "Reporting-Endpoints" not in response


@pytest.mark.django_db
def test_the_report_path_setting_is_the_endpoints_address():
    assert reverse("csp_report") == settings.VIOLATION_REPORT_PATH


def test_production_over_https_sends_hsts_for_a_year_with_subdomains_and_secure_cookies():
    assert settings_in_subprocess(
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.VIOLATION_REPORT_ENDPOINT)"
    ) == ["31536000", "True", "False", "True", "True", "True", "csp"]


def test_plain_http_sends_no_hsts_and_reports_by_report_uri_alone():
    """Browsers send no Reporting API report to a plain-HTTP address, and with `report-to`
    present Chromium ignores `report-uri`: on a plain-HTTP intranet the policy names only
    `report-uri`."""
    assert settings_in_subprocess(
        "p = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; "
        "print(s.SECURE_HSTS_SECONDS, 'report-to' in p, p['report-uri'][0])",
        XIACHEN_PLAIN_HTTP="true",
    ) == ["0", "False", "/csp-report/"]


@pytest.mark.django_db
def test_hsts_is_sent_over_https_in_production(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/login/")  # never over plain HTTP


# --- Django's deploy check with the production environment -------------------------------------


def production_environment(**given):
    """The web service's environment from docker-compose.yml, as `docker compose` fills it with
    the README's .env (a real secret key, the site's name, the bucket's keys)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose_app_environment(
        compose,
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SITE_HOST": "xiachen.example.gov.cn",
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": "secret",
            **given,
        },
    )


def manage_check_deploy(environment):
    # The test process's own switches stay out (the browser tests allow async-unsafe calls).
    ours = ("SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(environment)
    env["DJANGO_SETTINGS_MODULE"] = "xiachen.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_passes_with_the_production_settings():
    result = manage_check_deploy(production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_fails_when_a_production_safeguard_is_off():
    """The check above is not vacuous: turning HSTS off in the same environment fails it."""
    result = manage_check_deploy(production_environment(SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


# --- The report endpoint -----------------------------------------------------------------------

LEGACY_REPORT = {
    "csp-report": {
        "document-uri": "https://xiachen.example.gov.cn/roster/",
        "referrer": "",
        "violated-directive": "style-src-attr",
        "effective-directive": "style-src-attr",
        "original-policy": "default-src 'self'; …",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "source-file": "https://xiachen.example.gov.cn/roster/",
        "status-code": 200,
        "script-sample": "",
    }
}
REPORTING_API_BATCH = [
    {
        "age": 10,
        "type": "csp-violation",
        "url": "https://xiachen.example.gov.cn/overview/street/",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://xiachen.example.gov.cn/overview/street/",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "https://evil.example/x.js",
            "disposition": "enforce",
            "lineNumber": 3,
            "sourceFile": "https://xiachen.example.gov.cn/overview/street/",
            "statusCode": 200,
        },
    },
    {"type": "deprecation", "body": {"id": "something"}},
]


def post_report(client, body, content_type="application/csp-report", **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(reverse("csp_report"), data=data, content_type=content_type, **extra)


def csp_lines(json_log):
    return [line for line in json_log() if line["logger"] == "xiachen.security.csp"]


@pytest.fixture
def browser_client():
    """A client that checks CSRF as a browser's request is checked: the browser posts its
    reports with no token, and they must still be taken."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_a_report_uri_report_is_logged_as_json(browser_client, json_log):
    response = post_report(browser_client, LEGACY_REPORT)
    assert response.status_code == 204
    (line,) = csp_lines(json_log)
    assert line["level"] == "WARNING"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["csp"] == {
        "document": "https://xiachen.example.gov.cn/roster/",
        "directive": "style-src-attr",
        "blocked": "inline",
        "source": "https://xiachen.example.gov.cn/roster/",
        "line": "12",
        "disposition": "enforce",
    }
    assert "style-src-attr" in line["message"] and "/roster/" in line["message"]


@pytest.mark.django_db
def test_a_reporting_api_batch_logs_its_csp_violations_only(browser_client, json_log):
    response = post_report(browser_client, REPORTING_API_BATCH, "application/reports+json")
    assert response.status_code == 204
    (line,) = csp_lines(json_log)
    assert line["csp"]["directive"] == "script-src-elem"
    assert line["csp"]["blocked"] == "https://evil.example/x.js"


@pytest.mark.django_db
def test_long_fields_are_cut_in_the_log(browser_client, json_log):
    report = {"csp-report": {**LEGACY_REPORT["csp-report"], "blocked-uri": "x" * 5000}}
    assert post_report(browser_client, report).status_code == 204
    (line,) = csp_lines(json_log)
    assert line["csp"]["blocked"] == "x" * security.FIELD_MAX_CHARS


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"null",
        b"42",
        b'"csp-report"',
        b"{}",
        b'{"csp-report": "a string"}',
        b'{"csp-report": {}}',
        b'{"csp-report": {"unknown": 1}}',
        b"[]",
        b'[{"type": "csp-violation", "body": "x"}, 1, null]',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
        b'{"csp-report": {"blocked-uri": "\\ud800"}}'[:-2],
    ],
)
def test_garbage_is_refused_plainly_never_a_500(browser_client, json_log, body):
    response = post_report(browser_client, body)
    assert response.status_code in (400, 413)
    assert csp_lines(json_log) == []


@pytest.mark.django_db
def test_a_report_with_a_lone_surrogate_or_control_characters_is_logged(browser_client, json_log):
    report = {"csp-report": {**LEGACY_REPORT["csp-report"], "blocked-uri": "\ud800\x00\n"}}
    assert post_report(browser_client, report).status_code == 204
    (line,) = csp_lines(json_log)
    assert line["csp"]["blocked"] == "?\x00\n"


@pytest.mark.django_db
def test_a_report_too_long_is_refused_unread(browser_client, json_log):
    padded = {"csp-report": {**LEGACY_REPORT["csp-report"], "x": "y" * security.REPORT_MAX_BYTES}}
    assert post_report(browser_client, padded).status_code == 413
    assert csp_lines(json_log) == []


@pytest.mark.django_db
def test_a_report_without_a_length_is_read_up_to_the_limit_only(json_log):
    """A chunked body names no length: no more than the limit is read, and a longer one is
    refused."""
    from django.test import RequestFactory

    request = RequestFactory().post(
        reverse("csp_report"),
        data=b"[" + b" " * (security.REPORT_MAX_BYTES + 10) + b"]",
        content_type="application/csp-report",
    )
    del request.META["CONTENT_LENGTH"]
    assert security.csp_report(request).status_code == 413


@pytest.mark.django_db
def test_only_posts_are_taken(client):
    assert client.get(reverse("csp_report")).status_code == 405


@pytest.mark.django_db
def test_an_address_that_reports_too_often_is_turned_away(browser_client, json_log):
    for _ in range(security.REPORTS_PER_MINUTE):
        assert post_report(browser_client, LEGACY_REPORT).status_code == 204
    assert post_report(browser_client, LEGACY_REPORT).status_code == 429
    assert len(csp_lines(json_log)) == security.REPORTS_PER_MINUTE
    # Another address still reports.
    other = post_report(browser_client, LEGACY_REPORT, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 204


# --- Templates and markup the policy lets work -------------------------------------------------

INLINE = [
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style[\s>]", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=\s*[\"'{]", re.I), "an on… handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_no_template_holds_inline_script_or_style():
    """The policy refuses them: each would be a page that breaks in the browser. (The browser
    test finds those that code writes; this one names the template at once.)"""
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


def test_the_python_code_writes_no_style_attribute_into_pages():
    found = []
    for app in ("xiachen", "communities", "notifications", "members", "activities", "reports"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"""\sstyle=\\?["']|["']style["']\s*:|\son[a-z]+=\\?["']""", line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    assert found == []


@pytest.mark.django_db
def test_the_qr_codes_are_drawn_with_presentation_attributes_only(world):
    from members.slips import qr_svg

    svg = str(qr_svg("https://xiachen.example.gov.cn/members/activate/abc/"))
    assert svg.startswith("<svg") and "<path" in svg
    assert "style" not in svg and "<script" not in svg


def test_every_agreement_status_has_its_colour_in_the_admins_stylesheet():
    css = (ROOT / "static" / "css" / "admin.css").read_text()
    for status in Agreement.EffectiveStatus:
        assert re.search(rf"\.agreement-status-{status.value}\s*\{{[^}}]*background:", css), status


@pytest.mark.django_db
def test_the_agreement_admin_links_the_stylesheet_of_its_badges(world, staff_client):
    url = reverse("admin:communities_agreement_changelist")
    html = staff_client.get(url).content.decode()
    assert "agreement-status-active" in html
    assert "css/admin.css" in html
    assert " style=" not in html.split("<body", 1)[1]


@pytest.mark.django_db
def test_a_page_before_the_privacy_notice_is_accepted_still_reports(
    browser_client, privacy_notice_not_accepted, django_user_model
):
    """The notice's own page may break the policy too: its report is taken, not sent to the
    notice (members.privacy.PrivacyNoticeMiddleware)."""
    browser_client.force_login(django_user_model.objects.create_user("new_member", password="x"))
    assert browser_client.get(reverse("reports:dashboard")).status_code == 302
    assert post_report(browser_client, LEGACY_REPORT).status_code == 204
