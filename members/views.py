"""The community's report-in desk (报到审核) and its list of reported-in members.

Community staff and grid workers of a community (and city administrators) review the
community's report-ins and place its members in grids. Everyone else who may see a report-in
(the member, their agency's office, the street) gets a 403 on these pages; another community's
report-in is a 404.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from communities.filters import GridFilter
from communities.history import timeline
from communities.models import Agency, Community, Grid
from communities.navigation import next_url
from communities.pagination import Paginator
from communities.permissions import (
    RoleKind,
    can_review_registrations,
    scope_of,
    sees_full_mobiles,
)

from .filters import MemberFilterSet
from .forms import GridChoiceForm, RegistrationReturnForm
from .models import PersonalDataView, Registration
from .privacy import personal_data_page
from .services import registration_approve, registration_assign_grid, registration_return

PAGE_SIZE = 20


@dataclass(frozen=True)
class Desk:
    """The community whose report-ins the viewer handles, and what the viewer is there."""

    community: Community
    # All the viewer may switch between; only filled when there is more than one.
    communities: list
    grids: list
    own_grid_ids: frozenset
    # Staff and grid workers of the community call members; a city administrator does not.
    can_call: bool
    starts_with_own_grids: bool


def _desk(request) -> Desk:
    """The viewer's community: community staff and grid workers have theirs (`?community=`
    picks one of several); a city administrator may open any. Anyone else: 403."""
    if not can_review_registrations(request.user):
        raise PermissionDenied
    scope = scope_of(request.user)
    if scope.city:
        allowed = Community.objects.visible_to(request.user)
    else:
        # The viewer's own communities, which are theirs to see (a branch of visible_to): the
        # rest of visible_to is not wanted here — an agency's liaison communities are visible to
        # its office — so its other branches are not built and planned for nothing.
        allowed = Community.objects.filter(pk__in=scope.community_ids)
    allowed = allowed.select_related("street").order_by("name")
    several = scope.city or len(scope.community_ids) > 1
    communities = list(allowed) if several else []
    wanted = request.GET.get("community")
    if wanted:
        try:
            community = allowed.get(pk=int(wanted))
        except (ValueError, Community.DoesNotExist) as exc:
            raise Http404 from exc
    elif scope.community_ids:
        community = allowed.get(pk=min(scope.community_ids))
    elif communities:
        community = communities[0]
    else:
        raise Http404  # a city without communities yet
    # The community is one the viewer may see (above): so are its grids.
    grids = list(Grid.objects.filter(community=community).order_by("name"))
    own_grid_ids = frozenset(grid.pk for grid in grids if grid.pk in scope.grid_ids)
    return Desk(
        community=community,
        communities=communities,
        grids=grids,
        own_grid_ids=own_grid_ids,
        can_call=sees_full_mobiles(request.user, community=community),
        starts_with_own_grids=bool(own_grid_ids) and RoleKind.COMMUNITY_STAFF not in scope.kinds,
    )


def _require_reviewer(user, community) -> None:
    if not can_review_registrations(user, community):
        raise PermissionDenied


def _reviewable(request, pk) -> Registration:
    """A report-in the viewer may see (else 404) and handle (else 403)."""
    registration = get_object_or_404(
        Registration.objects.visible_to(request.user).select_related(
            "member__agency", "member__user", "community", "grid"
        ),
        pk=pk,
    )
    _require_reviewer(request.user, registration.community)
    return registration


def _back(request, default: str) -> str:
    """Where a row's form came from (its filters and page), if it is on this site."""
    return next_url(request, request.POST.get("next"), default)


def _review_url(community) -> str:
    return f"{reverse('members:registration_review')}?community={community.pk}"


def _list_url(community) -> str:
    return f"{reverse('members:member_list')}?community={community.pk}"


