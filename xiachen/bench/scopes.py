"""Every `visible_to` scope, counted, beside a hand-written SQL reference of the same rows.

Each reference is written from the scope rules (communities/permissions.py and each model's
`visible_to`) with the viewer's scope ids: one SELECT of ids per rule, joined by UNION, so that
each rule costs what its own index costs. The SQL is standard (IN lists, UNION), so that the
tests can hold it against `visible_to` on SQLite too. A model with `visible_to` but no reference
here fails the bench until it has one.
"""

import statistics
import time
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from communities.permissions import scope_of

from .measure import Line, ms

SCOPE_TARGET = 0.100
RATIO_TARGET = 3.0


def _in(ids) -> tuple[str, list]:
    ids = sorted(ids)
    return "(" + ", ".join(["%s"] * len(ids)) + ")", ids


class Rules:
    """Collects the rules of one scope: `rule(sql, ids)` keeps a rule whose ids are not empty
    (an empty scope matches nothing, as permissions.any_of says), with `{ids}` in `sql` standing
    for the list; `user(sql)` a rule on the viewer's own login, with `{user}`."""

    def __init__(self, scope):
        self.scope = scope
        self.parts: list[tuple[str, list]] = []

    def rule(self, sql: str, ids) -> None:
        if ids:
            placeholders, params = _in(ids)
            self.parts.append((sql.replace("{ids}", placeholders), params))

    def user(self, sql: str) -> None:
        if self.scope.user_id is not None:
            self.parts.append((sql.replace("{user}", "%s"), [self.scope.user_id]))

    def union(self) -> tuple[str, list]:
        if not self.parts:
            return "SELECT NULL AS id WHERE 1 = 0", []
        params = [p for _, ps in self.parts for p in ps]
        if len(self.parts) == 1:
            # UNION removes the duplicates a join to many rows makes; alone, DISTINCT does.
            return "SELECT DISTINCT " + self.parts[0][0].removeprefix("SELECT "), params
        return " UNION ".join(sql for sql, _ in self.parts), params


# The ids of each model's visible rows, for a scope that is not the city's.


