"""The filters of the activity list and of the residents' concerns (activities/filters.py)."""

import datetime as dt

import pytest
from django.db.models import Case, F, Value, When
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from activities.filters import ActivityFilterSet, ConcernFilterSet
from activities.models import Activity, Concern

HOUR = dt.timedelta(hours=1)
DAY = dt.date(2024, 7, 1)


def at(day, hour):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


# --- Activities ------------------------------------------------------------------------------


@pytest.fixture
def activities(world):
    """Three activities of 胜利一路社区 on DAY and the next days, and the world's patrol."""

    def add(title, starts_at, **fields):
        fields.setdefault("type", world.cleanup)
        return Activity.objects.create(
            community=world.shengli,
            title=title,
            starts_at=starts_at,
            ends_at=starts_at + 2 * HOUR,
            **fields,
        )

    add("北门清扫", at(DAY, 9), place="万寿小区北门", grid=world.wanshou)
    add("楼道清理", at(DAY + dt.timedelta(days=1), 9), place="紫林苑3栋", grid=world.zilinyuan)
    add(
        "江边巡逻",
        at(DAY + dt.timedelta(days=2), 9),
        type=world.patrol,
        nature=Activity.Nature.DUTY,
    )
    return Activity.objects.filter(community=world.shengli)


def activity_filters(world, query, queryset, **options):
    options.setdefault("grids", [world.zilinyuan, world.wanshou])
    return ActivityFilterSet(QueryDict(query), queryset, **options)


def titles(filterset):
    return {row.title for row in filterset.qs}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=北门", {"北门清扫"}),  # the place
        ("q=巡逻", {"江边巡逻", "沿江防汛巡逻"}),  # the title
        (f"date_from={DAY}&date_to={DAY + dt.timedelta(days=1)}", {"北门清扫", "楼道清理"}),
        ("type=patrol", {"江边巡逻", "沿江防汛巡逻"}),
        ("grid=wanshou", {"北门清扫"}),
        ("grid=", {"北门清扫", "楼道清理", "江边巡逻", "沿江防汛巡逻"}),
        ("nature=duty", {"江边巡逻", "沿江防汛巡逻"}),
        ("nature=volunteer", {"北门清扫", "楼道清理"}),
        ("q=清&grid=zilinyuan", {"楼道清理"}),
    ],
)
def test_each_activity_filter_narrows_the_list(world, activities, query, expected):
    query = (
        query.replace("patrol", str(world.patrol.pk))
        .replace("wanshou", str(world.wanshou.pk))
        .replace("zilinyuan", str(world.zilinyuan.pk))
    )
    filters = activity_filters(world, query, activities)
    assert not filters.errors, filters.errors
    assert titles(filters) == expected


def test_the_status_filter_reads_the_lists_live_status_not_the_stored_one(world, activities):
    patrol = world.shengli_activity  # stored as recruiting
    live = activities.annotate(
        live_status=Case(
            When(pk=patrol.pk, then=Value(Activity.Status.FINISHED)), default=F("status")
        )
    )
    assert titles(activity_filters(world, "status=finished", live)) == {"沿江防汛巡逻"}
    assert "沿江防汛巡逻" not in titles(activity_filters(world, "status=recruiting", live))


def test_a_grid_worker_starts_on_their_grids_and_the_empty_choice_is_the_whole_community(
    world, activities
):
    mine = {"own_grid_ids": frozenset({world.zilinyuan.pk})}
    starting = activity_filters(world, "", activities, **mine)
    assert titles(starting) == {"楼道清理", "沿江防汛巡逻"}
    assert starting.in_use == {"grid": "mine"}
    assert titles(activity_filters(world, "grid=", activities, **mine)) == {
        "北门清扫",
        "楼道清理",
        "江边巡逻",
        "沿江防汛巡逻",
    }
    # Without own grids there is no "mine" to start on, nor to choose.
    assert len(titles(activity_filters(world, "", activities))) == 4
    assert activity_filters(world, "grid=mine", activities).errors["grid"]


def test_the_grid_choices_are_the_whole_community_my_grids_then_each_grid(world, activities):
    filters = activity_filters(
        world, "", activities, own_grid_ids=frozenset({world.zilinyuan.pk}), grids=[world.wanshou]
    )
    with translation.override("en"):
        assert [str(label) for _, label in filters.form.fields["grid"].choices] == [
            "Whole community",
            "My grids",
            "万寿小区网格",
        ]


def test_bad_activity_filters_are_reported_and_left_out_while_the_rest_apply(world, activities):
    query = "q=楼道&date_from=yesterday&date_to=2024-02-30&type=abc&grid=999&status=x&nature=x"
    filters = activity_filters(world, query, activities)
    with translation.override("en"):
        assert set(filters.errors) == {"date_from", "date_to", "type", "grid", "status", "nature"}
        assert filters.errors["type"] == ["Choose one of the listed types."]
    assert titles(filters) == {"楼道清理"}


