"""Activity types and activities: what a community plans, where, when and for whom."""

from datetime import timedelta
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.links import id_url
from communities.models import Agreement, Community, Grid
from communities.permissions import any_of, in_array, own, scope_of, union_of, via
from members.models import Registration

from .agency_activity import AgencyActivity
from .participation import Participation


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
        if not scope.agency_ids and not scope.place_community_ids:
            # The viewer's own alone (a member): those they take part in and those of the
            # communities they reported in to, each branch's few ids read first and the two
            # ORed on the table's indexes (a BitmapOr). As a union, each of a member's 2,309
            # activities at city size was looked up again by its primary key: 3.4× the
            # reference's SQL (xiachen/bench/scopes.py), ORed 1×.
            return self.filter(
                any_of(
                    in_array("pk", Participation.objects.values("activity"), **own(scope)),
                    in_array("community", Registration.objects.values("community"), **own(scope)),
                )
            )
        # A union of its branches: an office's or a place's activities are looked up through
        # the indexes of each, not found by testing all 150,000 against every branch.
        return self.filter(
            union_of(
                self.model.objects,
                # An agency office's: those its members take part in and those counting toward
                # its agreements, one read of the pairs the database keeps (AgencyActivity).
                via(
                    "pk__in", AgencyActivity.objects.values("activity"), agency__in=scope.agency_ids
                ),
                # Those the viewer takes part in.
                via("pk__in", Participation.objects.values("activity"), **own(scope)),
                # Those of a community the viewer reported in to.
                via("community__in", Registration.objects.values("community"), **own(scope)),
                community__in=scope.place_community_ids,
            )
        )

    def with_place_counts(self):
        """Annotates `signed_up` (those taking a place: signed up or present) and `present`.

        Each is a correlated count over the activity's participations (participation's activity
        index), not a join with GROUP BY: the database counts only for the rows it returns, so a
        page of 20 costs 20 small counts whether the community has 100 activities or 10,000."""
        return self.annotate(
            signed_up=_participation_count(Participation.TAKING_A_PLACE),
            present=_participation_count((Participation.Status.PRESENT,)),
        )

    def with_live_status(self, now=None):
        """Annotates `live_status`, the status as the clock has it at `now`
        (`Activity.live_status_at`, in SQL)."""
        return self.annotate(live_status=live_status_sql(now or timezone.now()))

    def taking_place(self):
        """Neither drafts nor cancelled activities: those that happen (or happened)."""
        return self.exclude(status__in=Activity.NOT_TAKING_PLACE)

    def finished(self, now=None):
        """Activities whose live status is finished at `now`: taking place, and ended by then
        or (not started yet) stored as finished. The rule of `live_status_sql` written as
        conditions on the columns rather than a CASE to compare: PostgreSQL estimates them, where
        it guessed 7 of a community's 1,405 finished activities for the CASE, and tests them
        without building the live status of each row (the dashboard's 待点名 figure,
        xiachen/bench/figures.py)."""
        now = now or timezone.now()
        return self.exclude(status__in=Activity.NOT_TAKING_PLACE).filter(
            Q(ends_at__lte=now) | Q(starts_at__gt=now, status=Activity.Status.FINISHED)
        )

    def pending_roll_call(self, now=None):
        """待点名 (DESIGN.md): finished activities on which someone is still signed up. Never a
        draft or a cancelled one, whose live status is never finished. The dashboard, the
        roll-call-due reminder and the activity pages all ask this."""
        waiting = Participation.objects.filter(
            activity=OuterRef("pk"), status=Participation.Status.SIGNED_UP
        )
        return self.finished(now).filter(Exists(waiting))

    def roll_call_due(self, now=None):
        """Activities whose roll call is due at `now`: pending roll call since at least
        REMINDER_ROLL_CALL_AFTER_HOURS after their end (DESIGN.md, "1 h after end")."""
        after = timedelta(hours=settings.REMINDER_ROLL_CALL_AFTER_HOURS)
        return self.pending_roll_call((now or timezone.now()) - after)


def count_places(activities):
    """Sets `signed_up` and `present` (ActivityQuerySet.with_place_counts) on activities already
    read, such as a page of a list: one query for their ids. A list annotated in its own query
    would count for every row it skips too (OFFSET), so its last page counted them all."""
    activities = list(activities)
    counted = {
        pk: (signed_up, present)
        for pk, signed_up, present in Activity.objects.filter(pk__in=[a.pk for a in activities])
        .with_place_counts()
        .order_by()
        .values_list("pk", "signed_up", "present")
    }
    for activity in activities:
        activity.signed_up, activity.present = counted.get(activity.pk, (0, 0))
    return activities


