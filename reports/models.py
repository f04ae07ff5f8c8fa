"""The export log (issue 9, point 5): every export — who, when, what, the filters, how many rows
and whether mobiles were full — one row written by `ListExporter.log` in the export's request."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Agency
from communities.permissions import any_of, export_log_agency_ids, scope_of


class ExportLogQuerySet(models.QuerySet):
    def visible_to(self, user):
        """An office's log: its agencies' exports, and its own of several agencies at once
        (logged without one). The city administrator reads them all in the admin."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        own = Q(agency__isnull=True, user=scope.user_id) if scope.user_id else None
        return self.filter(any_of(own, agency__in=export_log_agency_ids(user)))


class ExportLog(models.Model):
    class What(models.TextChoices):
        # One per exporter (reports.exports.ListExporter.identifier).
        ROSTER = "roster", _("Roster")
        ROTA = "rota", _("Duty rota")

    class Format(models.TextChoices):
        XLSX = "xlsx", ".xlsx"
        CSV = "csv", ".csv"

    # PROTECT: a log keeps who exported; a login with exports is deactivated, not deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="export_logs",
        verbose_name=_("exported by"),
    )
    # The office's agency whose members the export holds; empty for an export of several.
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="export_logs",
        verbose_name=_("agency"),
    )
    made_at = models.DateTimeField(_("exported at"), default=timezone.now)
    what = models.CharField(_("export"), max_length=20, choices=What.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    # The filters as the filter form cleaned them, by name: never the raw query string.
    filters = models.JSONField(_("filters"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    rows = models.PositiveIntegerField(_("rows"))
    full_mobiles = models.BooleanField(_("full mobiles"), default=False)

    objects = ExportLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("export log entry")
        verbose_name_plural = _("export log")
        ordering = ["-pk"]
        indexes = [
            # "an agency's log, newest first": the office's export log page, by primary key.
            models.Index(fields=["agency", "-id"], name="exportlog_agency_newest"),
        ]

    def __str__(self):
        return (
            f"{self.get_what_display()} {self.get_format_display()} · {self.made_at:%Y-%m-%d %H:%M}"
        )

    def get_absolute_url(self):
        return reverse("reports:export_log")
