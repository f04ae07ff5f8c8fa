from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class XiachenConfig(AppConfig):
    # The one Django picks for "xiachen" in INSTALLED_APPS: this module holds two configs.
    default = True
    name = "xiachen"
    verbose_name = _("Xiachen")

    def ready(self):
        from .choices import use_cached_choice_displays

        use_cached_choice_displays()


class AxesConfig(AxesAppConfig):
    """django-axes under a name the admin shows in the reader's language: it has none of its
    own, so the admin would show its label, "Axes"."""

    verbose_name = _("Login lockouts")


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, open only to a session that passed the second factor (issue 11)."""

    default = False  # named in INSTALLED_APPS
    default_site = "members.two_factor.SecondFactorAdminSite"
