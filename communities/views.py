from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from .models import Agreement


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
