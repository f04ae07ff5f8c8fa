"""The export log (issue 9, point 5): every export — who, when, what, the filters, how many rows
and whether mobiles were full — one row written by `ListExporter.log` in the export's request."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
        RECORDS = "records", _("Attendance records")
        # A member's download of everything held about them.
        MY_DATA = "my_data", _("My data")

    class Format(models.TextChoices):
        XLSX = "xlsx", ".xlsx"
        CSV = "csv", ".csv"
        JSON = "json", ".json"

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


class ExportJobQuerySet(models.QuerySet):
    def of(self, user):
        """The jobs `user` may follow and download: their own, of an agency whose log they
        still read (an office that lost its role loses its files), or of several at once
        while they still keep a roster. Anyone else's job is not found (404)."""
        agency_ids = export_log_agency_ids(user)
        if not agency_ids:
            return self.none()
        return self.filter(any_of(Q(agency__isnull=True), agency__in=agency_ids), user=user.pk)


def export_file_name(job, filename):
    """Where a job's file is kept in the default storage: a name nobody can guess, though the
    storage is never served directly (downloads go through `reports:export_download`)."""
    return f"exports/{timezone.localdate():%Y/%m}/{uuid.uuid4().hex}{Path(filename).suffix}"


class ExportJob(models.Model):
    """An export written by a Celery worker (issue 9, point 5): one too large to build while the
    office waits for the page. Its page shows the progress and, when done, the download; the
    file is deleted after EXPORT_RETENTION_HOURS (reports.tasks.clean_exports). The export log
    gets its line when the file is written."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Being written")
        DONE = "done", _("Ready")
        FAILED = "failed", pgettext_lazy("export", "Failed")
        EXPIRED = "expired", _("Deleted after the retention period")

    class Error(models.TextChoices):
        # What the office reads when its export failed: what happened and what to do.
        TIMEOUT = (
            "timeout",
            _("The export took too long. Choose a shorter period or more filters and try again."),
        )
        SCOPE = "scope", _("You no longer keep this agency's members, so the export was not made.")
        QUEUE = (
            "queue",
            _(
                "The export could not be handed to the background worker. Try again in a few "
                "minutes; if it happens again, tell the city administrator."
            ),
        )
        STOPPED = (
            "stopped",
            _("The export stopped before it finished (the worker was restarted). Try again."),
        )
        FAILED = (
            "failed",
            _(
                "The file could not be written. Try again; if it fails again, tell the city "
                "administrator."
            ),
        )

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="export_jobs",
        verbose_name=_("exported by"),
    )
    # The agency chosen; empty for an export of all of the office's agencies.
    agency = models.ForeignKey(
        Agency,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="export_jobs",
        verbose_name=_("agency"),
    )
    what = models.CharField(_("export"), max_length=20, choices=ExportLog.What.choices)
    format = models.CharField(_("format"), max_length=4, choices=ExportLog.Format.choices)
    # The filters as the list's query string gave them (only the names its form knows): the
    # worker cleans them again, in the office's scope of the time.
    filters = models.JSONField(_("filters"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    full_mobiles = models.BooleanField(_("full mobiles"), default=False)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.QUEUED)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    file = models.FileField(_("file"), upload_to=export_file_name, blank=True, max_length=200)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    # Why the export failed, told to the office in its language (never a trace).
    error = models.CharField(_("error"), max_length=10, choices=Error, blank=True)
    # The language of the page that asked: the file's headers are in it.
    language = models.CharField(_("language"), max_length=10, default=settings.LANGUAGE_CODE)
    created_at = models.DateTimeField(_("asked at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    log = models.OneToOneField(
        ExportLog,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="job",
        verbose_name=_("export log entry"),
    )

    objects = ExportJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")
        ordering = ["-pk"]
        indexes = [
            # "a user's jobs, newest first" (the export log page) and the clean-up's scan.
            models.Index(fields=["user", "-id"], name="exportjob_user_newest"),
            models.Index(fields=["state", "finished_at"], name="exportjob_state_finished"),
        ]

    def __str__(self):
        return f"{self.get_what_display()} {self.get_format_display()} · {self.get_state_display()}"

    def get_absolute_url(self):
        return reverse("reports:export_job", args=[self.pk])

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)

    @property
    def in_progress(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)


class ServiceMonth(models.Model):
    """The monthly service summary the charts read (issue 9, point 8): for each month (local
    time), member's agency, activity's community, activity type and nature, the participations
    (*present*) and their hours by DESIGN.md's definitions — those of `figures.service_by` —
    and the absences and leaves beside them. Rebuilt whole by `reports.summary.refresh` (beat,
    every SERVICE_SUMMARY_MINUTES); a month without anyone present, absent or on leave has no
    row. Each combination is there once by agency and once for all agencies together (no
    agency): a street's or the city's figures are read without adding up a thousand agencies'
    rows. The time of the last rebuild is `SummaryRefresh`'s."""

    month = models.DateField(_("month"))  # its first day
    # Copied from the participations' own keys, so without database constraints: checking
    # three-quarters of a million rows' keys at each rebuild's commit took 15 s at city size.
    # None on the rows of all agencies together, which the places and city lenses read.
    agency = models.ForeignKey(
        Agency,
        on_delete=models.CASCADE,
        null=True,
        db_constraint=False,
        related_name="+",
        verbose_name=_("agency"),
    )
    community = models.ForeignKey(
        "communities.Community",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        verbose_name=_("community"),
    )
    type = models.ForeignKey(
        "activities.ActivityType",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        verbose_name=_("activity type"),
    )
    nature = models.CharField(_("nature"), max_length=20)
    present = models.PositiveIntegerField(_("present"))
    hours = models.DecimalField(_("service hours"), max_digits=12, decimal_places=1)
    absent = models.PositiveIntegerField(_("absent"))
    leave = models.PositiveIntegerField(_("on leave"))

    class Meta:
        verbose_name = _("service month")
        verbose_name_plural = _("service months")
        indexes = [
            # The agency lens reads its agencies' months, the places lens its communities'.
            models.Index(fields=["agency", "month"], name="service_month_agency"),
            models.Index(fields=["community", "month"], name="service_month_community"),
            models.Index(fields=["month"], name="service_month_month"),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.nature}: {self.present}"


class SummaryRefresh(models.Model):
    """When the service summary was last rebuilt, and how long it took: one row, written in the
    rebuild's transaction. No row: never rebuilt, and the charts count live."""

    refreshed_at = models.DateTimeField(_("refreshed at"))
    seconds = models.FloatField(_("seconds taken"))
    rows = models.PositiveIntegerField(_("rows"))

    class Meta:
        verbose_name = _("summary refresh")
        verbose_name_plural = _("summary refreshes")

    def __str__(self):
        return f"{self.refreshed_at:%Y-%m-%d %H:%M}: {self.rows}"
