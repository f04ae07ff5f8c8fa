"""A member finds the coming activities of the communities they are reported in to, signs up
(or joins the waitlist of a full one) and cancels, on a phone. The changes are POSTs, each one
service call; the panel on an activity's page is built here too."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from communities.models import Community
from communities.navigation import next_url, redirect_next
from communities.pagination import Paginator
from members.models import Member, Registration, member_of

from ..filters import OpenActivityFilterSet
from ..models import Activity, Participation, count_places
from ..services.signup import (
    is_reported_in,
    participation_cancel,
    participation_sign_up,
    sign_up_clashes,
    sign_up_closed_reason,
)

PAGE_SIZE = 20
Status = Participation.Status


def _member(request) -> Member:
    """The viewer's own member record: these pages are a member's (403 for any other login)."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    return member


def _seats_left(activity) -> int | None:
    """Seats still free (None: no limit); `signed_up` from count_places or with_place_counts."""
    if activity.capacity is None:
        return None
    return max(activity.capacity - activity.signed_up, 0)


@login_required
@require_safe
def open_activities(request):
    """Coming activities of the communities where the member is reported in (approved), soonest
    first, with the seats left and the member's own sign-up or waitlist place on each."""
    member = _member(request)
    now = timezone.now()
    communities = Community.objects.filter(
        pk__in=Registration.objects.reported_in().filter(member=member).values("community")
    ).order_by("name", "pk")
    filters = OpenActivityFilterSet(
        request.GET,
        Activity.objects.visible_to(request.user)
        .filter(community__in=communities.values("pk"), starts_at__gt=now)
        .taking_place()
        .select_related("community", "grid", "type")
        .order_by("starts_at", "pk"),
        communities=communities,
    )
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = count_places(page.object_list)
    mine = {
        p.activity_id: p
        for p in Participation.objects.filter(
            member=member, activity__in=[a.pk for a in page.object_list]
        ).with_waitlist_position()
    }
    for activity in page.object_list:
        activity.mine = mine.get(activity.pk)
        activity.seats_left = _seats_left(activity)
    return render(
        request,
        "activities/open_activities.html",
        {
            "member": member,
            "form": filters.form,
            "page": page,
            "filtered": bool(filters.in_use),
            "has_communities": bool(filters.filters["community"].queryset),
        },
    )


def _activity(request, pk) -> Activity:
    """An activity the viewer sees (404 otherwise)."""
    return get_object_or_404(
        Activity.objects.visible_to(request.user).select_related("community"), pk=pk
    )


def _back(request, activity) -> str:
    return next_url(request, request.POST.get("next"), activity.get_absolute_url())


@login_required
@require_POST
def sign_up(request, pk):
    """Signs the member up, or puts them on the waitlist when the activity is full. A clash in
    time with another of their sign-ups is shown first, to confirm (`confirm=1`)."""
    member = _member(request)
    activity = _activity(request, pk)
    if not is_reported_in(member, activity):
        raise PermissionDenied
    back = _back(request, activity)
    closed = sign_up_closed_reason(activity)
    if closed:
        messages.error(request, closed)
        return redirect_next(request, back, back)
    if request.POST.get("confirm") != "1":
        clashes = sign_up_clashes(member=member, activity=activity)
        if clashes:
            return render(
                request,
                "activities/sign_up_clash.html",
                {"activity": activity, "clashes": clashes, "next": back},
            )
    try:
        result = participation_sign_up(activity=activity, member=member)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.waitlisted:
            messages.warning(
                request,
                _(
                    "“%(title)s” is full: you are on the waitlist, number %(position)s in line. "
                    "If a seat frees up you get it and are told."
                )
                % {"title": activity.title, "position": result.position},
            )
        else:
            messages.success(
                request, _("You are signed up to “%(title)s”.") % {"title": activity.title}
            )
    return redirect_next(request, back, back)


@login_required
@require_POST
def sign_up_cancel(request, pk):
    """Cancels the member's sign-up or waitlist place until the start; a seat given back goes
    to the next in line."""
    member = _member(request)
    activity = _activity(request, pk)
    back = _back(request, activity)
    mine = Participation.objects.filter(activity=activity, member=member).first()
    try:
        participation_cancel(activity=activity, member=member)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if mine.status == Status.WAITLISTED:
            text = _("You have left the waitlist of “%(title)s”.")
        elif mine.came_off_waitlist:
            text = _("You gave your seat on “%(title)s” back; the next in line gets it.")
        else:
            text = _("Your sign-up to “%(title)s” is cancelled.")
        messages.success(request, text % {"title": activity.title})
    return redirect_next(request, back, back)


# --- The panel on an activity's page ---------------------------------------------------------


@dataclass(frozen=True)
class SignUpPanel:
    """What a member sees of their own sign-up on an activity's page, and may do there."""

    participation: Participation | None
    reported_in: bool
    closed: str | None
    seats_left: int | None
    cancel_url: str
    sign_up_url: str
    leave_url: str = ""
    withdraw_url: str = ""

    @property
    def can_sign_up(self) -> bool:
        return self.reported_in and not self.closed and self.participation is None

    @property
    def can_cancel(self) -> bool:
        return (
            not self.closed
            and self.participation is not None
            and self.participation.status in Participation.SIGNED_UP_OR_WAITING
        )

    @property
    def can_ask_for_leave(self) -> bool:
        """Holds a seat, has not asked yet, and the activity has not started."""
        p = self.participation
        return (
            not self.closed
            and p is not None
            and p.status == Status.SIGNED_UP
            and not p.leave_decision
        )

    @property
    def can_withdraw_leave(self) -> bool:
        return (
            not self.closed and self.participation is not None and self.participation.asks_for_leave
        )

    @property
    def waitlist_lapsed(self) -> bool:
        """Still waiting when the activity started: no seat came free, and none will."""
        return (
            self.participation is not None
            and self.participation.status == Status.WAITLISTED
            and self.closed is not None
        )


def sign_up_panel(user, activity) -> SignUpPanel | None:
    """The panel for the viewer's member record on `activity` (with its place counts), or
    None for a login that is not a member."""
    member = member_of(user)
    if member is None:
        return None
    participation = (
        Participation.objects.filter(activity=activity, member=member)
        .with_waitlist_position()
        .first()
    )
    return SignUpPanel(
        participation=participation,
        reported_in=is_reported_in(member, activity),
        closed=sign_up_closed_reason(activity),
        seats_left=_seats_left(activity),
        cancel_url=reverse("activities:sign_up_cancel", args=[activity.pk]),
        sign_up_url=reverse("activities:sign_up", args=[activity.pk]),
        leave_url=reverse("activities:leave_request", args=[activity.pk]),
        withdraw_url=reverse("activities:leave_withdraw", args=[activity.pk]),
    )
