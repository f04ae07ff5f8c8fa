"""Door-to-door publicity (入户宣传): each member covers a building or stairwell, so that not one
household is missed (一户不落).

Managers (can_manage) list the units and assign them; the assigned member, or a manager, records
how many households were reached. Coverage is households reached ÷ households, summed in the
database.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Compound
from communities.permissions import can_manage
from members.models import Member, Registration
from members.names import pinyin_key

from .. import figures
from ..models import Activity, DoorToDoorUnit, Participation

# One submission of the "add" form; more than a compound's worth is surely a typing slip.
MAX_UNITS_AT_ONCE = 200
# The people the assignment picker shows at once: typing more of a name narrows it.
ASSIGNEE_LIMIT = 10


def _label(value: str, numbered) -> str:
    """A bare number as "3栋" / "1单元" (through the catalogue), anything else as typed."""
    return str(numbered % {"n": value}) if value.isdigit() else value


def unit_label(unit: DoorToDoorUnit, *, with_compound: bool = True) -> str:
    """How a unit reads on the page and in messages: "紫林苑 3栋 1单元"."""
    compound = unit.compound.name if with_compound and unit.compound_id else None
    return label_of(
        compound, unit.building, unit.stairwell, _("Building %(n)s"), _("Stairwell %(n)s")
    )


def label_of(compound: str | None, building: str, stairwell: str, building_word, stairwell_word):
    """unit_label() of a unit's parts, with "Building %(n)s" and "Stairwell %(n)s" as given
    (a list translates them once for its rows)."""
    parts = [compound] if compound is not None else []
    parts.append(_label(building, building_word))
    if stairwell:
        parts.append(_label(stairwell, stairwell_word))
    return " ".join(parts)


def assignable_members(activity: Activity):
    """Active members on the activity or reported in to its community."""
    on_activity = Participation.objects.filter(activity=activity).values("member")
    reported_in = (
        Registration.objects.reported_in().filter(community=activity.community_id).values("member")
    )
    return Member.objects.filter(status=Member.Status.ACTIVE).filter(
        Q(pk__in=on_activity) | Q(pk__in=reported_in)
    )


def door_assignees(*, activity: Activity, user) -> QuerySet:
    """Whom `user` may give `activity`'s buildings to: the assignable members (on the activity
    or reported in to its community) within the user's scope, `on_activity` marking those
    taking a place on it. The picker searches these, and the assign form accepts only these."""
    return _marked(
        Member.objects.visible_to(user).filter(pk__in=assignable_members(activity).values("pk")),
        activity,
    )


def _marked(members, activity: Activity):
    """`members` with their agency and `on_activity`: taking a place on `activity`."""
    taking_a_place = Participation.objects.filter(
        activity=activity,
        member=OuterRef("pk"),
        status__in=Participation.TAKING_A_PLACE,
    )
    return members.select_related("agency").annotate(on_activity=Exists(taking_a_place))


@dataclass(frozen=True)
class Assignees:
    members: list
    more: bool  # more match than are shown: a longer query narrows them


def door_assignee_search(*, activity: Activity, user, query: str = "") -> Assignees:
    """The picker's people: those matching `query` (name, or last digits of the mobile), or
    with no query those taking a place on the activity, who are the likely ones. At most
    ASSIGNEE_LIMIT, those on the activity first, each group by pinyin as in a contact list."""
    query = query.strip()
    if query:
        candidates = assignable_members(activity).matching(query)
    else:
        # Those taking a place are on the activity, so assignable once active.
        taking_a_place = Participation.objects.filter(
            activity=activity, status__in=Participation.TAKING_A_PLACE
        ).values("member")
        candidates = Member.objects.filter(status=Member.Status.ACTIVE, pk__in=taking_a_place)
    # The same people as door_assignees, in steps: the candidates' ids first, then the scope
    # of only those. In one query PostgreSQL checked the scope of every member of the city
    # (80 ms for the page of a community with 3,800 reported in, 5 ms in steps).
    ids = list(candidates.values_list("pk", flat=True))
    members = _marked(Member.objects.visible_to(user).filter(pk__in=ids), activity)
    found = list(members.order_by("-on_activity", "name", "pk")[: ASSIGNEE_LIMIT + 1])
    shown = sorted(
        found[:ASSIGNEE_LIMIT], key=lambda m: (not m.on_activity, pinyin_key(m.name), m.pk)
    )
    return Assignees(members=shown, more=len(found) > ASSIGNEE_LIMIT)


def may_record(user, unit: DoorToDoorUnit) -> bool:
    """The member the unit is assigned to, and the community's managers."""
    if unit.member_id and unit.member.user_id and unit.member.user_id == user.pk:
        return True
    return can_manage(user, unit.activity.community)


def _check_manager(by, activity: Activity):
    if not can_manage(by, activity.community):
        raise ValidationError(
            _("Only the community's staff and grid workers list and assign buildings.")
        )


