"""Activities of a community: the list, the week, planning, changing, cancelling and copying
one, and the page of one activity."""

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, F, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from communities.dates import local_midnight
from communities.filters import GridFilter
from communities.models import Community, Grid
from communities.pagination import Paginator
from communities.permissions import can_list_activities, people_rows, scope_of, whose_rows
from communities.validators import FIRST_YEAR, LAST_YEAR
from members.names import member_order

from ..filters import ActivityFilterSet
from ..forms.activity import ActivityCancelForm, ActivityForm
from ..models import Activity, Participation, count_places
from ..services import activity as services
from ..services.activity import activity_editable_error
from ..services.notes import may_post
from .common import can_manage, require_manager, workspace
from .leave import activity_leave_requests
from .signup import sign_up_panel

PAGE_SIZE = 20
WEEK = dt.timedelta(days=7)

STATUS_BADGES = {
    Activity.Status.DRAFT: "text-bg-light border",
    Activity.Status.RECRUITING: "text-bg-primary",
    Activity.Status.ONGOING: "text-bg-success",
    Activity.Status.FINISHED: "text-bg-secondary",
    Activity.Status.CANCELLED: "text-bg-danger",
}


# --- Whose community --------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The community whose activities a page shows, and what the viewer has there."""

    community: Community
    grid_ids: frozenset  # a grid worker's own grids
    is_grid_worker: bool
    # The communities the viewer may switch between with ?community= (empty with only one).
    choices: tuple = ()

    @property
    def query(self) -> str:
        """`?community=<id>` when the viewer has several, so that links keep the choice."""
        return "?" + urlencode({"community": self.community.pk}) if self.choices else ""


def _place(request) -> Place:
    """Community staff and grid workers work in their community (activities.views.common);
    city administrators and street officers may look at any community in their scope, chosen
    with ?community= (the first one otherwise). Anyone else gets a 403."""
    user = request.user
    scope = scope_of(user)
    if scope.community_ids:
        ws = workspace(request)
        choices = ()
        if len(scope.community_ids) > 1:
            choices = tuple(Community.objects.filter(pk__in=scope.community_ids))
        return Place(ws.community, ws.grid_ids, ws.is_grid_worker, choices)
    if not can_list_activities(user):
        raise PermissionDenied
    communities = Community.objects.visible_to(user).select_related("street")
    if not scope.city:
        communities = communities.filter(street__in=scope.street_ids)
    choices = tuple(communities)
    if not choices:
        raise Http404
    wanted = request.GET.get("community") or request.POST.get("community")
    if not wanted:
        return Place(choices[0], frozenset(), False, choices)
    for community in choices:
        if str(community.pk) == wanted:
            return Place(community, frozenset(), False, choices)
    raise Http404


def _with_figures(activities, now):
    """Each activity with its live status (the list and the week); the week also counts its
    places here, the list for its page only (count_places)."""
    return activities.select_related("type", "grid").with_live_status(now)


def _label(rows, place):
    """Status label and badge, and whether it is in the viewer's grids; no queries."""
    for activity in rows:
        activity.live_label = Activity.Status(activity.live_status).label
        activity.badge = STATUS_BADGES.get(activity.live_status, "text-bg-secondary")
        activity.in_my_grids = activity.grid_id in place.grid_ids
    return rows


# --- List and week ----------------------------------------------------------------------------


