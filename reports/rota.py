"""The duty rota's month as a spreadsheet (.xlsx, or .csv) for the agency office to print or
send on: the agreements are those whose rota the office keeps (activities.views.rota), so another
agency's is a 404 and the community's staff, who read the rota, are refused (403). Mobiles are
masked unless `full=1`; every download is in the export log."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from activities.services.rota import month_end, month_start
from activities.views.rota import rota_agreements_of
from communities.permissions import can_keep_rota, can_see_rota

from .exports import FORMATS, XLSX, RotaExporter


@login_required
@require_http_methods(["GET", "HEAD"])
def rota_export(request, pk):
    if not can_see_rota(request.user):
        raise PermissionDenied
    agreement = get_object_or_404(rota_agreements_of(request.user), pk=pk)
    if not can_keep_rota(request.user, agreement):
        raise PermissionDenied
    first = month_start(request.GET.get("month"), timezone.localdate())
    extension = request.GET.get("format", XLSX)
    if extension not in FORMATS:
        extension = XLSX
    exporter = RotaExporter(
        agreement, first, month_end(first), full_mobiles=request.GET.get("full") == "1"
    )
    response = exporter.response(extension)
    exporter.log(
        user=request.user,
        filters={"agreement": agreement.number, "month": f"{first:%Y-%m}"},
        agency_id=agreement.agency_id,
    )
    return response
