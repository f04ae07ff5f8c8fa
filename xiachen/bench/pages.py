"""Every page of every demo account: which pages there are, their queries and their time.

The pages come from the URL conf, the objects they show from the demo: `plan` runs on a
database holding only the demo, where the objects a page shows are the demo's, and gives each
page a fixed URL. The city database is seeded around the same demo (loaded first, so its rows
keep their ids), so the same URLs show the same objects there; `walk` visits them on either
database and `compare` holds the query counts side by side.
"""

import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from django.db.models import Count
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from activities.models import (
    Activity,
    CallOut,
    CallOutAnswer,
    Concern,
    DoorToDoorUnit,
    Need,
    Participation,
)
from activities.models.callouts import answer_token
from activities.services.review import records_managed_by, reviewable_by
from activities.views.rota import rota_agreements_of
from communities.models import Agreement, Community
from communities.permissions import evaluation_community_ids
from members.models import Member, Registration, member_of
from members.two_factor import pass_second_factor
from notifications.models import Notification
from reports.models import Certificate, Evaluation, EvaluationObjection, ExportJob
from reports.services import rateable_members

from .measure import Line, count_queries, median_time, ms

DEMO_YAML = Path(settings.BASE_DIR) / "xiachen" / "demo" / "demo.yaml"
MAX_QUERIES = 15
PAGE_TARGET = 0.050
ADMIN_TARGET = 0.200
# A download is a file built from a whole list, not a page to read: issue 9 gives the largest
# agency's yearly workbook 10 s at city size. An export of more than EXPORT_SYNC_MAX_ROWS rows
# is written by a worker (its own line: xiachen/bench/exports.py); the walk builds every export
# in the request, whatever its size, so that the demo's and the city's answers compare.
EXPORT_TARGET = 10.0
EXPORTS = {
    "reports:roster_export",
    "reports:records_export",
    "reports:attendance_export",
    "reports:rota_export",
}
# The attendance report aggregates every record of an office's members (issue 9: p95 ≤ 300 ms
# for the largest agency's year; xiachen/bench/attendance.py times that one).
REPORTS = {"reports:attendance"}
REPORT_TARGET = 0.300


def target_of(admin: bool, name: str) -> float:
    if name in EXPORTS:
        return EXPORT_TARGET
    if name in REPORTS:
        return REPORT_TARGET
    return ADMIN_TARGET if admin else PAGE_TARGET


# The admin changelists the issue times; the others are walked for their queries.
TIMED_CHANGELISTS = {
    "activities_participation",
    "members_member",
    "activities_activity",
    "notifications_notification",
}
# Lists with pages: each is walked at its first page and at its deepest (a page number past
# the end is the last page, Paginator.get_page).
PAGINATED = {
    "activities:activity_list",
    "activities:work_update_list",
    "activities:concern_list",
    "activities:door_units",
    "members:member_list",
    "members:registration_review",
    "roster:list",
    "notifications:inbox",
    "notifications:outbox",
    "reports:review",
    "reports:export_log",
    "reports:attendance",
    "activities:dispute_list",
    "activities:open_activities",
    "activities:leave_request_list",
    "reports:overview_street",
    "reports:overview_city",
    "activities:rota",
    "reports:evaluations",
    "reports:agency_evaluations",
}
DEEPEST = "?page=999999"
# Not pages of a role: signing in and out, the language switch (POST), the health check.
# The activation page is public and opened by a one-time token, never by a signed-in account.
NOT_ROLE_PAGES = {
    "login",
    "logout",
    "set_language",
    "healthz",
    "members:activate",
    # A forgotten password's pages, for anyone signed out (the link's page by its token).
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    # A member's calendar address, opened by its token by the phone's calendar.
    "reports:calendar_feed",
    # The check-in link an activity's QR code holds, opened by its signed token.
    "activities:check_in",
    # Where browsers post the Content Security Policy's reports (POST only).
    "csp_report",
    # The second factor's steps, for a session that has not passed it yet (the walk's sessions
    # have), and new recovery codes (a POST).
    "two_factor:verify",
    "two_factor:enrol",
    "two_factor:recovery_codes_regenerate",
}


