"""Issue 11, point 7: hostile input to every form of every role.

Every URL that takes a POST (the role matrix's lines, so a new one is covered the day it is
added) is sent, by a role that may use it on its own side's object, values drawn by hypothesis
from random and malicious ones: long strings, NUL bytes, unicode, negative and huge numbers,
SQL and HTML fragments, dates that do not exist, lists where one value is expected. The fields
are those of the forms the views render: the page's own form, or for a URL that only takes a
POST the form on the page that holds its button (POST_ONLY_HOSTS). Never a 500; and a refused
input (an error status or a form shown again with its errors) writes no row.

Also: a POST without a CSRF token is refused (403) on every URL that takes one."""

import copy
import re

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.forms import BaseForm
from django.forms.formsets import BaseFormSet
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.services.checkin import check_in_token
from members.activation import activation_issue
from members.models import CalendarFeed

from . import matrix_data as md
from .test_role_matrix import (
    LOGIN,
    MATRIX,
    NOT_RECORDS,
    OK,
    WRITE,
    Row,
    expected,
    token_of,
    url_of,
)


@pytest.fixture(scope="module")
def d(django_db_setup, django_db_blocker):
    yield from md.rows_and_clients(django_db_blocker)


POSTED = [row for row in MATRIX if "post" in row.methods]
# The page that holds the form of each URL that takes only a POST (its button or form).
POST_ONLY_HOSTS = {
    "logout": "reports:dashboard",
    "notifications:inbox_read_all": "notifications:inbox",
    "notifications:inbox_read": "notifications:inbox",
    "notifications:outbox_retry": "notifications:outbox",
    "activities:activity_copy": "activities:activity_detail",
    "activities:door_unit_record": "activities:door_units",
    "activities:door_unit_remove": "activities:door_units",
    "activities:sign_up": "activities:activity_detail",
    "activities:sign_up_cancel": "activities:activity_detail",
    "members:member_grid": "members:member_list",
    "activities:callout_cancel": "activities:callout_detail",
    "members:registration_approve": "members:registration_review",
    "members:report_in_withdraw": "members:report_in",
    "roster:member_rejoin": "reports:roster_member",
    "roster:activation_send": "reports:roster_member",
    "roster:activation_slip": "reports:roster_member",
    "roster:activation_revoke": "reports:roster_member",
    "reports:review_confirm": "reports:review",
    "reports:objection_raise": "reports:evaluations_mine",
    "reports:my_data_json": "reports:my_record",
    "reports:my_data_csv": "reports:my_record",
    "activities:leave_withdraw": "activities:leave_request",
    "activities:leave_decide": "activities:leave_request_list",
    "members:session_end": "members:my_sessions",
    "two_factor:recovery_codes_regenerate": "two_factor:account",
    # The browser's own reports: a JSON body, posted by no form of ours.
    "csp_report": None,
}
# Posted by the browser itself with no token (xiachen.security.csp_report): exempt by design.
CSRF_EXEMPT = {"csp_report"}
# Names the views read from request.POST beside their forms' fields.
LOOSE = ["next", "year", "month", "date", "community", "agency", "action", "confirm", "page"]
PREFERENCE = ("staff", "office", "member", "grid", "street", "city")
SKIPPED = {"set_language"}  # Django's own view: only a language code, tested by Django

VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "x" * 5000,
            "汉" * 400,
            "💥\u202e\u200b",
            "-1",
            "0",
            "-99999999999999999999",
            "99999999999999999999",
            "1e309",
            "NaN",
            "2026-02-30",
            "9999-12-31",
            "'; DROP TABLE members_member; --",
            "1 OR 1=1",
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "../../etc/passwd",
            "%00",
            '=HYPERLINK("x")',
            "true",
            "null",
        ]
    ),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
FIELD_VALUE = st.one_of(VALUES, st.lists(VALUES, min_size=2, max_size=3))


# The doors opened by a token: who opens them (a real token is made for the hostile posts).
TOKEN_DOORS = {
    "members:activate": "anonymous",
    "reports:calendar_feed": "anonymous",
    "activities:check_in": "member",
    "activities:callout_answer": "anonymous",
}


def actor(row: Row) -> str:
    """A role that may POST to the row's URL on side A's object."""
    if row.name in TOKEN_DOORS:
        return TOKEN_DOORS[row.name]
    if row.anonymous == OK and row.name != "logout":
        return "anonymous"
    for role in PREFERENCE:
        if expected(row, role, "A" if _has_object(row) else None, "post") in (OK, LOGIN):
            return role
    raise AssertionError(f"nobody may POST to {row.name}")


def _has_object(row: Row) -> bool:
    return row.obj is not None and not isinstance(row.obj, tuple)


NAME = re.compile(r"""<(?:input|select|textarea|button)\b[^>]*\bname=["']([^"']+)["']""", re.I)
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.I | re.S)


