"""Forms of the community's report-in desk: reviewing report-ins and the list of members."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.models import Grid

from .models import Registration

UNKNOWN_GRID = _("Choose one of this community's grids.")


class GridChoiceForm(forms.Form):
    """A grid of one community, or none. Used to approve (place at once) and to move a member."""

    grid = forms.ModelChoiceField(
        label=capfirst(_("grid")),
        queryset=Grid.objects.none(),
        required=False,
        empty_label=_("No grid yet"),
        error_messages={"invalid_choice": UNKNOWN_GRID},
    )

    def __init__(self, *args, community, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].queryset = Grid.objects.filter(community=community)


class RegistrationReturnForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for returning"),
        max_length=Registration._meta.get_field("return_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The member reads this, so say what to correct before reporting in again."),
        error_messages={"required": _("Say why the report-in is returned: the member reads this.")},
    )


# The grid filter's special values; the others are grid ids.
ALL_GRIDS, MY_GRIDS, NO_GRID = "", "mine", "none"


class MemberFilterForm(forms.Form):
    """The member list's filters. Choices come from lists the view has read once; a value that
    is not among them is reported and left out, and the other filters still apply."""

    q = forms.CharField(label=_("Member name"), required=False, max_length=50)
    agency = forms.TypedChoiceField(label=capfirst(_("agency")), required=False, coerce=int)
    grid = forms.ChoiceField(label=capfirst(_("grid")), required=False)
    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        required=False,
        choices=[("", _("Both kinds")), *Registration.Kind.choices],
    )

    def __init__(self, *args, agencies, grids, has_own_grids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].choices = [
            ("", _("All agencies")),
            *((agency.pk, agency.short_name or agency.name) for agency in agencies),
        ]
        grid_choices = [(ALL_GRIDS, _("All grids"))]
        if has_own_grids:
            grid_choices.append((MY_GRIDS, _("My grids")))
        grid_choices.append((NO_GRID, _("No grid yet")))
        grid_choices += [(str(grid.pk), grid.name) for grid in grids]
        self.fields["grid"].choices = grid_choices
        for name in ("agency", "grid", "kind"):
            self.fields[name].error_messages["invalid_choice"] = _(
                "That is not one of the choices; this filter is left out."
            )

    def apply_to(self, registrations, *, own_grid_ids=frozenset()):
        """The registrations narrowed by every valid filter. Call after is_valid()."""
        data = getattr(self, "cleaned_data", {})
        if data.get("q"):
            registrations = registrations.filter(member__name__icontains=data["q"].strip())
        if data.get("agency"):
            registrations = registrations.filter(member__agency=data["agency"])
        grid = data.get("grid")
        if grid == MY_GRIDS:
            registrations = registrations.filter(grid__in=own_grid_ids)
        elif grid == NO_GRID:
            registrations = registrations.filter(grid__isnull=True)
        elif grid:
            registrations = registrations.filter(grid=int(grid))
        if data.get("kind"):
            registrations = registrations.filter(kind=data["kind"])
        return registrations
