from django import forms
from django.contrib.admin.widgets import AdminDateWidget, AdminFileWidget
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .models import Agreement


class _PrivateFile:
    """Stands in for a stored file in a widget: its name, and a URL that checks scope."""

    def __init__(self, name: str, url: str):
        self.name = name
        self.url = url

    def __str__(self):
        return self.name.rsplit("/", 1)[-1]


class PrivateScanWidget(AdminFileWidget):
    """The admin file input, linking to the scope-checked download view instead of MEDIA_URL,
    which is not served: scans are private."""

    download_url = None

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        if widget["is_initial"]:
            if self.download_url:
                widget["value"] = _PrivateFile(value.name, self.download_url)
            else:
                widget["is_initial"] = False
        return context


class AgreementAdminForm(forms.ModelForm):
    class Meta:
        model = Agreement
        fields = [
            "number",
            "agency",
            "community",
            "starts_on",
            "ends_on",
            "daily_quota",
            "commitments",
            "agency_contact",
            "agency_contact_phone",
            "community_contact",
            "community_contact_phone",
            "scan",
        ]
        widgets = {"scan": PrivateScanWidget}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scan = self.fields.get("scan")
        if scan is not None:
            # The widget instance is the form's own copy, so the URL does not leak between forms.
            scan.widget.download_url = (
                reverse("communities:agreement_scan", args=[self.instance.pk])
                if self.instance.pk
                else None
            )


class AgreementSignForm(forms.Form):
    signed_on = forms.DateField(
        label=capfirst(_("signed on")),
        widget=AdminDateWidget,
        help_text=_("The date on the signed copy. It cannot be in the future."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"signed_on": timezone.localdate()})
        super().__init__(*args, **kwargs)


class AgreementTerminateForm(forms.Form):
    terminated_on = forms.DateField(label=capfirst(_("terminated on")), widget=AdminDateWidget)
    reason = forms.CharField(
        label=capfirst(_("termination reason")),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=2000,
        help_text=_("Kept on the agreement's record and in its history."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"terminated_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