def streets(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule("SELECT id FROM communities_street WHERE id IN {ids}", s)
    r.rule("SELECT street_id FROM communities_community WHERE id IN {ids}", c)
    r.rule(
        "SELECT c.street_id FROM communities_community c JOIN communities_agreement g"
        " ON g.community_id = c.id WHERE g.agency_id IN {ids}",
        a,
    )
    r.rule(
        "SELECT c.street_id FROM communities_community c JOIN members_registration r"
        " ON r.community_id = c.id JOIN members_member m ON m.id = r.member_id"
        " WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT c.street_id FROM communities_community c JOIN members_registration r"
        " ON r.community_id = c.id JOIN members_member m ON m.id = r.member_id"
        " WHERE m.user_id = {user}"
    )


def communities(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule("SELECT id FROM communities_community WHERE street_id IN {ids}", s)
    r.rule("SELECT id FROM communities_community WHERE id IN {ids}", c)
    r.rule("SELECT community_id FROM communities_agreement WHERE agency_id IN {ids}", a)
    r.rule(
        "SELECT r.community_id FROM members_registration r JOIN members_member m"
        " ON m.id = r.member_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT r.community_id FROM members_registration r JOIN members_member m"
        " ON m.id = r.member_id WHERE m.user_id = {user}"
    )
    r.user(
        "SELECT g.community_id FROM communities_agreement g JOIN members_member m"
        " ON m.agency_id = g.agency_id WHERE m.user_id = {user}"
    )


def grids(scope, r: Rules):
    inner = Rules(scope)
    communities(scope, inner)
    sql, params = inner.union()
    if inner.parts:
        r.parts.append((f"SELECT id FROM communities_grid WHERE community_id IN ({sql})", params))


def agencies(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule("SELECT id FROM communities_agency WHERE id IN {ids}", a)
    r.rule(
        "SELECT g.agency_id FROM communities_agreement g JOIN communities_community c"
        " ON c.id = g.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT agency_id FROM communities_agreement WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT m.agency_id FROM members_member m JOIN members_registration r"
        " ON r.member_id = m.id JOIN communities_community c ON c.id = r.community_id"
        " WHERE c.street_id IN {ids}",
        s,
    )
    r.rule(
        "SELECT m.agency_id FROM members_member m JOIN members_registration r"
        " ON r.member_id = m.id WHERE r.community_id IN {ids}",
        c,
    )
    r.user("SELECT agency_id FROM members_member WHERE user_id = {user}")


def staff_roles(scope, r: Rules):
    r.user("SELECT id FROM communities_staffrole WHERE user_id = {user}")


def agreements(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT g.id FROM communities_agreement g JOIN communities_community c"
        " ON c.id = g.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM communities_agreement WHERE community_id IN {ids}", c)
    r.rule("SELECT id FROM communities_agreement WHERE agency_id IN {ids}", a)
    r.user(
        "SELECT g.id FROM communities_agreement g JOIN members_member m"
        " ON m.agency_id = g.agency_id WHERE m.user_id = {user}"
    )


def notifications(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.user("SELECT id FROM notifications_notification WHERE recipient_id = {user}")
    r.rule("SELECT id FROM notifications_notification WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT n.id FROM notifications_notification n JOIN communities_community c"
        " ON c.id = n.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM notifications_notification WHERE agency_id IN {ids}", a)


def members(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule("SELECT id FROM members_member WHERE agency_id IN {ids}", a)
    r.rule(
        "SELECT r.member_id FROM members_registration r JOIN communities_community c"
        " ON c.id = r.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT member_id FROM members_registration WHERE community_id IN {ids}", c)
    r.user("SELECT id FROM members_member WHERE user_id = {user}")


def registrations(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT r.id FROM members_registration r JOIN communities_community c"
        " ON c.id = r.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM members_registration WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT r.id FROM members_registration r JOIN members_member m ON m.id = r.member_id"
        " WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT r.id FROM members_registration r JOIN members_member m ON m.id = r.member_id"
        " WHERE m.user_id = {user}"
    )


def activities(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT t.id FROM activities_activity t JOIN communities_community c"
        " ON c.id = t.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM activities_activity WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT t.id FROM activities_activity t JOIN communities_agreement g"
        " ON g.id = t.agreement_id WHERE g.agency_id IN {ids}",
        a,
    )
    r.rule(
        "SELECT p.activity_id FROM activities_participation p JOIN members_member m"
        " ON m.id = p.member_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT p.activity_id FROM activities_participation p JOIN members_member m"
        " ON m.id = p.member_id WHERE m.user_id = {user}"
    )
    r.user(
        "SELECT t.id FROM activities_activity t JOIN members_registration r"
        " ON r.community_id = t.community_id JOIN members_member m ON m.id = r.member_id"
        " WHERE m.user_id = {user}"
    )


def participations(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT p.id FROM activities_participation p JOIN activities_activity t"
        " ON t.id = p.activity_id JOIN communities_community c ON c.id = t.community_id"
        " WHERE c.street_id IN {ids}",
        s,
    )
    r.rule(
        "SELECT p.id FROM activities_participation p JOIN activities_activity t"
        " ON t.id = p.activity_id WHERE t.community_id IN {ids}",
        c,
    )
    r.rule(
        "SELECT p.id FROM activities_participation p JOIN members_member m"
        " ON m.id = p.member_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT p.id FROM activities_participation p JOIN members_member m"
        " ON m.id = p.member_id WHERE m.user_id = {user}"
    )


def work_updates(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT w.id FROM activities_workupdate w JOIN communities_community c"
        " ON c.id = w.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM activities_workupdate WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT w.id FROM activities_workupdate w JOIN members_member m"
        " ON m.user_id = w.author_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user("SELECT id FROM activities_workupdate WHERE author_id = {user}")
    r.user(
        "SELECT w.id FROM activities_workupdate w JOIN members_registration r"
        " ON r.community_id = w.community_id JOIN members_member m ON m.id = r.member_id"
        " WHERE m.user_id = {user}"
    )


def concerns(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT k.id FROM activities_concern k JOIN communities_community c"
        " ON c.id = k.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM activities_concern WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT k.id FROM activities_concern k JOIN members_member m"
        " ON m.user_id = k.reported_by_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user("SELECT id FROM activities_concern WHERE reported_by_id = {user}")


def needs(scope, r: Rules):
    s, c = scope.street_ids, scope.community_ids
    r.rule(
        "SELECT n.id FROM activities_need n JOIN communities_community c"
        " ON c.id = n.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM activities_need WHERE community_id IN {ids}", c)
    r.user(
        "SELECT n.id FROM activities_need n JOIN members_registration r"
        " ON r.community_id = n.community_id JOIN members_member m ON m.id = r.member_id"
        " WHERE m.user_id = {user} AND r.status = 'active' AND m.status <> 'left'"
    )
    r.user(
        "SELECT k.need_id FROM activities_needclaim k JOIN members_member m"
        " ON m.id = k.member_id WHERE m.user_id = {user}"
    )


def call_outs(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT k.id FROM activities_callout k JOIN communities_community c"
        " ON c.id = k.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM activities_callout WHERE community_id IN {ids}", c)
    # Escalated to the offices, where the agency has an agreement in force today.
    today = timezone.localdate().isoformat()
    r.rule(
        "SELECT k.id FROM activities_callout k JOIN communities_agreement g"
        " ON g.community_id = k.community_id WHERE k.escalation_level >= 1"
        f" AND g.status = 'active' AND g.starts_on <= '{today}' AND g.ends_on >= '{today}'"
        " AND g.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT w.call_id FROM activities_calloutanswer w JOIN members_member m"
        " ON m.id = w.member_id WHERE m.user_id = {user}"
    )


def door_units(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT u.id FROM activities_doortodoorunit u JOIN activities_activity t"
        " ON t.id = u.activity_id JOIN communities_community c ON c.id = t.community_id"
        " WHERE c.street_id IN {ids}",
        s,
    )
    r.rule(
        "SELECT u.id FROM activities_doortodoorunit u JOIN activities_activity t"
        " ON t.id = u.activity_id WHERE t.community_id IN {ids}",
        c,
    )
    r.rule(
        "SELECT u.id FROM activities_doortodoorunit u JOIN members_member m"
        " ON m.id = u.member_id WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT u.id FROM activities_doortodoorunit u JOIN members_member m"
        " ON m.id = u.member_id WHERE m.user_id = {user}"
    )


def duty_assignments(scope, r: Rules):
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT d.id FROM activities_dutyassignment d JOIN communities_agreement g"
        " ON g.id = d.agreement_id JOIN communities_community c ON c.id = g.community_id"
        " WHERE c.street_id IN {ids}",
        s,
    )
    r.rule(
        "SELECT d.id FROM activities_dutyassignment d JOIN communities_agreement g"
        " ON g.id = d.agreement_id WHERE g.community_id IN {ids}",
        c,
    )
    r.rule(
        "SELECT d.id FROM activities_dutyassignment d JOIN communities_agreement g"
        " ON g.id = d.agreement_id WHERE g.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT d.id FROM activities_dutyassignment d JOIN members_member m"
        " ON m.id = d.member_id WHERE m.user_id = {user}"
    )


def export_logs(scope, r: Rules):
    # The office's agencies' exports, and the viewer's own of several agencies (no agency).
    r.rule("SELECT id FROM reports_exportlog WHERE agency_id IN {ids}", scope.agency_ids)
    r.user("SELECT id FROM reports_exportlog WHERE agency_id IS NULL AND user_id = {user}")


def evaluations(scope, r: Rules):
    # The ratings of the viewer's communities and street, of their office's agencies' members
    # (whichever community rated them), and their own.
    s, c, a = scope.street_ids, scope.community_ids, scope.agency_ids
    r.rule(
        "SELECT e.id FROM reports_evaluation e JOIN communities_community c"
        " ON c.id = e.community_id WHERE c.street_id IN {ids}",
        s,
    )
    r.rule("SELECT id FROM reports_evaluation WHERE community_id IN {ids}", c)
    r.rule(
        "SELECT e.id FROM reports_evaluation e JOIN members_member m ON m.id = e.member_id"
        " WHERE m.agency_id IN {ids}",
        a,
    )
    r.user(
        "SELECT e.id FROM reports_evaluation e JOIN members_member m ON m.id = e.member_id"
        " WHERE m.user_id = {user}"
    )


def evaluation_objections(scope, r: Rules):
    # The objections to the ratings the viewer sees.
    inner = Rules(scope)
    evaluations(scope, inner)
    sql, params = inner.union()
    if inner.parts:
        r.parts.append(
            (f"SELECT id FROM reports_evaluationobjection WHERE evaluation_id IN ({sql})", params)
        )


def certificates(scope, r: Rules):
    # Service-hour certificates: the holder's own, and those of the office's agencies' members.
    r.rule(
        "SELECT c.id FROM reports_certificate c JOIN members_member m ON m.id = c.member_id"
        " WHERE m.agency_id IN {ids}",
        scope.agency_ids,
    )
    r.user(
        "SELECT c.id FROM reports_certificate c JOIN members_member m ON m.id = c.member_id"
        " WHERE m.user_id = {user}"
    )


# What the city administrator does not read through the pages, whatever it reads elsewhere:
# certificates are their holder's and their office's (the register is in the admin).
NOT_THE_CITYS = {"reports.Certificate"}

REFERENCES = {
    "communities.Street": streets,
    "communities.Community": communities,
    "communities.Grid": grids,
    "communities.Agency": agencies,
    "communities.StaffRole": staff_roles,
    "communities.Agreement": agreements,
    "notifications.Notification": notifications,
    "members.Member": members,
    "members.Registration": registrations,
    "activities.Activity": activities,
    "activities.Participation": participations,
    "activities.WorkUpdate": work_updates,
    "activities.Concern": concerns,
    "activities.Need": needs,
    "activities.CallOut": call_outs,
    "reports.Certificate": certificates,
    "activities.DoorToDoorUnit": door_units,
    "activities.DutyAssignment": duty_assignments,
    "reports.ExportLog": export_logs,
    "reports.Evaluation": evaluations,
    "reports.EvaluationObjection": evaluation_objections,
}


def scoped_models() -> list:
    """Every model whose default manager has `visible_to`."""
    return [
        model
        for model in apps.get_models()
        if callable(getattr(model._default_manager, "visible_to", None))
    ]


def reference_sql(model, user) -> tuple[str, list]:
    """SELECT COUNT(*) of the rows of `model` that `user` sees, by hand."""
    scope = scope_of(user)
    table = model._meta.db_table
    if scope.city and model._meta.label not in NOT_THE_CITYS:
        return f"SELECT COUNT(*) FROM {table}", []
    rules = Rules(scope)
    REFERENCES[model._meta.label](scope, rules)
    sql, params = rules.union()
    return f"SELECT COUNT(*) FROM ({sql}) AS visible", params


def reference_count(model, user) -> int:
    sql, params = reference_sql(model, user)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


class TimedOut(Exception):
    pass


class DatabaseClock:
    """Sums the time a block spends in the database: each statement from the moment Django
    hands it to the driver until the driver returns (the statement run and its rows received),
    through Django's execute wrapper, which both the ORM and a hand-written cursor pass through.
    What is left of the wall time is Python's: building the query and reading its rows."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - begin


@dataclass
class Timing:
    """Median wall time of the calls and median database time (DatabaseClock) of the same
    calls, in seconds."""

    wall: float
    database: float


def _call(function, timeout):
    """(value, wall seconds, database seconds) of one call, under a PostgreSQL statement
    timeout of `timeout` seconds (None: none, or not PostgreSQL); TimedOut when cancelled."""
    with transaction.atomic():
        if timeout and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        clock = DatabaseClock()
        try:
            with transaction.atomic(), connection.execute_wrapper(clock):
                begin = time.perf_counter()
                value = function()
                elapsed = time.perf_counter() - begin
        except Exception as exc:
            if "statement timeout" in str(exc) or "canceling statement" in str(exc):
                raise TimedOut from exc
            raise
    return value, elapsed, clock.seconds


def timed(*functions, timeout: float | None, repeat: int = 7, budget: float = 2.0):
    """[(value, Timing)] of each function, called in turn — the first, the second, …, then the
    first again — so that whatever else the machine does weighs on each alike; `repeat` rounds,
    fewer once the rounds have taken `budget` seconds (at least three, and one only when a call
    takes over a second), after a round left out. Raises TimedOut when the database cancels a
    call."""
    samples = [([], []) for _ in functions]
    values = [None] * len(functions)
    # A first round warms the connection's caches (catalogue, plans of the tables touched) and
    # is left out, unless it is slow enough to be the one sample taken.
    warm = [_call(function, timeout) for function in functions]
    if max(wall for _, wall, _ in warm) > 1:
        return [(value, Timing(wall, database)) for value, wall, database in warm]
    started = time.perf_counter()
    for round_ in range(repeat):
        for i, function in enumerate(functions):
            values[i], wall, database = _call(function, timeout)
            samples[i][0].append(wall)
            samples[i][1].append(database)
        if max(walls[-1] for walls, _ in samples) > 1:
            break
        if round_ >= 2 and time.perf_counter() - started > budget:
            break
    return [
        (value, Timing(statistics.median_low(walls), statistics.median_low(databases)))
        for value, (walls, databases) in zip(values, samples, strict=True)
    ]


def bench(users, *, judge_time: bool, timeout: float | None) -> list:
    """A line per (model, account): the scope's count timed beside its reference's, equal."""
    lines = []
    for model in scoped_models():
        label = model._meta.label
        for user in users:
            name = f"{label} visible_to({user.username})"
            if label not in REFERENCES:
                lines.append(Line("scope", name, "no SQL reference", "a reference", False))
                continue
            manager = model._default_manager
            try:
                (ref_count, ref_time), (count, scope_time) = timed(
                    lambda: reference_count(model, user),  # noqa: B023
                    lambda: manager.visible_to(user).count(),  # noqa: B023
                    timeout=timeout,
                )
            except TimedOut:
                lines.append(
                    Line(
                        "scope",
                        name,
                        f"> {timeout:g} s (the scope or its reference cancelled)",
                        "equal, in time",
                        False,
                    )
                )
                continue
            lines.append(_scope_line(name, count, scope_time, ref_count, ref_time, judge_time))
    return lines


def _scope_line(name, count, scope: Timing, ref_count, ref: Timing, judge_time) -> Line:
    if count != ref_count:
        return Line(
            "scope",
            name,
            f"{count} rows, reference {ref_count}",
            "equal counts",
            False,
            note="the scope and its reference disagree",
        )
    # The ratio holds SQL against SQL: the database time of the statement the scope compiles to
    # beside the reference's. Building the query costs Python about a millisecond whatever the
    # data; it is in the wall time, which the 100 ms target judges.
    ratio = scope.database / ref.database if ref.database else float("inf")
    within = scope.wall <= SCOPE_TARGET and ratio <= RATIO_TARGET
    return Line(
        "scope",
        name,
        f"{count} rows, {ms(scope.wall)} (SQL {ms(scope.database)}) vs reference SQL"
        f" {ms(ref.database)} ({ratio:.1f}×)",
        f"equal, ≤ {ms(SCOPE_TARGET)}, SQL ≤ {RATIO_TARGET:g}× reference",
        within or not judge_time,
        note=untimed_note(within, judge_time),
    )


def untimed_note(within: bool, judge_time: bool) -> str:
    """Below SCALE 1 a line of counts and times is judged on its counts alone."""
    if judge_time:
        return ""
    return "equal; times not judged" + ("" if within else " (would FAIL)")
