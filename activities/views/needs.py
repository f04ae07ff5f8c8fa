"""Resident needs (微心愿 / 需求清单): the list, publishing one (new or from a concern), and a
need's page where members claim, give back and record it done, and staff verify, send back or
withdraw it (activities.services.needs)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.history import timeline
from communities.permissions import can_manage, scope_of
from members.models import Registration, member_of

from ..forms.needs import NeedDoneForm, NeedForm, ReasonForm
from ..models import Concern, Need, NeedClaim
from ..services import needs as services
from .common import require_manager, workspace
from .notes import add_service_errors, person_name

NEED_BADGES = {
    Need.State.OPEN: "danger",
    Need.State.CLAIMED: "warning",
    Need.State.DONE: "info",
    Need.State.VERIFIED: "success",
    Need.State.WITHDRAWN: "secondary",
}
HISTORY_FIELDS = ["state", "claimants", "deadline", "withdraw_reason"]
CLAIM_HISTORY_FIELDS = ["state", "hours", "note", "sent_back_reason"]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
def need_list(request):
    """Staff: their community's needs by state. Members: the open needs of the communities they
    reported in to, and their own claims."""
    scope = scope_of(request.user)
    needs = Need.objects.visible_to(request.user).select_related("community")
    manages = scope.city or bool(scope.community_ids)
    state = request.GET.get("state", "")
    if state not in Need.State.values:
        state = ""
    if manages:
        shown = needs.filter(state=state) if state else needs.exclude(state=Need.State.WITHDRAWN)
    else:
        shown = needs.filter(state=Need.State.OPEN, deadline__gt=timezone.now())
    shown = list(
        shown.annotate(
            taken=Count("claims", filter=~Q(claims__state=NeedClaim.State.GIVEN_BACK))
        ).order_by("deadline", "pk")[:200]
    )
    for need in shown:
        need.badge = NEED_BADGES[need.state]
    member = member_of(request.user)
    mine = []
    if member is not None:
        mine = list(
            NeedClaim.objects.filter(member=member)
            .exclude(state=NeedClaim.State.GIVEN_BACK)
            .select_related("need")
            .order_by("-claimed_at")[:50]
        )
    return render(
        request,
        "activities/need_list.html",
        {
            "needs": shown,
            "mine": mine,
            "manages": manages,
            "can_publish": bool(scope.community_ids),
            "states": Need.State.choices,
            "selected_state": state,
        },
    )


@login_required
def need_create(request):
    """Publishing a need: the community's staff and grid workers; `?concern=` from a concern."""
    concern = None
    concern_id = request.GET.get("concern") or request.POST.get("concern")
    if concern_id:
        pk = _int(concern_id)
        if pk is None:
            raise Http404
        concern = get_object_or_404(
            Concern.objects.visible_to(request.user).select_related("community"), pk=pk
        )
        community = concern.community
        if not can_manage(request.user, community):
            raise Http404
    else:
        community = workspace(request).community
    initial = {"claimants": 1, "hours": 1}
    if concern is not None:
        initial.update(
            title=concern.title[:100], description=concern.description, place=concern.location
        )
    form = NeedForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            need = services.need_publish(
                by=request.user, community=community, concern=concern, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The need is published for members to claim."))
            return redirect(need)
    return render(
        request,
        "activities/need_form.html",
        {"form": form, "community": community, "concern": concern},
    )


ACTIONS = ("claim", "give_back", "done", "verify", "send_back", "withdraw")
MANAGER_ACTIONS = ("verify", "send_back", "withdraw")


@login_required
def need_detail(request, pk):
    need = get_object_or_404(
        Need.objects.visible_to(request.user).select_related(
            "community", "concern", "activity", "published_by__member"
        ),
        pk=pk,
    )
    manager = can_manage(request.user, need.community)
    forms = {}
    if request.method == "POST":
        action = request.POST.get("action")
        if action in MANAGER_ACTIONS or not (manager or member_of(request.user)):
            # Only the community's managers, and members (who claim), act on a need.
            require_manager(request.user, need.community)
        if action not in ACTIONS:
            messages.error(request, _("Choose what to do with the need."))
        else:
            done = _action(request, need, action, forms)
            if done:
                messages.success(request, done)
                return redirect(need)
    claims = list(need.claims.select_related("member", "verified_by__member").order_by("pk"))
    member = member_of(request.user)
    my_claim = next((c for c in claims if member and c.member_id == member.pk), None)
    active = [c for c in claims if c.state != NeedClaim.State.GIVEN_BACK]
    claim_histories = {}
    if manager or my_claim:
        for claim in claims if manager else [my_claim]:
            claim.timeline = timeline(claim, CLAIM_HISTORY_FIELDS, label=services.reason_label)
            claim_histories[claim.pk] = claim.timeline
    can_claim = (
        need.state == Need.State.OPEN
        and need.deadline > timezone.now()
        and (my_claim is None or my_claim.state == NeedClaim.State.GIVEN_BACK)
        and member is not None
        and Registration.objects.reported_in()
        .filter(member=member, community=need.community_id)
        .exists()
    )
    need.badge = NEED_BADGES[need.state]
    return render(
        request,
        "activities/need_detail.html",
        {
            "need": need,
            "manager": manager,
            "claims": claims if manager else [],
            "taken": len(active),
            "my_claim": my_claim,
            "can_claim": can_claim,
            "done_form": forms.get("done") or NeedDoneForm(prefix="done"),
            "send_back_form": forms.get("send_back") or ReasonForm(prefix="send_back"),
            "withdraw_form": forms.get("withdraw") or ReasonForm(prefix="withdraw"),
            "can_withdraw": manager and need.state in (Need.State.OPEN, Need.State.CLAIMED),
            "publisher_name": person_name(need.published_by),
            "entries": timeline(need, HISTORY_FIELDS, label=services.reason_label),
        },
    )


def _action(request, need, action, forms):
    """Runs one action; returns the success message, or None with the errors shown."""
    user = request.user
    try:
        if action == "claim":
            services.need_claim(need=need, user=user)
            return _("You claimed the need. Record it done when it is done.")
        if action == "give_back":
            services.need_give_back(need=need, user=user)
            return _("You gave the need back.")
        if action == "verify":
            services.need_verify(need=need, by=user, claim_id=_int(request.POST.get("claim")))
            return _("Verified: the hours count as voluntary service.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return None
    form_class = NeedDoneForm if action == "done" else ReasonForm
    form = form_class(request.POST, prefix=action)
    forms[action] = form
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        if action == "done":
            services.need_done(need=need, user=user, note=data["note"], hours=data["hours"])
            return _("Recorded done; the community will verify it.")
        if action == "send_back":
            services.need_send_back(
                need=need, by=user, claim_id=_int(request.POST.get("claim")), reason=data["reason"]
            )
            return _("The need is sent back to its claimant.")
        services.need_withdraw(need=need, by=user, reason=data["reason"])
        return _("The need is withdrawn.")
    except ValidationError as exc:
        add_service_errors(form, exc)
        if not form.errors:
            messages.error(request, " ".join(exc.messages))
        return None
