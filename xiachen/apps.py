from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class XiachenConfig(AppConfig):
    name = "xiachen"
    verbose_name = _("Xiachen")
