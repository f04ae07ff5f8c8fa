"""Forms of resident needs (微心愿): publishing one, recording it done, verifying or sending it
back, withdrawing it. The rules are the services' (activities.services.needs)."""

from decimal import Decimal

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from ..models.needs import MAX_CLAIMANTS, MAX_NEED_HOURS
from .activity import DATETIME_LOCAL, DateTimeLocalInput


class NeedForm(forms.Form):
    title = forms.CharField(label=capfirst(_("title")), max_length=100)
    description = forms.CharField(
        label=capfirst(_("description")), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    place = forms.CharField(label=capfirst(_("place")), max_length=100, required=False)
    deadline = forms.DateTimeField(
        label=capfirst(_("deadline")), input_formats=[DATETIME_LOCAL], widget=DateTimeLocalInput()
    )
    claimants = forms.IntegerField(
        label=capfirst(_("claimants wanted")), min_value=1, max_value=MAX_CLAIMANTS, initial=1
    )
    hours = forms.DecimalField(
        label=capfirst(_("estimated hours")),
        min_value=Decimal("0.1"),
        max_value=MAX_NEED_HOURS,
        max_digits=4,
        decimal_places=1,
    )


class NeedDoneForm(forms.Form):
    note = forms.CharField(
        label=_("What was done"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    hours = forms.DecimalField(
        label=_("Hours spent"),
        min_value=Decimal("0.1"),
        max_value=MAX_NEED_HOURS,
        max_digits=4,
        decimal_places=1,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
