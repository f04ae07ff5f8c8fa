"""The attendance report (出勤报表) of an agency party office: for a month, a quarter, a half-year,
a year or a range of days, each member of its agencies with their participations, hours of duty
(下沉任务) and of voluntary service (志愿服务), absences, leaves, attendance rate, last
participation and report-in state, the inactive marked, and a totals row. Every figure links to
the records behind it in the review list (reports.review).

The figures are DESIGN.md's, from activities.figures (`attendance_columns`, `is_inactive`,
members.models.has_liaison_report_in): the page is four queries whatever the number of members
or records — the members counted, the inactive counted, the totals, and the page's rows. The
rows' query chooses the page's 20 members in the order asked (`listed_members`: by a column of
the member, or by the figure sorted on, every member's grouped in one pass over their records of
the period) and groups only theirs (`member_rows`); all in the database.
Only an agency office reads it (anyone else: 403); its rows are its own agencies' members,
whatever the URL says.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    Max,
    OuterRef,
    Q,
)
from django.db.models.functions import Cast, NullIf
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_http_methods

from activities import figures
from activities.models import Activity, Participation
from communities.dates import local_midnight
from communities.filters import DateInput, FilterForm
from communities.pagination import Paginator
from communities.permissions import attendance_report_agency_ids, can_see_attendance_report
from communities.validators import FIRST_YEAR, LAST_YEAR, validate_year
from members.models import Member, PersonalDataView, has_liaison_report_in
from members.privacy import personal_data_page

from .exports import XLSX, Column, ListExporter, streamed
from .jobs import export

PAGE_SIZE = 20
Status = Participation.Status
Nature = Activity.Nature

MONTH, QUARTER, HALF, YEAR, CUSTOM = "month", "quarter", "half", "year", "custom"
PERIODS = [
    (MONTH, pgettext_lazy("period", "Month")),
    (QUARTER, pgettext_lazy("period", "Quarter")),
    (HALF, pgettext_lazy("period", "Half-year")),
    (YEAR, pgettext_lazy("period", "Year")),
    (CUSTOM, pgettext_lazy("period", "Custom range")),
]

# The columns the report sorts by: the parameter's name and the ordering it means. A
# figure sorts largest first when asked with "-"; ties go by name, then id (a total order, so
# that the paginator may read a deep page from the end).
SORTS = {
    "name": "name",
    "present": "present",
    "duty_hours": "duty_hours",
    "volunteer_hours": "volunteer_hours",
    "absent": "absent",
    "leaves": "leaves",
    "rate": "rate",
    "last": "last",
    "reported": "reported",
}
DEFAULT_SORT = "name"


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    kind: str
    label: str

    @property
    def start(self) -> dt.datetime:
        return local_midnight(self.first)

    @property
    def end(self) -> dt.datetime:
        """The moment after the period: its last day's following midnight."""
        return local_midnight(self.last + dt.timedelta(days=1))


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def period_of(kind: str, *, year: int, number: int = 1, first=None, last=None) -> Period:
    """The days of a month (`number` 1–12), quarter (1–4), half-year (1–2) or year of `year`,
    or the range `first`–`last`, with the name the report's title gives it."""
    if kind == MONTH:
        start, end = dt.date(year, number, 1), _month_end(year, number)
        label = _("%(year)d-%(month)02d") % {"year": year, "month": number}
    elif kind == QUARTER:
        start = dt.date(year, 3 * number - 2, 1)
        end = _month_end(year, 3 * number)
        label = _("Q%(quarter)d %(year)d") % {"year": year, "quarter": number}
    elif kind == HALF:
        start = dt.date(year, 6 * number - 5, 1)
        end = _month_end(year, 6 * number)
        label = (_("first half of %(year)d") if number == 1 else _("second half of %(year)d")) % {
            "year": year
        }
    elif kind == YEAR:
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        label = _("year %(year)d") % {"year": year}
    else:
        start, end = first, last
        label = _("%(first)s to %(last)s") % {
            "first": start.isoformat(),
            "last": end.isoformat(),
        }
    return Period(first=start, last=end, kind=kind, label=label)


def _choices(numbers, label):
    return [("", "")] + [(number, label(number)) for number in numbers]


