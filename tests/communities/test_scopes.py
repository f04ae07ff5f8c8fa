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
from django.db.models.sql import Query

from activities.models import Activity, Participation, WorkUpdate
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
    for scoped in (Activity, WorkUpdate):
        sql = str(scoped.objects.visible_to(member_user).query).upper()
        assert " UNION " in sql and " OR " not in sql, sql
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
