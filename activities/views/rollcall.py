"""The roll call (点名) of one activity on one phone screen, the walk-in search, and the
attendance board (一目了然) that shows who came, who did not and who asked for leave."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_safe

from communities.permissions import oversees, people_rows, sees_only_own_rows
from members.models import PersonalDataView
from members.names import member_order
from members.privacy import personal_data_page

from .. import figures
from ..forms.rollcall import RollCallForm, RollCallRowForm, WalkInSearchForm
from ..models import Activity, Participation
from ..services.rollcall import (
    participation_roll_call,
    roll_call_closed_reason,
    row_key,
    walk_in_candidates,
    walk_in_search,
)
from .common import can_manage, require_manager

Status = Participation.Status
MAX_WALK_INS = 200  # more ids than anyone adds on one screen: the rest is noise
MAX_ID = 2**63 - 1  # a larger number would overflow the database's integer, not just miss


def _activity(request, pk) -> Activity:
    """The activity if the viewer may see it (else 404) and take its roll call (else 403)."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related("community", "grid", "type"),
        pk=pk,
    )
    require_manager(request.user, activity.community)
    return activity


def _ids(values) -> tuple[list[int], bool]:
    """Member ids from the query string or the form, in order, once each; and whether any
    value was not an id at all."""
    ids, bad = [], False
    for value in values[:MAX_WALK_INS]:
        try:
            number = int(value)
        except (TypeError, ValueError):
            bad = True
            continue
        if not 0 < number <= MAX_ID:
            bad = True
        elif number not in ids:
            ids.append(number)
    return ids, bad


def _roll_call_rows(request, activity, walk_in_ids, data=None):
    """The forms of everyone on the activity (locked rows apart) and of the walk-ins, and the
    ids asked for that could not be added."""
    participations = sorted(
        Participation.objects.visible_to(request.user)
        .filter(activity=activity)
        .select_related("member__agency")
        .order_by(),  # sorted here (member_order), not by the database
        key=lambda p: member_order(p.member),
    )
    # The waitlist held no seat: its people are added like walk-ins when they come.
    participations = [p for p in participations if p.status != Status.WAITLISTED]
    on_activity = {p.member_id for p in participations}
    wanted = [pk for pk in walk_in_ids if pk not in on_activity]
    found = (
        {
            m.pk: m
            for m in walk_in_candidates(activity=activity, user=request.user).filter(pk__in=wanted)
        }
        if wanted
        else {}
    )
    locked = [p for p in participations if p.review == Participation.Review.CONFIRMED]
    rows = [
        RollCallRowForm(data, member=p.member, participation=p, activity=activity)
        for p in participations
        if p.review != Participation.Review.CONFIRMED
    ]
    rows += [
        RollCallRowForm(data, member=found[pk], activity=activity) for pk in wanted if pk in found
    ]
    missing = [pk for pk in wanted if pk not in found]
    return rows, locked, missing


def _counts(rows) -> dict:
    counts = {"present": 0, "absent": 0, "leave": 0, "unmarked": 0}
    for row in rows:
        counts[row.current_status or "unmarked"] += 1
    return counts