class ReportForm(FilterForm):
    """The report's period and sort. A bad value is reported on the form and the report falls
    back to this month (or the part it could read), never a 500."""

    period = forms.ChoiceField(
        label=pgettext_lazy("period", "Period"), choices=PERIODS, required=False
    )
    year = forms.TypedChoiceField(
        label=gettext_lazy("Year"),
        coerce=int,
        required=False,
        choices=[(year, str(year)) for year in range(FIRST_YEAR, LAST_YEAR + 1)],
    )
    month = forms.TypedChoiceField(
        label=gettext_lazy("Month"),
        coerce=int,
        required=False,
        choices=[(n, str(n)) for n in range(1, 13)],
    )
    quarter = forms.TypedChoiceField(
        label=gettext_lazy("Quarter"),
        coerce=int,
        required=False,
        choices=[(n, str(n)) for n in range(1, 5)],
    )
    half = forms.TypedChoiceField(
        label=gettext_lazy("Half-year"),
        coerce=int,
        required=False,
        choices=[(1, gettext_lazy("First half")), (2, gettext_lazy("Second half"))],
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=DateInput(), validators=[validate_year]
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=DateInput(), validators=[validate_year]
    )
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort by"),
        required=False,
        choices=[(f"{sign}{name}", f"{sign}{name}") for name in SORTS for sign in ("", "-")],
        widget=forms.HiddenInput,
    )

    def __init__(self, data, *, today: dt.date | None = None):
        super().__init__(data)
        self.today = today or timezone.localdate()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == CUSTOM and "date_from" not in self.errors:
            if not cleaned.get("date_from") or not cleaned.get("date_to"):
                self.add_error("date_from", _("A custom range needs its first and its last day."))
        return cleaned

    def value(self, name):
        """The field's cleaned value, or None when it was missing or bad."""
        self.is_valid()
        value = self.cleaned_data.get(name)
        return None if value in ("", None) else value

    def chosen_period(self) -> Period:
        kind = self.value("period") or MONTH
        year = self.value("year") or self.today.year
        if kind == CUSTOM:
            first, last = self.value("date_from"), self.value("date_to")
            if first and last and "date_to" not in self.errors:
                return period_of(CUSTOM, year=year, first=first, last=last)
            kind = MONTH
        number = {
            MONTH: self.value("month") or self.today.month,
            QUARTER: self.value("quarter") or (self.today.month - 1) // 3 + 1,
            HALF: self.value("half") or (1 if self.today.month <= 6 else 2),
            YEAR: 1,
        }[kind]
        return period_of(kind, year=year, number=number)

    def chosen_sort(self) -> str:
        return self.value("sort") or DEFAULT_SORT

    def in_use(self, period: Period) -> dict:
        """What the export log records: the period as days, and the sort."""
        return {
            "period": period.kind,
            "date_from": period.first,
            "date_to": period.last,
            "sort": self.chosen_sort(),
        }


def report_members(user, period: Period):
    """The members the report lists: those of the viewer's agencies (its office's; none for
    anyone else) who were with their agency at some time in the period — still with it, or
    left on or after its first day."""
    return Member.objects.filter(agency__in=attendance_report_agency_ids(user)).filter(
        Q(status=Member.Status.ACTIVE) | Q(left_on__gte=period.first)
    )


def _rate():
    return Cast("present", FloatField()) / NullIf(
        F("present") + F("absent"), 0, output_field=FloatField()
    )


def _period_activity(period: Period) -> FilteredRelation:
    """The activities of a member's records, joined only when they start in the period: a
    record of another period joins none and counts nowhere (`IN_PERIOD`)."""
    return FilteredRelation(
        "participations__activity",
        condition=Q(
            participations__activity__starts_at__gte=period.start,
            participations__activity__starts_at__lt=period.end,
        ),
    )


IN_PERIOD = Q(period_activity__isnull=False)


def _inactive(now):
    """figures.is_inactive of the member as a subquery on their own row. A GROUP BY groups by a
    condition (it reads the member's status) as a whole, evaluated for every joined record; by
    a subquery only through the member's id it refers to, evaluated once per member."""
    return Exists(Member.objects.filter(figures.is_inactive(now), pk=OuterRef("pk")))