@login_required
def activity_list(request):
    """The community's activities, upcoming first (soonest on top), then past ones (latest on
    top). A grid worker's list starts with their own grids."""
    place = _place(request)
    now = timezone.now()
    filters = ActivityFilterSet(
        request.GET,
        _with_figures(
            Activity.objects.visible_to(request.user).filter(community=place.community), now
        ),
        grids=Grid.objects.filter(community=place.community),
        own_grid_ids=place.grid_ids if place.is_grid_worker else frozenset(),
    )
    activities = filters.qs.annotate(
        is_past=Case(When(ends_at__lte=now, then=Value(1)), default=Value(0)),
        upcoming_start=Case(When(ends_at__gt=now, then=F("starts_at"))),
    )
    activities = activities.order_by(
        "is_past", F("upcoming_start").asc(nulls_last=True), "-starts_at", "-pk"
    )
    page = Paginator(activities, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = count_places(page.object_list)
    _label(page.object_list, place)
    in_use = filters.in_use
    return render(
        request,
        "activities/activity_list.html",
        {
            "place": place,
            "form": filters.form,
            "page": page,
            "showing_my_grids": in_use.get("grid") == GridFilter.MINE,
            "more_filters": bool(set(in_use) - {"q", "grid"}) or bool(filters.errors),
            "can_manage": can_manage(request.user, place.community),
        },
    )


def _week_of(request):
    """The Monday of the week holding ?start (this week without it), and an error message for
    a ?start that is not a date."""
    today = timezone.localdate()
    raw = request.GET.get("start", "").strip()
    day, error = today, None
    if raw:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            error = _("“%(value)s” is not a date (YYYY-MM-DD); showing this week.") % {
                "value": raw[:20]
            }
        else:
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                error = _("Choose a date between %(first)s and %(last)s; showing this week.") % {
                    "first": FIRST_YEAR,
                    "last": LAST_YEAR,
                }
                day = today
    return day - dt.timedelta(days=day.weekday()), error


@login_required
def activity_week(request):
    """Monday to Sunday of one week, the activities of each day; days stack on a phone."""
    place = _place(request)
    now = timezone.now()
    monday, error = _week_of(request)
    activities = _label(
        list(
            _with_figures(
                Activity.objects.visible_to(request.user).filter(
                    community=place.community,
                    starts_at__gte=local_midnight(monday),
                    starts_at__lt=local_midnight(monday + WEEK),
                ),
                now,
            )
            .with_place_counts()
            .order_by("starts_at", "pk")
        ),
        place,
    )
    days = [{"date": monday + dt.timedelta(days=i), "activities": []} for i in range(WEEK.days)]
    for activity in activities:
        days[(timezone.localdate(activity.starts_at) - monday).days]["activities"].append(activity)

    def week_url(day):
        query = {"start": day.isoformat()}
        if place.choices:
            query["community"] = place.community.pk
        return f"{reverse('activities:activity_week')}?{urlencode(query)}"

    return render(
        request,
        "activities/activity_week.html",
        {
            "place": place,
            "days": days,
            "today": timezone.localdate(now),
            "monday": monday,
            "sunday": monday + dt.timedelta(days=6),
            "count": len(activities),
            "error": error,
            "previous_url": week_url(monday - WEEK),
            "next_url": week_url(monday + WEEK),
            "this_week_url": week_url(timezone.localdate(now)),
            "can_manage": can_manage(request.user, place.community),
        },
    )


# --- Planning and changing --------------------------------------------------------------------


def _render_form(request, form, *, community, action, activity=None, copied_from=None):
    return render(
        request,
        "activities/activity_form.html",
        {
            "form": form,
            "community": community,
            "action": action,
            "activity": activity,
            "copied_from": copied_from,
            "type_natures": form.type_natures,
        },
    )


def _create_url(community: Community) -> str:
    return f"{reverse('activities:activity_create')}?{urlencode({'community': community.pk})}"


def _default_times(day: dt.date):
    """09:00–11:00 on `day`: a morning's work, the most common slot."""
    start = local_midnight(day) + dt.timedelta(hours=9)
    return start, start + dt.timedelta(hours=2)


@login_required
def activity_new(request):
    """A new activity of the viewer's community; ?date=YYYY-MM-DD (from the week view)
    proposes that morning."""
    place = _place(request)
    require_manager(request.user, place.community)
    initial = {}
    if len(place.grid_ids) == 1:
        initial["grid"] = next(iter(place.grid_ids))
    if request.method == "GET" and request.GET.get("date"):
        try:
            day = dt.date.fromisoformat(request.GET["date"])
        except ValueError:
            day = None
        if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
            messages.warning(request, _("The date in the link is not a date; enter the time."))
        else:
            initial["starts_at"], initial["ends_at"] = _default_times(day)
    form = ActivityForm(
        request.POST if request.method == "POST" else None,
        community=place.community,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            activity = services.activity_create(
                community=place.community, organizer=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("“%(title)s” is planned.") % {"title": activity.title})
            return redirect(activity)
    if request.method == "POST":
        messages.error(request, _("Please correct the errors below."))
    return _render_form(
        request, form, community=place.community, action=_create_url(place.community)
    )


def _managed_activity(request, pk) -> Activity:
    """An activity the viewer may change: 404 outside their scope, 403 for a role that may
    see it but not plan it (an agency office, a member)."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related(
            "community", "grid", "type", "agreement__agency"
        ),
        pk=pk,
    )
    require_manager(request.user, activity.community)
    return activity


@login_required
def activity_edit(request, pk):
    activity = _managed_activity(request, pk)
    reason = activity_editable_error(activity)
    if reason:
        messages.error(request, reason)
        return redirect(activity)
    form = ActivityForm(
        request.POST if request.method == "POST" else None,
        instance=activity,
        community=activity.community,
    )
    if request.method == "POST" and form.is_valid():
        try:
            activity = services.activity_update(activity=activity, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The changes are saved."))
            notified = activity.notified
            if notified.queued:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d message about the new time or place is queued.",
                        "%(count)d messages about the new time or place are queued.",
                        notified.queued,
                    )
                    % {"count": notified.queued},
                )
            if notified.unreached:
                messages.warning(request, notified.warning())
            return redirect(activity)
    if request.method == "POST":
        messages.error(request, _("Please correct the errors below."))
    return _render_form(
        request,
        form,
        community=activity.community,
        action=reverse("activities:activity_edit", args=[activity.pk]),
        activity=activity,
    )


def next_occurrence(activity: Activity, now: dt.datetime):
    """Start and end of the next one: a week later, or as many weeks as it takes to be in the
    future (copying last month's patrol plans next week's, on the same weekday)."""
    weeks = 1
    if activity.starts_at + WEEK < now:
        weeks = (now - activity.starts_at) // WEEK + 1
    shift = WEEK * weeks
    # On the local wall clock, so that 09:00 stays 09:00 across a daylight-saving change.
    return (
        timezone.localtime(activity.starts_at) + shift,
        timezone.localtime(activity.ends_at) + shift,
    )


@login_required
@require_POST
def activity_copy(request, pk):
    """The form for a new activity, filled in from this one and moved to the next week; not
    saved until the person saves it there."""
    source = _managed_activity(request, pk)
    starts_at, ends_at = next_occurrence(source, timezone.now())
    initial = {
        "type": source.type_id,
        "title": source.title,
        "description": source.description,
        "place": source.place,
        "grid": source.grid_id,
        "capacity": source.capacity,
        "nature": source.nature,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": Activity.Status.RECRUITING,
    }
    if source.agreement is not None:
        problem = services.agreement_error(source.agreement, timezone.localdate(starts_at))
        if problem:
            messages.warning(request, problem)
        else:
            initial["agreement"] = source.agreement_id
    form = ActivityForm(community=source.community, initial=initial)
    return _render_form(
        request,
        form,
        community=source.community,
        action=_create_url(source.community),
        copied_from=source,
    )


@login_required
def activity_cancel_page(request, pk):
    """Asks for the reason, then cancels and tells those signed up."""
    activity = _managed_activity(request, pk)
    reason = activity_editable_error(activity)
    if reason:
        messages.error(request, reason)
        return redirect(activity)
    form = ActivityCancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            activity = services.activity_cancel(
                activity=activity, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            notified = activity.notified
            text = _("“%(title)s” is cancelled; those signed up are told.")
            if notified.unreached:
                text = _("“%(title)s” is cancelled.")
            messages.success(request, text % {"title": activity.title})
            if notified.unreached:
                messages.warning(request, notified.warning())
            return redirect(activity)
    return render(
        request,
        "activities/activity_cancel.html",
        # Those the cancellation is told to (services.activity.activity_cancel).
        {"activity": activity, "form": form, "signed_up": len(activity.signed_up_members())},
    )


def _list_query(user, community: Community) -> str | None:
    """The query string that opens `community`'s activity list for `user`, or None when the
    lists are not theirs (agency offices and members see activities, not community lists)."""
    scope = scope_of(user)
    if community.pk in scope.community_ids:
        return "?" + urlencode({"community": community.pk}) if len(scope.community_ids) > 1 else ""
    if scope.city or community.street_id in scope.street_ids:
        return "?" + urlencode({"community": community.pk})
    return None


# --- One activity -----------------------------------------------------------------------------


@login_required
def activity_detail(request, pk):
    """One activity and who is on it, for anyone whose scope includes it; its managers also
    get the buttons to change, cancel or copy it."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user)
        .select_related("community", "grid", "type", "agreement__agency")
        .with_place_counts(),  # the real counts, whoever looks: not only the rows they see
        pk=pk,
    )
    # The waitlist (候补) last, in its order; sorted here, not by the database (order_by()).
    participations = sorted(
        Participation.objects.visible_to(request.user)
        .filter(people_rows(request.user, activity.community), activity=activity)
        .with_waitlist_position()
        .select_related("member__agency")
        .order_by(),
        key=lambda p: (p.waitlist_position or 0, member_order(p.member)),
    )
    sees = whose_rows(request.user, activity.community)
    return render(
        request,
        "activities/activity_detail.html",
        {
            "activity": activity,
            "participations": participations,
            "sees": sees,
            "can_manage": can_manage(request.user, activity.community),
            # A street officer reads the activity but posts nothing there: no link to a 403.
            "can_post": may_post(request.user, activity.community, activity),
            "editable": activity_editable_error(activity) is None,
            "list_query": _list_query(request.user, activity.community),
            "sign_up": sign_up_panel(request.user, activity),
            "leave_requests": activity_leave_requests(request.user, activity),
        },
    )
