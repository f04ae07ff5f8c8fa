"""Streets, communities, grids, agencies, co-construction agreements and staff roles.

Staff roles live here, beside the places they scope, so that scoping never has to reach
upward into `members` or `activities`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .permissions import RoleKind, any_of, scope_of
from .validators import validate_scan


class Robot(models.TextChoices):
    """Group-robot webhooks: the JSON each chat app's robot expects differs slightly."""

    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")


class RobotFields(models.Model):
    robot_webhook_url = models.URLField(
        _("group robot webhook"),
        blank=True,
        help_text=_("Messages to people who chose the group robot are posted here."),
    )
    robot_kind = models.CharField(
        _("group robot kind"), max_length=10, choices=Robot, default=Robot.WECOM
    )

    class Meta:
        abstract = True


class StreetQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=Street.objects.filter(
                any_of(
                    pk__in=scope.street_ids,
                    communities__in=scope.community_ids,
                    communities__agreements__agency__in=scope.agency_ids,
                    communities__registrations__member__agency__in=scope.agency_ids,
                    communities__registrations__member__user=scope.user_id,
                )
            )
        )


class Street(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    objects = StreetQuerySet.as_manager()

    class Meta:
        verbose_name = _("street")
        verbose_name_plural = _("streets")
        ordering = ["name"]

    def __str__(self):
        return self.name


class CommunityQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=Community.objects.filter(
                any_of(
                    street__in=scope.street_ids,
                    pk__in=scope.community_ids,
                    agreements__agency__in=scope.agency_ids,
                    registrations__member__agency__in=scope.agency_ids,
                    registrations__member__user=scope.user_id,
                    agreements__agency__members__user=scope.user_id,
                )
            )
        )


class Community(RobotFields):
    street = models.ForeignKey(
        Street, on_delete=models.PROTECT, related_name="communities", verbose_name=_("street")
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("office phone"), max_length=30, blank=True)

    objects = CommunityQuerySet.as_manager()

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["street__name", "name"]

    def __str__(self):
        return self.name


