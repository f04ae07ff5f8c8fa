"""Forms of the activity pages: planning an activity and cancelling one."""

from django import forms
from django.db.models import Q
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.models import Agreement, Community, Grid
from communities.validators import validate_year

from ..models import Activity, ActivityType

# What <input type="datetime-local"> sends and expects: no seconds, no zone (local time).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL)


def agreement_label(agreement: Agreement) -> str:
    return f"{agreement.agency.short_name or agreement.agency.name} · {agreement.number}"


class ActivityForm(forms.ModelForm):
    """Plan or change an activity of one community. The rules that depend on stored data (an
    agreement in force, the capacity against those signed up, whether it may still change) are
    the services' (activities.services.activity); their errors come back onto these fields."""

    nature = forms.ChoiceField(
        label=capfirst(_("nature")),
        required=False,
        choices=[("", _("As usual for the type")), *Activity.Nature.choices],
        help_text=_("Duty counts toward the agency's assigned work; volunteer service is extra."),
    )
    status = forms.ChoiceField(
        label=capfirst(_("status")),
        choices=[
            (Activity.Status.DRAFT, Activity.Status.DRAFT.label),
            (Activity.Status.RECRUITING, Activity.Status.RECRUITING.label),
        ],
        initial=Activity.Status.RECRUITING,
        help_text=_("Members can sign up while it is recruiting; a draft is only a plan."),
    )

    class Meta:
        model = Activity
        fields = [
            "type",
            "title",
            "starts_at",
            "ends_at",
            "place",
            "grid",
            "capacity",
            "nature",
            "agreement",
            "status",
            "description",
        ]
        widgets = {
            "starts_at": DateTimeLocalInput(),
            "ends_at": DateTimeLocalInput(),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, community: Community, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.instance.community = community
        fields = self.fields
        fields["type"].queryset = ActivityType.objects.filter(
            Q(is_active=True) | Q(pk=self.instance.type_id)
        )
        fields["type"].empty_label = _("Choose a type")
        fields["title"].widget.attrs["placeholder"] = _("e.g. Flood patrol along the river")
        fields["grid"].queryset = Grid.objects.filter(community=community)
        fields["grid"].empty_label = _("Whole community")
        fields["grid"].label_from_instance = lambda grid: grid.name  # the community is known
        fields["grid"].error_messages["invalid_choice"] = _("Choose one of this community's grids.")
        fields["capacity"].widget.attrs.update(min=1, inputmode="numeric")
        fields["capacity"].validators.append(_positive)
        for name in ("starts_at", "ends_at"):
            fields[name].validators.append(validate_year)
        # Any of the community's agreements is accepted here so that the service can say why
        # one is not in force; the list offers those in force and the one already chosen.
        agreements = Agreement.objects.filter(community=community).select_related("agency")
        fields["agreement"].queryset = agreements
        fields["agreement"].error_messages["invalid_choice"] = _(
            "Choose one of this community's agreements in force."
        )
        kept = {self.instance.agreement_id, self.initial.get("agreement")} - {None, ""}
        offered = agreements.filter(
            Q(pk__in=agreements.in_force().values("pk")) | Q(pk__in=kept)
        ).order_by("agency__name", "number")
        fields["agreement"].choices = [
            ("", _("None")),
            *((a.pk, agreement_label(a)) for a in offered),
        ]
        fields["agreement"].help_text = _(
            "Activities under an agreement count toward the agency's commitments."
        )
        if self.instance.status not in dict(fields["status"].choices):
            self.initial["status"] = Activity.Status.RECRUITING
        # For the small script that sets the nature when the type changes.
        self.type_natures = {
            str(t.pk): t.default_nature for t in fields["type"].queryset.only("default_nature")
        }

    def clean(self):
        cleaned = super().clean()
        activity_type = cleaned.get("type")
        if not cleaned.get("nature") and activity_type is not None:
            cleaned["nature"] = activity_type.default_nature
        return cleaned


def _positive(value):
    if value is not None and value < 1:
        raise forms.ValidationError(_("The capacity is at least 1; leave it empty for no limit."))


class ActivityCancelForm(forms.Form):
    """The reason for cancelling, told to those signed up (the cancel page and the admin's
    "cancel selected activities")."""

    reason = forms.CharField(
        label=capfirst(_("reason for cancelling")),
        max_length=200,
        help_text=_("Everyone signed up is told this reason."),
    )
