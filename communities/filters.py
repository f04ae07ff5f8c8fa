"""What the lists' filters share. Each app declares the filters of its lists in its own
`filters.py`, as django-filter FilterSets built on these.

A filter with a bad value is reported on the form and left out, and the other filters still
apply (a FilterSet narrows the list by what its form could clean): whatever the query string
holds, the page answers with a message, never a 500.
"""

import datetime as dt

import django_filters
from django import forms
from django.core.validators import EMPTY_VALUES
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .dates import local_midnight
from .validators import validate_year


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class LocalDayFilter(django_filters.DateFilter):
    """A local calendar day as a bound on a datetime column: from the day's first moment on, or
    with `through=True` up to the end of the day. Bounds on the column rather than a `__date`
    lookup, so that the column's index serves the query."""

    def __init__(self, field_name, *, through=False, **kwargs):
        super().__init__(
            field_name,
            lookup_expr="lt" if through else "gte",
            widget=DateInput(),
            validators=[validate_year],
            **kwargs,
        )
        self.through = through

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        if self.through:
            value += dt.timedelta(days=1)
        return super().filter(qs, local_midnight(value))


class GridFilter(django_filters.ChoiceFilter):
    """The grid filter of a community's list: one grid (its id), the viewer's own grids
    ("mine"), the rows in no grid ("none") or all of them ("all", or the empty choice). Each
    list offers the choices that fit it, from grids its view has read once."""

    ALL, MINE, NONE = "all", "mine", "none"

    def __init__(self, field_name=None, **kwargs):
        kwargs.setdefault("label", capfirst(_("grid")))
        super().__init__(field_name, choices=(), empty_label=None, **kwargs)
        self.own_grid_ids = frozenset()

    def offer(self, grids, *, first, own_grid_ids=frozenset()):
        """The choices `first`, then each of `grids` by name; "mine" means `own_grid_ids`."""
        self.extra["choices"] = [*first, *((str(grid.pk), grid.name) for grid in grids)]
        self.own_grid_ids = own_grid_ids

    def filter(self, qs, value):
        if value in EMPTY_VALUES or value == self.ALL:
            return qs
        if value == self.MINE:
            return qs.filter(**{f"{self.field_name}__in": self.own_grid_ids})
        if value == self.NONE:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{self.field_name: int(value)})


class NameChoiceIterator(forms.models.ModelChoiceIterator):
    """A ModelChoiceField's options as (id, name) pairs, read with `values_list` in one plain
    query, for a model whose `__str__` is its name. Django's iterator makes each row an
    instance, read through a server-side cursor (DECLARE, FETCH, CLOSE: three round trips on
    PostgreSQL): an office's 200 communities so took a third of its review list's template
    time. Choosing still looks the chosen id up in the field's queryset."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from self.queryset.values_list("pk", "name")


class NamedModelChoiceField(forms.ModelChoiceField):
    """A filter's choice of a community, a type…: its options by name (NameChoiceIterator)."""

    iterator = NameChoiceIterator


class FilterForm(forms.Form):
    """The form of every FilterSet: a range of days (`date_from`, `date_to`) may not end before
    it begins."""

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned


class FilterSet(django_filters.FilterSet):
    """A list's filters, always bound to the query string (an empty one narrows nothing).

    `start` holds the values filters take when the query does not name them (a grid worker's
    list starts on their own grids); each is also its field's initial value."""

    class Meta:
        form = FilterForm

    def __init__(self, data, queryset, *, start=None, **kwargs):
        start = start or {}
        data = data.copy()
        for name, value in start.items():
            data.setdefault(name, value)
        super().__init__(data, queryset, **kwargs)
        for name, value in start.items():
            self.filters[name].extra["initial"] = value

    def filter_queryset(self, queryset, *, but=None):
        for name, value in self.form.cleaned_data.items():
            if name != but:
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    def qs_without(self, name):
        """The list narrowed by every valid filter but `name`: counts per state follow the other
        filters, so that each count is what its state's link shows."""
        self.form.is_valid()
        return self.filter_queryset(self.queryset.all(), but=name)

    @property
    def in_use(self) -> dict:
        """The valid filters that narrow the list, by name, with their values."""
        self.form.is_valid()
        return {
            name: value
            for name, value in self.form.cleaned_data.items()
            if value not in EMPTY_VALUES
        }
