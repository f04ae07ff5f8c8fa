"""Work updates (工作动态) and residents' concerns (民情): posting them, the community's lists, and
a concern's page where staff forward and resolve it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Case, Count, DateTimeField, F, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from communities.links import id_url
from communities.pagination import Paginator
from communities.permissions import scope_of
from communities.rows import Row
from members.models import Registration

from ..filters import ConcernFilterSet
from ..forms.notes import ConcernForm, ConcernForwardForm, ConcernResolveForm, WorkUpdateForm
from ..models import Activity, Concern, WorkUpdate
from ..services import notes as services
from ..services.notes import concern_handlers, posting_communities
from .common import can_manage, require_manager, workspace

UPDATE_PAGE_SIZE = 20
CONCERN_PAGE_SIZE = 30

STATE_BADGES = {
    Concern.State.OPEN: "danger",
    Concern.State.FORWARDED: "warning",
    Concern.State.RESOLVED: "success",
}


def add_service_errors(form, exc: ValidationError) -> None:
    """A service's ValidationError on the form: under the field it names, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def person_name(user) -> str:
    """A member's name, else the login's full name, else its username (from select_related)."""
    if user is None:
        return ""
    try:
        return user.member.name
    except ObjectDoesNotExist:
        return user.get_full_name() or user.get_username()


def person_name_columns(login) -> tuple[str, ...]:
    """The columns of values() that person_name_of reads, for the login at `login`."""
    return tuple(f"{login}__{name}" for name in _PERSON_NAME_PARTS)


_PERSON_NAME_PARTS = ("member__name", "first_name", "last_name", "username")


def person_name_of(row, login) -> str:
    """person_name() of the login at `login` in a values() row (person_name_columns)."""
    member_name = row[f"{login}__member__name"]
    if member_name is not None:
        return member_name
    # AbstractUser.get_full_name(), then get_username()
    full_name = f"{row[f'{login}__first_name']} {row[f'{login}__last_name']}".strip()
    return full_name or row[f"{login}__username"]


def _workspace_or_none(request):
    """The viewer's community workspace when they work for a community, else None (members,
    agency offices, street officers and the city see everything their scope allows)."""
    if scope_of(request.user).community_ids:
        return workspace(request)
    return None


def _can_post_somewhere(user) -> bool:
    scope = scope_of(user)
    return scope.city or bool(scope.community_ids) or posting_communities(user).exists()


def _int_param(request, name):
    """A numeric id from the query string; anything else is a page that does not exist."""
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise Http404 from exc


def _posting_target(request):
    """The community (and activity) a new post is for, from `?activity=` or `?community=`, and
    the other communities the person could post to instead. Someone who may not post there
    gets a 403; an activity or community outside their scope, a 404."""
    activity_id = _int_param(request, "activity")
    activity = None
    if activity_id is not None:
        activity = get_object_or_404(
            Activity.objects.visible_to(request.user).select_related("community"), pk=activity_id
        )
    choices = list(posting_communities(request.user).order_by("name"))
    if activity is not None:
        community = activity.community
    else:
        community_id = _int_param(request, "community")
        scope = scope_of(request.user)
        if community_id is None and scope.community_ids:
            community_id = min(scope.community_ids)  # the workspace's own default
        if community_id is None:
            community = choices[0] if choices else None
        else:
            community = next((c for c in choices if c.pk == community_id), None)
            if community is None:
                raise Http404
    if community is None or not services.may_post(request.user, community, activity):
        raise PermissionDenied
    return community, activity, choices


def _my_grid(request, community):
    """The grid a new concern is most likely in: the activity's, else a grid worker's first,
    else the grid the member reported in to."""
    scope = scope_of(request.user)
    mine = community.grids.filter(pk__in=scope.grid_ids).order_by("name").first()
    if mine is not None:
        return mine
    registration = (
        Registration.objects.filter(
            member__user=request.user,
            community=community,
            status=Registration.Status.ACTIVE,
            grid__isnull=False,
        )
        .select_related("grid")
        .first()
    )
    return registration.grid if registration else None


