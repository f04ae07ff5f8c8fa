"""The filters of the community's list of reported-in members and of an agency's roster
(django-filter)."""

import django_filters
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.filters import FilterSet, GridFilter

from .models import Member, Registration, has_liaison_report_in

NOT_A_CHOICE = {"invalid_choice": _("That is not one of the choices; this filter is left out.")}


class MemberFilterSet(FilterSet):
    """Filters of the active registrations of one community. Choices come from lists the view
    has read once. A grid worker (not community staff) starts on their own grids; the empty grid
    choice is the whole community."""

    q = django_filters.CharFilter(
        field_name="member__name", lookup_expr="icontains", label=_("Member name"), max_length=50
    )
    agency = django_filters.ChoiceFilter(
        field_name="member__agency",
        label=capfirst(_("agency")),
        choices=(),
        empty_label=_("All agencies"),
        error_messages=NOT_A_CHOICE,
    )
    grid = GridFilter(error_messages=NOT_A_CHOICE)
    kind = django_filters.ChoiceFilter(
        label=capfirst(_("kind")),
        choices=Registration.Kind.choices,
        empty_label=_("Both kinds"),
        error_messages=NOT_A_CHOICE,
    )

    def __init__(self, data, queryset, *, agencies, grids, own_grid_ids, start_on_own_grids):
        start = {"grid": GridFilter.MINE} if start_on_own_grids else None
        super().__init__(data, queryset, start=start)
        self.filters["agency"].extra["choices"] = [
            (agency.pk, agency.short_name or agency.name) for agency in agencies
        ]
        self.filters["grid"].offer(
            grids,
            first=[
                ("", _("All grids")),
                *([(GridFilter.MINE, _("My grids"))] if own_grid_ids else []),
                (GridFilter.NONE, _("No grid yet")),
            ],
            own_grid_ids=own_grid_ids,
        )


class RosterFilterSet(FilterSet):
    """Filters of an agency's roster: a name or mobile, the status (starting on those still
    with the agency), party membership and the report-in state. Each is a condition on the
    member's own row or a probe of its report-ins (Exists), so the roster is still counted and
    paged on the member table."""

    REPORTED, NOT_REPORTED = "yes", "no"

    q = django_filters.CharFilter(method="search", label=_("Name or mobile"), max_length=50)
    status = django_filters.ChoiceFilter(
        label=capfirst(_("status")),
        choices=Member.Status.choices,
        empty_label=_("Everyone"),
        error_messages=NOT_A_CHOICE,
    )
    party = django_filters.ChoiceFilter(
        field_name="is_party_member",
        label=capfirst(_("party member")),
        choices=[("true", _("Party members")), ("false", _("Not party members"))],
        empty_label=_("Everyone"),
        error_messages=NOT_A_CHOICE,
        method="party_filter",
    )
    reported = django_filters.ChoiceFilter(
        label=_("Liaison report-in"),
        choices=[(REPORTED, _("Reported in")), (NOT_REPORTED, _("Not reported in"))],
        empty_label=_("Everyone"),
        error_messages=NOT_A_CHOICE,
        method="reported_filter",
    )

    def __init__(self, data, queryset):
        super().__init__(data, queryset, start={"status": Member.Status.ACTIVE})

    def search(self, queryset, name, value):
        return queryset.matching(value) if value.strip() else queryset

    def party_filter(self, queryset, name, value):
        return queryset.filter(is_party_member=value == "true")

    def reported_filter(self, queryset, name, value):
        reported = has_liaison_report_in()
        return queryset.filter(reported if value == self.REPORTED else ~reported)