def _error(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _warn_unreached(request, registration) -> None:
    """Says so when no channel could tell the member of the decision."""
    if registration.notified.unreached:
        messages.warning(request, registration.notified.warning())


# --- Report-in review ---------------------------------------------------------------------


# What a report-in's history shows (issue 11): its state, grid and the review's outcome.
REGISTRATION_HISTORY_FIELDS = ["status", "kind", "grid", "reviewer", "return_reason", "ended_on"]


@login_required
@require_http_methods(["GET", "HEAD"])
def registration_detail(request, pk):
    """One report-in and its history (who applied, approved, placed in a grid, returned or
    revoked it, when and why), to those who may see it: the member, the community's staff and
    street, the member's agency office and the city; read-only."""
    registration = get_object_or_404(
        Registration.objects.visible_to(request.user).select_related(
            "member__agency", "community__street", "grid", "reviewer"
        ),
        pk=pk,
    )
    return render(
        request,
        "members/registration_detail.html",
        {
            "registration": registration,
            "entries": timeline(registration, REGISTRATION_HISTORY_FIELDS),
        },
    )


@login_required
@personal_data_page(PersonalDataView.Page.REPORT_INS)
def registration_review(request):
    """The community's report-ins waiting for review, oldest first."""
    desk = _desk(request)
    pending = (
        Registration.objects.visible_to(request.user)
        .filter(community=desk.community, status=Registration.Status.PENDING)
        .select_related("member__agency")
        .order_by("applied_on", "pk")
    )
    page = Paginator(pending, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _pending_prepared(list(page.object_list), desk)
    return render(request, "members/registration_review.html", {"desk": desk, "page": page})


def _pending_prepared(rows, desk):
    """What each report-in to review would otherwise work out again in its template, through
    two includes and three reversed paths a row: its addresses, and its grid select's label
    and options (as the member list's rows)."""
    detail_url = _row_path("members:registration_detail")
    approve_url = _row_path("members:registration_approve")
    return_url = _row_path("members:registration_return")
    grids = _grid_options(desk)
    for registration in rows:
        registration.key = key = str(registration.pk)
        registration.detail_url = detail_url(key)
        registration.approve_url = approve_url(key)
        registration.return_url = return_url(key)
        registration.grid_label = _("Grid for %(name)s") % {"name": registration.member.name}
        registration.grid_options = _options(grids, registration.grid_id)
    return rows


@login_required
@require_POST
def registration_approve_view(request, pk):
    registration = _reviewable(request, pk)
    back = _back(request, _review_url(registration.community))
    form = GridChoiceForm(request.POST, community=registration.community)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["grid"]))
        return redirect(back)
    try:
        registration = registration_approve(
            registration=registration, reviewer=request.user, grid=form.cleaned_data["grid"]
        )
    except ValidationError as exc:
        _error(request, exc)
    else:
        text = _("%(name)s has reported in to %(community)s.")
        if registration.grid_id:
            text = _("%(name)s has reported in to %(community)s, in %(grid)s.")
        messages.success(
            request,
            text
            % {
                "name": registration.member.name,
                "community": registration.community.name,
                "grid": registration.grid.name if registration.grid_id else "",
            },
        )
        _warn_unreached(request, registration)
    return redirect(back)


