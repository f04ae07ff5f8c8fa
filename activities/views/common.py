"""What every workspace page needs: whose community it is, and who may do what there."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from communities.models import Community, Grid, StaffRole
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
    community = Community.objects.select_related("street").get(pk=community_id)
    roles = StaffRole.objects.filter(user=request.user, community=community)
    kinds = set(roles.values_list("kind", flat=True))
    grid_ids = frozenset(
        Grid.objects.filter(grid_workers__in=roles, community=community).values_list(
            "pk", flat=True
        )
    )
    return Workspace(
        community=community,
        grid_ids=grid_ids,
        is_grid_worker=RoleKind.COMMUNITY_STAFF not in kinds,
    )


def require_manager(user, community) -> None:
    if not can_manage(user, community):
        raise PermissionDenied
