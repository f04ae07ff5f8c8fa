"""Activities, who took part, and what came of them (work updates, residents' concerns)."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from communities.models import Agreement, Community, Grid
from communities.scopes import any_of, scope_of
from members.models import Member


class ActivityType(models.Model):
    class Code(models.TextChoices):
        FLOOD_PATROL = "flood_patrol", _("Flood patrol")
        GATE_DUTY = "gate_duty", _("Gate duty")
        PARTY_DAY = "party_day", _("Theme party day")
        DOOR_TO_DOOR = "door_to_door", _("Door-to-door publicity")
        VISIT = "visit", _("Visit")
        CLEANUP = "cleanup", _("Clean-up")
        OTHER = "other", _("Other")

    class Nature(models.TextChoices):
        DUTY = "duty", _("Duty")
        VOLUNTEER = "volunteer", _("Volunteer service")

    code = models.CharField(_("code"), max_length=20, choices=Code, unique=True)
    name = models.CharField(_("name"), max_length=50)
    default_nature = models.CharField(
        _("default nature"), max_length=10, choices=Nature, default=Nature.VOLUNTEER
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("activity type")
        verbose_name_plural = _("activity types")
        ordering = ["order", "name"]

    def __str__(self):
        return self.name


class ActivityQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=Activity.objects.filter(
                any_of(
                    community__street__in=scope.street_ids,
                    community__in=scope.community_ids,
                    agreement__agency__in=scope.agency_ids,
                    participations__member__agency__in=scope.agency_ids,
                    participations__member__user=scope.user_id,
                    community__registrations__member__user=scope.user_id,
                )
            )
        )

    def with_place_counts(self):
        """Annotates `signed_up` (those taking a place: signed up or present) and `present`."""
        taking_a_place = [Participation.Status.SIGNED_UP, Participation.Status.PRESENT]
        return self.annotate(
            signed_up=Count("participations", filter=Q(participations__status__in=taking_a_place)),
            present=Count(
                "participations", filter=Q(participations__status=Participation.Status.PRESENT)
            ),
        )


class Activity(models.Model):
    Nature = ActivityType.Nature

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RECRUITING = "recruiting", _("Recruiting")
        ONGOING = "ongoing", _("Ongoing")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")

    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, related_name="activities", verbose_name=_("community")
    )
    grid = models.ForeignKey(
        Grid,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        verbose_name=_("grid"),
    )
    type = models.ForeignKey(
        ActivityType, on_delete=models.PROTECT, related_name="activities", verbose_name=_("type")
    )
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    place = models.CharField(_("place"), max_length=100, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Leave empty for no limit.")
    )
    nature = models.CharField(
        _("nature"),
        max_length=10,
        choices=ActivityType.Nature,
        default=ActivityType.Nature.VOLUNTEER,
    )
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.RECRUITING)
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="organized_activities",
        verbose_name=_("organizer"),
    )
    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        verbose_name=_("counts toward agreement"),
    )
    resident_volunteers = models.PositiveIntegerField(
        _("resident volunteers"),
        default=0,
        help_text=_("People who took part but are not members, such as residents."),
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="activities_activity_ends_after_start",
                violation_error_message=_("An activity must end after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(capacity__gt=0),
                name="activities_activity_capacity_positive",
                violation_error_message=_("Capacity must be a positive number, or empty."),
            ),
        ]
        indexes = [
            # "this community's activities by date": activity lists, week view, dashboards.
            models.Index(fields=["community", "starts_at"], name="activity_community_starts"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("activities:activity_detail", args=[self.pk])

    def clean(self):
        super().clean()
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("An activity must end after it starts.")})
        if self.grid_id and self.community_id and self.grid.community_id != self.community_id:
            raise ValidationError({"grid": _("The grid must belong to the same community.")})
        if self.agreement_id and self.community_id:
            if self.agreement.community_id != self.community_id:
                raise ValidationError(
                    {"agreement": _("The agreement must be one of this community's.")}
                )

    @property
    def duration_hours(self) -> Decimal:
        seconds = (self.ends_at - self.starts_at).total_seconds()
        return min(Decimal(24), Decimal(seconds / 3600).quantize(Decimal("0.1")))

    @property
    def current_status(self):
        """DRAFT and CANCELLED stay as stored; otherwise the clock says ongoing or finished."""
        if self.status in (self.Status.DRAFT, self.Status.CANCELLED):
            return self.status
        now = timezone.now()
        if now >= self.ends_at:
            return self.Status.FINISHED
        if now >= self.starts_at:
            return self.Status.ONGOING
        return self.status

    def get_current_status_display(self):
        return self.Status(self.current_status).label

    def signed_up_members(self) -> list:
        """Who still expects to come: signed up (not on leave), still with their agency. These
        are the people reminders and change notices go to."""
        return [
            p.member
            for p in Participation.objects.filter(
                activity=self,
                status=Participation.Status.SIGNED_UP,
                member__status=Member.Status.ACTIVE,
            ).select_related("member__user")
        ]

    def roll_call_due_at(self):
        return self.ends_at + timedelta(hours=1)


class ParticipationQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                activity__community__street__in=scope.street_ids,
                activity__community__in=scope.community_ids,
                member__agency__in=scope.agency_ids,
                member__user=scope.user_id,
            )
        )

    def present(self):
        return self.filter(status=Participation.Status.PRESENT)

    def pending_roll_call(self, now=None):
        """Signed-up rows of activities that have ended: 待点名."""
        now = now or timezone.now()
        return self.filter(status=Participation.Status.SIGNED_UP, activity__ends_at__lte=now)


class Participation(models.Model):
    class Status(models.TextChoices):
        SIGNED_UP = "signed_up", _("Signed up")
        PRESENT = "present", _("Present")
        ABSENT = "absent", _("Absent")
        LEAVE = "leave", _("On leave")

    class LeaveDecision(models.TextChoices):
        PENDING = "pending", _("Awaiting decision")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    class Source(models.TextChoices):
        SIGN_UP = "sign_up", _("Sign-up")
        ROLL_CALL = "roll_call", _("Roll call")
        QR = "qr", _("QR check-in")
        BACKFILL = "backfill", _("Backfill")

    class Review(models.TextChoices):
        UNREVIEWED = "unreviewed", _("Not reviewed")
        CONFIRMED = "confirmed", _("Confirmed")
        DISPUTED = "disputed", _("Disputed")

    activity = models.ForeignKey(
        Activity,
        on_delete=models.CASCADE,
        related_name="participations",
        verbose_name=_("activity"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="participations",
        verbose_name=_("member"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.SIGNED_UP)
    hours = models.DecimalField(
        _("service hours"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out at"), null=True, blank=True)
    leave_reason = models.CharField(_("reason for leave"), max_length=200, blank=True)
    leave_decision = models.CharField(
        _("leave decision"), max_length=10, choices=LeaveDecision, blank=True
    )
    leave_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("leave decided by"),
    )
    leave_decided_at = models.DateTimeField(_("leave decided at"), null=True, blank=True)
    source = models.CharField(_("recorded by way of"), max_length=10, choices=Source)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    review = models.CharField(
        _("agency review"), max_length=10, choices=Review, default=Review.UNREVIEWED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    backfill_reason = models.CharField(_("reason for backfill"), max_length=200, blank=True)

    # Translated names for the admin; the English is what the migrations already hold.
    history = HistoricalRecords(
        verbose_name=_("historical participation"),
        verbose_name_plural=_("historical participations"),
    )
    objects = ParticipationQuerySet.as_manager()

    class Meta:
        verbose_name = _("participation")
        verbose_name_plural = _("participations")
        ordering = ["activity", "member"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "activity"],
                name="activities_participation_one_per_member",
                violation_error_message=_("This member is already on this activity."),
            ),
            models.CheckConstraint(
                condition=Q(hours__isnull=True) | Q(hours__gte=0, hours__lte=24),
                name="activities_participation_hours_in_range",
                violation_error_message=_("Hours must be between 0 and 24."),
            ),
            models.CheckConstraint(
                condition=~Q(status="leave") | ~Q(leave_reason=""),
                name="activities_participation_leave_has_reason",
                violation_error_message=_("Leave needs a reason."),
            ),
            models.CheckConstraint(
                condition=~Q(source="backfill") | ~Q(backfill_reason=""),
                name="activities_participation_backfill_has_reason",
                violation_error_message=_("A backfilled record needs a reason."),
            ),
        ]
        indexes = [
            # "a member's attendance by status": figures, inactivity, the member's own record.
            models.Index(fields=["member", "status"], name="participation_member_status"),
        ]

    def __str__(self):
        return f"{self.member} · {self.activity} · {self.get_status_display()}"


class WorkUpdateQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=WorkUpdate.objects.filter(
                any_of(
                    community__street__in=scope.street_ids,
                    community__in=scope.community_ids,
                    author__member__agency__in=scope.agency_ids,
                    author=scope.user_id,
                    community__registrations__member__user=scope.user_id,
                )
            )
        )


class WorkUpdate(models.Model):
    """工作动态: what was done, posted after an activity by staff or members."""

    community = models.ForeignKey(
        Community,
        on_delete=models.CASCADE,
        related_name="work_updates",
        verbose_name=_("community"),
    )
    activity = models.ForeignKey(
        Activity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_updates",
        verbose_name=_("activity"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="work_updates",
        verbose_name=_("author"),
    )
    body = models.TextField(_("text"))
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    objects = WorkUpdateQuerySet.as_manager()

    class Meta:
        verbose_name = _("work update")
        verbose_name_plural = _("work updates")
        ordering = ["-created_at"]

    def __str__(self):
        return self.body[:30]


class ConcernQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                community__street__in=scope.street_ids,
                community__in=scope.community_ids,
                reported_by__member__agency__in=scope.agency_ids,
                reported_by=scope.user_id,
            )
        )

    def open(self):
        return self.exclude(state=Concern.State.RESOLVED)


class Concern(models.Model):
    """民情: a residents' concern raised during the work, followed until it is resolved."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        FORWARDED = "forwarded", _("Forwarded")
        RESOLVED = "resolved", _("Resolved")

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="concerns", verbose_name=_("community")
    )
    grid = models.ForeignKey(
        Grid,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="concerns",
        verbose_name=_("grid"),
    )
    activity = models.ForeignKey(
        Activity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="concerns",
        verbose_name=_("activity"),
    )
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.OPEN)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="reported_concerns",
        verbose_name=_("reported by"),
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="handled_concerns",
        verbose_name=_("handler"),
    )
    forwarded_to = models.CharField(_("forwarded to"), max_length=100, blank=True)
    resolution = models.TextField(_("resolution note"), blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    objects = ConcernQuerySet.as_manager()

    class Meta:
        verbose_name = _("resident concern")
        verbose_name_plural = _("resident concerns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="resolved") | ~Q(resolution=""),
                name="activities_concern_resolved_has_note",
                violation_error_message=_("A resolved concern needs a resolution note."),
            ),
        ]
        indexes = [
            # "open concerns of this community, oldest first": the community's concern list.
            models.Index(fields=["community", "state", "created_at"], name="concern_open_by_age"),
        ]

    def __str__(self):
        return self.title


class DoorToDoorUnitQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(activity__in=Activity.objects.visible_to(user))


class DoorToDoorUnit(models.Model):
    """入户宣传: a building or stairwell (楼栋 / 单元) an activity covers, the member assigned to
    it and the households they reached. Coverage 100 % means not one household missed."""

    activity = models.ForeignKey(
        Activity,
        on_delete=models.CASCADE,
        related_name="door_units",
        verbose_name=_("activity"),
    )
    compound = models.ForeignKey(
        "communities.Compound",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("residential compound"),
    )
    building = models.CharField(_("building"), max_length=30)
    stairwell = models.CharField(_("stairwell"), max_length=30, blank=True)
    households = models.PositiveIntegerField(_("households"))
    member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="door_units",
        verbose_name=_("assigned to"),
    )
    households_reached = models.PositiveIntegerField(_("households reached"), default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    objects = DoorToDoorUnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("door-to-door unit")
        verbose_name_plural = _("door-to-door units")
        ordering = ["activity", "building", "stairwell"]
        constraints = [
            # Coalesce: without a compound the key must still be unique (NULLs never clash).
            models.UniqueConstraint(
                F("activity"),
                Coalesce("compound", 0),
                F("building"),
                F("stairwell"),
                name="activities_doortodoorunit_once_per_activity",
                violation_error_message=_("This building or stairwell is already on the list."),
            ),
            models.CheckConstraint(
                condition=Q(households__gt=0),
                name="activities_doortodoorunit_households_positive",
                violation_error_message=_("A building or stairwell has at least one household."),
            ),
            models.CheckConstraint(
                condition=Q(households_reached__lte=F("households")),
                name="activities_doortodoorunit_reached_within_households",
                violation_error_message=_(
                    "Households reached cannot be more than the households there are."
                ),
            ),
        ]

    def __str__(self):
        return f"{self.building}{self.stairwell}"


class DutyAssignmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                agreement__community__street__in=scope.street_ids,
                agreement__community__in=scope.community_ids,
                agreement__agency__in=scope.agency_ids,
                member__user=scope.user_id,
            )
        )


