"""Who may do what, in one place.

A login's roles (StaffRole rows) become a `Scope`: sets of ids read once per user object. Every
`visible_to(user)` QuerySet method starts from `scope_of(user)`, so an object outside the
viewer's scope is simply not found (404). It ORs its branches with `any_of`, each branch across a
to-many relation a subquery of its own (`via`; `via_ids` where the ids are best read first and
looked up), or unites them with `union_of` where ORed subqueries would test every row, so that a
scope costs the same at demo size and at city size
(tests/communities/test_scopes.py checks every scope for every role).

The questions "may this person do X here?" are the functions below; views, services, templates
(through xiachen's template tags) and the menu ask them, so a change of a role's rights is one
edit here.

This module imports no models: the models import it.
"""

from dataclasses import dataclass, field

from django.db.models import F, Lookup, Q, Subquery, TextChoices
from django.utils.translation import gettext_lazy as _


class RoleKind(TextChoices):
    """The working roles of DESIGN.md ("Who uses it"); members are not a role but a record."""

    CITY_ADMIN = "city_admin", _("City administrator")
    STREET_OFFICER = "street_officer", _("Street officer")
    COMMUNITY_STAFF = "community_staff", _("Community staff")
    GRID_WORKER = "grid_worker", _("Grid worker")
    AGENCY_OFFICE = "agency_office", _("Agency party office")


@dataclass(frozen=True)
class Scope:
    user_id: int | None = None
    city: bool = False
    street_ids: frozenset = field(default_factory=frozenset)
    # The communities of those streets, read with the roles (one query, street officers only):
    # a scope names them `community__in=` rather than `community__street__in=`. ORed with the
    # scope's other branches, the join to the community kept PostgreSQL from combining their
    # indexes (a street officer's outbox counted 37,000 of the city's 200,000 messages by
    # reading them all, 190 ms); ids on the row's own column are read from its index, and
    # PostgreSQL ORs that with the other branches' indexes.
    street_community_ids: frozenset = field(default_factory=frozenset)
    community_ids: frozenset = field(default_factory=frozenset)
    grid_ids: frozenset = field(default_factory=frozenset)
    agency_ids: frozenset = field(default_factory=frozenset)
    kinds: frozenset = field(default_factory=frozenset)
    # The viewer's own member record, read with their roles (alone for a login with none):
    # empty for a login that is not a member; None where nothing was read (then `own` goes
    # through the login instead).
    member_ids: frozenset | None = None

    @property
    def place_community_ids(self) -> frozenset:
        """The communities the viewer works in or oversees through their street: those whose
        rows a scope shows for the place alone."""
        return self.community_ids | self.street_community_ids

    @property
    def is_staff_of_any_place(self):
        return bool(self.city or self.street_ids or self.community_ids or self.agency_ids)


class _ScopeSql:
    """The SQL of scope_of, written once per process from the models reached through the login
    (this module imports none): the roles of a login with their grids and its member record,
    in the columns (kind, street, community, agency, grid, member); and the communities of
    some streets."""

    _made: dict = {}

    def __init__(self, user_model):
        from django.db import connections, router

        role = user_model._meta.get_field("staff_roles").related_model
        grids = role._meta.get_field("grids")
        through = grids.remote_field.through._meta
        member = user_model._meta.get_field("member").related_model._meta
        community = role._meta.get_field("community").related_model._meta
        self.alias = router.db_for_read(role)
        q = connections[self.alias].ops.quote_name

        def column(meta, name):
            return q(meta.get_field(name).column)

        r, t, m = q(role._meta.db_table), q(through.db_table), q(member.db_table)
        rm = role._meta
        self.roles = (
            f"SELECT {r}.{column(rm, 'kind')}, {r}.{column(rm, 'street')}, "
            f"{r}.{column(rm, 'community')}, {r}.{column(rm, 'agency')}, "
            f"{t}.{q(grids.m2m_reverse_name())}, {m}.{q(member.pk.column)} "
            f"FROM {r} "
            f"LEFT OUTER JOIN {t} ON ({r}.{q(rm.pk.column)} = {t}.{q(grids.m2m_column_name())}) "
            f"LEFT OUTER JOIN {m} ON ({r}.{column(rm, 'user')} = {m}.{column(member, 'user')}) "
            f"WHERE {r}.{column(rm, 'user')} = %s "
            # The member record alone too, for a login with no role (a member): its id, where
            # `own` would otherwise join every row's member to find the login's.
            f"UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, {m}.{q(member.pk.column)} "
            f"FROM {m} WHERE {m}.{column(member, 'user')} = %s"
        )
        self._communities = (
            f"SELECT {q(community.pk.column)} FROM {q(community.db_table)} "
            f"WHERE {column(community, 'street')} IN ({{}})"
        )

    @property
    def connection(self):
        from django.db import connections

        return connections[self.alias]  # the thread's own connection

    def street_communities(self, count: int) -> str:
        return self._communities.format(", ".join(["%s"] * count))

    @classmethod
    def of(cls, user) -> "_ScopeSql":
        user_model = user._meta.concrete_model  # request.user is a lazy object
        made = cls._made.get(user_model)
        if made is None:
            made = cls._made[user_model] = cls(user_model)
        return made