def member_rows(members, period: Period, *, now=None, sort: str = DEFAULT_SORT):
    """`members` each with their figures for the period, as dicts, sorted by `sort`: one query.

    One pass (the export's rows, and a page's of its 20 members; a page's members are chosen by
    the same GROUP BY of the sorted figure alone, `listed_members`): each member LEFT JOINed to
    their records and those to their activity of the period (`_period_activity`), grouped per
    member — a member without records is a group with zeros.
    It was two SELECTs united, the members' grouped records and the members without any, the
    second reading the period's records again for its anti-join.

    `who`, `who_name`, `who_mobile`, `who_status`, `who_left_on`: the member; participations
    (`present`), `total_hours`, `duty_hours`, `volunteer_hours`, `absent`, `leaves`:
    activities.figures.attendance_columns; `rate`: present ÷ (present + absent), NULL for 0 ÷ 0
    (for sorting; the page shows figures.rate of the counts); `last`: the start of the latest
    activity the member was present at in the period; `reported`: an active liaison report-in
    (members.models.has_liaison_report_in); `inactive`: figures.is_inactive at `now`."""
    now = now or timezone.now()
    return (
        members.alias(period_activity=_period_activity(period))
        .order_by()
        .values(
            who=F("pk"),
            who_name=F("name"),
            who_mobile=F("mobile"),
            who_status=F("status"),
            who_left_on=F("left_on"),
        )
        .annotate(**_figure_columns())
        .annotate(rate=_rate())
        # Annotated after the figures, the member's own conditions are no grouping keys: each
        # is evaluated once per member (a grouping key was evaluated for every record).
        .annotate(reported=has_liaison_report_in(), inactive=_inactive(now))
        .order_by(*ordering(sort))
    )


def _figure_columns() -> dict:
    """The figures of `member_rows` as aggregates over each member's records joined through
    `_period_activity` (the records of other periods count nowhere)."""
    columns = figures.attendance_columns(
        "participations__", by_nature=True, where=IN_PERIOD, activity="period_activity"
    )
    # "hours" is a column of the records: the sum is named apart.
    columns["total_hours"] = columns.pop("hours")
    columns["last"] = Max(
        "period_activity__starts_at", filter=Q(participations__status=Status.PRESENT)
    )
    return columns


def listed_members(members, period: Period, sort: str):
    """`members` in the report's order by `sort`, each with the one column it sorts by: the
    member's own (name, report-in), or the figure aggregated over their records of the period
    in one pass (`member_rows`' GROUP BY, of that figure alone). The page's rows are then read
    for the page's members only (`member_rows` of those)."""
    column = COLUMN_OF[SORTS.get(sort.lstrip("-"), DEFAULT_SORT)]
    if column == "reported":
        members = members.annotate(reported=has_liaison_report_in())
    elif column in ("present", "absent", "leaves", "duty_hours", "volunteer_hours", "last"):
        members = members.alias(period_activity=_period_activity(period)).annotate(
            **{column: _figure_columns()[column]}
        )
    elif column == "rate":
        columns = _figure_columns()
        members = (
            members.alias(period_activity=_period_activity(period))
            .alias(present=columns["present"], absent=columns["absent"])
            .annotate(rate=_rate())
        )
    return members.order_by(*ordering(sort, names={"who_name": "name", "who": "pk"}))


def _paginator(members, period: Period, *, now, sort: str, count: int) -> Paginator:
    """The report's pages, each in one query: the page's 20 members chosen among `members` in
    the order of `sort` (`listed_members`), and only theirs grouped (`member_rows` of those 20,
    in a subquery of the same query). The city's largest agency's year was every member's
    figures grouped and sorted for a page of 20: 1.1–1.5 s loaded sorted by name; by a figure
    1.3–2.9× the hand-written SQL (two SELECTs united, the second reading the period's records
    again for the members without any). The figure to sort by alone, grouped in one pass, then
    the page's 20: 0.7–1.25× (a page's figures as 20 correlated aggregates of each column took
    70 ms, grouped 20–30 ms). The order is total (it ends with the id), so a deep page is read
    from the end."""
    listed = listed_members(members, period, sort)

    def read(ids):
        return member_rows(members.filter(pk__in=ids), period, now=now, sort=sort)

    return Paginator(listed, PAGE_SIZE, count=count, read=read)


def ordering(sort: str, *, names: dict | None = None) -> list:
    descending = sort.startswith("-")
    names = names or {}
    name, who = names.get("who_name", "who_name"), names.get("who", "who")
    column = COLUMN_OF[SORTS.get(sort.lstrip("-"), DEFAULT_SORT)]
    column = names.get(column, column)
    expression = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    if column == name:
        return [expression, who]
    return [expression, name, who]


# The united rows' names of the sorted columns.
COLUMN_OF = {**{key: key for key in SORTS}, "name": "who_name"}


def as_member(row: dict) -> dict:
    """A united row (member_rows) with the member's plain names: pk, name, mobile, status,
    left_on, hours."""
    row = dict(row)
    for key in ("name", "mobile", "status", "left_on"):
        row[key] = row.pop(f"who_{key}")
    row["pk"] = row.pop("who")
    row["hours"] = row.pop("total_hours")
    return row


