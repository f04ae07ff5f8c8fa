"""Every scope stays cheap at city size: `visible_to(user)` never joins a to-many relation.

A join along participations, report-ins or an agency's members multiplies the rows, and ORed
with the scope's other branches it keeps PostgreSQL from using any index: with 1.5 million
attendance rows a street officer's count of activities ran for minutes. Each such branch is a
subquery of its own (`permissions.via`). This checks the compiled query of every model that has
a scope — found in the app registry, so a new one is covered — for every role, at every level:
the outer query and each subquery in its WHERE clause.
"""

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import EmptyResultSet
from django.db.models.sql import Query

from activities.models import Activity, Participation, WorkUpdate
from communities.models import Agency, Agreement, Community
from members.models import Member, Registration
from notifications.models import Notification

SCOPED = sorted(
    (
        model
        for model in apps.get_models()
        if hasattr(model._default_manager.get_queryset(), "visible_to")
    ),
    key=lambda model: model._meta.label,
)
PERSONAS = [
    "city_admin",
    "street_officer",
    "community_staff",
    "grid_worker",
    "agency_office",
    "member_user",
    "anonymous",
]


def subqueries(node):
    """The queries nested in a WHERE tree: `__in` lookups on a queryset, `Exists`, `Subquery`."""
    if isinstance(node, Query):
        yield node
        return
    if isinstance(getattr(node, "query", None), Query):
        yield node.query
        return
    for child in getattr(node, "children", ()):
        yield from subqueries(child)
    for side in ("lhs", "rhs"):
        if hasattr(node, side):
            yield from subqueries(getattr(node, side))
    if hasattr(node, "get_source_expressions") and not hasattr(node, "lhs"):
        for expression in node.get_source_expressions():
            yield from subqueries(expression)


def to_many_joins(query, where="outer query"):
    """Each join of `query` and its subqueries that goes along a reverse foreign key or a
    many-to-many relation (a reverse one-to-one is one row at most, and allowed)."""
    found = []
    for join in query.alias_map.values():
        field = getattr(join, "join_field", None)
        if field is not None and (field.one_to_many or field.many_to_many):
            parent = query.alias_map[join.parent_alias].table_name
            found.append(f"{where}: {parent} → {join.table_name} along {field.name}")
    # A union's SELECTs (permissions.union_of) are each checked as a subquery.
    nested = [*subqueries(query.where), *query.combined_queries]
    inner_queries = {id(inner): inner for inner in nested}.values()
    for number, inner in enumerate(inner_queries, start=1):
        found += to_many_joins(inner, f"{where} › subquery {number} on {inner.model.__name__}")
    return found


def test_the_registry_walk_finds_the_scoped_models():
    assert {Activity, Participation, Member, Registration, Notification} <= set(SCOPED)


def test_the_check_sees_a_to_many_join_in_a_subquery(world):
    # The check itself: a join along participations, one level down, is found.
    query = Activity.objects.filter(
        pk__in=Activity.objects.filter(participations__member__user=1).values("pk")
    ).query
    assert to_many_joins(query) == [
        "outer query › subquery 1 on Activity: activities_activity → activities_participation "
        "along participations"
    ]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("model", SCOPED, ids=lambda model: model._meta.label)
def test_no_scope_joins_a_to_many_relation(request, world, model, persona):
    user = AnonymousUser() if persona == "anonymous" else request.getfixturevalue(persona)
    queryset = model._default_manager.visible_to(user)
    assert to_many_joins(queryset.query) == []


@pytest.mark.django_db
def test_an_agency_offices_activities_are_its_agreements_and_those_its_members_are_on(
    world, agency_office
):
    # The two branches of the office's scope, a union (the one activity a page asks for is
    # looked up in each: tests/xiachen/test_query_plans.py).
    office = Activity.objects.visible_to(agency_office)
    expected = set(
        Activity.objects.filter(agreement__agency=world.sanxia).values_list("pk", flat=True)
    ) | set(
        Participation.objects.filter(member__agency=world.sanxia).values_list("activity", flat=True)
    )
    assert set(office.values_list("pk", flat=True)) == expected
    assert expected


