"""The filters of the community's list of reported-in members (django-filter)."""

import django_filters
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.filters import FilterSet, GridFilter

from .models import Registration

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
