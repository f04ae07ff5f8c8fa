"""Charts (统计图表): participations and service hours month by month, duty (下沉任务) against
voluntary service (志愿服务) by the activity's nature, and the same by activity type and by
community, for a year or a part of one; each chart followed by its numbers as a table.

Whose figures (`Lens`): an agency party office's members' (wherever they served); the activities
of the communities community staff and grid workers work in, or a street officer's street's; the
whole city for its administrators — as the permission module offers them to the viewer
(`chart_lenses`), whatever the query string asks. Figures by DESIGN.md's definitions
(`figures.service_by`), grouped in the database: one query whatever the number of records —
read from the monthly service summary (reports.summary, refreshed by beat) and labelled with
its time, or counted live while the summary was never refreshed.
The charts are SVG drawn on the server (reports.svg), with no script and no inline style; the
drawings' elements and the tables' rows are written in Python (svg.markup, Chart.table_rows).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import DateField
from django.db.models.functions import TruncMonth
from django.shortcuts import render
from django.utils import dateformat, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy
from django.views.decorators.http import require_http_methods

from activities.figures import format_number, service_by
from activities.models import Activity, Participation
from communities.dates import local_midnight
from communities.permissions import ChartLens, chart_lenses, scope_of
from members.models import Member

from . import summary, svg

# The first year offered: the article's (the agreements of July 2020).
FIRST_YEAR = 2020
# The community chart shows the busiest communities; the rest are one bar, "other communities".
COMMUNITY_BARS = 12

PERIODS = {
    "": (1, 12),
    "h1": (1, 6),
    "h2": (7, 12),
    "q1": (1, 3),
    "q2": (4, 6),
    "q3": (7, 9),
    "q4": (10, 12),
}
PERIOD_CHOICES = [
    ("", pgettext_lazy("charts", "Whole year")),
    ("h1", pgettext_lazy("charts", "First half")),
    ("h2", pgettext_lazy("charts", "Second half")),
    ("q1", pgettext_lazy("charts", "First quarter")),
    ("q2", pgettext_lazy("charts", "Second quarter")),
    ("q3", pgettext_lazy("charts", "Third quarter")),
    ("q4", pgettext_lazy("charts", "Fourth quarter")),
]


class ChartForm(forms.Form):
    """Whose figures, which year, which part of it. A bad value is reported and its default
    used instead; the page still answers."""

    lens = forms.ChoiceField(label=_("Figures of"), required=False)
    year = forms.TypedChoiceField(
        label=pgettext_lazy("charts", "Year"), coerce=int, required=False, empty_value=None
    )
    period = forms.ChoiceField(
        label=pgettext_lazy("charts", "Period"), choices=PERIOD_CHOICES, required=False
    )

    def __init__(self, data, *, lenses, today):
        super().__init__(data)
        self.today = today
        self.fields["lens"].choices = [(lens, ChartLens(lens).label) for lens in lenses]
        self.fields["year"].choices = [
            (year, str(year)) for year in range(today.year, FIRST_YEAR - 1, -1)
        ]
        self.is_valid()

    def value(self, name, default):
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    @property
    def chosen_lens(self) -> str:
        return self.value("lens", self.fields["lens"].choices[0][0])

    @property
    def chosen_year(self) -> int:
        return self.value("year", self.today.year)

    @property
    def chosen_months(self) -> tuple[int, int]:
        return PERIODS[self.value("period", "")]


def participations_of(user, lens: str):
    """The records behind the figures of `lens` for `user`: never more than the viewer's scope
    holds, whatever the lens asked (an unknown lens or one not the viewer's shows nothing)."""
    scope = scope_of(user)
    if lens not in chart_lenses(user):
        return Participation.objects.none()
    if lens == ChartLens.AGENCY:
        # The agency's members a subquery on the row's own member column, as the participation
        # scope reads them (reviewable_by's too, without its statuses: only *present* counts).
        members = Member.objects.filter(agency__in=scope.agency_ids).values("pk")
        return Participation.objects.filter(member__in=members)
    if lens == ChartLens.PLACES:
        return Participation.objects.filter(activity__community__in=scope.place_community_ids)
    return Participation.objects.all()


@dataclass
class Row:
    """A line of a chart's table: its label, the figure by nature and their total; `hours`
    beside it in the breakdowns (their bars count participations)."""

    label: str
    duty: Decimal
    volunteer: Decimal
    hours: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.duty + self.volunteer

    @property
    def by_nature(self) -> dict:
        return {Activity.Nature.DUTY: self.duty, Activity.Nature.VOLUNTEER: self.volunteer}


@dataclass
class Chart:
    id: str
    title: str
    unit: str  # what the bars measure, for the table's header
    drawing: svg.Drawing
    rows: list[Row]
    total: Row
    category: str  # the table's first column

    @property
    def svg(self):
        return svg.markup(self.drawing)

    @property
    def table_rows(self):
        """The table's rows, written here as the drawing is (svg.markup); service hours
        beside the participations where the chart has them."""
        hours = self.total.hours is not None
        return mark_safe(
            "\n".join(
                f'<tr>\n<th scope="row" class="fw-normal text-break">{svg.escape(row.label)}</th>\n'
                f'<td class="text-end">{format_number(row.duty)}</td>\n'
                f'<td class="text-end">{format_number(row.volunteer)}</td>\n'
                f'<td class="text-end">{format_number(row.total)}</td>\n'
                + (f'<td class="text-end">{format_number(row.hours)}</td>\n' if hours else "")
                + "</tr>"
                for row in self.rows
            )
        )

    @property
    def summary(self) -> str:
        """What the chart shows, read out by a screen reader (aria-label)."""
        return _("%(title)s: %(duty)s duty, %(volunteer)s voluntary service, %(total)s in all") % {
            "title": self.title,
            "duty": format_number(self.total.duty),
            "volunteer": format_number(self.total.volunteer),
            "total": format_number(self.total.total),
        }


def _total(rows, label) -> Row:
    hours = [row.hours for row in rows if row.hours is not None]
    return Row(
        label,
        sum((row.duty for row in rows), Decimal(0)),
        sum((row.volunteer for row in rows), Decimal(0)),
        sum(hours, Decimal(0)) if hours or not rows else None,
    )


def _add(table: dict, key, label, nature, participations, hours, *, with_hours) -> None:
    row = table.setdefault(
        key, Row(label, Decimal(0), Decimal(0), Decimal(0) if with_hours else None)
    )
    if nature == Activity.Nature.DUTY:
        row.duty += participations
    else:
        row.volunteer += participations
    if with_hours:
        row.hours += hours


def figures_of(participations, *, year: int, months: tuple[int, int]) -> dict:
    """The rows of every chart for the months [first, last] of `year`: by month and nature, by
    activity type and by community.

    One grouped query, by month, nature, type and community: at city size the records of an
    agency's year are read once (a pass over the participations, which no index narrows to a
    year), and its few thousand groups are added up here into the three breakdowns. Two
    queries, one per breakdown, read them twice and took twice as long."""
    first, last = months
    start = local_midnight(dt.date(year, first, 1))
    end = local_midnight(dt.date(year + (last == 12), last % 12 + 1, 1))
    within = participations.filter(activity__starts_at__gte=start, activity__starts_at__lt=end)
    month = TruncMonth(
        "activity__starts_at", tzinfo=timezone.get_current_timezone(), output_field=DateField()
    )
    groups = service_by(
        within,
        "activity__nature",
        "activity__type",
        "activity__type__name",
        "activity__type__order",
        "activity__community",
        "activity__community__name",
        month=month,
    )
    return fold(groups, year=year, months=months)


def fold(groups, *, year: int, months: tuple[int, int]) -> dict:
    """The rows of every chart added up from `groups`, the figures by month, nature, type and
    community (`service_by`'s rows, counted live or read from the summary)."""
    first, last = months
    count_months, hour_months, types, communities = {}, {}, {}, {}
    for number in range(first, last + 1):
        # A month as short as an axis needs it: "1月" in Chinese, "Jan" in English.
        label = dateformat.format(dt.date(year, number, 1), pgettext("charts", "M"))
        count_months[number] = Row(label, Decimal(0), Decimal(0))
        hour_months[number] = Row(label, Decimal(0), Decimal(0))
    for row in groups:
        # A row without a month, a type or a community (the summary's totals by one of them
        # alone) counts only in the breakdowns it has.
        nature, n, hours = row["activity__nature"], row["participations"], row["hours"]
        if row.get("month") is not None:
            number = row["month"].month
            _add(count_months, number, "", nature, n, 0, with_hours=False)
            _add(hour_months, number, "", nature, hours, 0, with_hours=False)
        if row.get("activity__type") is not None:
            key = (
                row["activity__type__order"],
                row["activity__type__name"],
                row["activity__type"],
            )
            _add(types, key, row["activity__type__name"], nature, n, hours, with_hours=True)
        if row.get("activity__community") is not None:
            key, name = row["activity__community"], row["activity__community__name"]
            _add(communities, key, name, nature, n, hours, with_hours=True)
    community_rows = sorted(communities.values(), key=lambda row: (-row.total, row.label))
    if len(community_rows) > COMMUNITY_BARS:
        rest = community_rows[COMMUNITY_BARS - 1 :]
        others = _total(rest, _("Other communities (%(count)d)") % {"count": len(rest)})
        community_rows = [*community_rows[: COMMUNITY_BARS - 1], others]
    return {
        "months": list(count_months.values()),
        "hours": list(hour_months.values()),
        "types": [types[key] for key in sorted(types)],
        "communities": community_rows,
    }


def charts_of(figures: dict) -> list[Chart]:
    participations, hours = _("Participations"), _("Service hours")
    specs = [
        (
            "months",
            _("Participations by month"),
            participations,
            svg.columns,
            True,
            pgettext_lazy("charts", "Month"),
        ),
        (
            "hours",
            _("Service hours by month"),
            hours,
            svg.columns,
            False,
            pgettext_lazy("charts", "Month"),
        ),
        (
            "types",
            _("Participations by activity type"),
            participations,
            svg.rows,
            True,
            pgettext_lazy("charts", "Type"),
        ),
        (
            "communities",
            _("Participations by community"),
            participations,
            svg.rows,
            True,
            _("Community"),
        ),
    ]
    charts = []
    for key, title, unit, draw, whole, category in specs:
        rows = figures[key]
        drawing = draw([(row.label, row.by_nature) for row in rows], whole=whole)
        charts.append(
            Chart(
                key,
                title,
                unit,
                drawing,
                rows,
                _total(rows, pgettext_lazy("charts", "Total")),
                category,
            )
        )
    return charts


def _as_of(refreshed) -> str:
    """When the summary the charts read was refreshed: its time today, its date and time
    before; nothing when the figures were counted live."""
    if refreshed is None:
        return ""
    at = timezone.localtime(refreshed.refreshed_at)
    if at.date() == timezone.localdate():
        return dateformat.format(at, "H:i")
    return dateformat.format(at, "Y-m-d H:i")


@login_required
@require_http_methods(["GET", "HEAD"])
def charts(request):
    """The charts of the viewer's scope for the year and period chosen (this year by
    default)."""
    lenses = chart_lenses(request.user)
    if not lenses:
        raise PermissionDenied
    form = ChartForm(request.GET, lenses=lenses, today=timezone.localdate())
    year, months = form.chosen_year, form.chosen_months
    refreshed = summary.last_refresh()
    if refreshed is not None:
        groups = summary.groups_of(request.user, form.chosen_lens, year=year, months=months)
        figures = fold(groups, year=year, months=months)
    else:
        # Never summarised yet (a new database): counted live, and so up to date.
        participations = participations_of(request.user, form.chosen_lens)
        figures = figures_of(participations, year=year, months=months)
    context = {
        "form": form,
        "charts": charts_of(figures),
        "year": form.chosen_year,
        "lens_label": ChartLens(form.chosen_lens).label,
        "any": any(row.total for row in figures["months"]),
        "as_of": _as_of(refreshed),
    }
    return render(request, "reports/charts.html", context)
