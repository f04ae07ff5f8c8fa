"""What a login may see: its roles turned into sets of ids, read once per user object.

Every `visible_to(user)` QuerySet method starts from `scope_of(user)`; views start from those
methods, so an object outside the viewer's scope is simply not found (404).
"""

from dataclasses import dataclass, field

from django.db.models import Q


@dataclass(frozen=True)
class Scope:
    user_id: int | None = None
    city: bool = False
    street_ids: frozenset = field(default_factory=frozenset)
    community_ids: frozenset = field(default_factory=frozenset)
    grid_ids: frozenset = field(default_factory=frozenset)
    agency_ids: frozenset = field(default_factory=frozenset)
    kinds: frozenset = field(default_factory=frozenset)

    @property
    def is_staff_of_any_place(self):
        return bool(self.city or self.street_ids or self.community_ids or self.agency_ids)


def scope_of(user) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return Scope()
    cached = getattr(user, "_xiachen_scope", None)
    if cached is not None:
        return cached
    from .models import StaffRole  # the models module imports this one

    roles = list(StaffRole.objects.filter(user=user).prefetch_related("grids"))
    kinds = {role.kind for role in roles}
    scope = Scope(
        user_id=user.pk,
        city=user.is_superuser or StaffRole.Kind.CITY_ADMIN in kinds,
        street_ids=frozenset(r.street_id for r in roles if r.street_id),
        community_ids=frozenset(r.community_id for r in roles if r.community_id),
        grid_ids=frozenset(g.pk for r in roles for g in r.grids.all()),
        agency_ids=frozenset(r.agency_id for r in roles if r.agency_id),
        kinds=frozenset(kinds),
    )
    user._xiachen_scope = scope
    return scope


def any_of(**lookups) -> Q:
    """OR of the lookups whose value is not empty; matches nothing when all are empty.

    Empty values are dropped rather than passed on, because `field=None` would mean
    "IS NULL" and let an anonymous scope match rows without a login."""
    q = Q(pk__in=[])
    for lookup, value in lookups.items():
        if value is None or (isinstance(value, (set, frozenset, list, tuple)) and not value):
            continue  # a QuerySet is kept as it is: testing it would run it
        q |= Q(**{lookup: value})
    return q


def can_manage(user, community) -> bool:
    """Community staff and grid workers of `community` (and city administrators) plan its
    activities, take its roll calls, review its report-ins and handle its concerns."""
    scope = scope_of(user)
    return scope.city or community.pk in scope.community_ids
