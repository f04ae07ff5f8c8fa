"""Forms of call-outs (吹哨报到): raising one, cancelling it, answering it. The rules are the
services' (activities.services.callouts)."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.models import Grid

from ..models import ActivityType
from ..models.callouts import MAX_NEEDED
from .activity import DATETIME_LOCAL, DateTimeLocalInput

# A larger id would overflow the database's integer, not just miss.
MAX_ID = 2**63 - 1


def _id_or_none(value):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class IdsChoice(forms.ModelMultipleChoiceField):
    """Rows chosen by id; an id no row can have is refused before the database is asked."""

    def _check_values(self, value):
        for pk in value:
            if _id_or_none(pk) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": str(pk)[:20]},
                )
        return super()._check_values(value)


class IdChoice(forms.ModelChoiceField):
    def to_python(self, value):
        if value not in self.empty_values and _id_or_none(value) is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return super().to_python(value)


class CallOutForm(forms.Form):
    communities = IdsChoice(
        label=_("Communities"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A street officer may call in several communities at once: one call each."),
    )
    activity_type = IdChoice(
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
    grids = IdsChoice(
        label=capfirst(_("grids")),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty to call every member reported in to the community."),
    )

    def __init__(self, *args, communities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["communities"].queryset = communities
        # Each grid is labelled with its community's name: read with it, not one by one.
        self.fields["grids"].queryset = (
            Grid.objects.filter(community__in=communities)
            .select_related("community")
            .order_by("community", "name")
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
