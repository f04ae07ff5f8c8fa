"""The community's side of the attendance review: the disputes its agency offices raised, to
answer (explain, or correct the record), and the backfill (补录) of a record an office confirmed.

Community staff and grid workers of the record's community (and city administrators) only:
anyone else with no community is refused (403), another community's record is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from communities.pagination import Paginator
from communities.permissions import can_answer_disputes

from ..forms.review import BackfillForm, DisputeAnswerForm
from ..models import Participation
from ..services.review import (
    participation_backfill,
    participation_dispute_answer,
    records_managed_by,
)
from .common import require_manager

PAGE_SIZE = 20
Review = Participation.Review
# The newest disputes first (a record's reviewed_at is the time of its latest dispute).
ORDER = ("-reviewed_at", "-pk")


def _require_community(user) -> None:
    if not can_answer_disputes(user):
        raise PermissionDenied


def _page_rows(ids):
    return (
        Participation.objects.filter(pk__in=ids)
        .select_related("activity__community", "member__agency")
        .with_latest_dispute()
        .order_by(*ORDER)
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def dispute_list(request):
    """The disputes about the community's records: those to answer first, then those answered
    that the agency office has not settled yet."""
    _require_community(request.user)
    disputes = records_managed_by(request.user).filter(review=Review.DISPUTED).order_by(*ORDER)
    to_answer = disputes.awaiting_answer().count()
    page = Paginator(disputes, PAGE_SIZE, read=_page_rows).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    return render(request, "activities/dispute_list.html", {"page": page, "to_answer": to_answer})


def _record(request, pk) -> Participation:
    _require_community(request.user)
    record = get_object_or_404(
        records_managed_by(request.user)
        .select_related("activity__community", "activity__type", "member__agency", "reviewed_by")
        .with_disputes(),
        pk=pk,
    )
    require_manager(request.user, record.activity.community)
    return record


def _history(record):
    return list(
        record.history.select_related("history_user").order_by("-history_date", "-history_id")[:20]
    )


def _spread(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def dispute_answer(request, pk):
    """A disputed record: the office's reason, and the community's answer — an explanation, or
    a correction of the record with one."""
    record = _record(request, pk)
    form = DisputeAnswerForm(
        request.POST if request.method == "POST" else None, participation=record
    )
    if form.is_bound and form.is_valid():
        correction = form.correction()
        changed = (correction.status, correction.hours, correction.leave_reason) != (
            record.status,
            record.hours,
            record.leave_reason,
        )
        try:
            dispute = participation_dispute_answer(
                by=request.user,
                participation=record,
                answer=form.cleaned_data["answer"],
                correction=correction if changed else None,
            )
        except ValidationError as exc:
            _spread(form, exc)
        else:
            messages.success(request, _("Answered; the agency office is told."))
            if dispute.notified.unreached:
                messages.warning(request, dispute.notified.warning())
            return redirect("activities:dispute_list")
    return render(
        request,
        "activities/dispute_answer.html",
        {"record": record, "form": form, "history": _history(record)},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def participation_backfill_view(request, pk):
    """Changes a record the agency office confirmed: a backfill (补录) with a reason, kept in
    the history; the office reviews it again."""
    record = _record(request, pk)
    form = BackfillForm(request.POST if request.method == "POST" else None, participation=record)
    if form.is_bound and form.is_valid():
        try:
            record = participation_backfill(
                by=request.user,
                participation=record,
                correction=form.correction(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _spread(form, exc)
        else:
            messages.success(
                request, _("Backfilled; the agency office will review the record again.")
            )
            return redirect("activities:attendance_board", pk=record.activity_id)
    return render(
        request,
        "activities/participation_backfill.html",
        {"record": record, "form": form, "history": _history(record)},
        status=400 if form.is_bound else 200,
    )
