"""Forms of call-outs (吹哨报到): raising one, cancelling it, answering it. The rules are the
services' (activities.services.callouts)."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.models import Grid

from ..models import ActivityType
from ..models.callouts import MAX_NEEDED
from .activity import DATETIME_LOCAL, DateTimeLocalInput


class CallOutForm(forms.Form):
    communities = forms.ModelMultipleChoiceField(
        label=_("Communities"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A street officer may call in several communities at once: one call each."),
    )
    activity_type = forms.ModelChoiceField(
        label=capfirst(_("type")), queryset=ActivityType.objects.filter(is_active=True)
    )
    title = forms.CharField(label=capfirst(_("what")), max_length=100)
    description = forms.CharField(
        label=capfirst(_("details")), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    place = forms.CharField(label=capfirst(_("place")), max_length=100)
    starts_at = forms.DateTimeField(
        label=capfirst(_("starts at")), input_formats=[DATETIME_LOCAL], widget=DateTimeLocalInput()
    )
    ends_at = forms.DateTimeField(
        label=capfirst(_("ends at")), input_formats=[DATETIME_LOCAL], widget=DateTimeLocalInput()
    )
    needed = forms.IntegerField(
        label=capfirst(_("people needed")), min_value=1, max_value=MAX_NEEDED
    )
    grids = forms.ModelMultipleChoiceField(
        label=capfirst(_("grids")),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty to call every member reported in to the community."),
    )

    def __init__(self, *args, communities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["communities"].queryset = communities
        self.fields["grids"].queryset = Grid.objects.filter(community__in=communities).order_by(
            "community", "name"
        )
        self.fields["activity_type"].initial = ActivityType.objects.filter(
            code=ActivityType.Code.FLOOD_PATROL
        ).first()

    def clean(self):
        data = super().clean()
        communities = list(data.get("communities") or [])
        grids = list(data.get("grids") or [])
        if grids and len(communities) != 1:
            self.add_error("grids", _("Grids can be chosen for a call to one community only."))
        elif grids and any(grid.community_id != communities[0].pk for grid in grids):
            self.add_error("grids", _("Choose grids of this community."))
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=[("coming", "coming"), ("cannot", "cannot")])
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
