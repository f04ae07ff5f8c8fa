"""Roll call forms: one small form per person (prefixed by member id, so rows added on the spot
need no formset bookkeeping), the resident-volunteer count, and the walk-in search."""

from django import forms
from django.utils.translation import gettext_lazy as _

from members.forms import MemberSearchField

from ..figures import format_number
from ..models import Participation
from ..services.rollcall import RollCallRow, is_pending_leave, roll_call_row_error, row_key

Status = Participation.Status
Decision = Participation.LeaveDecision

MARK_CHOICES = [
    (Status.PRESENT, Status.PRESENT.label),
    (Status.ABSENT, Status.ABSENT.label),
    (Status.LEAVE, Status.LEAVE.label),
]
DECISION_CHOICES = [
    (Decision.APPROVED, _("Approve")),
    (Decision.REJECTED, _("Do not approve")),
]


class RollCallRowForm(forms.Form):
    """One person: present / absent / leave, hours when present, the reason when on leave, and
    the answer to their leave request if they asked for one. The rules of a line are the
    service's (`roll_call_row_error`, backed by the database's constraints); the form asks it so
    that every line's errors show at once, on the field they are about."""

    status = forms.ChoiceField(
        label=_("Attendance"), choices=MARK_CHOICES, required=False, widget=forms.RadioSelect
    )
    hours = forms.DecimalField(
        label=_("Hours"),
        required=False,
        # The bounds only guide the phone's keyboard and spinner; the service checks them.
        widget=forms.NumberInput(
            attrs={"step": "0.5", "min": 0, "max": Participation.MAX_HOURS, "inputmode": "decimal"}
        ),
    )
    leave_reason = forms.CharField(label=_("Reason for leave"), required=False, max_length=200)
    decision = forms.ChoiceField(
        label=_("Leave request"),
        choices=DECISION_CHOICES,
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, member, participation=None, activity, **kwargs):
        self.member = member
        self.activity = activity
        self.participation = participation
        self.is_walk_in = participation is None
        self.is_pending_leave = participation is not None and is_pending_leave(participation)
        # "2", not "2.0": the box shows hours as people write them.
        default_hours = format_number(activity.duration_hours)
        initial = {"hours": default_hours}
        if participation is not None:
            if participation.status != Status.SIGNED_UP:
                initial["status"] = participation.status
            if participation.hours is not None:
                initial["hours"] = format_number(participation.hours)
            if participation.status == Status.LEAVE:
                initial["leave_reason"] = participation.leave_reason
        else:
            # Someone added on the spot is there: present unless told otherwise.
            initial["status"] = Status.PRESENT
        kwargs.setdefault("initial", initial)
        super().__init__(*args, prefix=row_key(member.pk), **kwargs)
        self.fields["hours"].widget.attrs.update(
            {"placeholder": default_hours, "class": "form-control form-control-sm"}
        )
        # Bootstrap's segmented buttons; autocomplete off so a reload shows what is stored.
        self.fields["status"].widget.attrs.update({"class": "btn-check", "autocomplete": "off"})
        if self.is_pending_leave:
            # The member's own words: shown, not edited by staff.
            del self.fields["leave_reason"]
            self.fields["decision"].widget.attrs.update(
                {"class": "btn-check", "autocomplete": "off"}
            )
        else:
            self.fields["leave_reason"].widget.attrs.update(
                {"class": "form-control form-control-sm", "maxlength": 200}
            )
            del self.fields["decision"]

    def clean(self):
        cleaned = super().clean()
        problem = roll_call_row_error(
            participation=self.participation,
            row=self.to_row(),
            default_hours=self.activity.duration_hours,
        )
        if problem:
            field, message = problem
            self.add_error(field if field in self.fields else None, message)
        return cleaned

    def to_row(self) -> RollCallRow:
        data = self.cleaned_data
        return RollCallRow(
            member_id=self.member.pk,
            status=data.get("status") or "",
            hours=data.get("hours"),
            leave_reason=(data.get("leave_reason") or "").strip(),
            decision=data.get("decision") or "",
        )

    @property
    def current_status(self) -> str:
        """The mark shown (typed or stored), for the counts at the top of the screen."""
        value = self["status"].value()
        return value if value in dict(MARK_CHOICES) else ""


class RollCallForm(forms.Form):
    resident_volunteers = forms.IntegerField(
        label=_("Resident volunteers"),
        min_value=0,
        max_value=9999,
        help_text=_("People who took part but are not members, such as residents."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )


class WalkInSearchForm(forms.Form):
    q = MemberSearchField(
        label=_("Name or last 4 digits of the mobile"),
        error_messages={"required": _("Type a name or the last 4 digits of a mobile.")},
    )
