"""The attendance records export (考勤记录导出): every record of the office's members in a period
— the day, the activity, its community, type and nature, the status, the hours, the review
state, the member and their mobile — offered from the review list with its filters. A year of
the largest agency is the export issue 9 times at city size (`make bench`); it reads the rows as
tuples in chunks from a server-side cursor and streams them to the writer, so memory stays flat
whatever the number of rows.
"""

import datetime as dt
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.validators import EMPTY_VALUES
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_http_methods

from activities.models import Activity, Participation
from activities.services.review import reviewable_by
from members.models import Member

from .exports import Column, ListExporter, streamed
from .jobs import export
from .review import ReviewFilterForm, _require_office

COLUMNS = (
    "activity__starts_at",
    "activity__title",
    "activity__community__name",
    "activity__type__name",
    "activity__nature",
    "status",
    "hours",
    "review",
    "member__name",
    "member__mobile",
)


def period(form, today: dt.date) -> tuple[dt.date, dt.date]:
    """The export's period: the list's dates, a missing start the first of January of the
    end's year (or this year's), a missing end the last of December of the start's year."""
    start, end = form.value("date_from"), form.value("date_to")
    if start is None:
        start = dt.date((end or today).year, 1, 1)
    if end is None:
        end = dt.date(start.year, 12, 31)
    return start, end


class RecordsExporter(ListExporter):
    identifier = "records"
    title = gettext_lazy("Attendance records")
    filter_names = tuple(ReviewFilterForm.base_fields)

    def __init__(self, records, start, end, **kwargs):
        super().__init__(**kwargs)
        self.records = records
        self.start, self.end = start, end
        self.hours = Decimal(0)

    @classmethod
    def for_office(cls, *, user, data, agency_ids=None, **kwargs):
        given = ReviewFilterForm(data, user=user)
        given.is_valid()
        start, end = period(given, timezone.localdate())
        # The list's filters with the period filled in: the same rows whenever a job runs.
        raw = {
            **cls.raw(data),
            "date_from": start.isoformat(),
            "date_to": end.isoformat(),
        }
        form = ReviewFilterForm(raw, user=user)
        records = reviewable_by(user)
        if agency_ids is not None:
            records = records.filter(
                member__in=Member.objects.filter(agency__in=agency_ids).values("pk")
            )
        records = form.narrow(records)
        exporter = cls(records, start, end, **kwargs)
        exporter.filters_in_use = {
            name: value for name, value in form.cleaned_data.items() if value not in EMPTY_VALUES
        }
        exporter.raw_filters = raw
        return exporter

    def heading(self) -> str:
        return _("%(title)s %(start)s – %(end)s · made %(time)s") % {
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "time": self.made_at(),
        }

    def filename(self, extension: str) -> str:
        return f"{self.title}-{self.start:%Y%m%d}-{self.end:%Y%m%d}.{extension}"

    def count(self) -> int:
        return self.records.count()

    def columns(self):
        return [
            Column(pgettext("records", "Date"), 10),
            Column(pgettext("records", "Activity"), 30),
            Column(pgettext("records", "Community"), 16),
            Column(pgettext("records", "Type"), 12),
            Column(pgettext("records", "Nature"), 8),
            Column(pgettext("records", "Status"), 6),
            Column(pgettext("records", "Hours"), 5),
            Column(pgettext("records", "Review"), 6),
            Column(pgettext("records", "Member"), 8),
            Column(pgettext("records", "Mobile"), 11),
        ]

    def rows(self):
        natures = dict(Activity.Nature.choices)
        statuses = dict(Participation.Status.choices)
        reviews = dict(Participation.Review.choices)
        # Labels and the local zone read once, not per row.
        natures = {key: str(label) for key, label in natures.items()}
        statuses = {key: str(label) for key, label in statuses.items()}
        reviews = {key: str(label) for key, label in reviews.items()}
        zone = timezone.get_current_timezone()
        present = Participation.Status.PRESENT
        rows = streamed(self.records.order_by("activity__starts_at", "pk").values_list(*COLUMNS))
        for starts_at, title, community, kind, nature, status, hours, review, name, mobile in rows:
            if status == present and hours is not None:
                self.hours += hours
            yield [
                starts_at.astimezone(zone).date().isoformat(),
                title,
                community,
                kind,
                natures.get(nature, nature),
                statuses.get(status, status),
                hours,
                reviews.get(review, review),
                name,
                self.mobile(mobile),
            ]

    def totals(self):
        return [
            _("Total"),
            _("%(count)d records") % {"count": self.rows_written},
            "",
            "",
            "",
            "",
            self.hours,
            "",
            "",
            "",
        ]


@login_required
@require_http_methods(["GET", "HEAD"])
def records_export(request):
    """The review list's records (its filters, in a period: this year unless the list says
    otherwise) as .xlsx or .csv; in a worker when there are many."""
    _require_office(request.user)
    return export(request, RecordsExporter)