def _render_roll_call(
    request, activity, *, rows, locked, form, errors=(), search=None, matches=None, status=200
):
    added = [row.member.pk for row in rows if row.is_walk_in]
    if matches is not None:
        for member in matches:
            member.add_url = (
                reverse("activities:roll_call", args=[activity.pk])
                + "?"
                # No #fragment: the browser would skip the search box's autofocus for it.
                + urlencode({"add": [*added, member.pk]}, doseq=True)
            )
    # The latest walk-in, named above the empty search box after the reload that added them;
    # the box takes the focus so that the next walk-in is typed at once.
    just_added = None
    if matches is None and request.method != "POST":
        just_added = next((row.member for row in reversed(rows) if row.is_walk_in), None)
    # Those on the waitlist who are not on the screen yet: one tap adds one who came.
    waitlisted = [
        p.member
        for p in Participation.objects.visible_to(request.user)
        .filter(activity=activity)
        .waitlist()
        .exclude(member__in=added)
        .select_related("member__agency")
    ]
    for member in waitlisted:
        member.add_url = (
            reverse("activities:roll_call", args=[activity.pk])
            + "?"
            + urlencode({"add": [*added, member.pk]}, doseq=True)
        )
    search = search or WalkInSearchForm()
    if just_added is not None:
        search.fields["q"].widget.attrs["autofocus"] = True
    context = {
        "activity": activity,
        "closed": roll_call_closed_reason(activity),
        "rows": rows,
        "locked": locked,
        "form": form,
        "errors": errors,
        "counts": _counts(rows),
        "added": added,
        "search_form": search,
        "matches": matches,
        "waitlisted": waitlisted,
        "just_added": just_added,
        "started": activity.starts_at <= timezone.now(),
    }
    return render(request, "activities/roll_call.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@personal_data_page(PersonalDataView.Page.ROLL_CALL)
def roll_call(request, pk):
    """GET shows everyone with one tap each for present / absent / leave (`?add=<member id>`
    puts walk-ins on the screen without JavaScript); POST saves them all at once."""
    activity = _activity(request, pk)
    if request.method == "POST":
        return _save_roll_call(request, activity)
    walk_in_ids, bad = _ids(request.GET.getlist("add"))
    rows, locked, missing = _roll_call_rows(request, activity, walk_in_ids)
    if bad or missing:
        messages.warning(
            request, _("Some of the people to add could not be found; add them again.")
        )
    form = RollCallForm(initial={"resident_volunteers": activity.resident_volunteers})
    return _render_roll_call(request, activity, rows=rows, locked=locked, form=form)


def _save_roll_call(request, activity):
    walk_in_ids, bad = _ids(request.POST.getlist("walkin"))
    rows, locked, missing = _roll_call_rows(request, activity, walk_in_ids, data=request.POST)
    form = RollCallForm(request.POST)
    errors = []
    closed = roll_call_closed_reason(activity)
    if closed:
        errors.append(closed)
    if bad or missing:
        errors.append(
            _(
                "Some of the people added cannot be: they are not reported in to this community "
                "or were removed. Check the list and save again."
            )
        )
    # A page opened before the agency office confirmed a record still has its row: a change
    # there is refused, not dropped in silence ("nothing has changed").
    errors += [
        _("%(name)s: %(error)s") % {"name": p.member.name, "error": Participation.LOCKED}
        for p in locked
        if _changes_locked(request.POST, p, activity)
    ]
    valid = all([form.is_valid(), *(row.is_valid() for row in rows)])
    if valid and not errors:
        try:
            result = participation_roll_call(
                activity=activity,
                by=request.user,
                rows=[row.to_row() for row in rows],
                resident_volunteers=form.cleaned_data["resident_volunteers"],
            )
        except ValidationError as exc:
            errors += _spread_errors(exc, rows, form)
        else:
            # What this save wrote: rows left as they were and locked ones count nowhere.
            if result.saved:
                messages.success(
                    request,
                    _(
                        "Roll call saved: %(present)d present, %(absent)d absent, "
                        "%(leave)d on leave."
                    )
                    % {"present": result.present, "absent": result.absent, "leave": result.leave},
                )
            else:
                messages.info(request, _("Nothing has changed: the roll call was already saved."))
            if result.added:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d person was added on the spot.",
                        "%(count)d people were added on the spot.",
                        result.added,
                    )
                    % {"count": result.added},
                )
            if result.waiting:
                messages.warning(
                    request,
                    ngettext(
                        "%(count)d person is not marked yet: still waiting for the roll call.",
                        "%(count)d people are not marked yet: still waiting for the roll call.",
                        result.waiting,
                    )
                    % {"count": result.waiting},
                )
            if result.notified.unreached:
                # Their leave was decided, but nothing can tell them so.
                messages.warning(request, result.notified.warning())
            return redirect("activities:attendance_board", pk=activity.pk)
    if not errors and any(row.errors for row in rows):
        errors.append(_("Nothing was saved. Correct the marked rows and save again."))
    return _render_roll_call(
        request, activity, rows=rows, locked=locked, form=form, errors=errors, status=400
    )


def _changes_locked(data, participation, activity) -> bool:
    """Whether `data` (a roll call's POST) marks the locked `participation` otherwise than it is
    recorded: another status, other hours (empty: the activity's length), another reason."""
    row = RollCallRowForm(
        data, member=participation.member, participation=participation, activity=activity
    )
    if row.add_prefix("status") not in data:
        return False
    if not row.is_valid():
        return True

    def mark(status, hours, leave_reason):
        if hours is None:
            hours = activity.duration_hours
        return (
            status,
            hours if status == Status.PRESENT else None,
            leave_reason if status == Status.LEAVE else "",
        )

    wanted = row.to_row()
    return mark(wanted.status, wanted.hours, wanted.leave_reason) != mark(
        participation.status, participation.hours, participation.leave_reason
    )


