from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and report-ins")

    def ready(self):
        # notifications may not import members: it learns through this who a member's login is
        # (name, mobile, agency).
        from notifications.recipients import register_login_resolver

        from .models import recipients_of_logins

        register_login_resolver(recipients_of_logins)
