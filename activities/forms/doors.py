"""Forms of door-to-door publicity: listing buildings fast, assigning them, recording visits."""

import re

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from members.forms import MemberSearchField

from ..services.doors import MAX_UNITS_AT_ONCE

# "1-4", "1~4", "1至4", "1到4": a range; commas, 、, semicolons or spaces separate items.
_DASHES = "-–—~～至到"
_AROUND_DASH = re.compile(rf"\s*([{_DASHES}])\s*")
_SEPARATORS = re.compile(r"[,，、;；\s]+")
# An optional prefix, a number, a dash, the prefix again (optional), a number, a suffix:
# "1-4", "1-4单元", "A1-A4", "3-5栋".
_RANGE = re.compile(rf"^(\D*?)(\d{{1,4}})[{_DASHES}]\1?(\d{{1,4}})(\D*)$")
MAX_NAME = 30


def expand(text: str) -> list[str]:
    """ "1-3, 5单元" → ["1", "2", "3", "5单元"]; "A1-A2单元" → ["A1单元", "A2单元"].
    Raises ValidationError for a range that counts down or a name that is too long."""
    text = _AROUND_DASH.sub(r"\1", (text or "").strip())
    names = []
    for item in filter(None, _SEPARATORS.split(text)):
        match = _RANGE.match(item)
        if match:
            prefix, first, last, suffix = match.groups()
            first, last = int(first), int(last)
            if last < first:
                raise forms.ValidationError(
                    _("“%(item)s” counts down; write it as %(first)s-%(last)s.")
                    % {"item": item, "first": last, "last": first}
                )
            if last - first >= MAX_UNITS_AT_ONCE:
                raise forms.ValidationError(_("“%(item)s” is too long a range.") % {"item": item})
            names.extend(f"{prefix}{n}{suffix}" for n in range(first, last + 1))
        else:
            names.append(item)
    for name in names:
        if len(name) > MAX_NAME:
            raise forms.ValidationError(
                _("“%(name)s” is longer than %(max)s characters.") % {"name": name, "max": MAX_NAME}
            )
    return list(dict.fromkeys(names))  # once each, in the order typed


HOUSEHOLDS_MESSAGES = {
    "invalid": _("Enter the number of households as a whole number, e.g. 12."),
    "required": _("Enter the number of households, e.g. 12."),
    "min_value": _("A building or stairwell has at least one household."),
    "max_value": _("That is more households than a stairwell has; check the number."),
}


class _ReadChoices(forms.models.ModelChoiceIterator):
    """The choices of a QuerySet whose rows are read already, from those rows: Django's
    iterator reads them again with a query of its own."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class _CompoundField(forms.ModelChoiceField):
    iterator = _ReadChoices


class DoorUnitsAddForm(forms.Form):
    """Several buildings or stairwells at once: "3栋", "1-4单元", 12 households each."""

    compound = _CompoundField(
        queryset=None,
        required=False,
        label=capfirst(_("residential compound")),
        empty_label=_("— none —"),
    )
    building = forms.CharField(
        label=_("Building(s)"),
        max_length=200,
        help_text=_("E.g. 3 or 3栋; a range like 1-3 adds several buildings."),
        error_messages={"required": _("Give the building.")},
    )
    stairwells = forms.CharField(
        label=_("Stairwells"),
        max_length=200,
        required=False,
        help_text=_("E.g. 1-4 or 1,2,3; leave empty to count the whole building as one."),
    )
    households = forms.IntegerField(
        label=_("Households each"),
        min_value=1,
        max_value=9999,
        error_messages=HOUSEHOLDS_MESSAGES,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, community, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["compound"].queryset = community.compounds.order_by("name")
        # The community's compounds read once, here: whether there are any, and the menu's
        # choices (_ReadChoices), from one query.
        self.has_compounds = bool(self.fields["compound"].queryset)
        if not self.has_compounds:
            del self.fields["compound"]

    def clean_building(self):
        buildings = expand(self.cleaned_data["building"])
        if not buildings:
            raise forms.ValidationError(_("Give the building."))
        return buildings

    def clean_stairwells(self):
        return expand(self.cleaned_data["stairwells"]) or [""]

    def clean(self):
        cleaned = super().clean()
        buildings, stairwells = cleaned.get("building"), cleaned.get("stairwells")
        if buildings and stairwells:
            count = len(buildings) * len(stairwells)
            if count > MAX_UNITS_AT_ONCE:
                raise forms.ValidationError(
                    _("That is %(count)s at once; add at most %(max)s at a time.")
                    % {"count": count, "max": MAX_UNITS_AT_ONCE}
                )
            cleaned["units"] = [(b, s) for b in buildings for s in stairwells]
        return cleaned


class AssigneeSearchForm(forms.Form):
    """The picker's search box: a name, or the last 4 digits of a mobile (the same rule as the
    roll call's walk-in search)."""

    member_q = MemberSearchField(
        label=_("Find the member: name or last 4 digits of the mobile"), required=False
    )


class _AssigneeField(forms.ModelChoiceField):
    """A member among `queryset`, which may be given as a function making it: it is made when
    first asked for (a POST checking the pick), not for every page that shows the form unbound
    (2 ms of building the scope's querysets on a GET that never runs them)."""

    make = None

    def _get_queryset(self):
        if self.make is not None:
            make, self.make = self.make, None
            self._set_queryset(make())
        return self._queryset

    queryset = property(_get_queryset, forms.ModelChoiceField._set_queryset)


class DoorUnitAssignForm(forms.Form):
    """The ticked units, and the member they go to (empty: nobody, take them back). The member
    is picked from a search, never from a list of everyone reported in: the page shows the
    matches as radio buttons, and the id posted must be one of `members`."""

    units = forms.ModelMultipleChoiceField(
        queryset=None,
        error_messages={"required": _("Tick the buildings or stairwells to assign.")},
    )
    member = _AssigneeField(
        queryset=None,
        required=False,
        label=_("Assign to"),
        error_messages={
            "invalid_choice": _(
                "This person cannot be given buildings here: find the member by name and pick "
                "them from the results."
            )
        },
    )

    def __init__(self, *args, units, members, **kwargs):
        """`members`: whom the units may go to, a QuerySet or a function making it."""
        super().__init__(*args, **kwargs)
        self.fields["units"].queryset = units
        if callable(members):
            self.fields["member"].make = members
        else:
            self.fields["member"].queryset = members

    def clean(self):
        cleaned = super().clean()
        # Nothing picked is not "nobody": taking buildings back is a choice of its own.
        if "member" not in self.data:
            self.add_error(
                "member",
                _("Find the member to assign them to, or choose nobody to take them back."),
            )
        return cleaned


class DoorUnitRecordForm(forms.Form):
    households_reached = forms.IntegerField(
        label=capfirst(_("households reached")),
        min_value=0,
        required=False,
        error_messages={
            "invalid": _("Enter the number of households reached, e.g. 12."),
            "min_value": _("Enter the number of households reached, e.g. 12."),
        },
    )
    # The "all of them" button: a tap instead of typing the count the page already shows.
    all = forms.BooleanField(required=False)

    def __init__(self, *args, unit, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit = unit

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("all"):
            self._errors.pop("households_reached", None)  # whatever was typed, "all" wins
            cleaned["households_reached"] = self.unit.households
        elif cleaned.get("households_reached") is None and "households_reached" not in self.errors:
            self.add_error(
                "households_reached", _("Enter the number of households reached, e.g. 12.")
            )
        return cleaned
