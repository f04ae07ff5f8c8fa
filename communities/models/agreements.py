"""Co-construction agreements (共驻共建协议) between an agency and a community."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from ..links import id_url
from ..permissions import any_of, own, scope_of, via
from ..validators import validate_scan
from .places import Agency, Community, far_side


class AgreementQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                # Those of the agency of the member the viewer is.
                via(
                    "agency__in",
                    far_side(Agency, "members").values("agency"),
                    **own(scope, member=""),
                ),
                community__in=scope.place_community_ids,
                agency__in=scope.agency_ids,
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
        return self.filter(in_force_on(on or timezone.localdate()))


def in_force_on(on, path: str = "") -> Q:
    """AgreementQuerySet.in_force as a condition on the agreement at `path` ("" or
    "agreement__"); `on` a day or an expression of the row (F("date"): in force on the row's
    own day)."""
    return Q(
        **{
            f"{path}status": Agreement.Status.ACTIVE,
            f"{path}starts_on__lte": on,
            f"{path}ends_on__gte": on,
        }
    )


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
        return id_url("admin:communities_agreement_change", self.pk)

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
