"""The filters of the list of reported-in members (members/filters.py)."""

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from members.filters import MemberFilterSet
from members.models import Member, Registration


@pytest.fixture
def reported_in(world):
    """Active registrations of 胜利一路社区: 李建华 (三峡, 紫林苑, liaison, from the world),
    周强 (三峡, 万寿小区, residence) and 孙丽 (园林局, no grid yet)."""

    def active(agency, name, mobile, **extra):
        member = Member.objects.create(agency=agency, name=name, mobile=mobile)
        Registration.objects.create(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
            **extra,
        )

    active(
        world.sanxia, "周强", "13700000011", grid=world.wanshou, kind=Registration.Kind.RESIDENCE
    )
    active(world.yuanlin, "孙丽", "13700000012")
    return Registration.objects.filter(community=world.shengli, status=Registration.Status.ACTIVE)


def member_filters(world, query, queryset, *, own_grid_ids=frozenset(), start=False):
    return MemberFilterSet(
        QueryDict(query),
        queryset,
        agencies=[world.sanxia, world.yuanlin],
        grids=[world.zilinyuan, world.wanshou],
        own_grid_ids=own_grid_ids,
        start_on_own_grids=start,
    )


def names(filterset):
    return {registration.member.name for registration in filterset.qs}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=李", {"李建华"}),
        ("q= 周强 ", {"周强"}),
        ("agency=yuanlin", {"孙丽"}),
        ("grid=wanshou", {"周强"}),
        ("grid=none", {"孙丽"}),
        ("grid=", {"李建华", "周强", "孙丽"}),
        ("kind=residence", {"周强"}),
        ("kind=liaison&agency=sanxia", {"李建华"}),
    ],
)
def test_each_member_filter_narrows_the_list(world, reported_in, query, expected):
    query = (
        query.replace("yuanlin", str(world.yuanlin.pk))
        .replace("sanxia", str(world.sanxia.pk))
        .replace("wanshou", str(world.wanshou.pk))
    )
    filters = member_filters(world, query, reported_in)
    assert not filters.errors, filters.errors
    assert names(filters) == expected


def test_a_grid_worker_starts_on_their_grids_and_staff_with_grids_do_not(world, reported_in):
    own = frozenset({world.zilinyuan.pk})
    worker = member_filters(world, "", reported_in, own_grid_ids=own, start=True)
    assert names(worker) == {"李建华"}
    assert worker.in_use == {"grid": "mine"}
    assert (
        len(names(member_filters(world, "grid=", reported_in, own_grid_ids=own, start=True))) == 3
    )
    # Community staff who also look after a grid are offered "mine" but start on everyone.
    staff = member_filters(world, "", reported_in, own_grid_ids=own)
    assert len(names(staff)) == 3
    assert names(member_filters(world, "grid=mine", reported_in, own_grid_ids=own)) == {"李建华"}


def test_the_choices_come_from_the_lists_the_view_read(world, reported_in):
    filters = member_filters(world, "", reported_in, own_grid_ids=frozenset({world.zilinyuan.pk}))
    with translation.override("en"):
        agencies = [str(label) for _, label in filters.form.fields["agency"].choices]
        grids = [str(label) for _, label in filters.form.fields["grid"].choices]
    assert agencies == ["All agencies", "三峡旅游新区", "园林局"]
    assert grids == ["All grids", "My grids", "No grid yet", "紫林苑网格", "万寿小区网格"]


def test_bad_member_filters_are_reported_and_left_out_while_the_rest_apply(world, reported_in):
    filters = member_filters(world, "q=周&agency=abc&grid=999999&kind=x", reported_in)
    with translation.override("en"):
        assert filters.errors == {
            name: ["That is not one of the choices; this filter is left out."]
            for name in ("agency", "grid", "kind")
        }
    assert names(filters) == {"周强"}


HOSTILE = {
    "garbage": "abc",
    "nul": "\x00",
    "huge": "9" * 30,
    "far": "9999-12-31",
    "long": "x" * 5000,
}


@pytest.mark.parametrize("flavour", HOSTILE)
def test_a_hostile_value_in_every_member_list_parameter_is_reported_not_a_500(
    client, world, grid_worker, flavour
):
    value = HOSTILE[flavour]
    client.force_login(grid_worker)
    query = {name: value for name in ("q", "agency", "grid", "kind", "page")}
    response = client.get(reverse("members:member_list"), query)
    assert response.status_code == 200
    wrong = set(response.context["form"].errors)
    # A search for "abc" or a long number is a search like any other.
    q_is_fine = flavour in ("garbage", "huge", "far")
    assert wrong == {"agency", "grid", "kind"} | (set() if q_is_fine else {"q"})
