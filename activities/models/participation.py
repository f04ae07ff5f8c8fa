"""Who took part in an activity, and how it was recorded (DESIGN.md, attendance semantics)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from communities.permissions import any_of, own, scope_of, via
from members.models import Member

# The hours of one participation lie in [0, MAX_HOURS]: the hours_in_range constraint, checked
# by the roll-call service with this message before the database refuses a row.
MAX_HOURS = Decimal(24)
HOURS_OUT_OF_RANGE = _("Hours must be between 0 and 24.")


class ParticipationQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # Each branch a subquery on the row's own indexed column: ORed joins to activities and
        # members would make PostgreSQL join all 1.5 million rows before filtering them.
        activities = self.model._meta.get_field("activity").related_model.objects
        return self.filter(
            any_of(
                via(
                    "activity__in",
                    activities.values("pk"),
                    community__street__in=scope.street_ids,
                    community__in=scope.community_ids,
                ),
                via("member__in", Member.objects.values("pk"), agency__in=scope.agency_ids),
                **own(scope),
            )
        )

    def present(self):
        return self.filter(status=Participation.Status.PRESENT)

    def still_coming(self):
        """Who still expects to come: signed up (not on leave), still with their agency. The
        people reminders and change notices go to (Activity.signed_up_members)."""
        return self.filter(
            status=Participation.Status.SIGNED_UP, member__status=Member.Status.ACTIVE
        )

    def pending_roll_call(self, now=None):
        """Signed-up rows of activities pending roll call (ActivityQuerySet.pending_roll_call):
        待点名."""
        activities = self.model._meta.get_field("activity").related_model.objects
        return self.filter(
            status=Participation.Status.SIGNED_UP, activity__in=activities.pending_roll_call(now)
        )


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

    # Those who take a place on an activity: its capacity counts them.
    TAKING_A_PLACE = (Status.SIGNED_UP, Status.PRESENT)
    MAX_HOURS = MAX_HOURS
    HOURS_OUT_OF_RANGE = HOURS_OUT_OF_RANGE

    activity = models.ForeignKey(
        "activities.Activity",
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
                condition=Q(hours__isnull=True) | Q(hours__gte=0, hours__lte=MAX_HOURS),
                name="activities_participation_hours_in_range",
                violation_error_message=HOURS_OUT_OF_RANGE,
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
            # "participations in Meta.ordering (activity, member)": the admin changelist's default
            # sort, read in index order instead of sorting 1.5 million rows on disk.
            models.Index(fields=["activity", "member"], name="participation_activity_member"),
            # "is anyone still signed up?": pending roll call (ActivityQuerySet.pending_roll_call),
            # its dashboard count and reminder; only the few signed-up rows are in it.
            models.Index(
                fields=["activity"],
                condition=Q(status="signed_up"),
                name="participation_signed_up",
            ),
            # "who was present at these activities": figures.inactive_members' NOT EXISTS (an
            # agency office's dashboard counts its members present in none of the last 30 days'
            # activities), read from the index alone instead of every participation's row.
            models.Index(
                fields=["activity", "member"],
                condition=Q(status="present"),
                name="participation_present",
            ),
        ]

    def __str__(self):
        return f"{self.member} · {self.activity} · {self.get_status_display()}"