# --- Concerns --------------------------------------------------------------------------------


@pytest.fixture
def concerns(world, community_staff):
    def raise_(title, grid, state=Concern.State.OPEN):
        Concern.objects.create(
            community=world.shengli,
            grid=grid,
            title=title,
            state=state,
            resolution="已清走" if state == Concern.State.RESOLVED else "",
            reported_by=community_staff,
        )

    raise_("紫林苑路灯", world.zilinyuan)
    raise_("万寿小区井盖", world.wanshou, Concern.State.FORWARDED)
    raise_("无网格垃圾", None, Concern.State.RESOLVED)
    return Concern.objects.filter(community=world.shengli)


def concern_filters(world, query, queryset, *, own_grid_ids=frozenset(), grids=None):
    grids = [world.zilinyuan, world.wanshou] if grids is None else grids
    return ConcernFilterSet(QueryDict(query), queryset, grids=grids, own_grid_ids=own_grid_ids)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=unresolved", {"紫林苑路灯", "万寿小区井盖"}),
        ("state=open", {"紫林苑路灯"}),
        ("state=forwarded", {"万寿小区井盖"}),
        ("state=resolved", {"无网格垃圾"}),
        ("state=", {"紫林苑路灯", "万寿小区井盖", "无网格垃圾"}),
        ("grid=wanshou", {"万寿小区井盖"}),
        ("grid=all", {"紫林苑路灯", "万寿小区井盖", "无网格垃圾"}),
        ("grid=wanshou&state=resolved", set()),
    ],
)
def test_each_concern_filter_narrows_the_list(world, concerns, query, expected):
    filters = concern_filters(world, query.replace("wanshou", str(world.wanshou.pk)), concerns)
    assert not filters.errors, filters.errors
    assert titles(filters) == expected


@pytest.mark.parametrize("query", ["", "grid=", "grid=999999", "grid=abc"])
def test_without_a_usable_grid_concerns_stay_on_the_start(world, concerns, query):
    """A grid worker on their grids, anyone else on all; a bad grid is also reported."""
    worker = concern_filters(world, query, concerns, own_grid_ids=frozenset({world.zilinyuan.pk}))
    assert titles(worker) == {"紫林苑路灯"}
    assert worker.grid_choice == "mine"
    staff = concern_filters(world, query, concerns)
    assert len(titles(staff)) == 3
    assert staff.grid_choice == "all"
    assert bool(staff.errors) == (query in ("grid=999999", "grid=abc"))


def test_without_grids_the_concerns_have_no_grid_filter(world, concerns):
    filters = concern_filters(world, f"grid={world.wanshou.pk}", concerns, grids=[])
    assert "grid" not in filters.form.fields
    assert filters.grid_choice is None
    assert len(titles(filters)) == 3


def test_concern_counts_follow_the_grid_but_not_the_state(world, concerns):
    filters = concern_filters(world, f"grid={world.wanshou.pk}&state=open", concerns)
    assert titles(filters) == set()
    assert {c.title for c in filters.qs_without("state")} == {"万寿小区井盖"}


# --- Hostile query strings on the pages -------------------------------------------------------

HOSTILE = {
    "garbage": "abc",
    "nul": "\x00",
    "huge": "9" * 30,
    "far": "9999-12-31",
    "long": "x" * 5000,
}
ACTIVITY_FILTERS = {"q", "date_from", "date_to", "type", "grid", "status", "nature"}


@pytest.mark.parametrize("flavour", HOSTILE)
def test_a_hostile_value_in_every_activity_list_parameter_is_reported_not_a_500(
    client, world, grid_worker, flavour
):
    value = HOSTILE[flavour]
    client.force_login(grid_worker)
    response = client.get(
        reverse("activities:activity_list"), {name: value for name in [*ACTIVITY_FILTERS, "page"]}
    )
    assert response.status_code == 200
    wrong = set(response.context["form"].errors)
    # A search for "abc" or a long number is a search like any other.
    assert wrong == ACTIVITY_FILTERS - ({"q"} if flavour in ("garbage", "huge", "far") else set())


@pytest.mark.parametrize("flavour", HOSTILE)
@pytest.mark.parametrize("persona", ["grid_worker", "member_user"])
def test_a_hostile_value_in_every_concern_list_parameter_is_reported_not_a_500(
    client, world, request, persona, flavour
):
    value = HOSTILE[flavour]
    client.force_login(request.getfixturevalue(persona))
    response = client.get(
        reverse("activities:concern_list"), {"state": value, "grid": value, "page": value}
    )
    assert response.status_code == 200
    # A member's list spans communities: it has no grid filter, and ignores the parameter.
    expected = {"state", "grid"} if persona == "grid_worker" else {"state"}
    assert set(response.context["form"].errors) == expected
