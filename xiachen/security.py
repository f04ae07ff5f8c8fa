"""The security headers Django and django-csp do not send, and the endpoint the browsers report
Content Security Policy violations to (issue 11, point 4).

The policy itself is django-csp's (CONTENT_SECURITY_POLICY in xiachen/settings.py): scripts,
styles and images from the site alone, no inline script, no style attribute. A browser that
refuses something under it posts a report to `csp_report`, which writes one log line per
violation (JSON in production, with the request id) for whoever watches the logs: a page that
breaks under the policy, or someone injecting markup, shows there."""

import json
import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from communities.throttle import Door
from members.privacy import privacy_notice_exempt

logger = logging.getLogger("xiachen.security.csp")

# A browser's report is a few hundred bytes; the Reporting API may batch several.
REPORT_MAX_BYTES = 16 * 1024
# Reports from one address in a minute; past that they are dropped unread (a page that breaks
# reports the same violation on every view, and nobody needs a thousand lines of it).
REPORTS_PER_MINUTE = 60
REPORT_DOOR = Door("csp-report", REPORTS_PER_MINUTE, 60)
# The longest value of a report's field written to the log.
FIELD_MAX_CHARS = 300
# The fields of a report worth a log line: the legacy `report-uri` names (csp-report) and the
# Reporting API's (report-to) side by side.
FIELDS = {
    "document-uri": "document",
    "documentURL": "document",
    "violated-directive": "directive",
    "effective-directive": "directive",
    "effectiveDirective": "directive",
    "blocked-uri": "blocked",
    "blockedURL": "blocked",
    "source-file": "source",
    "sourceFile": "source",
    "line-number": "line",
    "lineNumber": "line",
    "column-number": "column",
    "columnNumber": "column",
    "script-sample": "sample",
    "sample": "sample",
    "disposition": "disposition",
    "referrer": "referrer",
}
# A batch of the Reporting API holds at most this many reports that are logged.
REPORTS_PER_REQUEST = 10


class PermissionsPolicyMiddleware:
    """Sends Permissions-Policy (the browser features no page of the site uses are refused to
    it and to anything it could embed) and, over HTTPS, Reporting-Endpoints (where the policy's
    `report-to` sends its reports)."""

    def __init__(self, get_response):
        self.get_response = get_response
        features = settings.PERMISSIONS_POLICY
        self.permissions = ", ".join(
            f"{feature}=({' '.join(origins)})" for feature, origins in features.items()
        )

    def __call__(self, request):
        response = self.get_response(request)
        if self.permissions:
            response.headers.setdefault("Permissions-Policy", self.permissions)
        if settings.VIOLATION_REPORT_ENDPOINT:
            try:
                # An absolute address, on a host ALLOWED_HOSTS lets through.
                address = request.build_absolute_uri(settings.VIOLATION_REPORT_PATH)
            except DisallowedHost:  # already answered 400; no endpoint to name
                return response
            response.headers.setdefault(
                "Reporting-Endpoints", f'{settings.VIOLATION_REPORT_ENDPOINT}="{address}"'
            )
        return response


def _short(value) -> str:
    """A field as text for the log: cut, and without what no log can write (a lone surrogate
    of a JSON escape becomes "?")."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:FIELD_MAX_CHARS].encode("utf-8", "replace").decode("utf-8")


def _violations(payload) -> list[dict]:
    """The violations in a report body, each a dict of the fields in FIELDS; [] when it holds
    none. `report-uri` posts {"csp-report": {...}}; the Reporting API posts a list of
    {"type": "csp-violation", "body": {...}}."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        bodies = [payload["csp-report"]]
    elif isinstance(payload, list):
        bodies = [
            item["body"]
            for item in payload[:REPORTS_PER_REQUEST]
            if isinstance(item, dict)
            and item.get("type") == "csp-violation"
            and isinstance(item.get("body"), dict)
        ]
    else:
        return []
    violations = []
    for body in bodies:
        fields = {}
        for name, value in body.items():
            if name in FIELDS and value not in (None, ""):
                fields.setdefault(FIELDS[name], _short(value))
        if fields:
            violations.append(fields)
    return violations


def _content_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


@csrf_exempt  # posted by the browser itself, with no form and no token
@privacy_notice_exempt  # a page before the notice is accepted reports too
@require_POST
def csp_report(request):
    """Logs the violations a browser reports; 204 whatever it sent that is readable, 400 for
    what is not a report, 413 for one too long, 429 for an address that reports too often."""
    if REPORT_DOOR.shut(request):
        return HttpResponse(status=429)
    REPORT_DOOR.knock(request)
    length = _content_length(request)
    if length is None:
        return HttpResponse(status=400)
    if length > REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    body = request.read(REPORT_MAX_BYTES + 1)
    if len(body) > REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        violations = _violations(json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        violations = []
    if not violations:
        return HttpResponse(status=400)
    for violation in violations:
        logger.warning(
            "CSP violation: %s refused %s on %s",
            violation.get("directive", "?"),
            violation.get("blocked", "?"),
            violation.get("document", "?"),
            extra={"csp": violation},
        )
    return HttpResponse(status=204)
