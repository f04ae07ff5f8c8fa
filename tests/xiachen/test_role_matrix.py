"""Issue 11, point 1: every URL of the project, for every role, in scope and out of it.

The URL patterns are read from the URL conf (`django.urls.get_resolver`, recursively); each
must have its line in MATRIX, or the test names it. A line says which object the URL takes
(one on side A and one on side B, tests/xiachen/matrix_data.py), which methods the view
accepts and who may open it; the expected answer of every role follows from that:

- the anonymous visitor: the sign-in page (or, for the public doors, the page itself);
- a role without the right (the permission module's `can_*` / `menu` says no): 403;
- a role with the right but on the other side's object: 404 (the object is not in its scope);
- a role with the right on its own side's object, and the city administrator on either: the
  page (200, a redirect elsewhere than the sign-in, or 400 for the empty POST a form refuses).

Every request is also sent by POST from a client that enforces CSRF, with the valid token of
the sender's own session: the refusals are then the permission's, and each refusal is checked
to leave every row of the project's tables as it was. Every request runs in a savepoint rolled
back after it, so that one role's accepted POST never changes what the next one finds.

Adding a page is one line: `Row("app:name", OBJECT, ok={...})`. The admin is one class of
its own (`admin:*`): every non-administrator gets the admin's sign-in page.
"""

import copy
import re
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from . import matrix_data as md

OK = "ok"
LOGIN = "login"
REFUSED = "403 or 404"
ALL_STAFF = frozenset({"street", "staff", "grid", "office"})
MANAGERS = frozenset({"staff", "grid"})  # communities.permissions.can_manage
PLACES = frozenset({"street", "staff", "grid"})  # can_list_activities, can_see_street_…
MEMBER = frozenset({"member"})
OFFICE = frozenset({"office"})
EVERYONE = frozenset({*ALL_STAFF, "member"})
# Who sees an activity of the other side where one of theirs served (Activity.visible_to).
SERVED = frozenset({"office", "member"})


@dataclass(frozen=True)
class Row:
    name: str
    # The attribute of matrix_data's side A / side B objects the URL takes (None: none); a
    # tuple of fixed arguments for the public doors opened by a token.
    obj: str | tuple | None = None
    # The roles (side-A names; their `other_` twins on side B) who may open it. The city
    # administrator may wherever `city` is true.
    ok: frozenset = frozenset()
    city: bool = True
    methods: tuple = ("get", "post")
    # The roles for whom the other side's object is in scope too (a member sees every
    # community's published activities to join them).
    everywhere: frozenset = frozenset()
    # The answer to a role with the right on the other side's object.
    outside: int = 404
    # The answer to a role without the right: 403, or for a URL with an object either 403 or
    # 404 (a view may look the object up among those the role sees before asking).
    denied: int | str | None = None
    # What the anonymous visitor gets: the sign-in page, or the page (the public doors).
    anonymous: str = LOGIN
    # The roles who may POST, where fewer than those who may read (default: `ok`).
    post_ok: frozenset | None = None
    # Exceptions, (role, side) -> answer, each with its reason at the line.
    special: dict = field(default_factory=dict)
    # The answer is a redirect and still a change of one's own (signing out ends the session).
    writes_own: bool = False