# Built once per set of statuses: an expression is copied, never changed, when a query uses it
# (resolve_expression), and building its queryset anew cost about 0.2 ms a list, week or page.
@cache
def _participation_count(statuses: tuple):
    """How many participations of the outer activity have one of `statuses`: COUNT in a
    subquery without GROUP BY, so it is 0 (not NULL) for an activity nobody is on."""
    return Subquery(
        Participation.objects.filter(activity=OuterRef("pk"), status__in=statuses)
        .order_by()
        .annotate(count=Func(F("pk"), function="COUNT"))
        .values("count"),
        output_field=IntegerField(),
    )


def live_status_sql(now, path=""):
    """The live status at `now` as an SQL expression: the rule of `Activity.live_status_at`,
    read from the same table (Activity.NOT_TAKING_PLACE and Activity.CLOCK), or from the
    activity at `path` ("activity__" from a participation)."""
    return Case(
        When(**{f"{path}status__in": Activity.NOT_TAKING_PLACE}, then=F(f"{path}status")),
        *(
            When(**{f"{path}{moment}__lte": now}, then=Value(status))
            for moment, status in Activity.CLOCK
        ),
        default=F(f"{path}status"),
        output_field=CharField(),
    )


class Activity(models.Model):
    Nature = ActivityType.Nature

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RECRUITING = "recruiting", _("Recruiting")
        ONGOING = "ongoing", _("Ongoing")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")

    # The live status, one rule for Python (live_status_at) and SQL (with_live_status): a draft
    # is only a plan and a cancelled activity will not happen, so their stored status stands;
    # any other is finished from its end and ongoing from its start, and before it starts it is
    # as stored (recruiting, usually).
    NOT_TAKING_PLACE = (Status.DRAFT, Status.CANCELLED)
    CLOCK = (("ends_at", Status.FINISHED), ("starts_at", Status.ONGOING))

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
            # The admin's activity list, latest first (ActivityAdmin.ordering: -starts_at, -pk),
            # read backwards: without it, 150,000 activities are sorted for every page.
            models.Index(fields=["starts_at", "id"], name="activities_activity_admin_sort"),
            # "a period's activities with their nature": the attendance report's totals and
            # rows (reports.attendance) split hours into duty and voluntary service, read from
            # the index alone instead of every activity's row (the city's year: 30,000 of
            # 150,000 activities, 80 ms of a parallel scan to 23 ms).
            models.Index(
                fields=["starts_at", "id"], include=["nature"], name="activity_period_nature"
            ),
            # "not of a cancelled activity" (pending_leave_requests): the city's 3,000 cancelled
            # activities read at once into a hashed NOT IN, where looking up each request's
            # activity cost 2,818 probes of the table (11,000 buffers, 20 ms).
            models.Index(fields=["id"], condition=Q(status="cancelled"), name="activity_cancelled"),
            # "an agreement's duty activities of a period" (figures.with_duty_fulfilment: the
            # street overview's agreements, the dashboards'): its period's few duties read from
            # the index alone, where the agreement's index fetched all its activities (60-odd
            # at city size) to keep the duties of the period (a page of 20 agreements: 8.4 ->
            # 1.5 ms).
            models.Index(
                fields=["agreement", "starts_at"],
                include=["id"],
                condition=Q(nature="duty"),
                name="activity_agreement_duty",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return id_url("activities:activity_detail", self.pk)

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
        return min(Participation.MAX_HOURS, Decimal(seconds / 3600).quantize(Decimal("0.1")))

    def live_status_at(self, now) -> str:
        """The status as the clock has it at `now` (the rule above CLOCK)."""
        if self.status in self.NOT_TAKING_PLACE:
            return self.status
        for moment, status in self.CLOCK:
            if getattr(self, moment) <= now:
                return status
        return self.status

    @property
    def current_status(self) -> str:
        return self.live_status_at(timezone.now())

    @property
    def takes_place(self) -> bool:
        """Neither a draft nor cancelled (ActivityQuerySet.taking_place)."""
        return self.status not in self.NOT_TAKING_PLACE

    def get_current_status_display(self):
        return self.Status(self.current_status).label

    def signed_up_members(self) -> list:
        """Who still expects to come: signed up (not on leave), still with their agency. These
        are the people reminders and change notices go to."""
        return [
            p.member
            for p in Participation.objects.filter(activity=self)
            .still_coming()
            .select_related("member__user")
        ]
