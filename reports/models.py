"""The export log (issue 9, point 5): every export — who, when, what, the filters, how many rows
and whether mobiles were full — one row written by `ListExporter.log` in the export's request.

The annual evaluation (年度评价, point 7): a community's rating of each member reported in to it
for a year, and a member's objections (异议) to it with the staff's answers; both written only by
reports.services, their changes kept in the history with who and when."""

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
from simple_history.models import HistoricalRecords

from communities.models import Agency, Community, Street
from communities.permissions import any_of, export_log_agency_ids, own, scope_of, via
from members.models import Member


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
        RECORDS = "records", _("Attendance records")
        # A member's download of everything held about them.
        MY_DATA = "my_data", _("My data")
        ATTENDANCE = "attendance", _("Attendance report")

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


# --- The overviews' figures (issue 9, point 8) ------------------------------------------------
#
# A street's or the city's year of attendance is tens or hundreds of thousands of participations:
# summed live, a street officer's page took 100–250 ms at city size (the target is 50 ms). So the
# overviews read these tables, rebuilt whole by `overview_refresh` (a Celery beat task every
# OVERVIEW_REFRESH_MINUTES, and `manage.py refresh_overviews`), and every page says when.
# Flows are by calendar month of the activity's start: a period is whole months.


class OverviewRefresh(models.Model):
    """One rebuild of the overview tables: when it was made, and the city's distinct figures
    that no sum of rows gives (a member reported in to two communities counts once)."""

    made_at = models.DateTimeField(_("made at"))
    seconds = models.FloatField(_("took (seconds)"), default=0)
    reported_in = models.PositiveIntegerField(_("members reported in"), default=0)

    class Meta:
        verbose_name = _("overview refresh")
        verbose_name_plural = _("overview refreshes")
        ordering = ["-made_at", "-pk"]
        get_latest_by = ["made_at", "pk"]

    def __str__(self):
        return f"{self.made_at:%Y-%m-%d %H:%M}"


class StreetNow(models.Model):
    """A street's members reported in (报到, either kind) at the refresh, each counted once."""

    street = models.OneToOneField(
        Street, on_delete=models.CASCADE, primary_key=True, related_name="overview"
    )
    reported_in = models.PositiveIntegerField(default=0)

    def __str__(self):
        return str(self.street_id)


class CommunityNow(models.Model):
    """A community's state at the refresh: members reported in, resident concerns not yet
    resolved."""

    community = models.OneToOneField(
        Community, on_delete=models.CASCADE, primary_key=True, related_name="overview"
    )
    reported_in = models.PositiveIntegerField(default=0)
    open_concerns = models.PositiveIntegerField(default=0)

    def __str__(self):
        return str(self.community_id)


class AgencyNow(models.Model):
    """An agency's members at the refresh: active ones, and those of them with an active
    liaison report-in (DESIGN.md's report-in rate is the second over the first)."""

    agency = models.OneToOneField(
        Agency, on_delete=models.CASCADE, primary_key=True, related_name="overview"
    )
    active_members = models.PositiveIntegerField(default=0)
    reported_in = models.PositiveIntegerField(default=0)

    def __str__(self):
        return str(self.agency_id)


HOURS = {"max_digits": 12, "decimal_places": 1, "default": 0}


class CommunityMonth(models.Model):
    """A community's activities starting in a month (those that take place) and the attendance
    recorded on them."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="overview_months"
    )
    month = models.DateField()  # its first day
    activities = models.PositiveIntegerField(default=0)
    present = models.PositiveIntegerField(default=0)
    hours = models.DecimalField(**HOURS)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["community", "month"], name="reports_communitymonth_unique"
            )
        ]
        indexes = [
            # "every community's months of a period": the city overview's list sorted by a
            # figure and its totals, read from the index alone.
            models.Index(
                fields=["month", "community"],
                include=["activities", "present", "hours"],
                name="communitymonth_period",
            ),
            # "a street's communities' figures of a period" (the street overview's page: three
            # sums of each community's months, and the street's totals), read from the index
            # alone: through the unique index each sum read the months' heap rows, 412 pages
            # for a page of 37 communities.
            models.Index(
                fields=["community", "month"],
                include=["activities", "present", "hours"],
                name="communitymonth_community",
            ),
        ]

    def __str__(self):
        return f"{self.community_id} {self.month:%Y-%m}"


class AgencyMonth(models.Model):
    """The attendance of an agency's members on activities starting in a month."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="overview_months")
    month = models.DateField()  # its first day
    present = models.PositiveIntegerField(default=0)
    absent = models.PositiveIntegerField(default=0)
    leaves = models.PositiveIntegerField(default=0)
    hours = models.DecimalField(**HOURS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "month"], name="reports_agencymonth_unique")
        ]
        indexes = [
            # "every agency's months of a period": the city overview's agencies sorted by a
            # figure and its totals, read from the index alone.
            models.Index(
                fields=["month", "agency"],
                include=["present", "absent", "hours"],
                name="agencymonth_period",
            )
        ]

    def __str__(self):
        return f"{self.agency_id} {self.month:%Y-%m}"


class EvaluationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The ratings of the viewer's communities (their staff and grid workers; a street
        officer's street), of the members of their agency office's agencies whichever community
        rated them, and their own. Never another agency's members' through an office."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                via("member__in", Member.objects.values("pk"), agency__in=scope.agency_ids),
                community__in=scope.place_community_ids,
                **own(scope),
            )
        )


class Evaluation(models.Model):
    """A community's annual rating (年度评价) of a member reported in to it."""

    class Rating(models.TextChoices):
        EXCELLENT = "excellent", _("Excellent")
        QUALIFIED = "qualified", _("Qualified")
        BASIC = "basic", _("Basically qualified")
        UNQUALIFIED = "unqualified", _("Unqualified")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="evaluations", verbose_name=_("member")
    )
    community = models.ForeignKey(
        Community,
        on_delete=models.PROTECT,
        related_name="evaluations",
        verbose_name=_("community"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    rating = models.CharField(_("rating"), max_length=12, choices=Rating.choices)
    comment = models.CharField(_("comment"), max_length=300, blank=True)
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("rated by"),
    )
    rated_at = models.DateTimeField(_("rated at"))

    history = HistoricalRecords(
        verbose_name=_("historical evaluation"), verbose_name_plural=_("historical evaluations")
    )
    objects = EvaluationQuerySet.as_manager()

    class Meta:
        verbose_name = _("evaluation")
        verbose_name_plural = _("evaluations")
        ordering = ["-year", "community", "member"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "year", "member"],
                name="reports_evaluation_once_per_year",
                violation_error_message=_("This member is already rated for this year here."),
            ),
            models.CheckConstraint(
                condition=Q(year__gte=2000, year__lte=2100),
                name="reports_evaluation_year_in_range",
            ),
        ]
        indexes = [
            # "a member's ratings": the member's own page, the office's list and summaries.
            models.Index(fields=["member", "year"], name="evaluation_member_year"),
        ]

    def __str__(self):
        return f"{self.year} {self.member} · {self.get_rating_display()}"

    def get_absolute_url(self):
        return reverse("reports:evaluation_member", args=[self.member_id]) + f"?year={self.year}"


class EvaluationObjectionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The objections to the ratings the viewer sees."""
        if scope_of(user).city:
            return self.all()
        return self.filter(evaluation__in=Evaluation.objects.visible_to(user).values("pk"))

    def open(self):
        return self.filter(answered_at__isnull=True)


class EvaluationObjection(models.Model):
    """A member's objection (异议) to their rating, with a reason; the community's staff answer
    it, keeping the rating or changing it."""

    class State(models.TextChoices):
        OPEN = "open", _("Awaiting the answer")
        ANSWERED = "answered", _("Answered")

    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.CASCADE,
        related_name="objections",
        verbose_name=_("evaluation"),
    )
    reason = models.CharField(_("reason"), max_length=300)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("raised by"),
    )
    raised_at = models.DateTimeField(_("raised at"))
    answer = models.CharField(_("answer"), max_length=300, blank=True)
    # The rating before and after the answer: the answer may change it.
    rating_before = models.CharField(
        _("rating objected to"), max_length=12, choices=Evaluation.Rating.choices
    )
    rating_after = models.CharField(
        _("rating after the answer"),
        max_length=12,
        choices=Evaluation.Rating.choices,
        blank=True,
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    objects = EvaluationObjectionQuerySet.as_manager()

    class Meta:
        verbose_name = _("evaluation objection")
        verbose_name_plural = _("evaluation objections")
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation"],
                condition=Q(answered_at__isnull=True),
                name="reports_evaluationobjection_one_open",
                violation_error_message=_("This rating already has an objection to answer."),
            ),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True)
                | (~Q(answer="") & Q(answered_by__isnull=False) & ~Q(rating_after="")),
                name="reports_evaluationobjection_answered_in_full",
            ),
        ]

    def __str__(self):
        return f"{self.evaluation} · {self.get_state_display()}"

    def get_absolute_url(self):
        return reverse("reports:objection_answer", args=[self.pk])

    @property
    def state(self) -> str:
        return self.State.OPEN if self.answered_at is None else self.State.ANSWERED

    def get_state_display(self):
        return self.State(self.state).label


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
        # The charts' three groupings (summary.groups_of) of one lens's months, each read from
        # its index alone: the agency lens its agencies' months, the places lens its
        # communities' (of all agencies together), the city lens every community's. Read
        # through the heap, sanxia's year was 6,400 rows on 4,400 pages, read three times
        # (10–30 ms a grouping at city size; 3–5 ms from the index).
        indexes = [
            models.Index(
                fields=["agency", "month"],
                include=["nature", "type", "community", "present", "hours"],
                name="service_month_agency_figures",
            ),
            models.Index(
                fields=["community", "month"],
                include=["nature", "type", "present", "hours"],
                condition=Q(agency__isnull=True),
                name="service_month_places_figures",
            ),
            models.Index(
                fields=["month"],
                include=["nature", "type", "community", "present", "hours"],
                condition=Q(agency__isnull=True),
                name="service_month_city_figures",
            ),
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


class CertificateQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The holder's own certificates, and those of the members on the rosters the viewer
        keeps (an agency office's). Nothing for anyone else."""
        scope = scope_of(user)
        return self.filter(any_of(**own(scope), member__agency__in=scope.agency_ids))