# fmt: off
MATRIX = [
    # The public doors: signing in and out, the password reset, the language, the health check,
    # and the links opened by a token (a forged token finds nothing).
    Row("login", anonymous=OK, ok=EVERYONE),
    # Signing out ends at the sign-in page, for everyone.
    Row("logout", methods=("post",), anonymous=OK, ok=EVERYONE, writes_own=True,
        special={(r, None): LOGIN for r in md.ROLES}),
    Row("password_reset", anonymous=OK, ok=EVERYONE),
    Row("password_reset_done", methods=("get",), anonymous=OK, ok=EVERYONE),
    Row("password_reset_complete", methods=("get",), anonymous=OK, ok=EVERYONE),
    Row("password_reset_confirm", obj=("MQ", "set-password"), anonymous=OK, ok=EVERYONE),
    Row("set_language", anonymous=OK, ok=EVERYONE),
    Row("healthz", anonymous=OK, ok=EVERYONE),
    # The browser's own reports of a blocked resource: a POST without a form (an empty one is a
    # 400, the "empty form" answer), open to anyone.
    Row("csp_report", methods=("post",), anonymous=OK, ok=EVERYONE),
    # The privacy notice is read before signing in; the log of who viewed lists of people is
    # the city administrator's alone.
    Row("privacy:notice", anonymous=OK, ok=EVERYONE,
        special={("anonymous", None): {"get": OK, "post": LOGIN}}),
    Row("privacy:view_log", methods=("get",), ok=frozenset()),
    # One's own password, sessions and account.
    Row("password_change", ok=EVERYONE),
    Row("members:my_sessions", ok=EVERYONE),
    # The second factor: its code page and enrolment (a session that has passed it, as every
    # client here has, is sent on), and one's own factor with new recovery codes.
    Row("two_factor:verify", ok=EVERYONE),
    Row("two_factor:enrol", ok=EVERYONE),
    Row("two_factor:account", ok=EVERYONE),
    Row("two_factor:recovery_codes_regenerate", methods=("post",), ok=EVERYONE),
    Row("members:session_end", methods=("post",), ok=EVERYONE),
    Row("reports:my_account_delete", ok=MEMBER, city=False),
    Row("members:activate", obj=("forged-token",), anonymous=404, ok=EVERYONE,
        special={(r, None): 404 for r in md.ROLES}),
    Row("reports:calendar_feed", obj=("forged-token",), methods=("get", "post"), anonymous=404,
        ok=EVERYONE, special={(r, None): 404 for r in md.ROLES}),
    # A forged code is told apart before the sign-in (and counted at the door): 404 for all.
    Row("activities:check_in", obj="check_in", ok=EVERYONE, anonymous=404,
        special={(r, s): 404 for r in md.ROLES if r != "anonymous" for s in "AB"}),
    # Everyone's home page, inbox and message settings.
    Row("reports:dashboard", ok=EVERYONE),
    Row("notifications:inbox", ok=EVERYONE),
    Row("notifications:inbox_read_all", methods=("post",), ok=EVERYONE),
    Row("notifications:preferences", ok=EVERYONE),
    # Only the recipient marks a message read: 404 for anyone else, the city included.
    Row("notifications:inbox_read", obj="message", methods=("post",), ok=MEMBER, city=False,
        special={(r, s): 404 for r in md.ROLES if r != "anonymous" for s in "AB"
                 if md.side_of(r) != s or md.base_of(r) != "member"}),
    Row("notifications:outbox", ok=ALL_STAFF),  # can_see_outbox
    Row("notifications:outbox_retry", obj="failed", methods=("post",), ok=ALL_STAFF),
    # Activities: the list and week for places (can_list_activities); planning for managers.
    Row("activities:activity_list", ok=PLACES),
    Row("activities:activity_week", ok=PLACES),
    Row("activities:activity_create", ok=MANAGERS),
    # Anyone who sees the activity: members see every community's published ones, an office
    # those its members served at (each side's activity has a member of the other side's).
    Row("activities:activity_detail", obj="past", ok=EVERYONE, everywhere=SERVED),
    Row("activities:activity_edit", obj="coming", ok=MANAGERS),
    Row("activities:activity_cancel", obj="coming", ok=MANAGERS),
    Row("activities:activity_copy", obj="past", methods=("post",), ok=MANAGERS),
    Row("activities:roll_call", obj="past", ok=MANAGERS),
    Row("activities:roll_call_search", obj="past", methods=("get",), ok=MANAGERS),
    Row("activities:check_in_code", obj="past", methods=("get",), ok=MANAGERS),
    # The board: whose_rows — all for those who oversee, the office's and a member's own.
    # A member opens the board of an activity they took part in: 陈思远 (B) was at side A's,
    # 李建华 (A) not at side B's.
    Row("activities:attendance_board", obj="past", methods=("get",), ok=EVERYONE,
        everywhere=SERVED, special={("member", "B"): 403}),
    # Door lists: everyone who sees the activity reads the rows they may (a member their own);
    # the managers plan them.
    Row("activities:door_units", obj="past", ok=EVERYONE, everywhere=SERVED, post_ok=MANAGERS),
    Row("activities:door_assignees", obj="past", methods=("get",), ok=MANAGERS),
    # A unit is recorded by the community's managers and by the member it is assigned to.
    Row("activities:door_unit_record", obj="door", methods=("post",), ok=MANAGERS | MEMBER),
    Row("activities:door_unit_remove", obj="door", methods=("post",), ok=MANAGERS),
    # A member signs up where they are reported in (is_reported_in); cancelling elsewhere finds
    # no sign-up and goes back.
    Row("activities:sign_up", obj="coming", methods=("post",), ok=MEMBER, city=False,
        outside=403),
    Row("activities:sign_up_cancel", obj="coming", methods=("post",), ok=MEMBER, city=False,
        everywhere=MEMBER),
    Row("activities:open_activities", methods=("get",), ok=MEMBER, city=False),
    # Leave (请假): asked by a member for an activity they signed up to (any published one is
    # theirs to read; without a seat the page says so), decided by the community's managers.
    Row("activities:leave_request", obj="coming", ok=MEMBER, city=False, everywhere=MEMBER),
    Row("activities:leave_withdraw", obj="coming", methods=("post",), ok=MEMBER, city=False,
        everywhere=MEMBER),
    Row("activities:leave_request_list", methods=("get",), ok=MANAGERS),
    Row("activities:leave_decide", obj="record", methods=("post",), ok=MANAGERS),
    # A record's page with its history: whoever sees the record (Participation.visible_to).
    Row("activities:participation_detail", obj="record", methods=("get",), ok=EVERYONE),
    # Disputes about records: the community's managers answer; a street officer is refused.
    Row("activities:dispute_list", methods=("get",), ok=MANAGERS),
    Row("activities:dispute_answer", obj="record", ok=MANAGERS),
    Row("activities:participation_backfill", obj="confirmed", ok=MANAGERS),
    # The duty rota: read by the city, places and the office; kept by the office alone.
    Row("activities:rota", methods=("get",), ok=ALL_STAFF),
    Row("activities:rota_month", obj="agreement", methods=("get",), ok=ALL_STAFF),
    Row("activities:rota_day", obj="agreement", ok=OFFICE, city=False),
    Row("activities:rota_fill", obj="agreement", ok=OFFICE, city=False),
    Row("activities:rota_clear", obj="agreement", ok=OFFICE, city=False),
    Row("reports:rota_export", obj="agreement", methods=("get",), ok=OFFICE, city=False),
    # Notes: work updates for everyone; concerns are raised by places and members.
    Row("activities:work_update_list", ok=EVERYONE),
    Row("activities:work_update_create", ok=MANAGERS | MEMBER),
    Row("activities:concern_list", ok=EVERYONE),
    Row("activities:concern_create", ok=MANAGERS | MEMBER),
    # A street officer reads the concerns of their communities; their staff handle them.
    Row("activities:concern_detail", obj="concern", ok=PLACES, post_ok=MANAGERS),
    # Resident needs (微心愿): published by the community's managers, claimed by its members;
    # a street officer reads its communities' needs.
    Row("activities:need_list", ok=EVERYONE),
    Row("activities:need_create", ok=MANAGERS, city=False),
    Row("activities:need_detail", obj="need", ok=PLACES | MEMBER, post_ok=MANAGERS | MEMBER),
    # Call-outs (吹哨): raised by the community's managers and its street; seen by them, by the
    # offices of agencies with an agreement there once escalated (as both sides' are), and by
    # the members called; an office sends more of its members; members answer by a signed link.
    Row("activities:callout_list", ok=EVERYONE),
    Row("activities:callout_create", ok=PLACES, city=False),
    Row("activities:callout_detail", obj="callout", methods=("get",), ok=PLACES | OFFICE | MEMBER),
    Row("activities:callout_cancel", obj="callout", methods=("post",), ok=PLACES | OFFICE | MEMBER,
        post_ok=PLACES),
    Row("activities:callout_send_more", obj="callout", ok=OFFICE, city=False,
        denied=REFUSED),
    # A forged answer link is a 404 for everyone, signed in or not (counted at the door).
    Row("activities:callout_answer", obj=("forged-token",), anonymous=404, ok=EVERYONE,
        special={(r, None): 404 for r in md.ROLES}),
    # The signed agreement: the places', the agency's and its members' (Agreement.visible_to).
    Row("communities:agreement_scan", obj="agreement", ok=EVERYONE),
    Row("communities:agreement_detail", obj="agreement", methods=("get",), ok=EVERYONE),
    # Report-ins (报到): reviewed by the community (can_review_registrations), made by members.
    Row("members:member_list", ok=MANAGERS),
    # The pk is the report-in's (the member list places a reported-in member in a grid).
    Row("members:member_grid", obj="registration", methods=("post",), ok=MANAGERS),
    Row("members:registration_review", ok=MANAGERS),
    # A report-in's page with its history (Registration.visible_to): the community's places,
    # the member's office; side A's is another member's than the member role's own.
    Row("members:registration_detail", obj="registration", methods=("get",), ok=ALL_STAFF,
        denied=404),
    Row("members:registration_approve", obj="registration", methods=("post",), ok=MANAGERS),
    Row("members:registration_return", obj="registration", ok=MANAGERS),
    Row("members:report_in_poster", ok=MANAGERS),
    Row("members:report_in_poster_svg", ok=MANAGERS),
    Row("members:report_in", ok=MEMBER, city=False),
    Row("members:report_in_community", obj="community", ok=MEMBER, city=False,
        everywhere=MEMBER),
    Row("members:report_in_withdraw", obj="own_registration", methods=("post",), ok=MEMBER,
        city=False),
    # The agency's roster (can_keep_roster): the office alone.
    Row("roster:list", ok=OFFICE, city=False),
    Row("roster:member_add", ok=OFFICE, city=False),
    Row("roster:member_edit", obj="member", ok=OFFICE, city=False),
    Row("roster:member_leave", obj="member", ok=OFFICE, city=False),
    Row("roster:member_rejoin", obj="member", methods=("post",), ok=OFFICE, city=False),
    Row("roster:activation_send", obj="member", methods=("post",), ok=OFFICE, city=False),
    Row("roster:activation_slip", obj="member", methods=("post",), ok=OFFICE, city=False),
    Row("roster:activation_revoke", obj="member", methods=("post",), ok=OFFICE, city=False),
    Row("roster:import", ok=OFFICE, city=False),
    Row("roster:import_preview", ok=OFFICE, city=False),
    Row("roster:import_template", ok=OFFICE, city=False),
    Row("reports:roster_member", obj="member", ok=OFFICE, city=False),
    Row("reports:roster_export", ok=OFFICE, city=False),
    # Exports and their log, attendance review and report: the office's.
    Row("reports:export_log", methods=("get",), ok=OFFICE, city=False),
    Row("reports:export_job", obj="export_job", methods=("get",), ok=OFFICE, city=False),
    Row("reports:export_download", obj="export_job", methods=("get",), ok=OFFICE, city=False),
    Row("reports:review", methods=("get",), ok=OFFICE, city=False),
    Row("reports:review_confirm", methods=("post",), ok=OFFICE, city=False),
    Row("reports:review_record", obj="record", ok=OFFICE, city=False),
    Row("reports:records_export", methods=("get",), ok=OFFICE, city=False),
    Row("reports:attendance", methods=("get",), ok=OFFICE, city=False),
    Row("reports:attendance_export", methods=("get",), ok=OFFICE, city=False),
    # Annual evaluation: rated by the community's staff (can_evaluate), not the city.
    Row("reports:evaluations", ok=MANAGERS, city=False),
    Row("reports:evaluation_member", obj="member", ok=MANAGERS, city=False),
    Row("reports:objection_answer", obj="objection", ok=MANAGERS, city=False),
    Row("reports:objection_raise", obj="evaluation", methods=("post",), ok=MEMBER, city=False),
    Row("reports:evaluations_mine", methods=("get",), ok=MEMBER, city=False),
    Row("reports:agency_evaluations", methods=("get",), ok=OFFICE, city=False),
    Row("reports:summary_agency", methods=("get",), ok=OFFICE, city=False),
    # A member's summary: their office's and their own; nobody else finds the member.
    Row("reports:summary_member", obj="member", methods=("get",), ok=OFFICE | MEMBER,
        denied=404),
    # Charts (chart_lenses) and overviews.
    Row("reports:charts", methods=("get",), ok=ALL_STAFF),
    Row("reports:overview_street", methods=("get",), ok=frozenset({"street"})),
    Row("reports:overview_city", methods=("get",)),
    # A member's own pages (与我相关).
    Row("reports:my_record", ok=MEMBER, city=False),
    Row("reports:my_contact", ok=MEMBER, city=False),
    Row("reports:my_calendar", ok=MEMBER, city=False),
    Row("reports:my_data_json", methods=("post",), ok=MEMBER, city=False),
    Row("reports:my_data_csv", methods=("post",), ok=MEMBER, city=False),
    # Service-hour certificates: a member's own, the office's for its roster; anyone verifies.
    Row("reports:my_certificate", ok=MEMBER, city=False),
    Row("reports:roster_certificate", obj="member", ok=OFFICE, city=False),
    Row("reports:certificate_pdf", obj="certificate", methods=("get",), ok=OFFICE | MEMBER,
        city=False, denied=404),
    Row("reports:certificate_verify", methods=("get",), anonymous=OK, ok=EVERYONE),
]
# fmt: on
BY_NAME = {row.name: row for row in MATRIX}
ADMIN = "admin:*"