def accounts() -> list[str]:
    """The demo accounts, as the README's table lists them (demo.yaml's `accounts`)."""
    return [account["username"] for account in yaml.safe_load(DEMO_YAML.read_text())["accounts"]]


def _busiest_activity(user):
    """The activity with the most people the account sees: the demo's theme party day (the
    ~40-person activity) for those who see it."""
    return (
        Activity.objects.visible_to(user)
        .annotate(people=Count("participations"))
        .order_by("-people", "pk")
        .first()
    )


def _door_round(user):
    return (
        Activity.objects.visible_to(user)
        .annotate(units=Count("door_units"))
        .filter(units__gt=0)
        .order_by("-units", "pk")
        .first()
    ) or _busiest_activity(user)


def _record(review, managed=False):
    """The first record in a review state that the account reviews (an agency office) or, with
    `managed`, whose community it works for."""

    def choose(user):
        records = records_managed_by(user) if managed else reviewable_by(user)
        return records.filter(review=review).order_by("pk").first()

    return choose


def _to_join(user):
    """The soonest coming activity the account sees: one a member signs up to (the sign-up and
    cancel POSTs; a GET answers 405, so they are listed, not walked)."""
    return (
        Activity.objects.visible_to(user)
        .filter(starts_at__gt=timezone.now())
        .order_by("starts_at", "pk")
        .first()
    )


def _to_ask_leave(user):
    """The soonest coming activity the account (a member) holds a seat on and has not asked
    leave from: its leave page answers 200 (the request and withdrawal POSTs are listed)."""
    member = member_of(user)
    if member is None:
        return None
    return (
        Activity.objects.visible_to(user)
        .filter(
            starts_at__gt=timezone.now(),
            participations__member=member,
            participations__status=Participation.Status.SIGNED_UP,
            participations__leave_decision="",
        )
        .order_by("starts_at", "pk")
        .first()
    )


def _leave_request(user):
    """The first leave request awaiting the account's decision (the decision POST: listed)."""
    return records_managed_by(user).leave_requests().order_by("pk").first()


def _own_call_answer(user):
    """The account's own answer to its latest call-out (a member called): the page its message's
    signed link opens, signed in or not (walked signed in, as the account)."""
    member = member_of(user)
    if member is None:
        return None
    return CallOutAnswer.objects.filter(member=member).order_by("-call__created_at", "-pk").first()


def _first(model):
    return lambda user: model.objects.visible_to(user).order_by("pk").first()


def _rota(user):
    """The first agreement whose duty rota the account sees (its agency's or community's)."""
    return rota_agreements_of(user).order_by("pk").first()


def _export_job(user):
    return ExportJob.objects.of(user).order_by("pk").first()


def _on_roster(user):
    """The first member of the account's roster (an agency office's), else one it sees."""
    return Member.objects.on_roster_of(user).order_by("pk").first() or _first(Member)(user)


def _rateable(user):
    """The first member, by name, of the community whose members the account rates (the first
    of its communities by name, as the evaluation page opens)."""
    community_ids = evaluation_community_ids(user)
    if not community_ids:
        return None
    community = Community.objects.filter(pk__in=community_ids).order_by("name", "pk").first()
    return rateable_members(community).order_by("name", "pk").first()


# Pages whose argument is a signed token of their object rather than its id.
TOKENS = {"activities:callout_answer": lambda answer: answer_token(answer.pk)}