class Compound(models.Model):
    """A residential compound (小区) inside a community."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="compounds", verbose_name=_("community")
    )
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("residential compound")
        verbose_name_plural = _("residential compounds")
        ordering = ["community", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "name"], name="communities_compound_unique_name"
            )
        ]

    def __str__(self):
        return self.name


class GridQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(community__in=Community.objects.visible_to(user))


class Grid(models.Model):
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="grids", verbose_name=_("community")
    )
    name = models.CharField(_("name"), max_length=100)
    area = models.CharField(
        _("area"), max_length=200, blank=True, help_text=_("Compounds and buildings it covers.")
    )

    objects = GridQuerySet.as_manager()

    class Meta:
        verbose_name = _("grid")
        verbose_name_plural = _("grids")
        ordering = ["community", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "name"], name="communities_grid_unique_name"
            )
        ]

    def __str__(self):
        return f"{self.community} · {self.name}"


class AgencyQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=Agency.objects.filter(
                any_of(
                    pk__in=scope.agency_ids,
                    agreements__community__street__in=scope.street_ids,
                    agreements__community__in=scope.community_ids,
                    members__registrations__community__street__in=scope.street_ids,
                    members__registrations__community__in=scope.community_ids,
                    members__user=scope.user_id,
                )
            )
        )


class Agency(RobotFields):
    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("Government organ")
        PUBLIC_INSTITUTION = "institution", _("Public institution")
        STATE_ENTERPRISE = "enterprise", _("State-owned enterprise")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=100, unique=True)
    short_name = models.CharField(_("short name"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind, default=Kind.GOVERNMENT)
    address = models.CharField(_("address"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = AgencyQuerySet.as_manager()

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["name"]

    def __str__(self):
        return self.name


class AgreementQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            pk__in=Agreement.objects.filter(
                any_of(
                    community__street__in=scope.street_ids,
                    community__in=scope.community_ids,
                    agency__in=scope.agency_ids,
                    agency__members__user=scope.user_id,
                )
            )
        )

    def with_effective_status(self, today=None):
        """Annotates `effective_status`, as Agreement.effective_status_on() says it: a signed
        agreement is not yet in force before its start, and expired after its end whether or not
        the nightly task has stored that yet."""
        today = today or timezone.localdate()
        return self.annotate(
            effective_status=Case(
                When(
                    status=Agreement.Status.ACTIVE,
                    starts_on__gt=today,
                    then=Value(Agreement.EffectiveStatus.PENDING),
                ),
                When(
                    status=Agreement.Status.ACTIVE,
                    ends_on__lt=today,
                    then=Value(Agreement.EffectiveStatus.EXPIRED),
                ),
                default=F("status"),
                output_field=models.CharField(),
            )
        )

    def in_force(self, on=None):
        """Agreements whose effective status on that day is ACTIVE: the only ones that count
        (figures, the activity form, duty reminders, dashboards)."""
        on = on or timezone.localdate()
        return self.filter(status=Agreement.Status.ACTIVE, starts_on__lte=on, ends_on__gte=on)


class Agreement(models.Model):
    """A co-construction agreement (共驻共建协议) between an agency and a community."""

    class Status(models.TextChoices):
        """What is stored; only the services in communities/services.py change it."""

        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        TERMINATED = "terminated", _("Terminated")

    class EffectiveStatus(models.TextChoices):
        """What an agreement is on a given day, as every page shows it: the stored status, except
        that a signed agreement is not yet in force (待生效) before its start and expired after
        its end. Same values as Status where they mean the same."""

        DRAFT = "draft", _("Draft")
        PENDING = "pending", _("Not yet in force")
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        TERMINATED = "terminated", _("Terminated")

    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="agreements", verbose_name=_("agency")
    )
    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, related_name="agreements", verbose_name=_("community")
    )
    number = models.CharField(_("agreement number"), max_length=50, unique=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status, default=Status.DRAFT, editable=False
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    commitments = models.TextField(
        _("commitments"), blank=True, help_text=_("What each side undertakes to do.")
    )
    daily_quota = models.PositiveSmallIntegerField(
        _("daily duty quota"),
        default=1,
        help_text=_("Members the agency sends to the community each day."),
    )
    agency_contact = models.CharField(_("agency contact"), max_length=50, blank=True)
    agency_contact_phone = models.CharField(_("agency contact phone"), max_length=30, blank=True)
    community_contact = models.CharField(_("community contact"), max_length=50, blank=True)
    community_contact_phone = models.CharField(
        _("community contact phone"), max_length=30, blank=True
    )
    scan = models.FileField(
        _("signed scan"),
        upload_to="agreements/%Y/",
        blank=True,
        validators=[validate_scan],
        help_text=_("PDF, JPEG or PNG of the signed agreement."),
    )
    signed_on = models.DateField(_("signed on"), null=True, blank=True, editable=False)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("signed by"),
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True, editable=False)
    terminated_on = models.DateField(_("terminated on"), null=True, blank=True, editable=False)
    termination_reason = models.TextField(_("termination reason"), blank=True, editable=False)
    terminated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("terminated by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Translated names for the admin; the English is what the migrations already hold.
    history = HistoricalRecords(
        verbose_name=_("historical co-construction agreement"),
        verbose_name_plural=_("historical co-construction agreements"),
    )
    objects = AgreementQuerySet.as_manager()

    class Meta:
        verbose_name = _("co-construction agreement")
        verbose_name_plural = _("co-construction agreements")
        ordering = ["-starts_on", "number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")),
                name="communities_agreement_ends_after_start",
                violation_error_message=_("An agreement must end after it starts."),
            ),
            models.UniqueConstraint(
                fields=["agency", "community"],
                condition=Q(status="active"),
                name="communities_agreement_one_active_per_pair",
                violation_error_message=_(
                    "This agency already has an active agreement with this community."
                ),
            ),
            models.CheckConstraint(
                condition=Q(daily_quota__gte=1),
                name="communities_agreement_quota_positive",
                violation_error_message=_("The daily duty quota must be at least 1."),
            ),
            models.CheckConstraint(
                condition=~Q(status="terminated") | ~Q(termination_reason=""),
                name="communities_agreement_terminated_has_reason",
                violation_error_message=_("A terminated agreement needs a reason."),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft"]) | Q(signed_on__isnull=False),
                name="communities_agreement_signed_has_date",
                violation_error_message=_("A signed agreement needs its signing date."),
            ),
        ]
        indexes = [
            # "agreements in force for this community": dashboards and activity forms.
            models.Index(fields=["community", "status"], name="agreement_community_status"),
        ]

    def __str__(self):
        return f"{self.number} {self.agency} — {self.community}"

    def get_absolute_url(self):
        return reverse("admin:communities_agreement_change", args=[self.pk])

    def clean(self):
        super().clean()
        if self.starts_on and self.ends_on and self.ends_on <= self.starts_on:
            raise ValidationError({"ends_on": _("An agreement must end after it starts.")})

    def effective_status_on(self, today=None):
        """The one definition of the status shown; with_effective_status() is its SQL."""
        today = today or timezone.localdate()
        if self.status == self.Status.ACTIVE:
            if today < self.starts_on:
                return self.EffectiveStatus.PENDING
            if self.ends_on < today:
                return self.EffectiveStatus.EXPIRED
        return self.EffectiveStatus(self.status)

    @property
    def effective_status(self):
        annotated = self.__dict__.get("_annotated_effective_status")
        return annotated or self.effective_status_on()

    @effective_status.setter
    def effective_status(self, value):
        # Set by the with_effective_status() annotation of the same name.
        self.__dict__["_annotated_effective_status"] = value

    def get_effective_status_display(self):
        return self.EffectiveStatus(self.effective_status).label

    @property
    def can_be_terminated(self):
        """Signed and not yet over: in force, or signed for a term that has not begun."""
        return self.effective_status in (self.EffectiveStatus.PENDING, self.EffectiveStatus.ACTIVE)


class StaffRoleQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(any_of(user=scope.user_id))


class StaffRole(models.Model):
    """A login's working role and the place it covers. A person may hold several."""

    Kind = RoleKind

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_roles",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("role"), max_length=20, choices=Kind)
    street = models.ForeignKey(
        Street,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_roles",
        verbose_name=_("street"),
    )
    community = models.ForeignKey(
        Community,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_roles",
        verbose_name=_("community"),
    )
    grids = models.ManyToManyField(
        Grid, blank=True, related_name="grid_workers", verbose_name=_("grids")
    )
    agency = models.ForeignKey(
        Agency,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_roles",
        verbose_name=_("agency"),
    )

    objects = StaffRoleQuerySet.as_manager()

    class Meta:
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")
        ordering = ["user", "kind"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="city_admin",
                        street__isnull=True,
                        community__isnull=True,
                        agency__isnull=True,
                    )
                    | Q(
                        kind="street_officer",
                        street__isnull=False,
                        community__isnull=True,
                        agency__isnull=True,
                    )
                    | Q(
                        kind__in=["community_staff", "grid_worker"],
                        street__isnull=True,
                        community__isnull=False,
                        agency__isnull=True,
                    )
                    | Q(
                        kind="agency_office",
                        street__isnull=True,
                        community__isnull=True,
                        agency__isnull=False,
                    )
                ),
                name="communities_staffrole_scope_matches_kind",
                violation_error_message=_(
                    "A street officer needs a street, community staff and grid workers a "
                    "community, an agency party office an agency, and a city administrator none."
                ),
            ),
        ]

    def __str__(self):
        place = self.street or self.community or self.agency
        label = self.get_kind_display()
        return f"{self.user} · {label}" + (f" · {place}" if place else "")

    def clean(self):
        super().clean()
        needs = {
            self.Kind.STREET_OFFICER: "street",
            self.Kind.COMMUNITY_STAFF: "community",
            self.Kind.GRID_WORKER: "community",
            self.Kind.AGENCY_OFFICE: "agency",
        }.get(self.kind)
        errors = {}
        for field in ("street", "community", "agency"):
            has = getattr(self, f"{field}_id") is not None
            if field == needs and not has:
                errors[field] = _("This role needs a %(field)s.") % {
                    "field": self._meta.get_field(field).verbose_name
                }
            elif field != needs and has:
                errors[field] = _("Leave this empty for this role.")
        if errors:
            raise ValidationError(errors)