def scope_of(user) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return Scope()
    cached = getattr(user, "_xiachen_scope", None)
    if cached is not None:
        return cached
    # One query on every page: the roles with their grids joined (a row per role and grid, one
    # with no grid for a role without), and the member record of the login joined, and alone
    # for a login with no role (no model imported). Its SQL is written once per process
    # (_ScopeSql): built through the ORM, this query cost about 1 ms of CPU on every page,
    # more than the page's own SQL at the database.
    sql = _ScopeSql.of(user)
    with sql.connection.cursor() as cursor:
        cursor.execute(sql.roles, [user.pk, user.pk])
        rows = cursor.fetchall()
    kinds = {row[0] for row in rows if row[0]}

    def ids(column):
        return frozenset(row[column] for row in rows if row[column])

    street_ids = ids(1)
    street_community_ids = frozenset()
    if street_ids:
        with sql.connection.cursor() as cursor:
            cursor.execute(sql.street_communities(len(street_ids)), sorted(street_ids))
            street_community_ids = frozenset(row[0] for row in cursor.fetchall())
    scope = Scope(
        user_id=user.pk,
        city=user.is_superuser or RoleKind.CITY_ADMIN in kinds,
        street_ids=street_ids,
        street_community_ids=street_community_ids,
        community_ids=ids(2),
        grid_ids=ids(4),
        agency_ids=ids(3),
        kinds=frozenset(kinds),
        member_ids=ids(5),
    )
    user._xiachen_scope = scope
    return scope


def scope_read(user) -> Scope | None:
    """The scope `scope_of` already read for this user object, or None: for a question that a
    scope answers for free when it is there, and is not worth a query when it is not."""
    return getattr(user, "_xiachen_scope", None)


def _empty(value) -> bool:
    return value is None or (isinstance(value, (set, frozenset, list, tuple)) and not value)


def any_of(*branches, **lookups) -> Q:
    """OR of the branches that can match; matches nothing when none can.

    A keyword is a lookup on the row itself or along its to-one relations
    (`grid__community__in=scope.community_ids`), never across a to-many relation (participations,
    report-ins, an agency's members): joined into the scope, such a relation multiplies the rows,
    and ORed with the other branches it keeps PostgreSQL from using any index — at city size a
    street officer's count of activities ran for minutes. Each to-many branch is a positional
    `via(...)` instead, a subquery of its own on an indexed column.

    Empty values and dropped branches (None) are left out rather than passed on, because
    `field=None` would mean "IS NULL" and let an anonymous scope match rows without a login."""
    q = Q(pk__in=[])
    for branch in branches:
        if branch is not None:
            q |= branch
    for lookup, value in lookups.items():
        if not _empty(value):  # a QuerySet is kept as it is: testing it would run it
            q |= Q(**{lookup: value})
    return q


