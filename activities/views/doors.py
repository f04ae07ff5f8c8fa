"""Door-to-door publicity (入户宣传): an activity's buildings and stairwells, who covers each,
how many households they reached, and the coverage ("not one household missed", 一户不落)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from members.models import Member
from members.names import pinyin_key

from .. import figures
from ..forms.doors import DoorUnitAssignForm, DoorUnitRecordForm, DoorUnitsAddForm
from ..models import Activity, DoorToDoorUnit, Participation
from ..services.doors import (
    assignable_members,
    door_coverage,
    door_coverage_by_member,
    door_unit_assign,
    door_unit_record,
    door_unit_remove,
    door_units_add,
    may_record,
    unit_label,
)
from .common import can_manage, require_manager
from .notes import add_service_errors, person_name

UNIT_PAGE_SIZE = 100


def _members(user, activity):
    """Whom a manager may assign units to: in their scope, and on the activity or reported in
    to its community; `on_activity` marks those taking a place on it (the form lists them
    first, each group by pinyin)."""
    taking_a_place = Participation.objects.filter(
        activity=activity,
        member=OuterRef("pk"),
        status__in=[Participation.Status.SIGNED_UP, Participation.Status.PRESENT],
    )
    return (
        Member.objects.visible_to(user)
        .filter(pk__in=assignable_members(activity).values("pk"))
        .select_related("agency")
        .annotate(on_activity=Exists(taking_a_place))
    )


def _units(user, activity):
    return DoorToDoorUnit.objects.visible_to(user).filter(activity=activity)


def _doors_url(activity, unit=None):
    url = reverse("activities:door_units", args=[activity.pk])
    return f"{url}#unit-{unit.pk}" if unit is not None else url


def _percent_width(reached, households) -> str:
    """The width of a progress bar, in CSS (always with a dot, whatever the language)."""
    if not households:
        return "0"
    return f"{min(100, reached * 100 / households):.1f}"


def _render(request, activity, *, add_form=None, assign_form=None, record=None, status=200):
    """The page, with any form that failed kept as typed: `record` is (unit pk, form)."""
    user = request.user
    manager = can_manage(user, activity.community)
    units = _units(user, activity)
    # The activity's coverage is one figure without names, the same for everyone who may see the
    # page; the rows and the per-member list show only the people in the viewer's scope.
    coverage = door_coverage(DoorToDoorUnit.objects.filter(activity=activity))
    # By name as people read them (pinyin); the buildings nobody covers yet come last.
    by_member = sorted(
        door_coverage_by_member(units),
        key=lambda row: (
            row["member"] is None,
            pinyin_key(row["member__name"] or ""),
            row["member"],
        ),
    )
    for row in by_member:
        row["rate"] = figures.rate(row["reached"], row["households"])
        row["width"] = _percent_width(row["reached"], row["households"])
    rows = (
        units.select_related("compound", "member__agency", "recorded_by__member")
        .annotate(
            # The viewer's own units first: a member opens the page to record theirs.
            theirs=Case(
                When(member__user=user.pk, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by(
            "theirs",
            "compound__name",
            Length("building"),
            "building",
            Length("stairwell"),
            "stairwell",
            "pk",
        )
    )
    page = Paginator(rows, UNIT_PAGE_SIZE).get_page(request.GET.get("page"))
    record_pk, record_form = record or (None, None)
    ticked = set()
    if assign_form is not None and assign_form.is_bound:
        ticked = set(assign_form.data.getlist("units"))
    for unit in page:
        unit.label = unit_label(unit)
        unit.mine = bool(unit.member_id and unit.member.user_id == user.pk)
        unit.can_record = manager or unit.mine
        unit.width = _percent_width(unit.households_reached, unit.households)
        unit.done = unit.households_reached >= unit.households
        unit.recorder = person_name(unit.recorded_by)
        unit.ticked = str(unit.pk) in ticked
        unit.record_value = unit.households_reached
        unit.record_errors = []
        if unit.pk == record_pk:
            unit.record_value = record_form.data.get("households_reached", "")
            unit.record_errors = [e for errors in record_form.errors.values() for e in errors]
    if manager:
        add_form = add_form or DoorUnitsAddForm(community=activity.community)
        assign_form = assign_form or DoorUnitAssignForm(
            units=units, members=_members(user, activity)
        )
    return render(
        request,
        "activities/door_units.html",
        {
            "activity": activity,
            "manager": manager,
            "coverage": coverage,
            "coverage_width": _percent_width(coverage.reached, coverage.households),
            "by_member": by_member,
            "page": page,
            "add_form": add_form,
            "assign_form": assign_form,
            "is_door_to_door": activity.type.code == activity.type.Code.DOOR_TO_DOOR,
        },
        status=status,
    )


def _activity(request, pk):
    return get_object_or_404(
        Activity.objects.visible_to(request.user).select_related("community", "type", "grid"),
        pk=pk,
    )


@login_required
def door_units(request, pk):
    """The activity's buildings and stairwells. Managers add them (several at once) and assign
    them; the assigned members and managers record households reached."""
    activity = _activity(request, pk)
    if request.method != "POST":
        return _render(request, activity)
    require_manager(request.user, activity.community)
    action = request.POST.get("action")
    if action == "add":
        form = DoorUnitsAddForm(request.POST, community=activity.community)
        if form.is_valid():
            try:
                added = door_units_add(
                    activity=activity,
                    by=request.user,
                    units=form.cleaned_data["units"],
                    households=form.cleaned_data["households"],
                    compound=form.cleaned_data.get("compound"),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Added %(count)s: %(units)s.")
                    % {"count": len(added), "units": "、".join(unit_label(u) for u in added)},
                )
                return redirect(_doors_url(activity))
        return _render(request, activity, add_form=form)
    if action == "assign":
        units = _units(request.user, activity).select_related("activity__community")
        form = DoorUnitAssignForm(
            request.POST, units=units, members=_members(request.user, activity)
        )
        if form.is_valid():
            member = form.cleaned_data["member"]
            try:
                count = door_unit_assign(
                    units=form.cleaned_data["units"], member=member, by=request.user
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if member is None:
                    text = _("%(count)s taken back; nobody is assigned to them.") % {"count": count}
                else:
                    text = _("%(count)s assigned to %(name)s.") % {
                        "count": count,
                        "name": member.name,
                    }
                messages.success(request, text)
                return redirect(_doors_url(activity))
        return _render(request, activity, assign_form=form)
    messages.error(request, _("Choose what to do: add buildings or assign them."))
    return _render(request, activity)


def _unit(request, pk):
    return get_object_or_404(
        DoorToDoorUnit.objects.visible_to(request.user).select_related(
            "activity__community", "activity__type", "member", "compound"
        ),
        pk=pk,
    )


@login_required
@require_POST
def door_unit_record_view(request, pk):
    """Records the households reached in one unit: its member, or a manager."""
    unit = _unit(request, pk)
    if not may_record(request.user, unit):
        raise PermissionDenied
    form = DoorUnitRecordForm(request.POST, unit=unit)
    if form.is_valid():
        try:
            unit = door_unit_record(
                unit=unit,
                households_reached=form.cleaned_data["households_reached"],
                by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(unit)s: %(reached)s of %(households)s households reached.")
                % {
                    "unit": unit_label(unit),
                    "reached": unit.households_reached,
                    "households": unit.households,
                },
            )
            return redirect(_doors_url(unit.activity, unit))
    return _render(request, unit.activity, record=(unit.pk, form))


@login_required
@require_POST
def door_unit_remove_view(request, pk):
    """Takes a unit entered by mistake off the list (managers; nothing recorded on it yet)."""
    unit = _unit(request, pk)
    require_manager(request.user, unit.activity.community)
    label = unit_label(unit)
    try:
        door_unit_remove(unit=unit, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(unit)s is taken off the list.") % {"unit": label})
    return redirect(_doors_url(unit.activity))
