from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from .history import timeline
from .models import Agreement

# What an agreement's history shows: the terms and what the signing desk changes (issue 11).
AGREEMENT_HISTORY_FIELDS = [
    "status",
    "starts_on",
    "ends_on",
    "daily_quota",
    "commitments",
    "agency_contact",
    "agency_contact_phone",
    "community_contact",
    "community_contact_phone",
    "signed_on",
    "signed_by",
    "terminated_on",
    "termination_reason",
    "terminated_by",
]


@login_required
@require_http_methods(["GET", "HEAD"])
def agreement_detail(request, pk):
    """An agreement's terms and its history (who signed, changed or ended it, when and why), to
    those who may see it: its agency's office and members, its community's staff, the street's
    officers and the city; read-only (the city signs and ends agreements in the admin)."""
    agreement = get_object_or_404(
        Agreement.objects.visible_to(request.user)
        .with_effective_status()
        .select_related("agency", "community__street", "signed_by", "terminated_by"),
        pk=pk,
    )
    return render(
        request,
        "communities/agreement_detail.html",
        {"agreement": agreement, "entries": timeline(agreement, AGREEMENT_HISTORY_FIELDS)},
    )


@login_required
def agreement_scan(request, pk):
    """The signed scan, to those who may see the agreement; never from a public URL."""
    agreement = get_object_or_404(Agreement.objects.visible_to(request.user), pk=pk)
    if not agreement.scan:
        raise Http404
    try:
        handle = agreement.scan.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, filename=agreement.scan.name.rsplit("/", 1)[-1])
