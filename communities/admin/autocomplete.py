"""List filters that search instead of listing every row: a city has 1,000 agencies, 200
communities and 60,000 members, and a filter that lists them all is a page nobody can read that
costs a query of every row each time the list opens.

The filter keeps Django's own lookup (`member__agency__id__exact=7`), so links and bookmarks of
the plain related filter still work; the box asks Django's autocomplete view, which searches
the related model's `search_fields` and checks the view permission on it."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError

SCRIPT = "js/admin_autocomplete_filter.js"


class AutocompleteFilter(admin.RelatedFieldListFilter):
    """`list_filter = [("member__agency", AutocompleteFilter)]`: "All", then a search box that
    shows the chosen one and finds the others as one types."""

    template = "admin/autocomplete_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.model_admin = model_admin
        super().__init__(field, request, params, model, model_admin, field_path)

    def field_choices(self, field, request, model_admin):
        # Nothing is listed; the box shows the chosen one (RelatedFieldListFilter would load
        # every row of the related table here).
        return []

    def has_output(self):
        return True

    def choices(self, changelist):
        # The list without this filter, where choosing another one starts from.
        self.all_url = changelist.get_query_string(
            remove=[self.lookup_kwarg, self.lookup_kwarg_isnull]
        )
        yield from super().choices(changelist)

    def _chosen(self):
        """The chosen value if it can be one (the list has already refused any other)."""
        if not self.lookup_val:
            return None
        value = self.lookup_val[-1]
        try:
            self.field.target_field.to_python(value)
        except ValidationError:
            return None
        return value

    def box(self):
        """The search box: a select2 through Django's autocomplete view, with the chosen row
        as its only option."""
        remote = self.field.remote_field.model
        chooser = forms.ModelChoiceField(
            queryset=remote._default_manager.all(),
            required=False,
            to_field_name=self.field.target_field.name,
            widget=AutocompleteSelect(
                self.field,
                self.model_admin.admin_site,
                attrs={
                    "data-filter-param": self.lookup_kwarg,
                    "data-all-url": getattr(self, "all_url", "?"),
                    # select2's width, read from the option: a style attribute would be
                    # refused by the Content Security Policy.
                    "data-width": "100%",
                    "aria-label": str(self.title),
                },
            ),
        )
        return chooser.widget.render(
            f"filter-{self.field_path}",
            self._chosen(),
            attrs={"id": f"id_filter_{self.field_path}"},
        )


class AutocompleteFilterMedia:
    """A ModelAdmin mixin: select2 and the script that opens the filtered list when an
    AutocompleteFilter is set, on the pages of admins that have one."""

    @property
    def media(self):
        media = super().media
        if any(
            isinstance(spec, tuple) and issubclass(spec[1], AutocompleteFilter)
            for spec in self.list_filter
        ):
            # Naming jquery.init.js first puts the script after it: it needs django.jQuery.
            media += AutocompleteSelect(None, self.admin_site).media + forms.Media(
                js=["admin/js/jquery.init.js", SCRIPT]
            )
        return media