@login_required
def registration_return_view(request, pk):
    """The reason for returning a report-in (GET), and returning it (POST)."""
    registration = _reviewable(request, pk)
    form = RegistrationReturnForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            registration = registration_return(
                registration=registration,
                reviewer=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            text = _("The report-in of %(name)s is returned; they have been told why.")
            if registration.notified.unreached:
                text = _("The report-in of %(name)s is returned.")
            messages.success(request, text % {"name": registration.member.name})
            _warn_unreached(request, registration)
            return redirect(_review_url(registration.community))
    return render(
        request,
        "members/registration_return.html",
        {
            "registration": registration,
            "form": form,
            "pending": registration.status == Registration.Status.PENDING,
            "can_call": sees_full_mobiles(request.user, community=registration.community),
            "review_url": _review_url(registration.community),
        },
    )


# --- Reported-in members ------------------------------------------------------------------


# The member list's order: by agency, then name.
MEMBER_ORDER = ("member__agency__name", "member__name", "pk")


def _members_shown(ids):
    """A page of the member list with what it shows, joined for that page only: sorted after
    the joins, a busy community's 3,800 rows were read whole (member, agency and grid) to show
    20 of them."""
    return (
        Registration.objects.filter(pk__in=ids)
        .select_related("member__agency", "grid")
        .order_by(*MEMBER_ORDER)
    )


def _row_path(name):
    """The path `name` reverses to for a row, as a function of the row's id as text: one
    reverse for all the rows of a page."""
    head, tail = reverse(name, args=[1]).rsplit("1", 1)
    return lambda key: f"{head}{key}{tail}"


def _grid_options(desk):
    """Each of the community's grids as its <option>, not chosen and chosen, written once for
    the page: a template loop over the grids in every row was a tenth of a list's CPU time."""
    return [
        (
            grid.pk,
            format_html('<option value="{}">{}</option>', grid.pk, grid.name),
            format_html('<option value="{}" selected>{}</option>', grid.pk, grid.name),
        )
        for grid in desk.grids
    ]


def _options(grids, chosen):
    return mark_safe(
        "".join(selected if pk == chosen else option for pk, option, selected in grids)
    )


def _rows_prepared(rows, desk):
    """What each row of the member list would otherwise work out again in its template: its
    form's address (one reversed path for all), the grid select's label and options, and
    whether the row is in the viewer's own grids."""
    grid_url = _row_path("members:member_grid")
    grids = _grid_options(desk)
    for registration in rows:
        # The id as text: a number is localized each time a template writes it.
        registration.key = key = str(registration.pk)
        registration.grid_url = grid_url(key)
        registration.grid_label = _("Grid for %(name)s") % {"name": registration.member.name}
        registration.grid_options = _options(grids, registration.grid_id)
        registration.mine = registration.grid_id in desk.own_grid_ids
    return rows


@login_required
@personal_data_page(PersonalDataView.Page.MEMBER_LIST)
def member_list(request):
    """The members reported in to the community, by agency and name, with their grids. A grid
    worker's list starts with their own grids."""
    desk = _desk(request)
    active = (
        Registration.objects.visible_to(request.user).reported_in().filter(community=desk.community)
    )
    # The filter's choices: ids and names, not 140 whole agencies. Each report-in's agency is
    # the one the database keeps on it (Registration.agency), read with the report-ins from
    # registration_community_agency: as a join, PostgreSQL hashed all 60,000 members for a
    # community's 3,800 report-ins; looked up by each member's id, it probed them 3,800 times.
    agencies = list(
        Agency.objects.filter(pk__in=active.values("agency"))
        .order_by("name")
        .values_list("pk", "name", "short_name", named=True)
    )
    filters = MemberFilterSet(
        request.GET,
        active,
        agencies=agencies,
        grids=desk.grids,
        own_grid_ids=desk.own_grid_ids,
        start_on_own_grids=desk.starts_with_own_grids,
    )
    rows = filters.qs.order_by(*MEMBER_ORDER)
    page = Paginator(rows, PAGE_SIZE, read=_members_shown).get_page(request.GET.get("page"))
    page.object_list = _rows_prepared(list(page.object_list), desk)
    in_use = filters.in_use
    return render(
        request,
        "members/member_list.html",
        {
            "desk": desk,
            "form": filters.form,
            "page": page,
            "next": request.get_full_path(),
            "showing_own_grids": in_use.get("grid") == GridFilter.MINE,
            "filtered": bool(in_use),
            "more_filters": "agency" in in_use
            or "kind" in in_use
            or in_use.get("grid", GridFilter.MINE) != GridFilter.MINE,
        },
    )


@login_required
@require_POST
def member_grid(request, pk):
    """Places a reported-in member in a grid of the community, or in none."""
    registration = _reviewable(request, pk)
    back = _back(request, _list_url(registration.community))
    form = GridChoiceForm(request.POST, community=registration.community)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["grid"]))
        return redirect(back)
    grid = form.cleaned_data["grid"]
    try:
        registration_assign_grid(registration=registration, grid=grid, by=request.user)
    except ValidationError as exc:
        _error(request, exc)
    else:
        if grid is None:
            text = _("%(name)s is in no grid now.") % {"name": registration.member.name}
        else:
            text = _("%(name)s is now in %(grid)s.") % {
                "name": registration.member.name,
                "grid": grid.name,
            }
        messages.success(request, text)
    return redirect(back)