# --- Work updates ----------------------------------------------------------------------------


@login_required
def work_update_list(request):
    """The community's work updates, newest first; a member sees those of the communities they
    reported in to. `?activity=` narrows it to one activity's."""
    updates = WorkUpdate.objects.visible_to(request.user)
    space = _workspace_or_none(request)
    if space is not None:
        updates = updates.filter(community=space.community)
    activity_id = _int_param(request, "activity")
    activity = None
    if activity_id is not None:
        activity = get_object_or_404(Activity.objects.visible_to(request.user), pk=activity_id)
        updates = updates.filter(activity=activity)
    updates = updates.order_by("-created_at", "-pk")
    page = Paginator(updates, UPDATE_PAGE_SIZE, read=_updates_shown).get_page(
        request.GET.get("page")
    )
    for update in page:
        # The time element's machine-readable moment: the `date:'c'` filter's text.
        update["created_iso"] = timezone.localtime(update["created_at"]).isoformat()
        update["author_name"] = person_name_of(update, "author")
        update["author_agency"] = update["author__member__agency__short_name"] or (
            update["author__member__agency__name"] or ""
        )
        if update["activity"] is not None:
            update["activity_url"] = id_url("activities:activity_detail", update["activity"])
    create_url = reverse("activities:work_update_create")
    if activity is not None:
        create_url += "?" + urlencode({"activity": activity.pk})
    return render(
        request,
        "activities/work_update_list.html",
        {
            "page": page,
            "community": space.community if space else None,
            "activity": activity,
            "can_post": _can_post_somewhere(request.user),
            "create_url": create_url,
        },
    )


def _updates_shown(ids):
    """A page of work updates with what the list shows of them, joined for that page only, as
    rows of the columns shown rather than five model instances each."""
    return [
        Row(row)
        for row in WorkUpdate.objects.filter(pk__in=ids)
        .order_by("-created_at", "-pk")
        .values(
            "pk",
            "body",
            "created_at",
            "community__name",
            "activity",
            "activity__title",
            "author__member__agency__short_name",
            "author__member__agency__name",
            *person_name_columns("author"),
        )
    ]


def _agency_of(user):
    try:
        agency = user.member.agency
    except ObjectDoesNotExist:
        return ""
    return agency.short_name or agency.name


