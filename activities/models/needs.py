"""Resident needs (微心愿 / 需求清单): small needs a community publishes for the members reported
in there to claim, carry out and have verified (activities.services.needs)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from communities.links import id_url
from communities.models import Community
from communities.permissions import any_of, own, scope_of, via
from members.models import Member, Registration

from .activity import Activity
from .notes import Concern

# A need's claimants and its hours: bounded so that a typo never books a week of service.
MAX_CLAIMANTS = 20
MAX_NEED_HOURS = Decimal(24)


class NeedQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The needs of the communities the viewer works for or reported in to, and those the
        viewer claimed."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # The viewer's report-ins and claims by the member record read with their roles:
        # staff without one keep to their places, with no subquery through the logins.
        return self.filter(
            any_of(
                via(
                    "community__in",
                    Registration.objects.reported_in().values("community"),
                    **own(scope),
                ),
                via("pk__in", NeedClaim.objects.values("need"), **own(scope)),
                community__in=scope.place_community_ids,
            )
        )


class Need(models.Model):
    """微心愿: a resident's small need, published by the community for members to claim."""

    class State(models.TextChoices):
        OPEN = "open", _("Awaiting a claimant")
        CLAIMED = "claimed", _("Claimed")
        DONE = "done", _("Done")
        VERIFIED = "verified", _("Verified")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="needs", verbose_name=_("community")
    )
    concern = models.ForeignKey(
        Concern,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="needs",
        verbose_name=_("from the concern"),
    )
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    place = models.CharField(_("place"), max_length=100, blank=True)
    deadline = models.DateTimeField(_("deadline"))
    claimants = models.PositiveSmallIntegerField(_("claimants wanted"), default=1)
    hours = models.DecimalField(_("estimated hours"), max_digits=4, decimal_places=1)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.OPEN)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="published_needs",
        verbose_name=_("published by"),
    )
    withdraw_reason = models.CharField(_("reason for withdrawing"), max_length=200, blank=True)
    # The activity its verified service is recorded on (created at the first verification).
    activity = models.OneToOneField(
        Activity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="need",
        verbose_name=_("activity"),
    )
    created_at = models.DateTimeField(_("published at"), default=timezone.now)

    history = HistoricalRecords(
        verbose_name=_("historical resident need"),
        verbose_name_plural=_("historical resident needs"),
    )
    objects = NeedQuerySet.as_manager()

    class Meta:
        verbose_name = _("resident need")
        verbose_name_plural = _("resident needs")
        ordering = ["deadline", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(claimants__gte=1, claimants__lte=MAX_CLAIMANTS),
                name="activities_need_claimants_in_range",
                violation_error_message=_("A need wants between 1 and 20 claimants."),
            ),
            models.CheckConstraint(
                condition=Q(hours__gt=0, hours__lte=MAX_NEED_HOURS),
                name="activities_need_hours_in_range",
                violation_error_message=_("Hours must be more than 0 and at most 24."),
            ),
            models.CheckConstraint(
                condition=~Q(state="withdrawn") | ~Q(withdraw_reason=""),
                name="activities_need_withdrawn_has_reason",
                violation_error_message=_("Give a reason for withdrawing the need."),
            ),
        ]
        indexes = [
            models.Index(fields=["community", "state", "deadline"], name="need_community_state"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return id_url("activities:need_detail", self.pk)


class NeedClaimQuerySet(models.QuerySet):
    def active(self):
        """The claims that hold a place: not given back."""
        return self.exclude(state=NeedClaim.State.GIVEN_BACK)


class NeedClaim(models.Model):
    """One member's claim of a need: claimed, done (with a note and hours), verified."""

    class State(models.TextChoices):
        CLAIMED = "claimed", _("Claimed")
        DONE = "done", _("Done, awaiting verification")
        VERIFIED = "verified", _("Verified")
        GIVEN_BACK = "given_back", _("Given back")

    need = models.ForeignKey(
        Need, on_delete=models.CASCADE, related_name="claims", verbose_name=_("need")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="need_claims", verbose_name=_("member")
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.CLAIMED)
    note = models.TextField(_("what was done"), blank=True)
    hours = models.DecimalField(
        _("hours spent"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    sent_back_reason = models.CharField(_("reason for sending back"), max_length=200, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("verified by"),
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    participation = models.OneToOneField(
        "activities.Participation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="need_claim",
        verbose_name=_("attendance record"),
    )

    history = HistoricalRecords(
        verbose_name=_("historical need claim"),
        verbose_name_plural=_("historical need claims"),
    )
    objects = NeedClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("need claim")
        verbose_name_plural = _("need claims")
        ordering = ["claimed_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["need", "member"],
                name="activities_needclaim_one_per_member",
                violation_error_message=_("You have already claimed this need."),
            ),
            models.CheckConstraint(
                condition=Q(hours__isnull=True) | Q(hours__gt=0, hours__lte=MAX_NEED_HOURS),
                name="activities_needclaim_hours_in_range",
                violation_error_message=_("Hours must be more than 0 and at most 24."),
            ),
        ]

    def __str__(self):
        return f"{self.need} · {self.member}"