@pytest.mark.django_db
def test_a_scope_of_several_branches_is_a_union_and_of_one_a_plain_filter(
    world, member_user, street_officer, community_staff
):
    """ORed, a subquery branch makes PostgreSQL test every row of the table against each
    (permissions.union_of): a member's activities and work updates are a union of their
    branches, each found through its own index. A scope left with one branch is filtered by it
    alone: a street officer's participations joined to the street's activities, the members of
    staff who are not members themselves by their report-ins."""
    sql = str(WorkUpdate.objects.visible_to(member_user).query).upper()
    assert " UNION " in sql and " OR " not in sql, sql
    # Its ids sorted, to be merged with the primary key (permissions.union_of).
    assert "ORDER BY 1 ASC)" in sql, sql
    street = str(Participation.objects.visible_to(street_officer).query)
    assert "SELECT" not in street.split(" WHERE ", 1)[1], street
    staff = str(Member.objects.visible_to(community_staff).query)
    assert " OR " not in staff and " UNION " not in staff, staff
    # The rows stay the rule's.
    assert set(Participation.objects.visible_to(street_officer)) == set(
        Participation.objects.filter(activity__community__street=world.wanshouqiao)
    )
    assert set(Member.objects.visible_to(community_staff)) == set(
        Member.objects.filter(registrations__community=world.shengli)
    )


