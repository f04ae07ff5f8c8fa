"""Leave (请假): the member's request and the organizer's decision."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Participation

Decision = Participation.LeaveDecision


class LeaveRequestForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for leave"),
        max_length=Participation._meta.get_field("leave_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The organizer reads it when deciding; at most 200 characters."),
    )


class LeaveDecisionForm(forms.Form):
    """One tap: the button pressed says approve or reject; the note (why not) is optional."""

    decision = forms.ChoiceField(
        choices=[(Decision.APPROVED, _("Approve")), (Decision.REJECTED, _("Do not approve"))]
    )
    note = forms.CharField(
        label=_("Why not approved (optional)"),
        max_length=Participation._meta.get_field("leave_decision_note").max_length,
        required=False,
    )
