"""Door-to-door publicity (入户宣传): an activity's buildings and stairwells, who covers each,
how many households they reached, and the coverage ("not one household missed", 一户不落)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Length
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from communities.pagination import Paginator
from communities.permissions import scope_of
from communities.rows import Row
from members.names import pinyin_key

from .. import figures
from ..forms.doors import (
    AssigneeSearchForm,
    DoorUnitAssignForm,
    DoorUnitRecordForm,
    DoorUnitsAddForm,
)
from ..models import Activity, DoorToDoorUnit
from ..services.doors import (
    Coverage,
    door_assignee_search,
    door_assignees,
    door_coverage,
    door_coverage_by_member,
    door_unit_assign,
    door_unit_record,
    door_unit_remove,
    door_units_add,
    label_of,
    may_record,
    unit_label,
)
from .common import can_manage, require_manager
from .notes import add_service_errors, person_name_columns, person_name_of

UNIT_PAGE_SIZE = 100
# What a row of the list shows (door_rows.door_unit_rows).
_UNIT_COLUMNS = (
    "pk",
    "compound_id",
    "compound__name",
    "building",
    "stairwell",
    "households",
    "households_reached",
    "member_id",
    "member__name",
    "member__user_id",
    "recorded_at",
    *person_name_columns("recorded_by"),
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


class _Labels:
    """unit_label() of the list's rows (values() rows), "Building %(n)s" and "Stairwell %(n)s"
    translated once for the page."""

    def __init__(self):
        self.building = gettext("Building %(n)s")
        self.stairwell = gettext("Stairwell %(n)s")

    def of(self, unit) -> str:
        compound = unit["compound__name"] if unit["compound_id"] else None
        return label_of(
            compound, unit["building"], unit["stairwell"], self.building, self.stairwell
        )


class _DoorWords:
    """What the page says of each unit and member row ("12 households", "recorded by 王海燕
    12/7 10:00", "3 buildings or stairwells"), translated once per count rather than by a
    template tag for each row: the tags were a third of the list's rendering."""

    def __init__(self):
        self._households, self._units, self._all = {}, {}, {}

    def all_reached(self, count: int) -> str:
        """The record form's button: "All 12 reached"."""
        if count not in self._all:
            self._all[count] = gettext("All %(n)s reached") % {"n": count}
        return self._all[count]

    def households(self, count: int) -> str:
        if count not in self._households:
            self._households[count] = ngettext(
                "%(counter)s household", "%(counter)s households", count
            ) % {"counter": count}
        return self._households[count]

    def units(self, count: int) -> str:
        if count not in self._units:
            self._units[count] = ngettext(
                "%(counter)s building or stairwell", "%(counter)s buildings or stairwells", count
            ) % {"counter": count}
        return self._units[count]

    def recorded(self, name: str, when) -> str:
        return gettext("recorded by %(name)s %(when)s") % {
            "name": name,
            "when": date_format(localtime(when), "SHORT_DATETIME_FORMAT"),
        }


def _picker(request, activity, assign_form, search):
    """The assignment picker: its search box, the people it offers (the matches of the search,
    or with none those on the activity) and the pick posted before, kept when the form comes
    back with an error."""
    search = search or AssigneeSearchForm()
    query = search.cleaned_data["member_q"] if search.is_bound and search.is_valid() else ""
    found = door_assignee_search(activity=activity, user=request.user, query=query)
    members, picked = list(found.members), None
    if assign_form is not None and assign_form.is_bound:
        picked = assign_form.data.get("member")
        assign_form.is_valid()  # already checked by the view: its fields that passed are kept
        chosen = assign_form.cleaned_data.get("member")
        if chosen is not None and chosen not in members:
            members.insert(0, chosen)
    return {
        "search": search,
        "members": members,
        "more": found.more,
        "searched": bool(query),
        "picked": picked,
    }


def _render(
    request,
    activity,
    *,
    add_form=None,
    assign_form=None,
    record=None,
    search=None,
    ticked=None,
    status=200,
):
    """The page, with any form that failed kept as typed: `record` is (unit pk, form);
    `search` is the picker's search and `ticked` the units ticked before it."""
    user = request.user
    manager = can_manage(user, activity.community)
    units = _units(user, activity)
    # By name as people read them (pinyin); the buildings nobody covers yet come last.
    by_member = sorted(
        door_coverage_by_member(units),
        key=lambda row: (
            row["member"] is None,
            pinyin_key(row["member__name"] or ""),
            row["member"],
        ),
    )
    # The activity's coverage is one figure without names, the same for everyone who may see the
    # page; the rows and the per-member list show only the people in the viewer's scope.
    scope = scope_of(user)
    if scope.city or activity.community_id in scope.place_community_ids:
        # The viewer sees every unit of the activity (DoorToDoorUnit.visible_to): the per-member
        # rows add up to its coverage, and it is not summed again.
        coverage = Coverage(
            units=sum(row["units"] for row in by_member),
            households=sum(row["households"] for row in by_member),
            reached=sum(row["reached"] for row in by_member),
        )
    else:
        coverage = door_coverage(DoorToDoorUnit.objects.filter(activity=activity))
    words = _DoorWords()
    for row in by_member:
        row["rate"] = figures.rate(row["reached"], row["households"])
        row["width"] = _percent_width(row["reached"], row["households"])
        row["units_text"] = words.units(row["units"])
    rows = (
        units.annotate(
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
        # Rows of values rather than instances of five models each (a unit, its compound, its
        # member, the login that recorded it and that login's member): 100 a page.
        .values(*_UNIT_COLUMNS)
    )
    # The per-member rows count the viewer's units already: the list is not counted again.
    count = sum(row["units"] for row in by_member)
    page = Paginator(rows, UNIT_PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    record_pk, record_form = record or (None, None)
    if ticked is None:
        ticked = []
        if assign_form is not None and assign_form.is_bound:
            ticked = assign_form.data.getlist("units")
    ticked = set(ticked)
    labels = _Labels()
    page.object_list = [Row(unit) for unit in page.object_list]
    for unit in page:
        unit["label"] = labels.of(unit)
        unit["mine"] = bool(unit["member_id"] and unit["member__user_id"] == user.pk)
        unit["can_record"] = manager or unit["mine"]
        unit["width"] = _percent_width(unit["households_reached"], unit["households"])
        unit["done"] = unit["households_reached"] >= unit["households"]
        unit["households_text"] = words.households(unit["households"])
        unit["all_reached_text"] = words.all_reached(unit["households"])
        if unit["recorded_at"]:
            unit["recorded_text"] = words.recorded(
                person_name_of(unit, "recorded_by"), unit["recorded_at"]
            )
        unit["ticked"] = str(unit["pk"]) in ticked
        unit["record_value"] = unit["households_reached"]
        unit["record_errors"] = []
        if unit["pk"] == record_pk:
            unit["record_value"] = record_form.data.get("households_reached", "")
            unit["record_errors"] = [e for errors in record_form.errors.values() for e in errors]
    picker = None
    if manager:
        add_form = add_form or DoorUnitsAddForm(community=activity.community)
        assign_form = assign_form or DoorUnitAssignForm(
            units=units, members=lambda: door_assignees(activity=activity, user=user)
        )
        if search is None and "member_q" in request.GET:
            search = AssigneeSearchForm(request.GET)  # the picker's search as a plain GET
        picker = _picker(request, activity, assign_form, search)
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
            "picker": picker,
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
            request.POST,
            units=units,
            members=door_assignees(activity=activity, user=request.user),
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
    if action == "find":
        # The picker's search without JavaScript: the same page, with the matches to pick
        # from and the ticked buildings still ticked.
        return _render(
            request,
            activity,
            search=AssigneeSearchForm(request.POST),
            ticked=request.POST.getlist("units"),
        )
    messages.error(request, _("Choose what to do: add buildings or assign them."))
    return _render(request, activity)


@login_required
@require_safe
def door_assignees_view(request, pk):
    """The picker's search for the script: members the manager may give the activity's
    buildings to, by name or the last digits of the mobile, as JSON."""
    activity = _activity(request, pk)
    require_manager(request.user, activity.community)
    search = AssigneeSearchForm(request.GET)
    members, more = [], False
    if search.is_valid():
        found = door_assignee_search(
            activity=activity, user=request.user, query=search.cleaned_data["member_q"]
        )
        members, more = found.members, found.more
    return JsonResponse(
        {
            "query": search.data.get("member_q", ""),
            "errors": [str(e) for e in search.errors.get("member_q", [])],
            "more": more,
            "results": [
                {
                    "id": member.pk,
                    "name": member.name,
                    "agency": member.agency.short_name or member.agency.name,
                    "mobile": member.masked_mobile,
                    "on_activity": member.on_activity,
                }
                for member in members
            ],
        }
    )


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