@transaction.atomic
def door_units_add(
    *,
    activity: Activity,
    by,
    units: Sequence[tuple[str, str]],
    households: int,
    compound: Compound | None = None,
) -> list[DoorToDoorUnit]:
    """Adds buildings or stairwells, each given as (building, stairwell) with `households`
    households each; refuses the whole lot if any is on the list already."""
    _check_manager(by, activity)
    # Two managers adding at once: the second waits, then sees the first one's units.
    Activity.objects.select_for_update(of=("self",)).filter(pk=activity.pk).first()
    if compound is not None and compound.community_id != activity.community_id:
        raise ValidationError({"compound": _("The compound must be one of this community's.")})
    if households is None or households < 1:
        raise ValidationError(
            {"households": _("A building or stairwell has at least one household.")}
        )
    cleaned = []
    for building, stairwell in units:
        building, stairwell = (building or "").strip(), (stairwell or "").strip()
        if not building:
            raise ValidationError({"building": _("Give the building.")})
        if len(building) > 30 or len(stairwell) > 30:
            raise ValidationError(_("A building or stairwell name has at most 30 characters."))
        if (building, stairwell) not in cleaned:
            cleaned.append((building, stairwell))
    if not cleaned:
        raise ValidationError({"building": _("Give the building.")})
    if len(cleaned) > MAX_UNITS_AT_ONCE:
        raise ValidationError(
            _("That is %(count)s at once; add at most %(max)s at a time.")
            % {"count": len(cleaned), "max": MAX_UNITS_AT_ONCE}
        )
    # Checked here and not left to the unique constraint: with no compound the columns hold
    # NULL, which the constraint treats as distinct.
    wanted = Q(pk__in=[])
    for building, stairwell in cleaned:
        wanted |= Q(building=building, stairwell=stairwell)
    taken = list(
        DoorToDoorUnit.objects.filter(activity=activity, compound=compound)
        .select_related("compound")
        .filter(wanted)
        .order_by("building", "stairwell")
    )
    if taken:
        raise ValidationError(
            _("Already on the list: %(units)s.")
            % {"units": "、".join(unit_label(u) for u in taken)}
        )
    return DoorToDoorUnit.objects.bulk_create(
        DoorToDoorUnit(
            activity=activity,
            compound=compound,
            building=building,
            stairwell=stairwell,
            households=households,
        )
        for building, stairwell in cleaned
    )


@transaction.atomic
def door_unit_assign(*, units: Iterable[DoorToDoorUnit], member: Member | None, by) -> int:
    """Assigns one or several units of an activity to `member` (None: to nobody). Ticking the
    stairwells of a building and choosing a member is how a manager hands out the work."""
    units = list(units)
    if not units:
        raise ValidationError(_("Tick the buildings or stairwells to assign."))
    activity = units[0].activity
    if any(unit.activity_id != activity.pk for unit in units):
        raise ValidationError(_("These buildings belong to different activities."))
    _check_manager(by, activity)
    if member is not None and not assignable_members(activity).filter(pk=member.pk).exists():
        raise ValidationError(
            {
                "member": _(
                    "%(name)s is neither on this activity nor reported in to %(community)s."
                )
                % {"name": member.name, "community": activity.community.name}
            }
        )
    return DoorToDoorUnit.objects.filter(pk__in=[unit.pk for unit in units]).update(member=member)


@transaction.atomic
def door_unit_record(
    *, unit: DoorToDoorUnit, households_reached: int, by, now: dt.datetime | None = None
) -> DoorToDoorUnit:
    """Records how many households of a unit were reached; recording again corrects it. `now`
    is when it is recorded (default: the clock); the demo passes the moment of its story."""
    unit = (
        DoorToDoorUnit.objects.select_for_update(of=("self",))
        .select_related("activity__community", "member", "compound")
        .get(pk=unit.pk)
    )
    if not may_record(by, unit):
        raise ValidationError(
            _("Only the member assigned to %(unit)s, or the community's staff, record it.")
            % {"unit": unit_label(unit)}
        )
    if households_reached is None or households_reached < 0:
        raise ValidationError(
            {"households_reached": _("Enter the number of households reached, e.g. 12.")}
        )
    if households_reached > unit.households:
        raise ValidationError(
            {
                "households_reached": _(
                    "%(reached)s households reached is more than the %(households)s households "
                    "of %(unit)s."
                )
                % {
                    "reached": households_reached,
                    "households": unit.households,
                    "unit": unit_label(unit),
                }
            }
        )
    unit.households_reached = households_reached
    unit.recorded_by = by
    unit.recorded_at = now or timezone.now()
    unit.save(update_fields=["households_reached", "recorded_by", "recorded_at"])
    return unit


@transaction.atomic
def door_unit_remove(*, unit: DoorToDoorUnit, by) -> None:
    """Takes a unit entered by mistake off the list, as long as nothing was recorded on it."""
    unit = (
        DoorToDoorUnit.objects.select_for_update(of=("self",))
        .select_related("activity__community", "compound")
        .get(pk=unit.pk)
    )
    _check_manager(by, unit.activity)
    if unit.households_reached or unit.recorded_at:
        raise ValidationError(
            _("Households were recorded on %(unit)s; it stays on the list.")
            % {"unit": unit_label(unit)}
        )
    unit.delete()


@dataclass(frozen=True)
class Coverage:
    units: int
    households: int
    reached: int

    @property
    def rate(self) -> Decimal | None:
        return figures.rate(self.reached, self.households)

    @property
    def complete(self) -> bool:
        """一户不落: every household of every unit reached."""
        return self.households > 0 and self.reached >= self.households


def door_coverage(units) -> Coverage:
    """Households reached ÷ households over `units` (an already scoped QuerySet): one query."""
    totals = units.aggregate(
        units=Count("pk"),
        households=Coalesce(Sum("households"), 0),
        reached=Coalesce(Sum("households_reached"), 0),
    )
    return Coverage(
        units=totals["units"], households=totals["households"], reached=totals["reached"]
    )


def door_coverage_by_member(units):
    """Per-member totals (units, households, reached), by name; unassigned units as one row
    with member None. One query."""
    return (
        units.order_by()
        .values("member", "member__name", "member__agency__short_name", "member__agency__name")
        .annotate(
            units=Count("pk"),
            households=Sum("households"),
            reached=Sum("households_reached"),
        )
        .order_by("member__name", "member")
    )
