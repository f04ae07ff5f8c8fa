from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class XiachenConfig(AppConfig):
    name = "xiachen"
    verbose_name = _("Xiachen")


class AxesConfig(AxesAppConfig):
    """django-axes under a name the admin shows in the reader's language: it has none of its
    own, so the admin would show its label, "Axes"."""

    verbose_name = _("Login lockouts")
