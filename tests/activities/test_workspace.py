"""The workspace every community page starts from: whose community, which grids are the
viewer's, and whether they are a grid worker, read in one query."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from activities.views.common import workspace
from communities.models import StaffRole
from communities.permissions import scope_of
from tests.conftest import role


def _request(user, **query):
    request = RequestFactory().get("/", query)
    request.user = user
    return request


def test_a_grid_worker_gets_the_community_and_their_grids_in_one_query(
    world, grid_worker, django_assert_num_queries
):
    scope_of(grid_worker)  # read by the middleware on every page
    with django_assert_num_queries(1):
        space = workspace(_request(grid_worker))
        assert space.community.street.name == world.wanshouqiao.name
    assert space.community == world.shengli
    assert space.grid_ids == {world.zilinyuan.pk}
    assert space.is_grid_worker


def test_community_staff_see_the_whole_community_in_one_query(
    world, community_staff, django_assert_num_queries
):
    scope_of(community_staff)
    with django_assert_num_queries(1):
        space = workspace(_request(community_staff))
    assert (space.community, space.grid_ids, space.is_grid_worker) == (
        world.shengli,
        frozenset(),
        False,
    )


def test_with_roles_in_two_communities_each_workspace_has_its_own_grids_and_kinds(
    world, django_user_model
):
    user = role(
        django_user_model,
        "two_places",
        StaffRole.Kind.GRID_WORKER,
        grids=[world.zilinyuan, world.wanshou],
        community=world.shengli,
    )
    other = world.hanlinyuan
    StaffRole.objects.create(
        user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shenzhen
    )
    # A grid of another community on the shengli role is not one of the viewer's grids there.
    StaffRole.objects.get(user=user, community=world.shengli).grids.add(other)

    here = workspace(_request(user, community=world.shengli.pk))
    assert here.community == world.shengli
    assert here.grid_ids == {world.zilinyuan.pk, world.wanshou.pk}
    assert here.is_grid_worker

    there = workspace(_request(user, community=world.shenzhen.pk))
    assert there.community == world.shenzhen
    assert there.grid_ids == frozenset()
    assert not there.is_grid_worker


def test_a_role_taken_away_since_the_scope_was_read_is_a_403(world, community_staff):
    scope_of(community_staff)
    StaffRole.objects.filter(user=community_staff).delete()
    with pytest.raises(PermissionDenied):
        workspace(_request(community_staff))


# The queries of each workspace page for community staff at a handful of rows (the tests beside
# each page hold that 50 rows cost the same). The workspace is one of them; the session and its
# login are one (members.sessions).
WORKSPACE_PAGE_QUERIES = {
    "activities:activity_list": 9,
    "activities:activity_week": 5,
    "activities:concern_list": 7,
    "activities:work_update_list": 6,
}


@pytest.mark.parametrize("name", sorted(WORKSPACE_PAGE_QUERIES))
def test_each_workspace_page_costs_its_pinned_queries(client, world, community_staff, name):
    client.force_login(community_staff)
    url = reverse(name)
    assert client.get(url).status_code == 200  # the session's first request settles it
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    assert len(captured) == WORKSPACE_PAGE_QUERIES[name], [q["sql"][:120] for q in captured]
