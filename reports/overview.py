"""Overviews (概况): a street's communities for its street officers, and the city per street, per
agency and per community for the city administrator.

The figures of a period come from the tables `reports.summaries.overview_refresh` rebuilds every
OVERVIEW_REFRESH_MINUTES (summed live, a street's year took 100–250 ms at city size); each page
says when they were made. Flows (activities, participations, hours, absences) are by month of the
activity's start, so a period is whole months; states (members reported in, open concerns, active
members) are as at the refresh. Agreements and their duty fulfilment are read live, for the page's
agreements only (activities.figures.with_duty_fulfilment). Every list is one annotated queryset,
sorted and paginated in the database: a page costs the same queries at demo and at city size.
"""

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Count,
    DecimalField,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods

from activities import figures
from communities.models import Agency, Agreement, Community, Street
from communities.pagination import Paginator
from communities.permissions import (
    can_list_activities,
    can_review_registrations,
    can_see_city_overview,
    can_see_street_overview,
    overview_street_ids,
    scope_of,
)
from communities.validators import validate_year

from .models import AgencyMonth, CommunityMonth, CommunityNow, OverviewRefresh
from .svg import escape as _text
from .views import _urls_of

PAGE_SIZE = 50
AGREEMENT_PAGE_SIZE = 20
HOURS_FIELD = DecimalField(max_digits=12, decimal_places=1)


# --- The period and the sort ------------------------------------------------------------------


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m")


def _month_field(label):
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m"],
        widget=MonthInput(),
        validators=[validate_year],
        error_messages={"invalid": _("Enter a month as YYYY-MM.")},
    )


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


class OverviewForm(forms.Form):
    """The period (whole months; this year by default) and the sort of an overview. A bad value
    is reported on the page and its default applies; the other values still do."""

    start = _month_field(_("From month"))
    end = _month_field(_("To month"))
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        error_messages={"invalid_choice": _("The list cannot be sorted that way; it is by name.")},
    )

    def __init__(self, data, *, columns, today):
        super().__init__(data)
        self.today = today
        self.fields["sort"].choices = [("", "")] + [
            (f"{sign}{key}", key) for key in columns for sign in ("", "-")
        ]
        self.is_valid()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end month is before the start month."))
        return cleaned

    def _value(self, name):
        return self.cleaned_data.get(name) if name not in self.errors else None

    @property
    def first_month(self) -> dt.date:
        start = self._value("start")
        return start.replace(day=1) if start else self.today.replace(month=1, day=1)

    @property
    def last_month(self) -> dt.date:
        """The end month; by default (or when it is wrong) December of the start's year."""
        end = self._value("end")
        return end.replace(day=1) if end else self.first_month.replace(month=12)

    @property
    def last_day(self) -> dt.date:
        return _next_month(self.last_month) - dt.timedelta(days=1)

    @property
    def sort_key(self) -> str:
        return self._value("sort") or ""


def _ordered(rows, sort: str, *, name="name"):
    """`rows` in the order `sort` names ("present", "-present"), then by name and id."""
    if not sort:
        return rows.order_by(name, "pk")
    key = sort.lstrip("-")
    expression = (
        F(key).desc(nulls_last=True) if sort.startswith("-") else F(key).asc(nulls_last=True)
    )
    return rows.order_by(expression, name, "pk")


def _presets(today: dt.date) -> list[tuple[str, dict]]:
    """Quick periods: this month, this quarter, this year, last year."""
    quarter = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return [
        (_("This month"), {"start": f"{today:%Y-%m}", "end": f"{today:%Y-%m}"}),
        (
            _("This quarter"),
            {
                "start": f"{quarter:%Y-%m}",
                "end": f"{quarter.replace(month=quarter.month + 2):%Y-%m}",
            },
        ),
        (_("This year"), {"start": f"{today.year}-01", "end": f"{today.year}-12"}),
        (_("Last year"), {"start": f"{today.year - 1}-01", "end": f"{today.year - 1}-12"}),
    ]


# --- Figures as columns -----------------------------------------------------------------------


def _month_sum(model, key, field, form, output=None):
    """The sum of `field` over `model`'s months of the period whose `key` is the outer row."""
    rows = (
        model.objects.filter(
            **{key: OuterRef("pk")}, month__gte=form.first_month, month__lte=form.last_month
        )
        .order_by()
        .values(key)
        .annotate(total=Sum(field))
        .values("total")
    )
    output = output or IntegerField()
    return Coalesce(Subquery(rows, output_field=output), Value(0), output_field=output)