@pytest.fixture
def second_shengli_street_community(world):
    """A second community of the street officer's street, with a message, an activity and a
    report-in of its own, so that "the street's communities" is more than the one the fixtures'
    community staff work in."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from communities.models import Community

    xinjie = Community.objects.create(street=world.wanshouqiao, name="新街社区")
    activity = Activity.objects.create(
        community=xinjie,
        type=world.cleanup,
        title="新街清扫",
        starts_at=timezone.now(),
        ends_at=timezone.now(),
    )
    Registration.objects.create(
        member=world.yuanlin_member, community=xinjie, applied_on=timezone.localdate()
    )
    for community in (xinjie, world.shenzhen):
        Notification.objects.create(
            kind=Notification.Kind.UPCOMING,
            channel=Notification.Channel.INAPP,
            content_type=ContentType.objects.get_for_model(activity),
            object_id=activity.pk,
            recipient_key=f"c{community.pk}",
            recipient_name="王海燕",
            community=community,
            subject="提醒",
            body="正文",
        )
    return xinjie


def test_a_street_officers_scope_holds_their_streets_communities_read_in_one_query(
    world, street_officer, second_shengli_street_community, django_assert_num_queries
):
    from communities.models import Community
    from communities.permissions import scope_of

    with django_assert_num_queries(2):  # the roles with their grids, the street's communities
        scope = scope_of(street_officer)
    assert scope.street_community_ids == {world.shengli.pk, second_shengli_street_community.pk}
    assert scope.place_community_ids == scope.street_community_ids
    # However many communities the street has: one query for them all.
    Community.objects.create(street=world.wanshouqiao, name="第三社区")
    street_officer = type(street_officer).objects.get(pk=street_officer.pk)
    with django_assert_num_queries(2):
        assert len(scope_of(street_officer).street_community_ids) == 3


def test_a_scope_without_a_street_reads_no_communities(world, community_staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from communities.permissions import scope_of

    with CaptureQueriesContext(connection) as queries:
        scope = scope_of(community_staff)
    assert len(queries) == 1  # the roles with their grids, as before
    assert scope.street_community_ids == frozenset()
    assert scope.place_community_ids == {world.shengli.pk}


@pytest.mark.parametrize("model", SCOPED, ids=lambda model: model._meta.label)
def test_a_street_officer_sees_the_rows_of_their_streets_communities_by_their_ids(
    world, street_officer, second_shengli_street_community, model
):
    """The street branch of every scope is `community__in` the street's community ids, on the
    row's own column: joined to the community for its street and ORed with the other branches,
    it kept PostgreSQL from combining their indexes (a street officer's outbox read all of its
    37,000 city rows, 190 ms). The rows are the same: those the bench's hand-written SQL, which
    goes by the street, counts."""
    from xiachen.bench import scopes

    queryset = model._default_manager.visible_to(street_officer)
    try:
        sql = str(queryset.order_by().query)  # (a default ordering may join for its names)
    except EmptyResultSet:
        sql = ""  # a scope with no street branch (a certificate is its holder's and office's)
    if model._meta.label != "communities.Street":  # (a street is the street's own id there)
        assert 'JOIN "communities_community"' not in sql, sql
    assert queryset.count() == scopes.reference_count(model, street_officer)


def test_a_street_officers_outbox_is_their_streets_and_their_own(
    world, street_officer, second_shengli_street_community
):
    from django.contrib.contenttypes.models import ContentType

    own = Notification.objects.create(
        kind=Notification.Kind.MESSAGE,
        channel=Notification.Channel.INAPP,
        content_type=ContentType.objects.get_for_model(world.shengli_activity),
        object_id=world.shengli_activity.pk,
        recipient=street_officer,
        recipient_key=f"u{street_officer.pk}",
        subject="给街道",
        body="正文",
    )
    shown = Notification.objects.visible_to(street_officer)
    assert {(n.community_id, n.recipient_id) for n in shown} == {
        (second_shengli_street_community.pk, None),
        (None, street_officer.pk),
    }
    assert own in shown


def test_staff_who_are_no_member_look_up_no_member_for_communities_or_agreements(
    world, community_staff
):
    # Their own member record is read with their roles (Scope.member_ids): having none, the
    # branches of "the member the viewer is" drop out instead of joining the login to every
    # member (0.8 ms of Python on each community dashboard, for subqueries that find nothing).
    for model in (Community, Agreement):
        sql = str(model.objects.visible_to(community_staff).query)
        assert "members_member" not in sql, (model, sql)


def test_an_agency_office_looks_up_no_member_for_its_agencies(world, agency_office):
    # As above: the office's login is no member, and its agencies are its roles'.
    sql = str(Agency.objects.visible_to(agency_office).query)
    assert "members_member" not in sql, sql
    assert set(Agency.objects.visible_to(agency_office)) == {world.sanxia}


def test_staff_who_are_also_members_see_their_agencys_agreements_and_communities(
    world, other_community_staff
):
    # Shenzhen's staff login is also a member of sanxia, whose agreement is with Shengli.
    Member.objects.create(
        agency=world.sanxia, name="赵敏", mobile="13900000009", user=other_community_staff
    )
    Registration.objects.create(
        member=other_community_staff.member,
        community=world.shengli,
        status=Registration.Status.ACTIVE,
        applied_on=world.agreement.starts_on,
    )
    assert set(Agreement.objects.visible_to(other_community_staff)) == {world.agreement}
    assert world.sanxia in Agency.objects.visible_to(other_community_staff)
    assert set(Community.objects.visible_to(other_community_staff)) == {
        world.shengli,
        world.shenzhen,
    }


def test_a_member_without_a_role_sees_their_agencys_agreements_and_communities(world):
    # No role read, so no member id read with it: the member is found through the login.
    user = world.sanxia_member.user
    assert set(Agreement.objects.visible_to(user)) == {world.agreement}
    assert set(Community.objects.visible_to(user)) == {world.shengli}
    assert world.sanxia in Agency.objects.visible_to(user)


@pytest.mark.django_db
def test_a_members_activities_are_their_own_branches_ids_ored_not_a_union(world, member_user):
    """A member's activities (those they take part in, those of the communities they reported
    in to): each branch's ids read first, ORed on the activity's own columns (a BitmapOr on
    PostgreSQL: tests/xiachen/test_query_plans.py) — as a union, each of a member's 2,309
    activities at city size was looked up again by its primary key, 3.4× the reference's SQL."""
    sql = str(Activity.objects.visible_to(member_user).query).upper()
    assert " UNION " not in sql and " OR " in sql, sql
    expected = set(
        Participation.objects.filter(member__user=member_user).values_list("activity", flat=True)
    ) | set(
        Activity.objects.filter(
            community__in=Registration.objects.filter(member__user=member_user).values("community")
        ).values_list("pk", flat=True)
    )
    assert expected
    assert set(Activity.objects.visible_to(member_user).values_list("pk", flat=True)) == expected


@pytest.mark.postgres
def test_a_communitys_agencies_look_their_members_up_by_id(world, community_staff, street_officer):
    """The agencies of the members who reported in to a community: the members' ids are read
    first and each looked up (permissions.via_ids) — as a subquery PostgreSQL hashed all
    60,000 members of the city (15.6 ms against 2.5 ms). A street's many stay a subquery."""
    staff_sql = str(Agency.objects.visible_to(community_staff).query).upper()
    assert "= ANY(ARRAY(SELECT" in staff_sql, staff_sql
    street_sql = str(Agency.objects.visible_to(street_officer).query).upper()
    assert "ANY(ARRAY" not in street_sql, street_sql
    assert set(Agency.objects.visible_to(community_staff)) == {world.sanxia}