def form_fields(d, row: Row, role: str, url: str) -> list[str]:
    """The names of the fields of the forms posting to `url`, read from the page rendering
    them; LOOSE beside them."""
    client = d.clients[role]
    if "get" in row.methods:
        page = client.get(url)
        ok = page.status_code == 200 and not page.streaming  # a file is not a form
        forms = [page.content.decode(errors="replace")] if ok else []
    else:
        host = POST_ONLY_HOSTS[row.name]
        if host is None:
            return sorted(LOOSE)
        host_row = next(r for r in MATRIX if r.name == host)
        page = client.get(url_of(d, host_row, "A" if _has_object(host_row) else None))
        html = page.content.decode(errors="replace")
        forms = [form for form in FORM.findall(html) if f'action="{url}' in form]
    names = {name for form in forms for name in NAME.findall(form)}
    names.discard("csrfmiddlewaretoken")
    return sorted(names | set(LOOSE))


def real_url(d, row: Row) -> str:
    """The row's URL on side A's object; a door opened by a token with a real one."""
    if row.name == "members:activate":
        issued = activation_issue(member=d.world.sanxia_member_2, by=d.users["office"])
        return reverse(row.name, args=[issued.token])
    if row.name == "activities:check_in":
        return reverse(row.name, args=[d.a.past.pk, check_in_token(d.a.past)])
    if row.name == "activities:callout_answer":
        return d.a.callout.answers.get(member=d.a.member).get_absolute_url()
    if row.name == "reports:calendar_feed":
        feed = CalendarFeed.objects.create(
            member=d.a.member, token="hostile-feed-token", created_at=timezone.now()
        )
        return reverse(row.name, args=[feed.token])
    return url_of(d, row, "A" if _has_object(row) else None)


def refused_input(response) -> bool:
    """An error status, or a form shown again with its errors."""
    if response.status_code >= 400:
        return True
    for context in response.context or []:
        for layer in getattr(context, "dicts", [context]):
            for value in layer.values():
                if isinstance(value, BaseForm) and value.is_bound and value.errors:
                    return True
                if isinstance(value, BaseFormSet) and value.is_bound and not value.is_valid():
                    return True
    return False


def test_every_url_that_takes_only_a_post_has_its_form_page():
    post_only = {row.name for row in POSTED if "get" not in row.methods} - SKIPPED
    assert sorted(post_only - set(POST_ONLY_HOSTS)) == []
    assert sorted(set(POST_ONLY_HOSTS) - post_only) == []


@pytest.mark.parametrize("row", [r for r in POSTED if r.name not in SKIPPED], ids=lambda r: r.name)
def test_hostile_values_never_fail_nor_half_write(row, d, db):
    role = actor(row)
    client = d.clients[role]
    url = real_url(d, row)
    fields = form_fields(d, row, role, url)
    cookies = copy.deepcopy(client.cookies)
    rows = md.checksum()

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.dictionaries(st.sampled_from(fields), FIELD_VALUE, max_size=len(fields)))
    def post(data):
        cache.clear()
        data = {**data, "csrfmiddlewaretoken": token_of(client)}
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            response = client.post(url, data)
            wrote = any(
                WRITE.match(q["sql"]) and not any(table in q["sql"] for table in NOT_RECORDS)
                for q in queries.captured_queries
            )
            changed = md.changed_tables(rows, md.checksum()) if wrote else []
            transaction.set_rollback(True)
        client.cookies = copy.deepcopy(cookies)  # a sign-out leaves no trace
        assert response.status_code < 500, f"{role} {url} {data!r}"
        if refused_input(response):
            assert changed == [], f"{role} {url} {data!r}: refused, yet wrote {changed}"

    post()


@pytest.mark.parametrize(
    "row", [r for r in POSTED if r.name not in CSRF_EXEMPT], ids=lambda r: r.name
)
def test_a_post_without_csrf_token_is_refused(row, d, db):
    role = actor(row) if row.name not in SKIPPED else "anonymous"
    url = url_of(d, row, "A" if _has_object(row) else None)
    with transaction.atomic():
        response = d.clients[role].post(url, {"next": "/"})
        transaction.set_rollback(True)
    assert response.status_code == 403, f"{role} {url}"
    assert reverse("login") not in response.get("Location", "")


OFF_SITE = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"]


@pytest.mark.parametrize("row", [r for r in POSTED if r.name not in SKIPPED], ids=lambda r: r.name)
def test_no_post_redirects_off_site(row, d, db):
    """A `next` (the field several forms carry back) never sends anyone to another site."""
    role = actor(row)
    client = d.clients[role]
    url = real_url(d, row)
    cookies = copy.deepcopy(client.cookies)
    for target in OFF_SITE:
        cache.clear()
        with transaction.atomic():
            response = client.post(
                f"{url}?next={target}", {"next": target, "csrfmiddlewaretoken": token_of(client)}
            )
            transaction.set_rollback(True)
        client.cookies = copy.deepcopy(cookies)
        location = response.get("Location", "")
        assert "evil.example" not in location and "javascript:" not in location, (role, url)