def totals(members, period: Period, *, now=None) -> dict:
    """The totals row: the figures of every record of `members` in the period (one query), and
    how many members there are, how many inactive, how many reported in (another)."""
    now = now or timezone.now()
    records = Participation.objects.filter(
        member__in=members.values("pk"),
        activity__starts_at__gte=period.start,
        activity__starts_at__lt=period.end,
    )
    figures_ = records.aggregate(
        **figures.attendance_columns(by_nature=True),
        last=Max("activity__starts_at", filter=Q(status=Status.PRESENT)),
    )
    people = members.aggregate(
        members=Count("pk"), reported=Count("pk", filter=Q(has_liaison_report_in()))
    )
    # Counted as the dashboard counts them: a NOT EXISTS in the WHERE clause, which PostgreSQL
    # answers with one anti-join; as an aggregate's FILTER it probed each member (7 s for the
    # city's largest agency).
    people["inactive"] = figures.inactive_members(members, now).count()
    return {**figures_, **people}


def _hours(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.1"))


def _records_url(period: Period, *, member=None, **filters) -> str:
    """The review list of the records behind a figure: the member's (or everyone's), in the
    period, narrowed by `filters` (status, the activity's nature, the days)."""
    query = {"date_from": period.first.isoformat(), "date_to": period.last.isoformat()}
    if member is not None:
        query["member"] = member
    query.update({name: value for name, value in filters.items() if value})
    return f"{reverse('reports:review')}?{urlencode(query)}"


def with_figures(row: dict, period: Period, *, links: bool = True) -> dict:
    """A row (or the totals) as the page and the export show it: the attendance of
    figures.Attendance (its rate: DESIGN.md's, None for 0 ÷ 0), and the links to the records
    behind each figure."""
    member = row.get("pk")
    attendance = figures.Attendance(
        present=row["present"],
        absent=row["absent"],
        leaves=row["leaves"],
        hours=_hours(row["hours"]),
    )
    last = timezone.localdate(row["last"]) if row["last"] else None
    url = _records_url
    shown = {
        **row,
        "attendance": attendance,
        "rate": attendance.attendance_rate,
        "duty_hours": _hours(row["duty_hours"]),
        "volunteer_hours": _hours(row["volunteer_hours"]),
        "last_day": last,
    }
    if not links:  # an export's row: no page to link from
        return shown
    return {
        **shown,
        "links": {
            "present": url(period, member=member, status=Status.PRESENT),
            "duty_hours": url(period, member=member, status=Status.PRESENT, nature=Nature.DUTY),
            "volunteer_hours": url(
                period, member=member, status=Status.PRESENT, nature=Nature.VOLUNTEER
            ),
            "absent": url(period, member=member, status=Status.ABSENT),
            "leaves": url(period, member=member, status=Status.LEAVE),
            "rate": url(period, member=member),
            "last": (
                f"{reverse('reports:review')}?"
                + urlencode(
                    {
                        **({"member": member} if member is not None else {}),
                        "status": Status.PRESENT,
                        "date_from": last.isoformat(),
                        "date_to": last.isoformat(),
                    }
                )
                if last
                else ""
            ),
            "member": reverse("reports:roster_member", args=[member]) if member else "",
        },
    }


def _require_office(user) -> None:
    if not can_see_attendance_report(user):
        raise PermissionDenied


def report(user, data, *, now=None, page_number=None) -> dict:
    """Everything the page shows, in four queries: the form, the period, the members' page
    (sorted and paginated in the database) and the totals."""
    now = now or timezone.now()
    form = ReportForm(data, today=timezone.localdate(now))
    period = form.chosen_period()
    sort = form.chosen_sort()
    members = report_members(user, period)
    total = totals(members, period, now=now)
    page = _paginator(members, period, now=now, sort=sort, count=total["members"]).get_page(
        page_number
    )
    page.object_list = [with_figures(as_member(row), period) for row in page.object_list]
    return {
        "form": form,
        "period": period,
        "sort": sort,
        "page": page,
        "totals": with_figures({**total, "pk": None}, period),
    }


@login_required
@require_http_methods(["GET", "HEAD"])
@personal_data_page(PersonalDataView.Page.ATTENDANCE)
def attendance_report(request):
    _require_office(request.user)
    context = report(request.user, request.GET, page_number=request.GET.get("page"))
    context["headers"] = _headers(request, context["sort"])
    query = request.GET.copy()
    query.pop("page", None)
    export = reverse("reports:attendance_export")
    context["exports"] = {
        name: f"{export}?{_with(query, **extra).urlencode()}"
        for name, extra in (
            ("xlsx", {"format": XLSX}),
            ("csv", {"format": "csv"}),
            ("full", {"format": XLSX, "full": "1"}),
        )
    }
    context["inactive_days"] = settings.INACTIVE_AFTER_DAYS
    return render(request, "reports/attendance.html", context)


def _with(query, **values):
    query = query.copy()
    for name, value in values.items():
        query[name] = value
    return query


def _headers(request, sort: str) -> list[dict]:
    """The table's headers, each a link sorting by its column: a figure largest first on the
    first click, the name from A; a second click turns the order round."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    query = request.GET.copy()
    query.pop("page", None)
    headers = []
    for key, label in [("name", pgettext_lazy("report", "Name")), *COLUMNS]:
        if key == current:
            flipped = key if descending else f"-{key}"
        else:
            flipped = key if key == "name" else f"-{key}"
        headers.append(
            {
                "key": key,
                "label": label,
                "url": f"?{_with(query, sort=flipped).urlencode()}",
                "current": key == current,
                "descending": key == current and descending,
            }
        )
    return headers


# The page's figure columns after the name: (sort key, header).
COLUMNS = [
    ("present", pgettext_lazy("report", "Participations")),
    ("duty_hours", pgettext_lazy("report", "Duty hours")),
    ("volunteer_hours", pgettext_lazy("report", "Volunteer hours")),
    ("absent", pgettext_lazy("report", "Absences")),
    ("leaves", pgettext_lazy("report", "Leaves")),
    ("rate", pgettext_lazy("report", "Attendance rate")),
    ("last", pgettext_lazy("report", "Last took part")),
    ("reported", pgettext_lazy("report", "Reported in")),
]


class AttendanceReportExporter(ListExporter):
    """The attendance report as a sheet: every member's row in the page's order, then the
    totals; the title names the period. A large one is written by a worker (reports.jobs)."""

    identifier = "attendance"
    title = gettext_lazy("Attendance report")
    filter_names = tuple(ReportForm.base_fields)

    def __init__(self, members, period: Period, *, sort: str = DEFAULT_SORT, **kwargs):
        super().__init__(**kwargs)
        self.members, self.period, self.sort = members, period, sort

    @classmethod
    def for_office(cls, *, user, data, agency_ids=None, **kwargs):
        form = ReportForm(data)
        period = form.chosen_period()
        members = report_members(user, period)
        if agency_ids is not None:
            members = members.filter(agency__in=agency_ids)
        exporter = cls(members, period, sort=form.chosen_sort(), **kwargs)
        exporter.filters_in_use = form.in_use(period)
        # The period as days: the same rows whenever a job runs.
        exporter.raw_filters = {
            "period": CUSTOM,
            "date_from": period.first.isoformat(),
            "date_to": period.last.isoformat(),
            "sort": form.chosen_sort(),
        }
        return exporter

    def heading(self) -> str:
        return _("%(title)s · %(period)s (%(first)s to %(last)s) · made %(time)s") % {
            "title": self.title,
            "period": self.period.label,
            "first": self.period.first.isoformat(),
            "last": self.period.last.isoformat(),
            "time": self.made_at(),
        }

    def count(self) -> int:
        return self.members.count()

    def columns(self):
        return [
            Column(pgettext("report", "Name"), Member._meta.get_field("name").max_length // 3),
            Column(pgettext("report", "Mobile"), 11),
            *(Column(str(header), 10) for _key, header in COLUMNS),
            Column(pgettext("report", "Inactive"), 6),
        ]

    def _cells(self, row, name, mobile):
        yes, no = _("Yes"), _("No")
        return [
            name,
            mobile,
            row["present"],
            float(row["duty_hours"]),
            float(row["volunteer_hours"]),
            row["absent"],
            row["leaves"],
            figures.format_rate(row["rate"]),
            row["last_day"].isoformat() if row["last_day"] else "",
            yes if row["reported"] else no,
            yes if row["inactive"] else no,
        ]

    def rows(self):
        rows = member_rows(self.members, self.period, now=self.now, sort=self.sort)
        for row in streamed(rows):
            row = as_member(row)
            shown = with_figures(row, self.period, links=False)
            yield self._cells(shown, row["name"], self.mobile(row["mobile"]))

    def totals(self):
        total = totals(self.members, self.period, now=self.now)
        shown = with_figures({**total, "pk": None}, self.period, links=False)
        cells = self._cells(shown, _("Total (%(count)d members)") % {"count": total["members"]}, "")
        cells[-2], cells[-1] = total["reported"], total["inactive"]
        return cells


@login_required
@require_http_methods(["GET", "HEAD"])
def attendance_export(request):
    """The report as .xlsx (`format=xlsx`, the default) or .csv, for the period and sort asked;
    mobiles masked unless `full=1`, which the export log records; in a worker when large."""
    _require_office(request.user)
    return export(request, AttendanceReportExporter)
