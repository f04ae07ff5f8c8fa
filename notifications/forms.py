import datetime as dt

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .models import Notification, NotificationPreference


def with_all_choice(label, choices):
    """A filter's choices with an empty first one meaning \"all\"."""
    return [("", label), *choices]


class NotificationPreferenceForm(forms.ModelForm):
    """The channels. `out_of_reach`: those that cannot reach this person now; the page warns
    beside each (the checkbox points at its warning for screen readers)."""

    class Meta:
        model = NotificationPreference
        fields = ["inapp", "email", "webhook"]

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


# No message is older or newer than these; a date far outside them (0001-01-01, 9999-12-31)
# would overflow when its day is turned into moments in the site's time zone.
OUTBOX_DATES = [MinValueValidator(dt.date(2000, 1, 1)), MaxValueValidator(dt.date(2099, 12, 31))]


class OutboxFilterForm(forms.Form):
    """The outbox filters. Invalid values are reported and left out; the rest still apply."""

    state = forms.ChoiceField(
        label=capfirst(_("state")),
        required=False,
        choices=with_all_choice(_("All states"), Notification.State.choices),
    )
    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        required=False,
        choices=with_all_choice(_("All kinds"), Notification.Kind.choices),
    )
    channel = forms.ChoiceField(
        label=capfirst(_("channel")),
        required=False,
        choices=with_all_choice(_("All channels"), Notification.Channel.choices),
    )
    date_from = forms.DateField(
        label=_("Queued from"),
        required=False,
        validators=OUTBOX_DATES,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=_("Queued until"),
        required=False,
        validators=OUTBOX_DATES,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The end date is before the start date."))
            cleaned.pop("date_to", None)
        return cleaned

    def apply_to(self, queryset, *, state=True):
        """The queryset narrowed by every valid filter (by state too unless `state` is False).
        Call after is_valid(); fields with errors are missing from cleaned_data."""
        data = getattr(self, "cleaned_data", {})
        lookups = {
            field: data[field]
            for field in (("state", "kind", "channel") if state else ("kind", "channel"))
            if data.get(field)
        }
        queryset = queryset.filter(**lookups)
        # Local days, as bounds on the column so that the query can use an index on it.
        if data.get("date_from"):
            queryset = queryset.filter(created_at__gte=_start_of(data["date_from"]))
        if data.get("date_to"):
            queryset = queryset.filter(
                created_at__lt=_start_of(data["date_to"] + dt.timedelta(days=1))
            )
        return queryset


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
