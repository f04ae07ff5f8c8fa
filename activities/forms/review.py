"""The community's side of the attendance review: answering a dispute (explain, or correct the
record) and backfilling (补录) a record the agency office confirmed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Participation
from ..services.review import Correction
from .rollcall import MARK_CHOICES


class CorrectionForm(forms.Form):
    """The record's attendance as it should be; starts from the record as it is."""

    status = forms.ChoiceField(
        label=_("Attendance"), choices=MARK_CHOICES, widget=forms.RadioSelect
    )
    hours = forms.DecimalField(
        label=_("Hours"),
        required=False,
        help_text=_("Present only; empty means the activity's length."),
        widget=forms.NumberInput(
            attrs={"step": "0.5", "min": 0, "max": Participation.MAX_HOURS, "inputmode": "decimal"}
        ),
    )
    leave_reason = forms.CharField(label=_("Reason for leave"), required=False, max_length=200)

    def __init__(self, *args, participation: Participation, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "status": participation.status,
                "hours": participation.hours,
                "leave_reason": participation.leave_reason,
            },
        )
        super().__init__(*args, **kwargs)

    def correction(self) -> Correction:
        data = self.cleaned_data
        return Correction(
            status=data["status"], hours=data.get("hours"), leave_reason=data.get("leave_reason")
        )


class DisputeAnswerForm(CorrectionForm):
    answer = forms.CharField(
        label=_("Answer"),
        max_length=300,
        help_text=_("Explain the record as it is, or say what you corrected."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    field_order = ["answer", "status", "hours", "leave_reason"]


class BackfillForm(CorrectionForm):
    reason = forms.CharField(label=_("Reason for backfill"), max_length=200)
    field_order = ["status", "hours", "leave_reason", "reason"]
