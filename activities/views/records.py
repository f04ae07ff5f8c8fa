"""One attendance record's page (考勤记录): its state and its history — who marked, checked in,
asked or decided leave, confirmed, disputed or backfilled it, when and why (issue 11). Read-only,
to whoever may see the record: the member, the community's staff and street, the member's agency
office and the city."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from communities.history import timeline

from ..models import Participation

# What a record's history shows: what the roll call, check-in, leave and review change.
HISTORY_FIELDS = [
    "status",
    "hours",
    "checked_in_at",
    "checked_out_at",
    "leave_reason",
    "leave_decision",
    "leave_decided_by",
    "review",
    "reviewed_by",
    "backfill_reason",
]


@login_required
@require_http_methods(["GET", "HEAD"])
def participation_detail(request, pk):
    record = get_object_or_404(
        Participation.objects.visible_to(request.user).select_related(
            "activity__community", "activity__type", "member__agency", "recorded_by"
        ),
        pk=pk,
    )
    return render(
        request,
        "activities/participation_detail.html",
        {"record": record, "entries": timeline(record, HISTORY_FIELDS)},
    )
