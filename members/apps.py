from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and report-ins")

    def ready(self):
        # notifications may not import members: it learns through these who a member's login
        # is (name, mobile, agency) and whether a group robot reaches it (the notification
        # settings warn before one is chosen that cannot). Inside ready(): models may be imported
        # only once the app registry is (Django's rule), and both modules hold models.
        from notifications.recipients import (
            register_login_mobile_path,
            register_login_resolver,
            register_robot_finder,
        )

        from . import (
            privacy,  # noqa: F401  (its sign-in receiver keeps the notice's version)
            sessions,
        )
        from .models import recipients_of_logins, robot_reaches_member

        sessions.connect()

        register_login_resolver(recipients_of_logins)
        register_robot_finder(robot_reaches_member)
        register_login_mobile_path("member__mobile")
