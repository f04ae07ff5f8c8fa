"""Leave (请假) on a phone: the member asks from the activity's page (or 我的记录) and may
withdraw while the request waits; the organizer decides from the list of pending requests or
the activity's page. Each change is a POST calling one service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from communities.navigation import next_url, redirect_next
from communities.pagination import Paginator
from communities.permissions import can_decide_leave, can_manage

from ..forms.leave import LeaveDecisionForm, LeaveRequestForm
from ..models import Participation
from ..services.leave import (
    LEAVE_REQUEST_ORDER,
    leave_closed_reason,
    participation_leave_decide,
    participation_leave_request,
    participation_leave_withdraw,
    pending_leave_requests,
)
from ..services.review import records_managed_by
from .signup import _activity, _member

PAGE_SIZE = 20
Decision = Participation.LeaveDecision


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def leave_request(request, pk):
    """The member's request: the activity, and the reason to give. Refused plainly (back to the
    activity's page with why) once it has started, or without a seat to be excused from."""
    member = _member(request)
    activity = _activity(request, pk)
    mine = Participation.objects.filter(activity=activity, member=member).first()
    back = next_url(
        request, request.POST.get("next") or request.GET.get("next"), activity.get_absolute_url()
    )
    refusal = leave_closed_reason(activity)
    if refusal is None and (mine is None or mine.status != Participation.Status.SIGNED_UP):
        refusal = _("You can ask for leave only from an activity you signed up to.")
    if refusal is None and mine.leave_decision:
        refusal = mine.get_leave_decision_display()
        if mine.asks_for_leave:
            refusal = _("You have already asked for leave; the organizer will decide.")
        elif mine.leave_not_approved:
            refusal = _(
                "Your leave request was not approved. Please come, or talk to the organizer."
            )
    if refusal:
        messages.error(request, refusal)
        return redirect_next(request, back, back)
    form = LeaveRequestForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            participation_leave_request(
                activity=activity, member=member, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form.add_error("reason", exc.message_dict.get("reason", exc.messages))
            else:
                form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("You asked for leave from “%(title)s”; you are told when the organizer decides.")
                % {"title": activity.title},
            )
            return redirect_next(request, back, back)
    return render(
        request,
        "activities/leave_request.html",
        {"activity": activity, "form": form, "next": back},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def leave_withdraw(request, pk):
    """Withdraws the member's request while it waits for a decision: signed up as before."""
    member = _member(request)
    activity = _activity(request, pk)
    back = next_url(request, request.POST.get("next"), activity.get_absolute_url())
    try:
        participation_leave_withdraw(activity=activity, member=member)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Your leave request for “%(title)s” is withdrawn; you are signed up as before.")
            % {"title": activity.title},
        )
    return redirect_next(request, back, back)


def _requests_shown(ids):
    """A page's requests with their activity, community, member and agency: the list is sorted
    and counted joined to the activities alone (the city's 688 requests were joined to four
    tables to show 20)."""
    return (
        Participation.objects.filter(pk__in=ids)
        .select_related("activity__community", "member__agency")
        .order_by(*LEAVE_REQUEST_ORDER)
    )


@login_required
@require_safe
def leave_request_list(request):
    """The organizer's list of leave requests awaiting a decision (一键审批)."""
    if not can_decide_leave(request.user):
        raise PermissionDenied
    requests = pending_leave_requests(request.user)
    page = Paginator(requests, PAGE_SIZE, read=_requests_shown).get_page(request.GET.get("page"))
    return render(
        request,
        "activities/leave_request_list.html",
        {"page": page, "decision_form": LeaveDecisionForm()},
    )


@login_required
@require_POST
def leave_decide(request, pk):
    """Approves or rejects one request. Only its organizers find it: anyone else, another
    community's staff or another member, gets a 404."""
    participation = get_object_or_404(
        records_managed_by(request.user).select_related("activity__community", "member"), pk=pk
    )
    back = next_url(request, request.POST.get("next"), reverse("activities:leave_request_list"))
    form = LeaveDecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect_next(request, back, back)
    try:
        decided = participation_leave_decide(
            participation=participation,
            by=request.user,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_next(request, back, back)
    names = {"name": participation.member.name, "title": participation.activity.title}
    if form.cleaned_data["decision"] == Decision.APPROVED:
        text = _("Leave of %(name)s from “%(title)s” approved; they are told.") % names
        promoted = decided.filled.promoted if decided.filled else ()
        if promoted:
            text = _(
                "Leave of %(name)s from “%(title)s” approved; the seat went to %(next)s "
                "from the waitlist. Both are told."
            ) % {**names, "next": "、".join(p.member.name for p in promoted)}
    else:
        text = _("Leave of %(name)s from “%(title)s” not approved; they are told.") % names
    messages.success(request, text)
    if decided.notified.unreached:
        messages.warning(request, decided.notified.warning())
    return redirect_next(request, back, back)


def activity_leave_requests(user, activity):
    """The pending requests on one activity, for its organizers' view of its page (None for
    anyone else)."""
    if not can_manage(user, activity.community):
        return None
    return list(
        Participation.objects.filter(activity=activity)
        .leave_requests()
        .select_related("member__agency")
        .order_by("pk")
    )