class CertificateCounter(models.Model):
    """The last number given in a year: read and raised under a row lock (reports.certificates
    .issue), so that two certificates issued at once get two numbers, one after the other."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("certificate counter")
        verbose_name_plural = _("certificate counters")

    def __str__(self):
        return f"{self.year}: {self.last}"


class Certificate(models.Model):
    """The register of service-hour certificates (志愿服务证明, issue 12 point 4): one row per
    certificate issued, its figures frozen at issue by DESIGN.md's definitions. The register is
    the log of issues; rows are written by reports.certificates.issue alone, never changed."""

    class IssuerKind(models.TextChoices):
        AGENCY = "agency", _("Agency")
        COMMUNITY = "community", _("Community")

    number = models.CharField(_("certificate number"), max_length=20, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="certificates", verbose_name=_("member")
    )
    # The holder's name and agency as printed: a later change of the roster leaves them.
    holder_name = models.CharField(_("holder's name"), max_length=50)
    holder_agency = models.CharField(_("holder's agency"), max_length=100)
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    duty_hours = models.DecimalField(_("duty hours"), max_digits=9, decimal_places=1)
    voluntary_hours = models.DecimalField(
        _("voluntary service hours"), max_digits=9, decimal_places=1
    )
    activities = models.PositiveIntegerField(_("activities"))
    # The activities served, as printed: one line each ({"day", "title", "community", "nature",
    # "hours"}), in the order served, read at issue from the ledger the hours above come from
    # and summing to them, so that a download later, after corrections, shows what was issued.
    # Null for a certificate issued before the register kept its lines (it printed none).
    lines = models.JSONField(_("activities served"), null=True, blank=True, editable=False)
    issuer_kind = models.CharField(_("issued by (kind)"), max_length=10, choices=IssuerKind.choices)
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificates",
        verbose_name=_("issuing agency"),
    )
    community = models.ForeignKey(
        Community,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificates",
        verbose_name=_("issuing community"),
    )
    issuer_name = models.CharField(_("issuer"), max_length=100)
    responsible = models.CharField(_("person responsible"), max_length=100)
    contact = models.CharField(_("contact"), max_length=30, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="certificates_issued",
        verbose_name=_("issued by"),
    )

    objects = CertificateQuerySet.as_manager()

    class Meta:
        verbose_name = _("service-hour certificate")
        verbose_name_plural = _("service-hour certificates")
        constraints = [
            models.CheckConstraint(
                condition=Q(first_day__lte=models.F("last_day")),
                name="certificate_period_in_order",
            ),
            models.CheckConstraint(
                condition=(Q(issuer_kind="agency", agency__isnull=False, community__isnull=True))
                | Q(issuer_kind="community", community__isnull=False, agency__isnull=True),
                name="certificate_one_issuer",
            ),
        ]
        indexes = [models.Index(fields=["member", "-issued_at"], name="certificate_member")]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse("reports:certificate_pdf", args=[self.pk])

    @property
    def total_hours(self):
        return self.duty_hours + self.voluntary_hours
