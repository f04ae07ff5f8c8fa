"""Who took part in an activity, and how it was recorded (DESIGN.md, attendance semantics)."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Case, Exists, F, Func, IntegerField, OuterRef, Q, Subquery, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from communities.permissions import own, scope_of, union_of
from members.models import Member

# The hours of one participation lie in [0, MAX_HOURS]: the hours_in_range constraint, checked
# by the roll-call service with this message before the database refuses a row.
MAX_HOURS = Decimal(24)
HOURS_OUT_OF_RANGE = _("Hours must be between 0 and 24.")
# What every path that changes attendance says of a record the agency office confirmed.
LOCKED = _(
    "The agency office has confirmed this record; change it only as a backfill (补录) with a "
    "reason."
)


def _open_dispute():
    return Exists(Dispute.objects.filter(participation=OuterRef("pk"), answered_at__isnull=True))


class ParticipationQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # Each branch a SELECT of its own (a union), so its joins to the activity and the member
        # are never ORed with another branch: ORed, they made PostgreSQL join all 1.5 million
        # rows before filtering them. Alone, a street's activities are joined to their
        # participations through the activity index (a street officer's 285,000: 60 ms, where a
        # subquery on the activity column read the whole index, 120 ms).
        return self.filter(
            union_of(
                self.model.objects,
                activity__community__in=scope.place_community_ids,
                member__agency__in=scope.agency_ids,
                **own(scope),
            )
        )

    def present(self):
        return self.filter(status=Participation.Status.PRESENT)

    def to_review(self):
        """Records an agency office reviews (考勤审核): marked at the roll call (present, absent
        or on leave); a sign-up is not a record yet."""
        return self.filter(status__in=Participation.RECORDED)

    def with_disputes(self):
        """Each row's disputes, latest first, in one more query (`latest_dispute`)."""
        return self.prefetch_related(
            models.Prefetch(
                "disputes",
                queryset=Dispute.objects.select_related("raised_by", "answered_by").order_by(
                    "-raised_at", "-pk"
                ),
                to_attr="dispute_list",
            )
        )

    def with_latest_dispute(self):
        """Annotates the latest dispute's `latest_dispute_reason` and
        `latest_dispute_answered_at` (None without one) in the rows' own query: a list page
        costs the same queries whether its rows have disputes or none (a prefetch is skipped
        for an empty page)."""
        latest = Dispute.objects.filter(participation=models.OuterRef("pk")).order_by(
            "-raised_at", "-pk"
        )
        return self.annotate(
            latest_dispute_reason=models.Subquery(latest.values("reason")[:1]),
            latest_dispute_answered_at=models.Subquery(latest.values("answered_at")[:1]),
        )

    def answered(self):
        """Disputed records whose latest dispute the community has answered: the office
        confirms them or keeps its dispute."""
        return self.filter(review=Participation.Review.DISPUTED).exclude(_open_dispute())

    def awaiting_answer(self):
        """Disputed records the community has still to answer."""
        return self.filter(_open_dispute(), review=Participation.Review.DISPUTED)

    def review_overdue(self, now=None):
        """Records still unreviewed REVIEW_OVERDUE_DAYS after they were recorded: the office's
        dashboard count and its weekly digest."""
        now = now or timezone.now()
        cutoff = now - dt.timedelta(days=settings.REVIEW_OVERDUE_DAYS)
        return self.to_review().filter(
            review=Participation.Review.UNREVIEWED, recorded_at__lt=cutoff
        )

    def still_coming(self):
        """Who still expects to come: signed up (not on leave), still with their agency. The
        people reminders and change notices go to (Activity.signed_up_members)."""
        return self.filter(
            status=Participation.Status.SIGNED_UP, member__status=Member.Status.ACTIVE
        )

    def leave_requests(self):
        """Leave requests (请假) awaiting the organizer's decision: signed-up rows whose member
        asked for leave. Not leave yet: no figure counts them until approved."""
        return self.filter(
            status=Participation.Status.SIGNED_UP,
            leave_decision=Participation.LeaveDecision.PENDING,
        )

    def waitlist(self):
        """The waitlisted rows (候补) in their order: the first is offered the next free seat."""
        return self.filter(status=Participation.Status.WAITLISTED).order_by("waitlisted_at", "pk")

    def with_waitlist_position(self):
        """Annotates `waitlist_position`: 1 for the first in line, None for a row that is not
        waitlisted. A correlated count of those ahead, so a page of rows costs one query."""
        waitlisted = Participation.Status.WAITLISTED
        ahead = (
            Participation.objects.filter(activity=OuterRef("activity"), status=waitlisted)
            .filter(
                Q(waitlisted_at__lt=OuterRef("waitlisted_at"))
                | Q(waitlisted_at=OuterRef("waitlisted_at"), pk__lt=OuterRef("pk"))
            )
            .order_by()
            .annotate(count=Func(F("pk"), function="COUNT"))
            .values("count")
        )
        return self.annotate(
            waitlist_position=Case(
                When(status=waitlisted, then=Subquery(ahead, output_field=IntegerField()) + 1),
                default=None,
                output_field=IntegerField(),
            )
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
        # 候补 (DESIGN.md): on the waitlist of a full activity; holds no seat, counts nowhere.
        WAITLISTED = "waitlisted", _("Waitlisted")

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
    # A member's own sign-up, whether it holds a seat or waits for one: what they may cancel.
    SIGNED_UP_OR_WAITING = (Status.SIGNED_UP, Status.WAITLISTED)
    # Marked at the roll call: what an agency office reviews.
    RECORDED = (Status.PRESENT, Status.ABSENT, Status.LEAVE)
    MAX_HOURS = MAX_HOURS
    HOURS_OUT_OF_RANGE = HOURS_OUT_OF_RANGE
    LOCKED = LOCKED

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
    # Why a request was not approved, when the organizer says (optional): told to the member.
    leave_decision_note = models.CharField(
        _("note on the leave decision"), max_length=200, blank=True
    )
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
    # When the member joined the waitlist: its order (first in line first). Kept once a seat is
    # given to them, so the page can offer to give it back.
    waitlisted_at = models.DateTimeField(_("waitlisted at"), null=True, blank=True)

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
            # A request awaiting a decision is still a sign-up: it holds its seat and counts as
            # leave in no figure until it is approved (status LEAVE).
            models.CheckConstraint(
                condition=~Q(leave_decision="pending")
                | (Q(status="signed_up") & ~Q(leave_reason="")),
                name="activities_participation_pending_leave_is_signed_up",
                violation_error_message=_("A leave request awaiting a decision needs a reason."),
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
            # sort, read in index order instead of sorting 1.5 million rows on disk. Status, hours
            # and id ride along for "the attendance on a month's activities of an agency's
            # members" (an office's dashboard, figures.attendance): its 14,000 rows are read from
            # the index alone, where their pages were read in two parallel processes (sanxia's
            # month 16–23 ms → 7 ms at city size).
            models.Index(
                fields=["activity", "member"],
                include=["status", "hours", "id"],
                name="participation_activity_member",
            ),
            # "is anyone still signed up?": pending roll call (ActivityQuerySet.pending_roll_call),
            # its dashboard count and reminder; only the few signed-up rows are in it.
            models.Index(
                fields=["activity"],
                condition=Q(status="signed_up"),
                name="participation_signed_up",
            ),
            # "an agency office's records in a review state" (reports.review: its list's count
            # and rows by state; Participation.review_overdue: the dashboard's and the weekly
            # digest's count): read from the index alone, its members' rows of one state. The
            # activity and the id ride along for the list's period, community and type
            # filters: the members' rows are hashed against the activities that match and the
            # page's ids sorted, from the index alone (without them PostgreSQL read all 1.5
            # million rows for a year of sanxia's 151,000 records: 550 ms).
            models.Index(
                fields=["member", "review", "status", "recorded_at"],
                include=["activity", "id"],
                name="participation_member_review",
            ),
            # "disputed records of a community's activities" (activities.views.review) and "an
            # office's disputed records": the few disputed rows, read from the index alone.
            models.Index(
                fields=["activity", "member", "status"],
                condition=Q(review="disputed"),
                name="participation_disputed",
            ),
            # "every disputed record, latest review first": the city administrator's dispute
            # list reads its page in index order, not by sorting the disputed rows of all
            # 1.5 million (96 ms → 1 ms at city size).
            models.Index(
                fields=["-reviewed_at", "-id"],
                condition=Q(review="disputed"),
                name="participation_disputed_latest",
            ),
            # "each member's records with their activity, status and hours": the attendance
            # report's GROUP BY over an agency's members (reports.attendance.member_rows), read
            # from the index alone. With the rows' pages read instead, the city's largest
            # agency's year took 2.7 s, from the index 0.8 s.
            models.Index(
                fields=["member", "activity"],
                include=["status", "hours", "id"],
                name="participation_member_figures",
            ),
            # "who was present at these activities": figures.inactive_members' NOT EXISTS (an
            # agency office's dashboard counts its members present in none of the last 30 days'
            # activities), read from the index alone instead of every participation's row. The
            # hours ride along for "participations and hours of a year's activities"
            # (figures.service_by, the charts): a year's activities are looked up in it from the
            # index alone; without them PostgreSQL read all 1.5 million rows for an agency's
            # year (sanxia's 26,000 present records: 1.2–1.8 s, through it 0.8 s, on a host
            # loaded 5× over its two cores).
            models.Index(
                fields=["activity", "member"],
                include=["hours"],
                condition=Q(status="present"),
                name="participation_present",
            ),
            # "leave requests awaiting a decision" (ParticipationQuerySet.leave_requests): the
            # organizers' list and its dashboard count read only the few pending rows, from the
            # index alone. Its condition is the method's whole filter: with the decision alone,
            # PostgreSQL ANDed it with the 48,000 signed-up rows and read every request's row
            # (the city's list of 2,818 requests: 20 ms to count, 30 ms for a page; 2 and 3 ms
            # with this and activity_cancelled; a community staff's dashboard count 5–7 ms → 1 ms).
            models.Index(
                fields=["activity", "member"],
                include=["id"],
                condition=Q(leave_decision="pending", status="signed_up"),
                name="participation_leave_requests",
            ),
            # "records unreviewed since before the cutoff of these members"
            # (ParticipationQuerySet.review_overdue): an agency office's dashboard count, from
            # the 430,000 unreviewed records alone and two narrow columns (sanxia's 8,000
            # members' probes read 32,000 pages of participation_member_review, here 24,000).
            models.Index(
                fields=["member", "recorded_at"],
                condition=Q(review="unreviewed", status__in=["present", "absent", "leave"]),
                name="participation_review_overdue",
            ),
            # "who is first in line for a freed seat" and "how many are ahead of me"
            # (Participation.waitlist, with_waitlist_position): only the few waitlisted rows.
            models.Index(
                fields=["activity", "waitlisted_at", "id"],
                condition=Q(status="waitlisted"),
                name="participation_waitlist",
            ),
        ]

    def __str__(self):
        return f"{self.member} · {self.activity} · {self.get_status_display()}"

    @property
    def asks_for_leave(self) -> bool:
        """Asked for leave, awaiting the organizer's decision: still signed up, seat held."""
        return (
            self.status == self.Status.SIGNED_UP
            and self.leave_decision == self.LeaveDecision.PENDING
        )

    @property
    def leave_not_approved(self) -> bool:
        """Asked for leave and was refused: still signed up, expected to come."""
        return (
            self.status == self.Status.SIGNED_UP
            and self.leave_decision == self.LeaveDecision.REJECTED
        )

    @property
    def came_off_waitlist(self) -> bool:
        """Holds a seat given to them from the waitlist: the page offers to give it back."""
        return self.status == self.Status.SIGNED_UP and self.waitlisted_at is not None

    @property
    def is_locked(self) -> bool:
        """Confirmed by the agency office: the community changes it only by a backfill (补录)
        with a reason (DESIGN.md, attendance semantics)."""
        return self.review == self.Review.CONFIRMED

    @property
    def latest_dispute(self):
        """The office's latest dispute of this record, or None; read from `dispute_list` where
        a list prefetched it (Participation.objects.with_latest_dispute)."""
        disputes = getattr(self, "dispute_list", None)
        if disputes is None:
            disputes = list(self.disputes.order_by("-raised_at", "-pk")[:1])
        return disputes[0] if disputes else None

    @property
    def is_answered(self) -> bool:
        """Disputed, and the community has answered the latest dispute."""
        if self.review != self.Review.DISPUTED:
            return False
        if hasattr(self, "latest_dispute_answered_at"):  # with_latest_dispute
            return self.latest_dispute_answered_at is not None
        dispute = self.latest_dispute
        return dispute is not None and dispute.answered_at is not None


class Dispute(models.Model):
    """An agency office's dispute (异议) of a record, and the community's answer. A row per
    dispute: the office that keeps its dispute after an answer raises a new one, so the
    exchange stays readable. Apart from the participations: disputes are rare, and the 1.5
    million records (and their history) keep their width."""

    participation = models.ForeignKey(
        Participation,
        on_delete=models.CASCADE,
        related_name="disputes",
        verbose_name=_("participation"),
    )
    reason = models.CharField(_("reason for dispute"), max_length=200)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("raised by"),
    )
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    answer = models.CharField(_("community's answer"), max_length=300, blank=True)
    # Whether the answer changed the record (the record's history says how).
    corrected = models.BooleanField(_("record corrected"), default=False)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="activities_dispute_has_reason",
                violation_error_message=_("Say what is wrong with the record."),
            ),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True) | ~Q(answer=""),
                name="activities_dispute_answer_has_text",
                violation_error_message=_("Explain the record, or what you corrected."),
            ),
        ]
        indexes = [
            # "a record's disputes, latest first" (with_disputes, the record pages) and "is a
            # dispute of it still open?" (answered).
            models.Index(
                fields=["participation", "-raised_at"], name="dispute_participation_latest"
            ),
        ]

    def __str__(self):
        return f"{self.participation_id} · {self.reason[:30]}"
