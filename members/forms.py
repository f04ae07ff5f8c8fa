"""Forms of the community's report-in desk: reviewing report-ins and placing members in grids."""

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
