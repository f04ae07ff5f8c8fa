"""Call-outs (吹哨报到): the list of calls, raising one, a call's live page (answers against the
need, who has not answered), cancelling, an agency office sending more of its members, and the
page a member's personal link opens to answer with one tap (activities.services.callouts).

The answer page needs no sign-in: its link is signed for one answer. A forged, cut or unknown
link is the same 404 whatever is wrong with it, counted at a rate-limited door."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from communities.permissions import any_of, can_call, oversees, scope_of
from communities.throttle import Door, too_often
from members.models import member_of
from members.privacy import privacy_notice_exempt

from ..forms.callouts import AnswerForm, CallOutForm, CancelForm
from ..models import CallOut, CallOutAnswer
from ..models.callouts import answer_id_of
from ..services import callouts as services
from .notes import add_service_errors

Answer = CallOutAnswer.Answer
STATE_BADGES = {
    CallOut.State.OPEN: "danger",
    CallOut.State.FILLED: "success",
    CallOut.State.CANCELLED: "secondary",
}
# Names of those who have not answered shown on the live page; the rest are counted.
PENDING_SHOWN = 200
# Bad answer links one address may open in a window before it is turned away.
ANSWER_DOOR = Door("call-out-answer", 20, 15 * 60)
# Seconds between refreshes of an open call's live page.
REFRESH_SECONDS = 15


def _coming_count():
    return Count("answers", filter=Q(answers__answer=Answer.COMING))


@login_required
def callout_list(request):
    """Staff, street officers and offices: the calls they see, newest first (a street officer's
    batch side by side). Members: their open calls, each with its answer link."""
    scope = scope_of(request.user)
    calls = []
    if scope.is_staff_of_any_place:
        calls = list(
            CallOut.objects.visible_to(request.user)
            .select_related("community")
            .annotate(coming=_coming_count())
            .order_by("-created_at", "batch", "pk")[:100]
        )
        for call in calls:
            call.badge = STATE_BADGES[call.state]
    member = member_of(request.user)
    mine = []
    if member is not None:
        mine = list(services.open_calls_of(member))
    if not scope.is_staff_of_any_place and member is None:
        raise PermissionDenied
    return render(
        request,
        "activities/callout_list.html",
        {
            "calls": calls,
            "mine": mine,
            "staff": scope.is_staff_of_any_place,
            # The raise form's own rule: a community's staff or a street's officers.
            "can_raise": services.raises_calls(request.user),
        },
    )


@login_required
def callout_create(request):
    """Raising a call: community staff for their community, a street officer for one or several
    of their street's communities (one call each)."""
    if not services.raises_calls(request.user):
        raise PermissionDenied
    communities = services.raise_communities(request.user)
    initial = {}
    if communities.count() == 1:
        initial["communities"] = list(communities)
    form = CallOutForm(request.POST or None, communities=communities, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        chosen = list(data.pop("communities"))
        try:
            calls = services.callout_raise_many(by=request.user, communities=chosen, **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            called = sum(len(call.answers_made) for call in calls)
            messages.success(
                request,
                _("The call is out: %(count)s members were asked at once.") % {"count": called},
            )
            return redirect(calls[0] if len(calls) == 1 else "activities:callout_list")
    return render(request, "activities/callout_form.html", {"form": form})


def _visible(request, pk):
    return get_object_or_404(
        CallOut.objects.visible_to(request.user).select_related(
            "community__street", "raised_by", "activity"
        ),
        pk=pk,
    )


@login_required
@require_safe
def callout_detail(request, pk):
    """The live page: answers against the need, and who has not answered yet. Those who oversee
    the community see everyone; an agency office its own members; a member called their own
    answer. Refreshes itself while the call is open."""
    call = _visible(request, pk)
    user = request.user
    numbers = services.counts(call)
    agencies = list(services.sending_agencies(user, call))
    sees_all = oversees(user, call.community)
    answers = CallOutAnswer.objects.filter(call=call).select_related("member__agency")
    if not sees_all:
        member = member_of(user)
        answers = answers.filter(
            any_of(
                member__agency__in=[a.pk for a in agencies],
                member=member.pk if member else None,
            )
        )
    coming = list(answers.filter(answer=Answer.COMING).order_by("answered_at", "pk"))
    cannot = list(answers.filter(answer=Answer.CANNOT).order_by("answered_at", "pk"))
    pending = list(answers.filter(answer=Answer.PENDING).order_by("pk")[:PENDING_SHOWN])
    own = next((a for a in (*coming, *cannot, *pending) if a.member.user_id == user.pk), None)
    response = render(
        request,
        "activities/callout_detail.html",
        {
            "call": call,
            "badge": STATE_BADGES[call.state],
            "counts": numbers,
            "short": max(0, call.needed - numbers["coming"]),
            "coming": coming,
            "cannot": cannot,
            "pending": pending,
            "pending_more": max(0, numbers["pending"] - len(pending)) if sees_all else 0,
            "own": own,
            "may_cancel": call.is_open and services.may_raise(user, call.community),
            "may_send": call.is_open and bool(agencies),
            "full_mobiles": can_call(user, call.community),
            "refresh": REFRESH_SECONDS if call.closed_reason() is None else None,
            "cancel_form": CancelForm(),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def callout_cancel(request, pk):
    call = _visible(request, pk)
    if not services.may_raise(request.user, call.community):
        raise PermissionDenied
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.callout_cancel(call=call, by=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The call is cancelled; everyone called is told."))
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect(call)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def callout_send_more(request, pk):
    """An agency office sends more of its members to an escalated call: found by name or mobile
    (not a list of the whole roster), ticked, sent."""
    call = _visible(request, pk)
    agencies = list(services.sending_agencies(request.user, call))
    if not agencies:
        raise PermissionDenied
    query = (request.GET.get("q") or "")[:50]
    if request.method == "POST":
        try:
            sent = services.callout_send_more(
                call=call, by=request.user, member_ids=request.POST.getlist("member")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                _("%(count)s more members were asked to come.") % {"count": len(sent)},
            )
            return redirect(call)
    candidates = list(services.send_more_candidates(call, agencies, query)[:50])
    return render(
        request,
        "activities/callout_send_more.html",
        {
            "call": call,
            "candidates": candidates,
            "query": query,
            "closed": call.closed_reason(),
        },
    )


def _not_found(request):
    ANSWER_DOOR.knock(request)
    response = render(request, "activities/callout_answer_invalid.html", status=404)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@privacy_notice_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def callout_answer(request, token):
    """A member's answer page, opened from the message without signing in: the call, how it
    stands, and two big buttons. Answering again changes the answer while the call is open."""
    if ANSWER_DOOR.shut(request):
        return too_often(request, ANSWER_DOOR)
    answer_id = answer_id_of(token)
    answer = (
        CallOutAnswer.objects.select_related("call__community", "member")
        .filter(pk=answer_id)
        .first()
        if answer_id
        else None
    )
    if answer is None:
        return _not_found(request)
    status = 200
    form = AnswerForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                answer = services.callout_answer(
                    answer_id=answer.pk,
                    coming=form.cleaned_data["answer"] == "coming",
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                status = 409
            else:
                if answer.answer == Answer.COMING:
                    messages.success(request, _("Thank you! You are signed up: please come."))
                else:
                    messages.success(request, _("Thank you for answering."))
                return redirect(request.path)
        else:
            status = 400
        answer = CallOutAnswer.objects.select_related("call__community", "member").get(pk=answer.pk)
    call = answer.call
    numbers = services.counts(call)
    return render(
        request,
        "activities/callout_answer.html",
        {
            "answer": answer,
            "call": call,
            "counts": numbers,
            "closed": call.closed_reason(),
            "form": form,
        },
        status=status,
    )