def _count(queryset, key):
    rows = queryset.filter(**{key: OuterRef("pk")}).order_by().values(key)
    return Coalesce(
        Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0
    )


def _ratio(numerator, denominator):
    """numerator ÷ denominator for sorting; NULL for 0 ÷ 0 (shown "—", sorted last)."""
    return Cast(numerator, FloatField()) / NullIf(Cast(denominator, FloatField()), 0.0)


def agreements_of_period(form, today):
    """The agreements that count in the period (DESIGN.md): signed (in force or expired — not a
    draft, not terminated) and begun by today, with a term that meets the period."""
    return Agreement.objects.filter(
        status__in=[Agreement.Status.ACTIVE, Agreement.Status.EXPIRED],
        starts_on__lte=min(form.last_day, today),
        ends_on__gte=form.first_month,
    )


def _in_period(form):
    """The row's months of the period, joined (a FilteredRelation) and summed per row: one pass
    over the period's months, where a correlated sum per row and column reads them again for
    each (the city's 1,000 agencies sorted by a figure: 3,000 subqueries)."""
    return FilteredRelation(
        "overview_months",
        condition=Q(
            overview_months__month__gte=form.first_month,
            overview_months__month__lte=form.last_month,
        ),
    )


def _period_sums(model, key, form, grouped: bool):
    """The period's sum of a column of the rows' months: summed over the joined months
    (`grouped`, for sorting every row by it) or as a correlated subquery (for a page's rows,
    beside other correlated columns that a GROUP BY would evaluate once per joined month)."""

    def total(field, output=None):
        output = output or IntegerField()
        if grouped:
            return Coalesce(Sum(f"period__{field}"), Value(0), output_field=output)
        return _month_sum(model, key, field, form, output)

    return total


RATES = {"report_in_rate", "attendance_rate"}
# The columns summed from the period's months (through `_in_period`).
PERIOD_COLUMNS = {"activity_count", "present", "absent", "hours", "attendance_rate"}


# Each column is a function that builds its expression: a list sorted by one figure, or by name,
# builds only that one for every row, and the page's rows only the columns shown (each
# expression, with its subquery, cost 0.2-0.5 ms of Python to build).


def _community_columns(form, today, *, grouped=False) -> dict:
    _period_sum = _period_sums(CommunityMonth, "community", form, grouped)
    return {
        "reported_in": lambda: Coalesce(F("overview__reported_in"), 0),
        "open_concerns": lambda: Coalesce(F("overview__open_concerns"), 0),
        "activity_count": lambda: _period_sum("activities"),
        "present": lambda: _period_sum("present"),
        "hours": lambda: _period_sum("hours", HOURS_FIELD),
        "agreement_count": lambda: _count(agreements_of_period(form, today), "community"),
    }


def _agency_columns(form, today, *, grouped=False) -> dict:
    _period_sum = _period_sums(AgencyMonth, "agency", form, grouped)

    def active():
        return Coalesce(F("overview__active_members"), 0)

    def reported():
        return Coalesce(F("overview__reported_in"), 0)

    return {
        "active_members": active,
        "reported_in": reported,
        # DESIGN.md: active members with an active liaison report-in ÷ active members.
        "report_in_rate": lambda: _ratio(reported(), active()),
        "present": lambda: _period_sum("present"),
        "absent": lambda: _period_sum("absent"),
        "hours": lambda: _period_sum("hours", HOURS_FIELD),
        # DESIGN.md: present ÷ (present + absent).
        "attendance_rate": lambda: _ratio(
            _period_sum("present"), _period_sum("present") + _period_sum("absent")
        ),
        "agreement_count": lambda: _count(agreements_of_period(form, today), "agency"),
    }


def _street_columns(form, today, *, grouped=False) -> dict:
    """A street's figures, each a correlated sum over its communities' rows: a city has a
    dozen streets."""
    street = "community__street"
    return {
        "community_count": lambda: _count(Community.objects.all(), "street"),
        "reported_in": lambda: Coalesce(F("overview__reported_in"), 0),
        "open_concerns": lambda: _street_now_sum("open_concerns"),
        "activity_count": lambda: _month_sum(CommunityMonth, street, "activities", form),
        "present": lambda: _month_sum(CommunityMonth, street, "present", form),
        "hours": lambda: _month_sum(CommunityMonth, street, "hours", form, HOURS_FIELD),
        "agreement_count": lambda: _count(agreements_of_period(form, today), street),
    }