@login_required
def work_update_create(request):
    """Posting a work update after an activity: staff, grid workers and members who reported
    in (or took part)."""
    community, activity, choices = _posting_target(request)
    form = WorkUpdateForm(request.POST or None, community=community, activity=activity)
    if request.method == "POST" and form.is_valid():
        try:
            services.work_update_create(
                author=request.user,
                community=community,
                body=form.cleaned_data["body"],
                activity=form.cleaned_data["activity"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Your work update is posted."))
            url = reverse("activities:work_update_list")
            if len(choices) > 1:
                url += "?" + urlencode({"community": community.pk})
            return redirect(url)
    return render(
        request,
        "activities/work_update_form.html",
        {"form": form, "community": community, "activity": activity, "choices": choices},
    )


# --- Residents' concerns ---------------------------------------------------------------------


def _age_days(start, today) -> int:
    return (today - timezone.localdate(start)).days


def _in_concern_order(concerns):
    """The unresolved concerns first, oldest first; then the resolved ones, latest first."""
    resolved = Concern.State.RESOLVED
    return concerns.annotate(
        resolved_last=Case(
            When(state=resolved, then=Value(1)), default=Value(0), output_field=IntegerField()
        ),
        open_since=Case(
            When(state=resolved, then=Value(None)),
            default=F("created_at"),
            output_field=DateTimeField(),
        ),
    ).order_by(
        "resolved_last",
        F("open_since").asc(nulls_last=True),
        F("resolved_at").desc(nulls_last=True),
        "-pk",
    )


def _concerns_shown(ids):
    """A page of concerns with what the list shows of them (grid, community, who raised it),
    joined for that page only. No more joins than that: past eight tables PostgreSQL keeps the
    joins in the order written and filters on the page's ids only after joining every
    concern. Read as rows of the columns shown, not as five model instances each."""
    return [
        Row(row)
        for row in _in_concern_order(Concern.objects.filter(pk__in=ids)).values(
            "pk",
            "title",
            "state",
            "location",
            "forwarded_to",
            "created_at",
            "resolved_at",
            "grid__name",
            "community__name",
            *person_name_columns("reported_by"),
        )
    ]


class _DaysWords:
    """A concern's age as concern_age_fragment.html words it ("today", "3 days"), translated once
    per number of days for a page rather than by an include and a plural tag for each of its
    30 rows (a fifth of the list's rendering)."""

    def __init__(self):
        self._words = {}

    def __call__(self, days: int) -> str:
        if days not in self._words:
            self._words[days] = (
                gettext("today")
                if days == 0
                else ngettext("%(counter)s day", "%(counter)s days", days) % {"counter": days}
            )
        return self._words[days]


@login_required
def concern_list(request):
    """The community's concerns: the unresolved ones first, oldest first, with their age in
    days; then the resolved ones, latest first. A grid worker starts on their own grids."""
    concerns = Concern.objects.visible_to(request.user)
    space = _workspace_or_none(request)
    grids, my_grid_ids = [], frozenset()
    if space is not None:
        concerns = concerns.filter(community=space.community)
        grids = list(space.community.grids.order_by("name"))
        my_grid_ids = space.grid_ids if space.is_grid_worker else frozenset()
    filters = ConcernFilterSet(request.GET, concerns, grids=grids, own_grid_ids=my_grid_ids)
    by_state = dict(
        filters.qs_without("state")
        .order_by()
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    rows = _in_concern_order(filters.qs)
    # The list is those counts' rows, narrowed to the chosen state: its size is known already.
    selected_state = filters.form.cleaned_data.get("state", "")
    if selected_state == ConcernFilterSet.UNRESOLVED:
        count = sum(n for state, n in by_state.items() if state != Concern.State.RESOLVED)
    else:
        count = by_state.get(selected_state, 0) if selected_state else sum(by_state.values())
    page = Paginator(rows, CONCERN_PAGE_SIZE, read=_concerns_shown, count=count).get_page(
        request.GET.get("page")
    )
    today = timezone.localdate()
    days = _DaysWords()
    labels = dict(Concern.State.choices)
    dates = {}  # a page's concerns were raised on a few days: each day written once
    for concern in page:
        concern["url"] = id_url("activities:concern_detail", concern["pk"])
        raised_on = timezone.localdate(concern["created_at"])
        if raised_on not in dates:
            dates[raised_on] = date_format(raised_on, "SHORT_DATE_FORMAT")
        concern["raised_on_text"] = dates[raised_on]
        concern["age_days"] = (today - raised_on).days
        concern["age_text"] = days(concern["age_days"])
        concern["badge"] = STATE_BADGES[concern["state"]]
        concern["state_label"] = labels[concern["state"]]
        concern["reporter_name"] = person_name_of(concern, "reported_by")
        if concern["resolved_at"]:
            concern["took_days"] = (
                timezone.localdate(concern["resolved_at"])
                - timezone.localdate(concern["created_at"])
            ).days
            concern["took_text"] = days(concern["took_days"])
    unresolved = by_state.get(Concern.State.OPEN, 0) + by_state.get(Concern.State.FORWARDED, 0)
    return render(
        request,
        "activities/concern_list.html",
        {
            "form": filters.form,
            "page": page,
            "community": space.community if space else None,
            "state_counts": [(s, by_state.get(s.value, 0)) for s in Concern.State],
            "unresolved_count": unresolved,
            "selected_state": selected_state,
            "grid_choice": filters.grid_choice,
            "can_post": _can_post_somewhere(request.user),
        },
    )


@login_required
def concern_create(request):
    """Raising a residents' concern: staff, grid workers and members who reported in (or took
    part in the activity it came up in)."""
    community, activity, choices = _posting_target(request)
    grid = activity.grid if activity is not None and activity.grid_id else None
    form = ConcernForm(
        request.POST or None,
        community=community,
        activity=activity,
        grid=grid or (None if request.method == "POST" else _my_grid(request, community)),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            concern = services.concern_create(
                reported_by=request.user,
                community=community,
                title=data["title"],
                description=data["description"],
                location=data["location"],
                grid=data["grid"],
                activity=data["activity"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The concern is recorded; the community will follow it."))
            _warn_unreached(request, concern)
            return redirect("activities:concern_detail", pk=concern.pk)
    return render(
        request,
        "activities/concern_form.html",
        {"form": form, "community": community, "activity": activity, "choices": choices},
    )


CONCERN_ACTIONS = ("forward", "resolve", "reopen")


def _warn_unreached(request, concern) -> None:
    """Says so when no channel could tell someone of the concern (staff, or who raised it)."""
    if concern.notified.unreached:
        messages.warning(request, concern.notified.warning())


@login_required
def concern_detail(request, pk):
    """One concern; its community's staff and grid workers forward, resolve or reopen it here."""
    concern = get_object_or_404(
        Concern.objects.visible_to(request.user).select_related(
            "community",
            "grid",
            "activity",
            "reported_by__member__agency",
            "handler__member",
        ),
        pk=pk,
    )
    manager = can_manage(request.user, concern.community)
    forms = {}
    if request.method == "POST":
        require_manager(request.user, concern.community)
        action = request.POST.get("action")
        if action not in CONCERN_ACTIONS:
            messages.error(request, _("Choose what to do with the concern."))
        else:
            done = _concern_action(request, concern, action, forms)
            if done:
                messages.success(request, done)
                _warn_unreached(request, concern)
                return redirect("activities:concern_detail", pk=concern.pk)
    if manager:
        handlers = concern_handlers(concern.community, including=request.user)
        forms.setdefault(
            "forward",
            ConcernForwardForm(
                prefix="forward",
                handlers=handlers,
                by=request.user,
                initial={"forwarded_to": concern.forwarded_to},
            ),
        )
        forms.setdefault(
            "resolve", ConcernResolveForm(prefix="resolve", handlers=handlers, by=request.user)
        )
    today = timezone.localdate()
    concern.age_days = _age_days(concern.created_at, today)
    concern.badge = STATE_BADGES[concern.state]
    return render(
        request,
        "activities/concern_detail.html",
        {
            "concern": concern,
            "manager": manager,
            "forward_form": forms.get("forward"),
            "resolve_form": forms.get("resolve"),
            "reporter_name": person_name(concern.reported_by),
            "reporter_agency": _agency_of(concern.reported_by),
            "handler_name": person_name(concern.handler),
            "resolved": concern.state == Concern.State.RESOLVED,
        },
    )


def _concern_action(request, concern, action, forms):
    """Runs one state change; returns the success message (and sets `concern.notified`), or
    None with the errors on the form (or as a message) so the page shows them with what was
    typed."""
    if action == "reopen":
        try:
            concern.notified = services.concern_reopen(concern=concern, by=request.user).notified
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return None
        return _("The concern is reopened.")
    handlers = concern_handlers(concern.community, including=request.user)
    form_class, service = {
        "forward": (ConcernForwardForm, services.concern_forward),
        "resolve": (ConcernResolveForm, services.concern_resolve),
    }[action]
    form = form_class(request.POST, prefix=action, handlers=handlers, by=request.user)
    forms[action] = form
    if not form.is_valid():
        return None
    data = dict(form.cleaned_data)
    try:
        concern.notified = service(concern=concern, by=request.user, **data).notified
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
    if action == "forward":
        return _("The concern is forwarded to %(to)s.") % {"to": data["forwarded_to"]}
    return _("The concern is resolved.")