def own(scope: Scope, member: str = "member") -> dict:
    """The lookup for the viewer's own rows, `member` being the path from the row to its
    member (`own(scope)` in `any_of` or `via` keywords). Staff are matched by the member id read
    with their roles — usually they have none, so the branch drops out and the scope keeps to
    its indexes instead of testing every participation for "is it the viewer's?"; a login
    without roles (a member) through the login. `member=""`: the row is the member."""
    if scope.member_ids is not None:
        return {f"{member or 'pk'}__in": scope.member_ids}
    return {f"{member}__user" if member else "user": scope.user_id}


def via(lookup: str, rows, *branches, **where) -> Q | None:
    """A branch of a scope as its own subquery: the row's `lookup` (`pk__in`, or a to-one
    column such as `community__in`) among `rows` — a `values()` of the related model's column
    that points back, e.g. `Participation.objects.values("activity")` — where any of the
    branches and `where` lookups holds (as in `any_of`; a branch there may go further along
    another to-many relation through `via` again). None, so `any_of` drops it, when none of
    them can match.

    Every to-many branch is one. So is a to-one branch into a big table (a participation's
    activity or member): ORed joins there make PostgreSQL join every row before filtering,
    while `member_id IN (...)` is read from the row's own indexed column."""
    branches = [branch for branch in branches if branch is not None]
    where = {key: value for key, value in where.items() if not _empty(value)}
    if not branches and not where:
        return None
    rows = rows.filter(any_of(*branches, **where))
    return Q(**{lookup: rows})


class _InArray(Lookup):
    """`lhs = ANY(ARRAY(SELECT ...))` on PostgreSQL, `lhs IN (SELECT ...)` elsewhere: the
    subquery is read once into an array and the ids are looked up in the row's primary key."""

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        template = "%s = ANY(ARRAY%s)" if connection.vendor == "postgresql" else "%s IN %s"
        return template % (lhs, rhs), (*lhs_params, *rhs_params)


def in_array(column: str, rows, *branches, **where) -> Q | None:
    """The row's `column` among the ids `rows` finds (as `via`), read first into an array:
    `column = ANY(ARRAY(SELECT ...))` on PostgreSQL, `IN (SELECT ...)` elsewhere. Unlike a
    subquery, ORed with another such branch it stays an index condition: PostgreSQL ORs the
    two indexes' bitmaps (a BitmapOr), where ORed `IN (SELECT ...)` tested every row of the
    table against a hashed SubPlan each. For branches of a few thousand ids."""
    q = via("pk__in", rows, *branches, **where)
    if q is None:
        return None
    _lookup, subquery = q.children[0]
    return Q(_InArray(F(column), subquery.order_by()))


def via_ids(rows, *branches, **where) -> Q | None:
    """As `via("pk__in", rows, ...)`, for rows found through another table alone (a member
    through their report-ins): the ids are read first and each looked up by the primary key.
    As a subquery PostgreSQL joined them to the whole table: community staff's 4,203 of
    60,000 members were a hash probed by every member (15–25 ms), read first 3–8 ms. The price:
    a query for a few rows (`.filter(pk=...)`) reads all the ids too, where the subquery looked
    up only those rows' — so only for branches of a few thousand ids."""
    return in_array("pk", rows, *branches, **where)


def union_of(rows, *branches, **lookups) -> Q:
    """As `any_of`, with each branch a SELECT of its own: the rows of `rows` (the model's
    manager) that any branch finds, `pk IN (SELECT ... UNION SELECT ...)`. ORed, a subquery
    branch (`id IN (...) OR community_id IN (...)`) makes PostgreSQL test every row of the
    table against each: a member's 1,449 activities among 150,000 took 40 ms, as a union 2 ms,
    each branch read through its own index. A branch may join its to-one relations (a
    participation's activity and community): never ORed with another, the join starts from
    the branch's own index. The one row a page asks for (`pk = %s`) is looked up in each
    branch, not the whole set built. UNION rather than UNION ALL: PostgreSQL knows its rows are
    distinct and counts a big set (an agency office's 61,576 activities, when they were a
    union) with one hash, where it guessed 200 rows for a UNION ALL and looked each up by the
    primary key.

    A single branch is left as it is: there is nothing to OR it with."""
    arms = [branch for branch in branches if branch is not None]
    arms += [Q(**{lookup: value}) for lookup, value in lookups.items() if not _empty(value)]
    if len(arms) <= 1:
        return any_of(*arms)
    first, *others = [_ids_of(rows, arm) for arm in arms]
    # Sorted by id, PostgreSQL can merge the united ids with the table's primary key instead
    # of hashing all of its rows to look them up: an agency office's 61,576 of 150,000
    # activities (a union until activities.AgencyActivity held both its branches) took a hash
    # of the 150,000, merged a fifth to a third less database time. A few ids (a member's, one
    # page's row) are still looked up by the key. Wrapped in Subquery: an `__in` QuerySet would
    # have its ordering dropped (tests/communities/test_scopes.py).
    return Q(pk__in=Subquery(first.union(*others).order_by(first.query.values_select[0])))