class DutyAssignment(models.Model):
    """Who of the agency is on duty at the community on a day (排班), under an agreement."""

    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.CASCADE,
        related_name="duty_assignments",
        verbose_name=_("agreement"),
    )
    date = models.DateField(_("date"))
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="duty_assignments",
        verbose_name=_("member"),
    )
    note = models.CharField(_("note"), max_length=100, blank=True)

    objects = DutyAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("duty assignment")
        verbose_name_plural = _("duty assignments")
        ordering = ["date", "agreement"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "date", "member"],
                name="activities_dutyassignment_once_a_day",
                violation_error_message=_("This member is already on duty that day."),
            ),
        ]
        indexes = [
            # "tomorrow's duty": the duty-roster reminder.
            models.Index(fields=["date"], name="dutyassignment_date"),
        ]

    def __str__(self):
        return f"{self.date} {self.member}"

    def clean(self):
        super().clean()
        if self.member_id and self.agreement_id:
            if self.member.agency_id != self.agreement.agency_id:
                raise ValidationError(
                    {"member": _("The member must belong to the agency of the agreement.")}
                )


class NotificationPreference(models.Model):
    """The channels a person wants their reminders on. Without a row: the in-app inbox, plus
    e-mail when the login has an address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
        verbose_name=_("user"),
    )
    inapp = models.BooleanField(_("in-app inbox"), default=True)
    email = models.BooleanField(_("e-mail"), default=True)
    webhook = models.BooleanField(
        _("group robot"),
        default=False,
        help_text=_("Mention me in the community's or agency's group chat."),
    )

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self):
        return str(self.user)


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A person's own messages; staff also see those to the members in their scope."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        members = Member.objects.visible_to(user) if scope.is_staff_of_any_place else None
        return self.filter(
            any_of(
                recipient=scope.user_id,
                recipient_member__in=members,
            )
        )

    def inbox(self, user):
        return self.filter(
            recipient=user,
            channel=Notification.Channel.INAPP,
            state=Notification.State.SENT,
        )

    def due(self, now):
        return self.filter(state=Notification.State.PENDING, due_at__lte=now)


class Notification(models.Model):
    """The outbox: one row per message, unique per (kind, recipient, object, slot, channel), so
    that a reminder is queued once however often the sweep runs, and claimed before it is
    sent so that a retry or a second worker never sends it again."""

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", _("Upcoming activity")
        ROLL_CALL_DUE = "roll_call_due", _("Roll call due")
        INACTIVITY = "inactivity", _("Inactivity nudge")
        AGENCY_DIGEST = "agency_digest", _("Agency weekly digest")
        DUTY_ROSTER = "duty_roster", _("Duty tomorrow")
        ACTIVITY_CHANGED = "activity_changed", _("Activity changed")
        ACTIVITY_CANCELLED = "activity_cancelled", _("Activity cancelled")
        REGISTRATION_APPROVED = "registration_approved", _("Report-in approved")
        REGISTRATION_RETURNED = "registration_returned", _("Report-in returned")
        LEAVE_DECIDED = "leave_decided", _("Leave decided")
        CONCERN_RAISED = "concern_raised", _("Resident concern raised")
        CONCERN_FORWARDED = "concern_forwarded", _("Resident concern forwarded")
        CONCERN_RESOLVED = "concern_resolved", _("Resident concern resolved")
        MESSAGE = "message", _("Message")

    class Channel(models.TextChoices):
        INAPP = "inapp", _("In-app inbox")
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Group robot")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    recipient_member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient member"),
    )
    # "u<user id>" or "m<member id>": the uniqueness key, since either FK may be empty.
    recipient_key = models.CharField(_("recipient key"), max_length=30, editable=False)
    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.CASCADE, verbose_name=_("about (type)")
    )
    object_id = models.PositiveBigIntegerField(_("about (id)"))
    slot = models.CharField(_("slot"), max_length=40, blank=True)
    address = models.CharField(
        _("address"), max_length=500, blank=True, help_text=_("E-mail address or robot URL.")
    )
    robot_kind = models.CharField(_("group robot kind"), max_length=10, blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    url = models.CharField(_("link"), max_length=300, blank=True)
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    enqueued_at = models.DateTimeField(_("handed to a worker at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued at"), default=timezone.now)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "recipient_key", "content_type", "object_id", "slot", "channel"],
                name="activities_notification_once",
                violation_error_message=_("This message has already been queued."),
            ),
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | Q(recipient_member__isnull=False),
                name="activities_notification_has_recipient",
                violation_error_message=_("A notification needs a recipient."),
            ),
        ]
        indexes = [
            # "pending messages that are due": every sweep.
            models.Index(fields=["state", "due_at"], name="notification_due"),
            # "my unread messages": the bell on every page.
            models.Index(fields=["recipient", "channel", "read_at"], name="notification_inbox"),
        ]

    def __str__(self):
        return self.subject

    def get_absolute_url(self):
        return self.url or reverse("home")
