"""The permission module: `visible_to(user)` for every main model and every role, in scope and
out of it, and each "may this person do X here?" answered for every role."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity, Concern, Participation, WorkUpdate
from communities import permissions
from communities.models import Agency, Agreement, Community, Grid, StaffRole, Street
from members.models import Member, Registration, member_of


@pytest.fixture
def notes(world, community_staff, other_community_staff):
    """A work update and a concern in each community."""
    for community, author in (
        (world.shengli, community_staff),
        (world.shenzhen, other_community_staff),
    ):
        WorkUpdate.objects.create(community=community, author=author, body=f"{community.name}动态")
        Concern.objects.create(
            community=community, reported_by=author, title=f"{community.name}民情"
        )


def names(model, user):
    """What `user` sees of `model`, as readable labels."""
    label = {
        Street: lambda o: o.name,
        Community: lambda o: o.name,
        Grid: lambda o: o.name,
        Agency: lambda o: o.name,
        Agreement: lambda o: o.number,
        Member: lambda o: o.name,
        Registration: lambda o: f"{o.member.name}@{o.community.name}",
        Activity: lambda o: o.title,
        Participation: lambda o: f"{o.member.name}@{o.activity.title}",
        WorkUpdate: lambda o: o.body,
        Concern: lambda o: o.title,
    }[model]
    return {label(o) for o in model.objects.visible_to(user)}


SHENGLI = {
    Street: {"万寿桥街道"},
    Community: {"胜利一路社区"},
    Grid: {"紫林苑网格", "万寿小区网格"},
    Agency: {"三峡旅游新区管委会"},
    Agreement: {"GJ-TEST-001"},
    Member: {"李建华", "王海燕"},
    Registration: {"李建华@胜利一路社区", "王海燕@胜利一路社区"},
    Activity: {"沿江防汛巡逻"},
    Participation: {"李建华@沿江防汛巡逻"},
    WorkUpdate: {"胜利一路社区动态"},
    Concern: {"胜利一路社区民情"},
}
SHENZHEN = {
    Street: {"东苑街道"},
    Community: {"深圳路社区"},
    Grid: {"翰林苑网格"},
    Agency: {"市园林和林业局"},
    Agreement: set(),
    Member: {"陈思远"},
    Registration: {"陈思远@深圳路社区"},
    Activity: {"翰林苑环境清扫"},
    Participation: {"陈思远@翰林苑环境清扫"},
    WorkUpdate: {"深圳路社区动态"},
    Concern: {"深圳路社区民情"},
}
SANXIA_OFFICE = {
    Street: {"万寿桥街道"},
    Community: {"胜利一路社区"},
    Grid: {"紫林苑网格", "万寿小区网格"},
    Agency: {"三峡旅游新区管委会"},
    Agreement: {"GJ-TEST-001"},
    Member: {"李建华", "王海燕"},
    Registration: {"李建华@胜利一路社区", "王海燕@胜利一路社区"},
    Activity: {"沿江防汛巡逻"},
    Participation: {"李建华@沿江防汛巡逻"},
    # Notes are the community's; an agency sees those its own members wrote.
    WorkUpdate: set(),
    Concern: set(),
}
YUANLIN_OFFICE = SHENZHEN | {Agreement: set(), WorkUpdate: set(), Concern: set()}
SANXIA_MEMBER = SANXIA_OFFICE | {
    Member: {"李建华"},
    Registration: {"李建华@胜利一路社区"},
    # A member reads the updates of a community they reported in to.
    WorkUpdate: {"胜利一路社区动态"},
}
YUANLIN_MEMBER = SHENZHEN | {Agreement: set(), Concern: set()}
EVERYTHING = {model: SHENGLI[model] | SHENZHEN[model] for model in SHENGLI}
NOTHING = {model: set() for model in SHENGLI}

CASES = {
    "city_admin": EVERYTHING,
    "superuser": EVERYTHING,
    "street_officer": SHENGLI,
    "community_staff": SHENGLI,
    "grid_worker": SHENGLI,
    "other_community_staff": SHENZHEN,
    "agency_office": SANXIA_OFFICE,
    "other_agency_office": YUANLIN_OFFICE,
    "member_user": SANXIA_MEMBER,
    "other_member_user": YUANLIN_MEMBER,
}


@pytest.mark.parametrize("persona", CASES)
@pytest.mark.parametrize("model", list(SHENGLI), ids=lambda m: m.__name__)
def test_each_role_sees_its_scope_and_nothing_else(request, notes, persona, model):
    user = request.getfixturevalue(persona)
    assert names(model, user) == CASES[persona][model]


@pytest.mark.parametrize("model", list(SHENGLI), ids=lambda m: m.__name__)
def test_anonymous_and_roleless_users_see_nothing(notes, django_user_model, model):
    roleless = django_user_model.objects.create_user("nobody")
    assert names(model, AnonymousUser()) == set()
    assert names(model, roleless) == set()
    # A member without a login must not make rows visible to everyone without one.
    assert Member.objects.filter(user__isnull=True).exists()


def test_a_deactivated_login_loses_its_scope(community_staff):
    community_staff.is_active = False
    community_staff.save()
    community_staff.refresh_from_db()
    assert names(Activity, community_staff) == set()


def test_a_person_with_two_roles_sees_both_scopes(world, django_user_model):
    user = django_user_model.objects.create_user("two_hats")
    StaffRole.objects.create(
        user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shengli
    )
    StaffRole.objects.create(user=user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin)
    assert names(Activity, user) == {"沿江防汛巡逻", "翰林苑环境清扫"}
    assert names(Member, user) == {"李建华", "王海燕", "陈思远"}


def test_a_scope_is_read_in_one_query_with_its_grids_and_member(
    world, django_user_model, django_assert_num_queries
):
    """scope_of runs on every page: one query, however many roles and grids."""
    user = world.sanxia_member.user
    grid_role = StaffRole.objects.create(
        user=user, kind=StaffRole.Kind.GRID_WORKER, community=world.shengli
    )
    grid_role.grids.set([world.zilinyuan, world.wanshou])
    StaffRole.objects.create(user=user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin)
    StaffRole.objects.create(
        user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shenzhen
    )
    user = django_user_model.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        scope = permissions.scope_of(user)
    assert scope.grid_ids == {world.zilinyuan.pk, world.wanshou.pk}
    assert scope.community_ids == {world.shengli.pk, world.shenzhen.pk}
    assert scope.agency_ids == {world.yuanlin.pk}
    assert scope.member_ids == {world.sanxia_member.pk}
    assert scope.kinds == {"grid_worker", "agency_office", "community_staff"}
    assert not scope.city and not scope.street_ids
    roleless = django_user_model.objects.create_user("no_roles")
    with django_assert_num_queries(1):
        assert permissions.scope_of(roleless).member_ids == frozenset()


def test_a_members_scope_names_their_member_record_so_their_rows_need_no_join(
    world, django_user_model, django_assert_num_queries
):
    """A login with no role (a member): the same one query reads their member id, and their
    own rows are found by it, not by joining each row's member to find the login's."""
    user = django_user_model.objects.get(pk=world.sanxia_member.user_id)
    with django_assert_num_queries(1):
        scope = permissions.scope_of(user)
    assert scope.member_ids == {world.sanxia_member.pk}
    assert not scope.kinds
    with CaptureQueriesContext(connection) as queries:
        list(Participation.objects.visible_to(user).order_by("pk").values_list("pk", flat=True))
    assert "members_member" not in queries.captured_queries[-1]["sql"]


def test_member_of_asks_no_query_for_staff_without_a_member_record_once_the_scope_is_read(
    world, community_staff, django_user_model, django_assert_num_queries
):
    """The navbar asks member_of on every page."""
    permissions.scope_of(community_staff)
    with django_assert_num_queries(0):
        assert member_of(community_staff) is None
    member = django_user_model.objects.get(pk=world.sanxia_member.user_id)
    with django_assert_num_queries(1):
        assert member_of(member) == world.sanxia_member  # a login without roles: its record
    StaffRole.objects.create(user=member, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia)
    staff_member = django_user_model.objects.get(pk=member.pk)
    permissions.scope_of(staff_member)
    assert member_of(staff_member) == world.sanxia_member  # staff with a record: still found
    assert member_of(AnonymousUser()) is None


def test_staff_roles_are_visible_to_their_holder_and_the_city(
    city_admin, community_staff, other_community_staff
):
    assert {r.user.username for r in StaffRole.objects.visible_to(community_staff)} == {
        "shengli_staff"
    }
    assert {"shengli_staff", "shenzhen_staff", "city_admin"} <= {
        r.user.username for r in StaffRole.objects.visible_to(city_admin)
    }


def test_visible_to_returns_no_duplicates(world, agency_office):
    # Two paths lead to the same activity (the agreement and a participation).
    assert Activity.objects.visible_to(agency_office).count() == 1
    assert Community.objects.visible_to(agency_office).count() == 1


# --- "May this person do X here?" -------------------------------------------------------------

PERSONAS = [
    "city_admin",
    "street_officer",
    "community_staff",
    "grid_worker",
    "other_community_staff",
    "agency_office",
    "member_user",
]


@pytest.mark.parametrize(
    "persona, manages, oversees, calls, workspace, activities, outbox",
    [
        ("city_admin", True, True, False, False, True, True),
        ("street_officer", False, True, False, False, True, True),
        ("community_staff", True, True, True, True, True, True),
        ("grid_worker", True, True, True, True, True, True),
        ("other_community_staff", False, False, False, True, True, True),
        ("agency_office", False, False, False, False, False, True),
        ("member_user", False, False, False, False, False, False),
    ],
)
def test_each_role_may_do_what_the_design_says_in_胜利一路社区(
    request, world, persona, manages, oversees, calls, workspace, activities, outbox
):
    user = request.getfixturevalue(persona)
    shengli = world.shengli
    assert permissions.can_manage(user, shengli) is manages
    assert permissions.can_review_registrations(user, shengli) is manages
    assert permissions.oversees(user, shengli) is oversees
    assert permissions.can_call(user, shengli) is calls
    assert permissions.has_workspace(user) is workspace
    assert permissions.can_list_activities(user) is activities
    assert permissions.can_see_outbox(user) is outbox
    assert permissions.can_retry(user) is outbox
    assert permissions.sees_only_own_rows(user) is (persona == "member_user")


def test_nobody_signed_in_may_do_anything(world):
    anonymous = AnonymousUser()
    assert not permissions.can_manage(anonymous, world.shengli)
    assert not permissions.oversees(anonymous, world.shengli)
    assert not permissions.can_see_outbox(anonymous)
    assert permissions.menu(anonymous, is_member=False) == {}
    assert not Participation.objects.filter(permissions.people_rows(anonymous, world.shengli))


@pytest.mark.parametrize(
    "persona, expected",
    [
        ("community_staff", {"李建华", "王海燕", "陈思远"}),
        ("street_officer", {"李建华", "王海燕", "陈思远"}),
        ("agency_office", {"李建华", "王海燕"}),
        ("other_agency_office", {"陈思远"}),
        ("member_user", {"李建华"}),
        ("other_member_user", {"陈思远"}),
    ],
)
def test_people_rows_of_a_board_or_door_list(request, world, persona, expected):
    """Rows about people of a 胜利一路社区 activity: overseers all, an agency its own, a member
    their own."""
    user = request.getfixturevalue(persona)
    activity = world.shengli_activity
    for member in (world.sanxia_member_2, world.yuanlin_member):
        Participation.objects.get_or_create(
            activity=activity, member=member, defaults={"source": Participation.Source.SIGN_UP}
        )
    rows = Participation.objects.filter(
        permissions.people_rows(user, world.shengli), activity=activity
    )
    assert {p.member.name for p in rows} == expected


@pytest.mark.parametrize(
    "persona, entries",
    [
        (
            "city_admin",
            {
                "activities",
                "report_ins",
                "notes",
                "outbox",
                "disputes",
                "charts",
                "street_overview",
                "city_overview",
                "rota",
                "callouts",
            },
        ),
        (
            "street_officer",
            {"activities", "outbox", "charts", "street_overview", "rota", "callouts"},
        ),
        (
            "community_staff",
            {
                "activities",
                "report_ins",
                "notes",
                "outbox",
                "disputes",
                "charts",
                "rota",
                "evaluations",
                "callouts",
            },
        ),
        (
            "agency_office",
            {
                "roster",
                "outbox",
                "review",
                "attendance_report",
                "charts",
                "rota",
                "agency_evaluations",
                "callouts",
            },
        ),
        (
            "member_user",
            {"notes", "join", "report_in", "my_record", "my_evaluations", "callouts"},
        ),
    ],
)
def test_the_menu_offers_each_role_its_entries(request, world, persona, entries):
    user = request.getfixturevalue(persona)
    menu = permissions.menu(user, is_member=persona == "member_user")
    assert {entry for entry, shown in menu.items() if shown} == entries


def test_a_role_kind_is_one_definition(world):
    assert StaffRole.Kind is permissions.RoleKind


@pytest.mark.parametrize(
    "persona, whose",
    [
        ("city_admin", "all"),
        ("street_officer", "all"),
        ("community_staff", "all"),
        ("grid_worker", "all"),
        ("agency_office", "agency"),
        ("member_user", "own"),
        ("other_community_staff", "own"),
    ],
)
def test_whose_rows_each_role_sees_on_a_board_or_door_list(request, world, persona, whose):
    assert permissions.whose_rows(request.getfixturevalue(persona), world.shengli) == whose


def test_the_city_sees_every_grid_from_the_table_alone(world, city_admin, community_staff):
    grids = Grid.objects.visible_to(city_admin)
    assert "WHERE" not in str(grids.order_by().query)
    assert set(grids) == set(Grid.objects.all())
    # A place's staff still see their community's grids only.
    assert set(Grid.objects.visible_to(community_staff)) == set(
        Grid.objects.filter(community=world.shengli)
    )