def _ids_of(rows, branch: Q):
    """The SELECT of the ids `branch` finds (a `via("pk__in", ...)` already is one), without
    its model's ordering: SQLite allows none in a compound SELECT, and an ordering would keep
    PostgreSQL from looking rows up through each branch."""
    if len(branch.children) == 1 and not branch.negated:
        child = branch.children[0]
        if isinstance(child, tuple) and child[0] == "pk__in" and hasattr(child[1], "query"):
            return child[1].order_by()
    return rows.filter(branch).values("pk").order_by()


# --- A community's work ----------------------------------------------------------------------


def can_manage(user, community) -> bool:
    """Community staff and grid workers of `community` (and city administrators) plan its
    activities, take its roll calls, review its report-ins, list and assign its door-to-door
    units and handle its concerns."""
    scope = scope_of(user)
    return scope.city or community.pk in scope.community_ids


def oversees(user, community) -> bool:
    """Who sees every person's row of `community`'s boards and door lists: its managers, and
    the officers of its street."""
    scope = scope_of(user)
    return can_manage(user, community) or community.street_id in scope.street_ids


def can_call(user, community) -> bool:
    """The community's own staff and grid workers see members' full mobiles (to call them);
    everyone else sees them masked (PIPL)."""
    return community.pk in scope_of(user).community_ids


def has_workspace(user) -> bool:
    """The community workspace (its activities to plan, report-ins, members' grids) is for
    those who work in a community."""
    return bool(scope_of(user).community_ids)


def can_list_activities(user) -> bool:
    """The activity list and week view: the city, streets and communities."""
    scope = scope_of(user)
    return scope.city or bool(scope.street_ids or scope.community_ids)


def can_review_registrations(user, community=None) -> bool:
    """Report-ins (报到) are reviewed by the community they are made to."""
    if community is None:
        return scope_of(user).city or has_workspace(user)
    return can_manage(user, community)


def whose_rows(user, community) -> str:
    """Whose rows about people of an activity in `community` the viewer sees: "all" (those who
    oversee it), "agency" (an agency office: its own members'), or "own"."""
    if oversees(user, community):
        return "all"
    return "agency" if scope_of(user).agency_ids else "own"


def people_rows(user, community, *, member: str = "member") -> Q:
    """Which rows about people — attendance on a board, door-to-door units — of an activity in
    `community` the viewer sees: those who oversee it see all; an agency office its own
    members'; anyone else only their own. `member` is the path from the row to its member."""
    if oversees(user, community):
        return Q()
    scope = scope_of(user)
    return any_of(**{f"{member}__agency__in": scope.agency_ids, f"{member}__user": scope.user_id})


def sees_only_own_rows(user) -> bool:
    """A login without any staff role sees only its own rows of a board or door list."""
    return not scope_of(user).is_staff_of_any_place


# --- Two factors (issue 11) ------------------------------------------------------------------

# The roles whose sign-in asks for a code from an authenticator app after the password (等保 2.0
# level 3: two factors for administrators): they see a whole city, street or agency.
SECOND_FACTOR_KINDS = frozenset(
    {RoleKind.CITY_ADMIN, RoleKind.STREET_OFFICER, RoleKind.AGENCY_OFFICE}
)


