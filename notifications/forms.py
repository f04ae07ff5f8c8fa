from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from .models import NotificationPreference


class NotificationPreferenceForm(forms.ModelForm):
    """The channels. `out_of_reach`: those that cannot reach this person now; the page warns
    beside each (the checkbox points at its warning for screen readers)."""

    class Meta:
        model = NotificationPreference
        fields = ["inapp", "email", "webhook", "sms"]

    def __init__(self, *args, out_of_reach=(), **kwargs):
        super().__init__(*args, **kwargs)
        for name in set(out_of_reach) & set(self.fields):
            self.fields[name].widget.attrs["aria-describedby"] = f"{name}-warning"

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(field) for field in self.Meta.fields):
            # With no channel at all, duty and activity reminders would reach nobody.
            raise forms.ValidationError(_("Choose at least one channel."))
        return cleaned


class EmailAddressForm(forms.ModelForm):
    """The login's own e-mail address, where e-mail messages go."""

    class Meta:
        model = get_user_model()
        fields = ["email"]
        labels = {"email": _("My e-mail address")}
        help_texts = {"email": _("Leave it empty to receive no e-mail.")}
