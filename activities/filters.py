"""The filters of the activity list and of the residents' concerns (django-filter)."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.filters import FilterForm, FilterSet, GridFilter, LocalDayFilter

from .models import Activity, ActivityType, Concern


class ActivityFilterSet(FilterSet):
    """The activity list's filters. The status is the one the clock gives (the list's
    `live_status` annotation), not the stored one. A grid worker's list starts on their grids;
    the empty grid choice is the whole community."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Title or place")}),
    )
    date_from = LocalDayFilter("starts_at", label=_("From"))
    date_to = LocalDayFilter("starts_at", through=True, label=_("To"))
    type = django_filters.ModelChoiceFilter(
        label=capfirst(_("type")),
        queryset=ActivityType.objects.all(),
        empty_label=_("All types"),
        error_messages={"invalid_choice": _("Choose one of the listed types.")},
    )
    grid = GridFilter()
    status = django_filters.ChoiceFilter(
        field_name="live_status",
        label=capfirst(_("status")),
        choices=Activity.Status.choices,
        empty_label=_("All statuses"),
    )
    nature = django_filters.ChoiceFilter(
        label=capfirst(_("nature")),
        choices=Activity.Nature.choices,
        empty_label=_("Duty and volunteer"),
    )

    def __init__(self, data, queryset, *, grids, own_grid_ids=frozenset()):
        super().__init__(data, queryset, start={"grid": GridFilter.MINE} if own_grid_ids else None)
        self.filters["grid"].offer(
            grids,
            first=[
                ("", _("Whole community")),
                *([(GridFilter.MINE, _("My grids"))] if own_grid_ids else []),
            ],
            own_grid_ids=own_grid_ids,
        )

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(place__icontains=value))


class ConcernFilterForm(FilterForm):
    def clean(self):
        cleaned = super().clean()
        if "grid" in self.fields and not cleaned.get("grid"):
            # No grid, or one that is not offered (reported): the list stays on its start.
            cleaned["grid"] = self.fields["grid"].initial
        return cleaned


class ConcernFilterSet(FilterSet):
    """State and grid of the residents' concerns. A grid worker starts on their own grids
    ("mine"), anyone else on all of them; a bad grid is reported and the start applies."""

    UNRESOLVED = "unresolved"

    state = django_filters.ChoiceFilter(
        label=capfirst(_("state")),
        choices=[(UNRESOLVED, _("Not resolved yet")), *Concern.State.choices],
        empty_label=_("All states"),
        method="filter_state",
    )
    grid = GridFilter()

    class Meta(FilterSet.Meta):
        form = ConcernFilterForm

    def __init__(self, data, queryset, *, grids, own_grid_ids=frozenset()):
        start = GridFilter.MINE if own_grid_ids else GridFilter.ALL
        super().__init__(data, queryset, start={"grid": start} if grids else None)
        if not grids:
            del self.filters["grid"]
            return
        self.filters["grid"].offer(
            grids,
            first=[
                *([(GridFilter.MINE, _("My grids"))] if own_grid_ids else []),
                (GridFilter.ALL, _("All grids")),
            ],
            own_grid_ids=own_grid_ids,
        )

    def filter_state(self, queryset, name, value):
        if value == self.UNRESOLVED:
            return queryset.exclude(state=Concern.State.RESOLVED)
        return queryset.filter(state=value)

    @property
    def grid_choice(self):
        """The grid filter in force ("mine", "all" or a grid's id); None without grids."""
        self.form.is_valid()
        return self.form.cleaned_data.get("grid")


class OpenActivityFilterSet(FilterSet):
    """The member's list of activities to join: one of the communities they are reported in to,
    and the nature (assigned duty or volunteer service)."""

    community = django_filters.ModelChoiceFilter(
        label=capfirst(_("community")),
        queryset=None,
        empty_label=_("All my communities"),
        error_messages={"invalid_choice": _("Choose one of your communities.")},
    )
    nature = django_filters.ChoiceFilter(
        label=capfirst(_("nature")),
        choices=Activity.Nature.choices,
        empty_label=_("Duty and volunteer"),
    )

    def __init__(self, data, queryset, *, communities):
        super().__init__(data, queryset)
        self.filters["community"].queryset = communities