def needs_second_factor(user) -> bool:
    """Whether this login must pass a second factor before any page: those roles, and anyone
    who may enter the Django admin. Community staff, grid workers and members need not."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return bool(scope_of(user).kinds & SECOND_FACTOR_KINDS)


# --- An agency's roster ----------------------------------------------------------------------


def roster_agency_ids(user) -> frozenset:
    """The agencies whose roster (党员名册) the viewer keeps: those of their agency party office
    roles. Only the office keeps one: community staff list the members reported in to them
    (members:member_list), a city administrator works in the admin, a member sees their own."""
    return scope_of(user).agency_ids


def can_keep_roster(user, agency=None) -> bool:
    """Lists, adds, edits, imports and exports the members of `agency` (any of the viewer's
    when None)."""
    agency_ids = roster_agency_ids(user)
    if agency is None:
        return bool(agency_ids)
    return agency.pk in agency_ids


def export_log_agency_ids(user) -> frozenset:
    """The agencies whose export log the viewer reads: those whose roster they keep (the
    office's); exports of their members are what the log answers for."""
    return roster_agency_ids(user)


def can_see_export_log(user) -> bool:
    """The export log page (导出记录) is the agency party office's."""
    return bool(export_log_agency_ids(user))


def sees_full_mobiles(user, *, agency=None, community=None) -> bool:
    """The one rule for showing a member's mobile in full (PIPL; DESIGN.md: masked, 138****5678,
    unless the viewer needs the number). Those who need it are those who must reach the member:
    - the party office of the member's `agency`, which keeps its roster and reaches its
      members (on the member's own page; its roster list shows them masked);
    - the staff and grid workers of a `community` the member reported in to, who call them
      (`can_call`: a tap-to-call link on the community desk and the roll call).
    Everyone else sees them masked: street officers, other agencies, other communities, other
    members, the city administrator on every page but a member's edit form in the admin. A
    member sees their own number (the pages that show it start from the member themselves).
    Exports hold full mobiles only when the office asks, and that is logged (reports.ExportLog).
    """
    if agency is not None and agency.pk in roster_agency_ids(user):
        return True
    return community is not None and can_call(user, community)


def can_see_personal_data_views(user) -> bool:
    """The log of who viewed lists of people (members.privacy.view_log): the city
    administrator's, who answers for the city's personal data."""
    return scope_of(user).city


def can_review_attendance(user) -> bool:
    """Attendance review (考勤审核) is the agency party office's: its members' records."""
    return bool(scope_of(user).agency_ids)


def attendance_report_agency_ids(user) -> frozenset:
    """The agencies whose attendance report (出勤报表) the viewer reads: their agency party
    office's. Its rows are those agencies' members, never another's, whatever the URL says."""
    return scope_of(user).agency_ids


def can_see_attendance_report(user) -> bool:
    """The attendance report and its export are the agency party office's."""
    return bool(attendance_report_agency_ids(user))


def can_answer_disputes(user) -> bool:
    """The community's staff and grid workers answer the disputes about its records."""
    scope = scope_of(user)
    return scope.city or bool(scope.community_ids)


def can_decide_leave(user) -> bool:
    """The organizers — the community's staff and grid workers (and city administrators) —
    approve or reject its members' leave requests; each request is theirs only where they
    manage the activity's community (can_manage)."""
    scope = scope_of(user)
    return scope.city or bool(scope.community_ids)


# --- The duty rota (排班) ----------------------------------------------------------------------


def rota_agency_ids(user) -> frozenset:
    """The agencies whose duty rota the viewer keeps: those of their agency party office roles.
    The office assigns its own members; nobody else writes a rota."""
    return scope_of(user).agency_ids


def can_keep_rota(user, agreement=None) -> bool:
    """Assigns members to days under `agreement` (any of the viewer's agencies' when None)."""
    agency_ids = rota_agency_ids(user)
    if agreement is None:
        return bool(agency_ids)
    return agreement.agency_id in agency_ids


def can_see_rota(user) -> bool:
    """The rota's pages: the agency office keeps it; the community's staff and grid workers,
    the officers of its street and the city read who is on duty there."""
    scope = scope_of(user)
    return scope.city or bool(scope.agency_ids or scope.place_community_ids)


def rota_agreements(user) -> Q:
    """Which agreements' rotas the viewer sees: its agencies' (the office) and those of the
    communities it works in or oversees; every one for the city. A member's login sees none
    here: their own duty days come to them as reminders."""
    scope = scope_of(user)
    if scope.city:
        return Q()
    return any_of(agency__in=scope.agency_ids, community__in=scope.place_community_ids)


# --- Annual evaluation ----------------------------------------------------------------------


def evaluation_community_ids(user) -> frozenset:
    """The communities whose members the viewer rates in the annual evaluation (年度评价): those
    they work in (staff and grid workers). A city administrator reads ratings in the admin and
    rates nobody: a rating is the community's word."""
    return scope_of(user).community_ids


def can_evaluate(user, community=None) -> bool:
    """Rates the members reported in to `community` (any of the viewer's when None) and answers
    the objections to its ratings."""
    community_ids = evaluation_community_ids(user)
    if community is None:
        return bool(community_ids)
    return community.pk in community_ids


def can_see_agency_evaluations(user) -> bool:
    """The ratings of an agency's members from every community, and the agency's yearly
    summary: the agency party office's."""
    return bool(scope_of(user).agency_ids)


# --- Charts ----------------------------------------------------------------------------------


class ChartLens(TextChoices):
    """Whose figures the charts (统计图表) show."""

    AGENCY = "agency", _("Our agency's members")
    PLACES = "places", _("Activities in our communities")
    CITY = "city", _("The whole city")


def chart_lenses(user) -> list[str]:
    """The lenses the charts offer the viewer: an agency party office its members' figures
    (wherever they served); community staff, grid workers and street officers those of the
    activities in the communities they work in or oversee; city administrators the city's."""
    scope = scope_of(user)
    lenses = []
    if scope.agency_ids:
        lenses.append(ChartLens.AGENCY)
    if scope.place_community_ids:
        lenses.append(ChartLens.PLACES)
    if scope.city:
        lenses.append(ChartLens.CITY)
    return lenses


# --- Overviews ------------------------------------------------------------------------------


def overview_street_ids(user) -> frozenset | None:
    """The streets whose communities' overview the viewer reads: a street officer's own; None
    for a city administrator, who reads any street's."""
    scope = scope_of(user)
    return None if scope.city else scope.street_ids


def can_see_street_overview(user) -> bool:
    """The overview of a street's communities: its street officers, and the city."""
    scope = scope_of(user)
    return scope.city or bool(scope.street_ids)


def can_see_city_overview(user) -> bool:
    """The city overview, per street, agency and community: the city administrator's."""
    return scope_of(user).city


# --- Messages --------------------------------------------------------------------------------


def can_see_outbox(user) -> bool:
    """The outbox (what was queued, sent, failed) is for staff of any place and the city; the
    rows each sees are `Notification.objects.visible_to`."""
    return scope_of(user).is_staff_of_any_place


def can_retry(user) -> bool:
    """Who may send a failed message again: whoever sees it in their outbox."""
    return can_see_outbox(user)


# --- Navigation ------------------------------------------------------------------------------


def menu(user, *, is_member: bool) -> dict:
    """Which workspace entries the navigation offers (each page checks again)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    scope = scope_of(user)
    community_staff = scope.city or bool(scope.community_ids)
    return {
        "activities": can_list_activities(user),
        # Call-outs (吹哨): the calls of one's places, or the calls to oneself.
        "callouts": scope.is_staff_of_any_place or is_member,
        "report_ins": community_staff,
        "report_in": is_member,
        "my_record": is_member,
        "roster": can_keep_roster(user),
        "notes": community_staff or is_member,
        # A member's own list of activities to join (报名).
        "join": is_member,
        "outbox": can_see_outbox(user),
        "review": can_review_attendance(user),
        "attendance_report": can_see_attendance_report(user),
        "disputes": can_answer_disputes(user),
        "rota": can_see_rota(user),
        "evaluations": can_evaluate(user),
        "agency_evaluations": can_see_agency_evaluations(user),
        "my_evaluations": is_member,
        "charts": bool(chart_lenses(user)),
        "street_overview": can_see_street_overview(user),
        "city_overview": can_see_city_overview(user),
    }
