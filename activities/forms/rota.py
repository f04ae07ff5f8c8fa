"""The duty rota's forms: who is on duty on one day."""

from django import forms
from django.utils.translation import gettext_lazy as _


class MemberChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class RotaDayForm(forms.Form):
    """The members on duty that day, chosen among the agreement's pool (services.rota.rota_pool);
    the quota and leaves are checked by the service, which the view asks."""

    members = MemberChoice(
        label=_("On duty"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": _(
                "Only members of the agency who reported in to this community can be put on "
                "duty here."
            ),
            "invalid_pk_value": _("“%(pk)s” is not a member."),
        },
    )

    def __init__(self, *args, pool, quota: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = pool
        self.fields["members"].help_text = _("Up to %(quota)d a day.") % {"quota": quota}
