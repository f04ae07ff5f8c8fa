"""What every workspace page needs: whose community it is, and who may do what there."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404

from communities.models import Community, StaffRole
from communities.permissions import RoleKind, can_manage, has_workspace, scope_of


@dataclass(frozen=True)
class Workspace:
    """The community a staff member or grid worker works in, and their grids (a grid worker's
    lists start filtered to these; community staff have none and see the whole community)."""

    community: Community
    grid_ids: frozenset
    is_grid_worker: bool


def workspace(request) -> Workspace:
    """The viewer's community: 403 for anyone without a community role; with several,
    `?community=<id>` picks one of theirs (404 for any other)."""
    if not has_workspace(request.user):
        raise PermissionDenied
    scope = scope_of(request.user)
    wanted = request.GET.get("community") or request.POST.get("community")
    if wanted:
        try:
            community_id = int(wanted)
        except ValueError as exc:
            raise Http404 from exc
        if community_id not in scope.community_ids:
            raise Http404
    else:
        community_id = min(scope.community_ids)
    # One query: the viewer's roles there, each with the community (and its street) joined, a
    # row per grid of the role (one with none for a role without grids).
    roles = list(
        StaffRole.objects.filter(user=request.user, community_id=community_id)
        .select_related("community__street")
        .annotate(grid_pk=F("grids__pk"), grid_community_id=F("grids__community_id"))
        .order_by()
    )
    if not roles:  # the role was taken away since the scope was read
        raise PermissionDenied
    community = roles[0].community
    kinds = {role.kind for role in roles}
    # A grid worker's grids in this community (a grid of another is not theirs here).
    grid_ids = frozenset(
        role.grid_pk for role in roles if role.grid_pk and role.grid_community_id == community.pk
    )
    return Workspace(
        community=community,
        grid_ids=grid_ids,
        is_grid_worker=RoleKind.COMMUNITY_STAFF not in kinds,
    )


def require_manager(user, community) -> None:
    if not can_manage(user, community):
        raise PermissionDenied