# Which demo object each page with an id shows, chosen among those the account sees. A page
# added to the URL conf without its line here fails the bench until it has one.
OBJECTS = {
    "activities:activity_detail": _busiest_activity,
    "activities:activity_edit": _busiest_activity,
    "activities:activity_cancel": _busiest_activity,
    "activities:activity_copy": _busiest_activity,
    "activities:roll_call": _busiest_activity,
    "activities:roll_call_search": _busiest_activity,
    "activities:attendance_board": _busiest_activity,
    "activities:check_in_code": _busiest_activity,
    "activities:sign_up": _to_join,
    "activities:sign_up_cancel": _to_join,
    "activities:leave_request": _to_ask_leave,
    "activities:leave_withdraw": _to_join,
    "activities:leave_decide": _leave_request,
    "activities:door_units": _door_round,
    "activities:door_assignees": _door_round,
    "activities:door_unit_record": _first(DoorToDoorUnit),
    "activities:door_unit_remove": _first(DoorToDoorUnit),
    "activities:concern_detail": _first(Concern),
    "activities:need_detail": _first(Need),
    "activities:callout_detail": _first(CallOut),
    "activities:callout_cancel": _first(CallOut),
    "activities:callout_send_more": _first(CallOut),
    "activities:callout_answer": _own_call_answer,
    "members:member_grid": _first(Registration),  # the report-in placed in a grid
    "roster:member_edit": _on_roster,
    "roster:member_leave": _on_roster,
    "roster:member_rejoin": _on_roster,
    "roster:activation_send": _on_roster,
    "roster:activation_slip": _on_roster,
    "roster:activation_revoke": _on_roster,
    "reports:roster_member": _on_roster,
    "reports:roster_certificate": _on_roster,
    "reports:certificate_pdf": lambda user: (
        Certificate.objects.visible_to(user).order_by("pk").first()
    ),
    "activities:rota_month": _rota,
    "activities:rota_day": _rota,
    "activities:rota_fill": _rota,
    "activities:rota_clear": _rota,
    "reports:rota_export": _rota,
    "reports:export_job": _export_job,
    "reports:export_download": _export_job,
    "members:registration_approve": _first(Registration),
    "members:registration_return": _first(Registration),
    "members:report_in_community": _first(Community),
    "members:report_in_withdraw": _first(Registration),
    "notifications:inbox_read": _first(Notification),
    "notifications:outbox_retry": _first(Notification),
    "reports:review_record": _record("disputed"),
    "reports:evaluation_member": _rateable,
    "reports:objection_raise": _first(Evaluation),
    "reports:objection_answer": _first(EvaluationObjection),
    "reports:summary_member": _on_roster,
    "activities:dispute_answer": _record("disputed", managed=True),
    "activities:participation_backfill": _record("confirmed", managed=True),
    "activities:participation_detail": _first(Participation),
    "members:registration_detail": _first(Registration),
    "communities:agreement_detail": _first(Agreement),
    "communities:agreement_scan": lambda user: (
        Agreement.objects.visible_to(user).exclude(scan="").order_by("pk").first()
        or _first(Agreement)(user)
    ),
}


@dataclass
class Page:
    username: str
    name: str
    url: str
    admin: bool = False
    label: str = ""  # what the object is, to check the city shows the same one

    @classmethod
    def of(cls, row: dict) -> "Page":
        """The page of a row `walk` wrote."""
        return cls(**{name: row[name] for name in ("username", "name", "url", "admin", "label")})

    @property
    def timed(self) -> bool:
        if not self.admin:
            return True
        return any(self.name == f"admin:{model}_changelist" for model in TIMED_CHANGELISTS)

    @property
    def target(self) -> float:
        return target_of(self.admin, self.name)


# Issue 8's load target is "a mixed workload of the pages above": the workspace pages its page
# target names — the dashboard of each role, the activity list (first and deepest page), the
# week view, an activity with its roll call and board, concerns, work updates, members,
# report-ins, door-to-door, inbox, outbox — and the admin changelists it times. The load
# section runs that mix for the target, and every page of every role besides (the reports,
# charts, certificates' PDFs and posters' SVGs that later issues added), for its p95 and errors.
WORKSPACE = {
    "reports:dashboard",
    "activities:activity_list",
    "activities:activity_week",
    "activities:activity_detail",
    "activities:roll_call",
    "activities:attendance_board",
    "activities:concern_list",
    "activities:work_update_list",
    "members:member_list",
    "members:registration_review",
    "activities:door_units",
    "notifications:inbox",
    "notifications:outbox",
    *(f"admin:{model}_changelist" for model in TIMED_CHANGELISTS),
}


