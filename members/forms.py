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


class MemberSearchField(forms.CharField):
    """A search for a member as the pages offer it — a name, or the last 4 digits of a mobile
    (`MemberQuerySet.matching`) — in a search box fit for a phone's keyboard."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={
                    "type": "search",
                    "class": "form-control",
                    "autocomplete": "off",
                    "enterkeyhint": "search",
                }
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value):
        query = super().clean(value)
        if query.isdigit() and len(query) < 4:
            raise forms.ValidationError(_("Type at least the last 4 digits of the mobile."))
        return query