def _spread_errors(exc: ValidationError, rows, form) -> list:
    """Puts the service's errors on the rows and fields they are about; returns the rest."""
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    by_key = {row_key(row.member.pk): row for row in rows}
    rest = []
    for key, errors in exc.message_dict.items():
        # `m12-hours`: the row of member 12, its field "hours" (services.rollcall.field_key).
        row_part, _dash, field = key.partition("-")
        if row_part in by_key:
            row = by_key[row_part]
            for message in errors:
                row.add_error(field if field in row.fields else None, message)
        elif key == "resident_volunteers":
            for message in errors:
                form.add_error("resident_volunteers", message)
        else:
            rest += errors  # NON_FIELD_ERRORS and anything not about one row
    if not rest:
        rest.append(_("Nothing was saved. Correct the marked rows and save again."))
    return rest


def _wants(request) -> str:
    wanted = request.GET.get("format", "")
    if wanted in ("json", "fragment"):
        return wanted
    if "application/json" in request.headers.get("Accept", ""):
        return "json"
    if request.headers.get("X-Requested-With"):
        return "fragment"
    return "page"


@login_required
@require_safe
def roll_call_search(request, pk):
    """Walk-ins: members reported in to this community who are not on the activity, by name or
    the last digits of their mobile. JSON or an HTML fragment for the script; without it, the
    roll call again with the matches to add."""
    activity = _activity(request, pk)
    search = WalkInSearchForm(request.GET)
    walk_in_ids, _bad = _ids(request.GET.getlist("add"))
    matches = []
    if search.is_valid():
        matches = [
            m
            for m in walk_in_search(
                activity=activity, user=request.user, query=search.cleaned_data["q"]
            )
            if m.pk not in walk_in_ids
        ]
    wants = _wants(request)
    if wants == "page":
        rows, locked, _missing = _roll_call_rows(request, activity, walk_in_ids)
        form = RollCallForm(initial={"resident_volunteers": activity.resident_volunteers})
        return _render_roll_call(
            request, activity, rows=rows, locked=locked, form=form, search=search, matches=matches
        )
    results = [(member, RollCallRowForm(member=member, activity=activity)) for member in matches]
    if wants == "json":
        return JsonResponse(
            {
                "query": search.data.get("q", ""),
                "errors": [str(e) for e in search.errors.get("q", [])],
                "results": [
                    {
                        "id": member.pk,
                        "name": member.name,
                        "agency": member.agency.short_name or member.agency.name,
                        "mobile": member.masked_mobile,
                        "row": render_to_string(
                            "activities/fragments/roll_call_row.html", {"row": row}, request
                        ),
                    }
                    for member, row in results
                ],
            }
        )
    return render(
        request,
        "activities/fragments/roll_call_search_results.html",
        {"activity": activity, "search_form": search, "results": results, "searched": True},
    )


# --- The attendance board ----------------------------------------------------------------


def _groups(participations) -> list[dict]:
    """The rows by agency (already in agency order, see member_order), each split by
    attendance."""
    groups: list[dict] = []
    for p in participations:
        if p.status == Status.WAITLISTED:
            continue  # the waitlist held no seat: neither attended nor missed
        if not groups or groups[-1]["agency"].pk != p.member.agency_id:
            groups.append(
                {"agency": p.member.agency, "present": [], "absent": [], "leave": [], "open": []}
            )
        group = groups[-1]
        if p.status == Status.SIGNED_UP:
            group["open"].append(p)
        else:
            group[p.status].append(p)
    return groups


@login_required
@require_safe
@personal_data_page(PersonalDataView.Page.BOARD)
def attendance_board(request, pk):
    """Who came (with hours), who was absent, who is on leave and who is still waiting for the
    roll call, by agency, with the figures of DESIGN.md. Community, street and city staff see
    everyone; an agency office its own members; a member who is on the activity only their own
    line (anyone else on a member login: 403)."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related(
            "community__street", "grid", "type"
        ),
        pk=pk,
    )
    sees_all = oversees(request.user, activity.community)
    visible = Participation.objects.visible_to(request.user).filter(
        people_rows(request.user, activity.community), activity=activity
    )
    participations = sorted(
        # Sorted here (member_order), not by the database.
        visible.select_related("member__agency", "leave_decided_by").order_by(),
        key=lambda p: member_order(p.member),
    )
    own_only = sees_only_own_rows(request.user)
    if own_only and not participations:
        raise PermissionDenied
    # Those still signed up are pending roll call once it has finished (never when cancelled).
    finished = activity.current_status == Activity.Status.FINISHED
    totals = None if own_only else figures.attendance(visible)
    context = {
        "activity": activity,
        "groups": _groups(participations),
        "totals": totals,
        "sees_all": sees_all,
        "own_only": own_only,
        "finished": finished,
        "can_roll_call": activity.takes_place and can_manage(request.user, activity.community),
        "people": (totals.present + activity.resident_volunteers) if totals and sees_all else None,
    }
    return render(request, "activities/attendance_board.html", context)