def workload(rows, names=None) -> dict[str, list[str]]:
    """The load test's pages of each account: the timed pages walked (those named in `names`,
    when given), less the downloads (a workbook of a whole roster is not a page people read,
    and its seconds would be most of the mix)."""
    by_account: dict[str, list[str]] = {}
    for row in rows:
        page = Page.of(row)
        if page.timed and page.name not in EXPORTS and (names is None or page.name in names):
            by_account.setdefault(page.username, []).append(page.url)
    return by_account


def url_names(resolver=None, namespace=""):
    """(name, converters) of every named pattern outside the admin, from the URL conf."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin" or entry.app_name == "admin":
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            converters = getattr(entry.pattern, "converters", {})
            yield f"{namespace}{entry.name}", tuple(sorted(converters))


class UnknownPage(Exception):
    """A page with an id that OBJECTS does not say how to choose."""


def plan(usernames=None) -> tuple[list[Page], list[str]]:
    """The pages of each account that answer 200 on this (the demo) database, and the names of
    pages with an id the bench cannot fill (each a failure)."""
    User = get_user_model()
    pages, unknown = [], []
    names = sorted(set(url_names()))
    for username in usernames or accounts():
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        pass_second_factor(client, user)  # as the code page would, for the roles that need it
        candidates = []
        for name, args in names:
            if name in NOT_ROLE_PAGES:
                continue
            label = ""
            if args:
                if name not in OBJECTS:
                    unknown.append(name)
                    continue
                obj = OBJECTS[name](user)
                if obj is None:
                    continue
                arg = TOKENS[name](obj) if name in TOKENS else obj.pk
                url, label = reverse(name, args=[arg]), _object_label(obj)
            else:
                url = reverse(name)
            candidates.append(Page(username, name, url, label=label))
            if name in PAGINATED:
                candidates.append(Page(username, name, url + DEEPEST, label=label))
        if user.is_staff:
            candidates.append(Page(username, "admin:index", reverse("admin:index"), admin=True))
            for model in admin.site._registry:
                name = f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
                candidates.append(Page(username, name, reverse(name), admin=True))
        pages += [page for page in candidates if _built_here(client, page.url).status_code == 200]
        client.logout()
    return pages, sorted(set(unknown))


def _object_label(obj) -> str:
    return f"{obj._meta.label} {obj.pk}: {obj}"


def _same_object(page: Page) -> bool:
    """Whether the page's object is on this database what it was on the demo's (same id, same
    name): the city must be seeded around the demo, loaded first."""
    if not page.label:
        return True
    model_label, rest = page.label.split(" ", 1)
    pk = rest.split(":", 1)[0]
    obj = apps.get_model(model_label).objects.filter(pk=pk).first()
    return obj is not None and _object_label(obj) == page.label


def _get(client, url, timeout):
    """(status, queries, seconds) of one request; status "timeout" when the database cancelled
    a statement after `timeout` seconds (PostgreSQL's statement_timeout, set for the walk)."""
    begin = time.perf_counter()
    try:
        with override_settings(EXPORT_SYNC_MAX_ROWS=sys.maxsize):
            response, queries = count_queries(lambda: client.get(url))
    except OperationalError as exc:
        if "statement timeout" not in str(exc):
            return f"error: {exc}", None, time.perf_counter() - begin
        return "timeout", None, time.perf_counter() - begin
    except Exception as exc:  # a page that fails is a failed line, not a stopped bench
        return f"error: {type(exc).__name__}: {exc}", None, time.perf_counter() - begin
    return response.status_code, queries, time.perf_counter() - begin


def _built_here(client, url):
    """The page, an export built in the request whatever its size (EXPORTS)."""
    with override_settings(EXPORT_SYNC_MAX_ROWS=sys.maxsize):
        return client.get(url)


@contextmanager
def statement_timeout(seconds):
    """Every statement of the block cancelled after `seconds` (PostgreSQL; None: no limit),
    on this connection and on any the requests open anew."""
    if not seconds or connection.vendor != "postgresql":
        yield
        return
    sql = f"SET statement_timeout = {int(seconds * 1000)}"

    def on_connect(sender, connection, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute(sql)

    connection_created.connect(on_connect)
    with connection.cursor() as cursor:
        cursor.execute(sql)
    try:
        yield
    finally:
        connection_created.disconnect(on_connect)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")


def walk(pages, *, timing=False, repeat=5, budget=3.0, warm=True, timeout=None) -> list[dict]:
    """Visits each page as its account: status, queries of a warm request (the second: the
    first fills the per-process caches; `warm=False` when `plan` just opened it), and with
    `timing` the median time of up to `repeat` requests, that one included. A page whose first
    request takes over a second is measured on that request alone; one cancelled after
    `timeout` seconds has status "timeout"."""
    User = get_user_model()
    clients = {}
    rows = []
    with statement_timeout(timeout):
        for page in pages:
            if page.username not in clients:
                clients[page.username] = Client()
                user = User.objects.get(username=page.username)
                clients[page.username].force_login(user)
                pass_second_factor(clients[page.username], user)
            client = clients[page.username]
            status, queries, first = None, None, None
            if warm:
                status, queries, first = _get(client, page.url, timeout)
            if first is None or (first <= 1 and status == 200):
                status, queries, first = _get(client, page.url, timeout)
            row = {**asdict(page), "status": status, "queries": queries}
            row["same_object"] = _same_object(page)
            if timing and page.timed and status == 200:
                row["time"], row["samples"] = median_time(
                    lambda: _built_here(client, page.url),  # noqa: B023
                    repeat=repeat,
                    budget=budget,
                    times=[first],
                )
            elif status == "timeout":
                row["time"], row["samples"] = first, 1
            rows.append(row)
    for client in clients.values():
        client.logout()  # the sessions signed in for the walk go with it
    return rows


def compare(demo_rows, city_rows, *, judge_time: bool) -> list[Line]:
    """The lines of the page targets: the same queries at demo and city size (at most
    MAX_QUERIES), and each timed page's median."""
    lines = []
    city = {(row["username"], row["url"]): row for row in city_rows}
    for demo in demo_rows:
        key = (demo["username"], demo["url"])
        name = f"{demo['username']} {demo['url']}"
        row = city.get(key)
        if row is None or row["status"] != 200 or not row["same_object"]:
            found = f"status {row['status']}" if row else "not walked"
            if row and row["status"] == "timeout":
                found = f"cancelled after {row['time']:.1f} s"
            if row and not row["same_object"]:
                found = f"not the demo's {demo['label']}"
            lines.append(Line("queries", name, f"{found} in the city", "200, same object", False))
            continue
        same = demo["queries"] == row["queries"]
        lines.append(
            Line(
                "queries",
                name,
                f"demo {demo['queries']}, city {row['queries']}",
                f"equal, ≤ {MAX_QUERIES}",
                same and row["queries"] <= MAX_QUERIES,
                note=""
                if same
                else ("more" if row["queries"] > demo["queries"] else "fewer") + " in the city",
            )
        )
    for row in city_rows:
        if "time" in row:
            target = target_of(row["admin"], row["name"])
            lines.append(
                Line(
                    "time",
                    f"{row['username']} {row['url']}",
                    f"{ms(row['time'])} (median of {row['samples']})",
                    f"≤ {ms(target)}",
                    row["time"] <= target,
                    judged=judge_time,
                )
            )
    return lines