def url_pattern_names(resolver=None, namespace=""):
    """Every named pattern of the URL conf, the admin's as the one class ADMIN; a pattern
    without a name is reported by its route."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                yield ADMIN
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_pattern_names(entry, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else f"<unnamed {entry.pattern}>"


def expected(row: Row, role: str, side: str | None, method: str) -> str | int:
    """What `role` gets from `row`'s URL with `side`'s object (None: a URL without one)."""
    if method not in row.methods:
        return LOGIN if role == "anonymous" and row.anonymous == LOGIN else 405
    answer = row.special.get((role, side))
    if answer is not None:
        return answer[method] if isinstance(answer, dict) else answer
    if role == "anonymous":
        return row.anonymous
    base = md.base_of(role)
    denied = row.denied or (403 if side is None else REFUSED)
    if role == "city":
        return OK if row.city else denied
    allowed = row.post_ok if method == "post" and row.post_ok is not None else row.ok
    if base not in allowed:
        return denied
    if side is not None and md.side_of(role) != side and base not in row.everywhere:
        return row.outside
    return OK


def outcome(response) -> str | int:
    status = response.status_code
    if status in (301, 302, 303):
        return LOGIN if re.search(r"/(admin/)?login/", response["Location"]) else OK
    if status == 200 or status == 400:  # 400: the empty POST a form refuses
        return OK
    return status


def same(expected_answer, got) -> bool:
    if expected_answer == REFUSED:
        return got in (403, 404)
    return got == expected_answer


@pytest.fixture(scope="module")
def d(django_db_setup, django_db_blocker):
    yield from md.rows_and_clients(django_db_blocker)


@pytest.fixture
def clients(d, db):
    return d.clients


def token_of(client) -> str:
    cookie = client.cookies.get("csrftoken")
    assert cookie is not None and cookie.value, "no CSRF cookie for the client"
    return cookie.value


def url_of(d, row: Row, side: str | None) -> str:
    if row.obj is None:
        return reverse(row.name)
    if isinstance(row.obj, tuple):
        return reverse(row.name, args=row.obj)
    if row.obj == "check_in":
        activity = (d.a if side == "A" else d.b).past
        return reverse(row.name, args=[activity.pk, "forged-token"])
    return reverse(row.name, args=[getattr(d.a if side == "A" else d.b, row.obj).pk])


def sides(row: Row):
    return ("A", "B") if row.obj is not None and not isinstance(row.obj, tuple) else (None,)


WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)
# Not records: sessions (a page marks its session seen, at most once a minute) and lockouts.
NOT_RECORDS = ("django_session", "members_signedinsession", "axes_")


def send(d, client, method, url):
    """The request inside a savepoint that is rolled back; (response, the project's tables it
    changed). The tables are compared with their checksum only when the request wrote."""
    cache.clear()  # the doors' counts of tries
    cookies = copy.deepcopy(client.cookies)  # a sign-out or a language leaves no trace
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        if method == "post":
            response = client.post(url, {"csrfmiddlewaretoken": token_of(client)})
        else:
            response = client.get(url)
        wrote = [
            q["sql"]
            for q in queries.captured_queries
            if WRITE.match(q["sql"]) and not any(t in q["sql"] for t in NOT_RECORDS)
        ]
        changed = md.changed_tables(d.rows, md.checksum()) if wrote else []
        transaction.set_rollback(True)
    client.cookies = cookies
    return response, changed


def test_every_url_pattern_is_in_the_matrix():
    names = set(url_pattern_names())
    missing = sorted(names - set(BY_NAME) - {ADMIN})
    assert missing == [], f"URL patterns missing from the role matrix: {missing}"
    assert sorted(set(BY_NAME) - names) == [], "matrix lines for URLs that no longer exist"
    assert len(BY_NAME) == len(MATRIX), "a URL has two lines in the matrix"


def test_a_role_matrix_line_for_a_new_url_is_required(settings):
    """The walk of the URL conf finds a pattern added anywhere (here a nested include)."""
    from django.urls import include, path

    from xiachen import urls

    nested = [path("x/", include(([path("y/", lambda r: None, name="new_page")], "newapp")))]
    module = type("URLConf", (), {"urlpatterns": urls.urlpatterns + nested})
    assert "newapp:new_page" in set(url_pattern_names(get_resolver(module)))
    assert "newapp:new_page" not in BY_NAME


@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
def test_role_matrix(row, d, clients):
    """Every role's answer by GET and by POST (own CSRF token), and no row written by a
    refused POST."""
    failures = []
    for side in sides(row):
        url = url_of(d, row, side)
        for method in ("get", "post"):
            roles = md.ROLES
            if method not in row.methods:
                # Refused before any view code runs: one signed-in role and the visitor say so.
                roles = ("anonymous", "office")
            for role in roles:
                want = expected(row, role, side, method)
                response, changed = send(d, clients[role], method, url)
                got = outcome(response)
                if not same(want, got):
                    failures.append(f"{role} {method.upper()} {url}: {got}, expected {want}")
                elif want != OK and changed and not row.writes_own:
                    failures.append(f"{role} {method.upper()} {url} refused but wrote {changed}")
    assert not failures, "\n".join(failures)


def test_the_admin_is_closed_to_everyone_but_its_administrators(d, clients):
    """The admin is one class: its index and every model's list send any non-staff login,
    whatever its role, and the visitor to the admin's sign-in."""
    urls = [reverse("admin:index")] + [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]
    failures = []
    for role in md.ROLES:
        assert d.users[role] is None or not d.users[role].is_staff
        for url in urls if role in ("anonymous", "city", "office") else urls[:1]:
            response = clients[role].get(url)
            if response.status_code != 302 or "/admin/login/" not in response["Location"]:
                failures.append(f"{role} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


# The names of each side's members, which no page of the other side's office or members shows.
NAMES = {
    "A": lambda d: [d.a.member.name, d.world.sanxia_member_2.name],
    "B": lambda d: [d.b.member.name, d.b.member_2.name],
}


def test_no_page_of_an_office_or_a_member_shows_another_agencys_members(d, clients):
    """Every page an agency office or a member opens (lists, boards, door lists, report-ins,
    rota, review, reports, exports, ...) holds no name of the other agency's members."""
    failures = []
    checked = 0
    for row in MATRIX:
        if "get" not in row.methods:
            continue
        for role in ("office", "member", "other_office", "other_member"):
            foreign = NAMES["B" if md.side_of(role) == "A" else "A"](d)
            for side in sides(row):
                if expected(row, role, side, "get") != OK:
                    continue
                url = url_of(d, row, side)
                # Also with the filters naming the other side's agency, community, member...
                for query in ("", foreign_filters(d, "B" if md.side_of(role) == "A" else "A")):
                    response, _changed = send(d, clients[role], "get", url + query)
                    if response.status_code != 200:
                        continue
                    body = _text_of(response)
                    checked += 1
                    shown = [name for name in foreign if name in body]
                    if shown:
                        failures.append(f"{role} {url}{query}: shows {shown}")
    assert checked > 40  # the walk found the pages
    assert not failures, "\n".join(failures)


def foreign_filters(d, side: str) -> str:
    """A query naming `side`'s objects in every filter the pages read: what a viewer could type
    to look past their scope ("whatever the URL says")."""
    other = d.a if side == "A" else d.b
    ids = {
        "agency": other.agency.pk,
        "community": other.community.pk,
        "street": other.community.street_id,
        "grid": other.community.grids.values_list("pk", flat=True).first(),
        "member": other.member.pk,
        "activity": other.past.pk,
        "agreement": other.agreement.pk,
        "full": "1",
        "period": "year",
    }
    return "?" + "&".join(f"{key}={value}" for key, value in ids.items())


def _text_of(response) -> str:
    """The page's text; a workbook's cells."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content[:2] == b"PK":
        import io

        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True)
        except Exception:  # not a workbook (a zip of another kind)
            return content.decode("latin-1")
        return " ".join(
            str(cell)
            for sheet in book.worksheets
            for line in sheet.iter_rows(values_only=True)
            for cell in line
            if cell is not None
        )
    return content.decode("utf-8", errors="replace")


def test_a_write_by_a_request_is_seen_and_named(d, db):
    """The no-row-changed check: a request that writes is caught by its statements and named
    by the table whose checksum changed."""
    from members.models import Member

    class Writes:
        def post(self, url, data):
            Member.objects.filter(pk=d.a.member.pk).update(position="改过")
            return type("Response", (), {"status_code": 403})()

    writer = Writes()
    writer.cookies = copy.deepcopy(d.clients["office"].cookies)
    _response, changed = send(d, writer, "post", "/")
    assert changed == ["members_member"]
    assert Member.objects.get(pk=d.a.member.pk).position != "改过"  # rolled back