def _street_now_sum(field):
    rows = (
        CommunityNow.objects.filter(community__street=OuterRef("pk"))
        .order_by()
        .values("community__street")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _with(rows, columns: dict, keys, form, *, by_month: bool):
    """`rows` annotated with the `keys` of `columns`, joined to the period's months when one of
    them sums them (`by_month`: the columns are `_period_sum`s)."""
    chosen = {key: columns[key]() for key in keys if key in columns}
    if by_month and PERIOD_COLUMNS & set(chosen):
        rows = rows.annotate(period=_in_period(form))
    return rows.annotate(**chosen)


def _listing(request, rows, columns_of, form, today, *, by_month=True, related=(), count=None):
    """The page of `rows` in the order asked for. The list is sorted and counted with the one
    column it is sorted by; the page's rows alone get every column (Paginator's `read`), so that
    a sort by name sums nothing and a sort by a figure sums only that figure for every row."""
    sort = form.sort_key
    key = sort.lstrip("-")
    grouped = columns_of(form, today, grouped=True)
    listed = _ordered(_with(rows, grouped, [key], form, by_month=by_month), sort)
    columns = columns_of(form, today)
    # A rate the view works out from the row's figures (figures.rate) is read only to sort by.
    keys = [name for name in columns if name not in RATES or name == key]

    def read(ids):
        shown = rows.model.objects.filter(pk__in=ids).select_related(*related)
        return _ordered(_with(shown, columns, keys, form, by_month=False), sort)

    # Counted on the rows' own table (unless the view knows it): the list's joins and sums
    # change no number of rows.
    count = rows.count() if count is None else count
    page = Paginator(listed, PAGE_SIZE, read=read, count=count).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    return page


def _street_page(request, form, today):
    """The city's streets (a dozen): each figure summed by one grouped query per table and the
    rows put together and sorted here — as correlated sums each street read its communities'
    months again for every column."""
    months = {"month__gte": form.first_month, "month__lte": form.last_month}
    flows = {
        row["community__street"]: row
        for row in CommunityMonth.objects.filter(**months)
        .order_by()
        .values("community__street")
        .annotate(activity_count=Sum("activities"), present=Sum("present"), hours=Sum("hours"))
    }
    states = {
        row["street"]: row
        for row in Community.objects.order_by()
        .values("street")
        .annotate(community_count=Count("pk"), open_concerns=Sum("overview__open_concerns"))
    }
    agreements = dict(
        agreements_of_period(form, today)
        .order_by()
        .values("community__street")
        .annotate(n=Count("pk"))
        .values_list("community__street", "n")
    )
    streets = list(
        Street.objects.annotate(reported_in=Coalesce(F("overview__reported_in"), 0)).order_by(
            "name", "pk"
        )
    )
    for street in streets:
        flow, state = flows.get(street.pk, {}), states.get(street.pk, {})
        street.activity_count = flow.get("activity_count") or 0
        street.present = flow.get("present") or 0
        street.hours = flow.get("hours") or 0
        street.community_count = state.get("community_count") or 0
        street.open_concerns = state.get("open_concerns") or 0
        street.agreement_count = agreements.get(street.pk, 0)
    sort = form.sort_key
    if sort and sort.lstrip("-") != "name":
        key = sort.lstrip("-")
        streets.sort(key=lambda street: getattr(street, key), reverse=sort.startswith("-"))
    elif sort == "-name":
        streets.reverse()
    page = Paginator(streets, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    return page


LABELS = {
    "name": pgettext_lazy("place", "Name"),
    "street__name": capfirst(_("street")),
    "community_count": _("Communities"),
    "reported_in": _("Members reported in"),
    "active_members": _("Active members"),
    "report_in_rate": _("Report-in rate"),
    "activity_count": _("Activities"),
    "present": _("Participations"),
    "hours": capfirst(_("service hours")),
    "attendance_rate": _("Attendance rate"),
    "open_concerns": _("Open concerns"),
    "agreement_count": _("Agreements"),
}


def _headers(columns, sort: str) -> list[dict]:
    """Each column's heading and the sort its link asks for: a figure's first click puts the
    largest first, a name's the first in order; a second click turns it round."""
    headers = []
    for key in columns:
        first = key if key in ("name", "street__name") else f"-{key}"
        if sort == first:
            following = first[1:] if first.startswith("-") else f"-{first}"
        else:
            following = first
        state = "descending" if sort == f"-{key}" else "ascending" if sort == key else ""
        headers.append({"key": key, "label": LABELS[key], "sort": following, "state": state})
    return headers


def _latest_refresh():
    return OverviewRefresh.objects.order_by("-made_at", "-pk").first()


# --- Links to the records behind a figure -----------------------------------------------------


def _period_query(form) -> dict:
    return {"date_from": form.first_month.isoformat(), "date_to": form.last_day.isoformat()}


def _link_rows(user, rows, form):
    """Each community row's links, where the viewer has the page (None where not): its
    activities of the period, its members reported in (the report-in desk, the city
    administrator's). Each address is the row's id between a head and a tail worked out once."""
    activities = reverse("activities:activity_list") if can_list_activities(user) else None
    members = reverse("members:member_list") if can_review_registrations(user) else None
    city = scope_of(user).city
    period = urlencode(_period_query(form))
    for row in rows:
        row.activities_url = f"{activities}?community={row.pk}&{period}" if activities else None
        row.members_url = f"{members}?community={row.pk}" if members and city else None
    return rows


def _with_community(request):
    """`{% querystring community=pk apage=None %}` for any pk at the price of one: the query
    string with its head and tail around the community worked out once."""
    params = request.GET.copy()
    params.pop("apage", None)
    marker = "community=2147483647"
    params["community"] = marker.partition("=")[2]
    query = params.urlencode()
    # The key's own "community=": every other "=" and "&" of the query is %-encoded.
    at = f"&{query}".index(f"&{marker}")
    head, tail = query[: at + len("community=")], query[at + len(marker) :]
    return lambda pk: f"?{head}{pk}{tail}"


def _linked(url, text: str) -> str:
    """`text` (escaped already) as a link to `url` when there is one."""
    return f'<a href="{_text(url)}">{text}</a>' if url else text


def _community_rows(request, rows):
    """The street's community rows, written here with f-strings, the names and links escaped:
    the template's tags and filters cost about 0.2 ms a row (seven figures, three links, a
    query string), 10 ms for a page of 50; format_html, escaping every figure, 1.5 ms."""
    agreements_of = _with_community(request)
    number = figures.format_number
    return mark_safe(
        "\n".join(
            f'<tr data-pk="{row.pk}">'
            '<th scope="row" class="text-nowrap">'
            f"{_linked(row.activities_url, _text(row.name))}</th>"
            '<td class="text-end" data-figure="reported_in">'
            f"{_linked(row.members_url, number(row.reported_in))}</td>"
            '<td class="text-end" data-figure="activities">'
            f"{_linked(row.activities_url, number(row.activity_count))}</td>"
            f'<td class="text-end" data-figure="present">{number(row.present)}</td>'
            f'<td class="text-end" data-figure="hours">{number(row.hours)}</td>'
            f'<td class="text-end" data-figure="open_concerns">{number(row.open_concerns)}</td>'
            '<td class="text-end" data-figure="agreements">'
            f'<a href="{_text(agreements_of(row.pk))}#agreements">'
            f"{number(row.agreement_count)}</a></td></tr>"
            for row in rows
        )
    )


# --- The street's communities -----------------------------------------------------------------

COMMUNITY_COLUMNS = [
    "name",
    "reported_in",
    "activity_count",
    "present",
    "hours",
    "open_concerns",
    "agreement_count",
]


def _streets_of(request):
    """The streets the viewer oversees, by name, and the one asked for (`?street=`) among them:
    the first by default. Another street, or anything else: 404. One query for both."""
    allowed = overview_street_ids(request.user)
    streets = Street.objects.order_by("name", "pk")
    if allowed is not None:
        streets = streets.filter(pk__in=allowed)
    streets = list(streets)
    wanted = request.GET.get("street")
    if not wanted:
        street = streets[0] if streets else None
    else:
        try:
            wanted = int(wanted)
        except (TypeError, ValueError):
            wanted = None
        street = next((street for street in streets if street.pk == wanted), None)
    if street is None:
        raise Http404
    return street, streets


class AgreementFilterForm(forms.Form):
    community = forms.ModelChoiceField(
        label=capfirst(_("community")),
        queryset=Community.objects.none(),
        required=False,
        empty_label=_("All communities"),
        error_messages={"invalid_choice": _("Choose one of the street's communities.")},
    )

    def __init__(self, data, *, street):
        super().__init__(data)
        self.fields["community"].queryset = Community.objects.filter(street=street)
        self.is_valid()

    @property
    def chosen_community(self):
        return self.cleaned_data.get("community") if "community" not in self.errors else None


def _agreement_page(request, street, form, agreement_form, today, *, count):
    """The agreements of the period, of the street or of the community chosen; `count` is the
    street's (from its totals), counted here for a community."""
    agreements = agreements_of_period(form, today).filter(community__street=street)
    if agreement_form.chosen_community:
        agreements = agreements.filter(community=agreement_form.chosen_community)
        count = None
    agreements = agreements.order_by("community__name", "agency__name", "pk")
    last_day = form.last_day

    def read(ids):
        return figures.with_duty_fulfilment(
            Agreement.objects.filter(pk__in=ids)
            .select_related("agency", "community")
            .order_by("community__name", "agency__name", "pk"),
            start=form.first_month,
            end=last_day,
            today=today,
        )

    page = Paginator(agreements, AGREEMENT_PAGE_SIZE, read=read, count=count).get_page(
        request.GET.get("apage")
    )
    page.object_list = list(page.object_list)
    page.rows = _agreement_rows(page.object_list, staff=request.user.is_staff)
    return page


def _agreement_rows(agreements, *, staff: bool):
    """The agreements' rows, written here as the communities' are; the agency links to the
    agreement's admin page for staff (Agreement.get_absolute_url, reversed once a page)."""
    admin_url = _urls_of("admin:communities_agreement_change") if staff else None
    rows = []
    for agreement in agreements:
        fulfilment = figures.annotated_duty_fulfilment(agreement)
        agency = _linked(admin_url and admin_url(agreement.pk), _text(agreement.agency.name))
        rows.append(
            f'<tr data-pk="{agreement.pk}">'
            f'<td class="text-nowrap">{_text(agreement.community.name)}</td>'
            f'<td class="text-nowrap">{agency}</td>'
            f'<td class="text-end">{agreement.daily_quota}</td>'
            '<td class="text-end text-nowrap" data-figure="days_met">'
            f"{fulfilment.days_met} / {fulfilment.days}</td>"
            '<td class="text-end" data-figure="fulfilment">'
            f"{figures.format_rate(fulfilment.rate)}</td></tr>"
        )
    return mark_safe("\n".join(rows))


def _community_options(agreement_form):
    """The agreement filter's <option>s of the street's communities, the chosen one selected."""
    chosen = agreement_form.chosen_community
    chosen = chosen.pk if chosen else None
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (pk, mark_safe(" selected") if pk == chosen else "", name)
            for pk, name in agreement_form.fields["community"].queryset.values_list("pk", "name")
        ),
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def street_overview(request):
    """A street's communities: for each, its members reported in, the period's activities,
    participations and service hours, its open resident concerns and the agreements that
    count; then the agreements with their duty fulfilment in the period."""
    if not can_see_street_overview(request.user):
        raise PermissionDenied
    today = timezone.localdate()
    street, streets = _streets_of(request)
    form = OverviewForm(request.GET, columns=COMMUNITY_COLUMNS, today=today)
    agreement_form = AgreementFilterForm(request.GET, street=street)
    # The street's own figures are the totals: its members reported in each counted once; its
    # communities and agreements, the counts of the two lists.
    keys = STREET_FIGURES
    totals = _with(
        Street.objects.filter(pk=street.pk),
        _street_columns(form, today),
        keys,
        form,
        by_month=False,
    ).values(*keys)[0]
    page = _listing(
        request,
        Community.objects.filter(street=street),
        _community_columns,
        form,
        today,
        count=totals["community_count"],
    )
    _link_rows(request.user, page.object_list, form)
    rows = _community_rows(request, page.object_list)
    scope = scope_of(request.user)
    return render(
        request,
        "reports/overview_street.html",
        {
            "street": street,
            "street_keep": [("street", street.pk)],
            "streets": streets,
            "form": form,
            "agreement_form": agreement_form,
            "community_options": _community_options(agreement_form),
            "page": page,
            "rows": rows,
            "totals": totals,
            "agreements": _agreement_page(
                request, street, form, agreement_form, today, count=totals["agreement_count"]
            ),
            "refresh": _latest_refresh(),
            "presets": _presets(today),
            "headers": _headers(COMMUNITY_COLUMNS, form.sort_key),
            # A street officer's concern list is their street's; the city's is the whole city's.
            "concerns_url": (
                reverse("activities:concern_list") + "?state=unresolved"
                if not scope.city and scope.street_ids == {street.pk}
                else None
            ),
            "refresh_minutes": _refresh_minutes(),
        },
    )


def _refresh_minutes():
    return settings.OVERVIEW_REFRESH_MINUTES


# --- The city -----------------------------------------------------------------------------------

BY_STREET, BY_AGENCY, BY_COMMUNITY = "street", "agency", "community"
# A street's figures: a row of the city's streets, and the totals of a street's own overview.
STREET_FIGURES = [
    "community_count",
    "reported_in",
    "activity_count",
    "present",
    "hours",
    "open_concerns",
    "agreement_count",
]
CITY_COLUMNS = {
    BY_STREET: ["name", *STREET_FIGURES],
    BY_AGENCY: [
        "name",
        "active_members",
        "reported_in",
        "report_in_rate",
        "present",
        "hours",
        "attendance_rate",
        "agreement_count",
    ],
    BY_COMMUNITY: [
        "name",
        "street__name",
        "reported_in",
        "activity_count",
        "present",
        "hours",
        "open_concerns",
        "agreement_count",
    ],
}
BY_LABELS = {
    BY_STREET: _("By street"),
    BY_AGENCY: _("By agency"),
    BY_COMMUNITY: _("By community"),
}


def _city_page(request, by, form, today):
    if by == BY_AGENCY:
        return _listing(request, Agency.objects.all(), _agency_columns, form, today)
    if by == BY_COMMUNITY:
        return _listing(
            request, Community.objects.all(), _community_columns, form, today, related=["street"]
        )
    return _street_page(request, form, today)


def _city_totals(by, form, refresh):
    """The city's totals, from the overview tables directly (two queries): members reported in
    each counted once (the refresh's), the agencies' members and report-in rate, the period's
    flows."""
    months = {"month__gte": form.first_month, "month__lte": form.last_month}
    if by == BY_AGENCY:
        totals = Agency.objects.aggregate(
            active_members=Sum("overview__active_members"),
            reported_in=Sum("overview__reported_in"),
        ) | AgencyMonth.objects.filter(**months).aggregate(
            present=Sum("present"), absent=Sum("absent"), hours=Sum("hours")
        )
        totals = {key: value or 0 for key, value in totals.items()}
        totals["report_in_rate"] = figures.rate(totals["reported_in"], totals["active_members"])
        totals["attendance_rate"] = figures.rate(
            totals["present"], totals["present"] + totals["absent"]
        )
        return totals
    totals = Community.objects.aggregate(
        community_count=Count("pk"), open_concerns=Sum("overview__open_concerns")
    ) | CommunityMonth.objects.filter(**months).aggregate(
        activity_count=Sum("activities"), present=Sum("present"), hours=Sum("hours")
    )
    totals = {key: value or 0 for key, value in totals.items()}
    totals["reported_in"] = refresh.reported_in if refresh else 0
    return totals


@login_required
@require_http_methods(["GET", "HEAD"])
def city_overview(request):
    """The city per street, per agency (with DESIGN.md's report-in rate) or per community."""
    if not can_see_city_overview(request.user):
        raise PermissionDenied
    today = timezone.localdate()
    by = request.GET.get("by") or BY_STREET
    bad_by = by not in CITY_COLUMNS
    if bad_by:
        by = BY_STREET
    form = OverviewForm(request.GET, columns=CITY_COLUMNS[by], today=today)
    page = _city_page(request, by, form, today)
    refresh = _latest_refresh()
    totals = _city_totals(by, form, refresh)
    if by == BY_COMMUNITY:
        _link_rows(request.user, page.object_list, form)
    elif by == BY_STREET:
        street_url = reverse("reports:overview_street")
        for row in page.object_list:
            row.overview_url = f"{street_url}?" + urlencode(
                {
                    "street": row.pk,
                    "start": f"{form.first_month:%Y-%m}",
                    "end": f"{form.last_month:%Y-%m}",
                }
            )
    else:
        for row in page.object_list:
            row.report_in = figures.ReportIn(row.active_members, row.reported_in)
            row.attendance = figures.rate(row.present, row.present + row.absent)
    return render(
        request,
        "reports/overview_city.html",
        {
            "by": by,
            "by_keep": [("by", by)],
            "bad_by": bad_by,
            "tabs": list(BY_LABELS.items()),
            "headers": _headers(CITY_COLUMNS[by], form.sort_key),
            "form": form,
            "page": page,
            "totals": totals,
            "refresh": refresh,
            "presets": _presets(today),
            "refresh_minutes": _refresh_minutes(),
        },
    )
