"""Working roles: which login covers which place (the permission module reads them)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..permissions import RoleKind, any_of, scope_of
from .places import Agency, Community, Grid, Street


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
