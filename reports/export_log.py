"""The export log page (导出记录): the office's agencies' exports, newest first. Only an agency
office reads it (anyone else: 403); another office's exports are simply not in its list. The
list is counted and paged on the log's own table (index exportlog_agency_newest) and joins the
user and agency for the page's rows only, so an empty log costs the queries of a full one."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods

from communities.pagination import Paginator
from communities.permissions import can_see_export_log
from members.filters import RosterFilterSet

from .attendance import COLUMNS, ReportForm
from .models import ExportJob, ExportLog
from .review import ReviewFilterForm

PAGE_SIZE = 20
# The user's own exports written by a worker, newest first, shown above the log.
JOBS_SHOWN = 10
# The filters each export is narrowed by, to show a line's filters by their labels.
FILTERS = {
    ExportLog.What.ROSTER: RosterFilterSet,
    ExportLog.What.RECORDS: ReviewFilterForm,
    ExportLog.What.ATTENDANCE: ReportForm,
}
# The duty rota's export is narrowed by what its page shows, not by a form (reports.rota).
ROTA_FILTERS = {
    "agreement": (_("Co-construction agreement"), {}),
    "month": (_("Month"), {}),
}
# The attendance report's order, by the column it sorts on and its direction (↑ A to Z).
SORTED_BY = {
    f"{sign}{key}": f"{label} {arrow}"
    for key, label in [("name", pgettext_lazy("report", "Name")), *COLUMNS]
    for sign, arrow in (("", "↑"), ("-", "↓"))
}


def _labelled(filters) -> dict:
    """name → (label, {value: label of a choice}) of a filter set's filters or a form's fields
    (a model's choices are not read: those show as logged)."""
    if hasattr(filters, "base_filters"):
        return {
            name: (known.label, dict(known.extra.get("choices") or ()))
            for name, known in filters.base_filters.items()
        }
    return {
        name: (
            field.label,
            {} if hasattr(field, "queryset") else dict(getattr(field, "choices", ())),
        )
        for name, field in filters.base_fields.items()
    }


def filters_shown(entry) -> list[tuple[str, str]]:
    """(label, value) of the line's filters, a choice by its label; a name the filters no
    longer have (renamed since) as it was logged."""
    filters = _labelled(FILTERS[entry.what]) if entry.what in FILTERS else {}
    if entry.what == ExportLog.What.ROTA:
        filters = ROTA_FILTERS
    elif entry.what == ExportLog.What.ATTENDANCE and "sort" in filters:
        filters["sort"] = (filters["sort"][0], SORTED_BY)
    shown = []
    # In the order the filters are offered, then any the filters no longer have.
    order = {name: index for index, name in enumerate(filters)}
    for name, value in sorted(entry.filters.items(), key=lambda item: order.get(item[0], 99)):
        known = filters.get(name)
        if known is None:
            shown.append((name, str(value)))
            continue
        label, choices = known
        choices = {str(key): text for key, text in choices.items()}
        shown.append((str(label), str(choices.get(str(value), value))))
    return shown


def _page_rows(ids):
    return ExportLog.objects.filter(pk__in=ids).select_related("user", "agency").order_by("-pk")


@login_required
@require_http_methods(["GET", "HEAD"])
def export_log(request):
    if not can_see_export_log(request.user):
        raise PermissionDenied
    listed = ExportLog.objects.visible_to(request.user).order_by("-pk")
    page = Paginator(listed, PAGE_SIZE, read=_page_rows).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for entry in page.object_list:
        entry.filters_shown = filters_shown(entry)
    jobs = list(
        ExportJob.objects.of(request.user)
        .exclude(state=ExportJob.State.EXPIRED)
        .select_related("agency")
        .order_by("-pk")[:JOBS_SHOWN]
    )
    return render(request, "reports/export_log.html", {"page": page, "jobs": jobs})
