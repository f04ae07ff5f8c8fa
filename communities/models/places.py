"""The places of the city: streets, communities with their compounds and grids, and the
agencies that dispatch members to them (each may have a group robot)."""

from functools import partial

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..permissions import any_of, in_array, own, scope_of, via, via_ids


def far_side(model, relation):
    """The rows at the far end of `model`'s reverse `relation` (its agreements, its report-ins,
    an agency's members) for a scope's subquery: their models live in apps this one may not
    import, or import this module."""
    return model._meta.get_field(relation).related_model.objects


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
            any_of(
                via("pk__in", Community.objects.values("street"), pk__in=scope.community_ids),
                # Streets of communities the viewer's agency has agreements with, or whose
                # members (or the viewer) reported in to.
                via(
                    "pk__in",
                    far_side(Community, "agreements").values("community__street"),
                    agency__in=scope.agency_ids,
                ),
                via(
                    "pk__in",
                    far_side(Community, "registrations").values("community__street"),
                    member__agency__in=scope.agency_ids,
                    **own(scope),
                ),
                pk__in=scope.street_ids,
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
            any_of(
                # Those the viewer's agency (or the agency of the member they are) has
                # agreements with.
                # The viewer's own member record as `own` names it: staff who are not members
                # have none, and the branch drops out rather than join their login to every
                # member (a community dashboard's query, 0.8 ms of Python for two subqueries
                # that find nothing).
                via(
                    "pk__in",
                    far_side(Community, "agreements").values("community"),
                    via(
                        "agency__in",
                        far_side(Agency, "members").values("agency"),
                        **own(scope, member=""),
                    ),
                    agency__in=scope.agency_ids,
                ),
                # Those the viewer's agency's members (or the viewer) reported in to. The
                # members' ids are read first and their report-ins looked up by member: joined
                # to the members, PostgreSQL hashed all of the city's 89,000 report-ins for the
                # 11,900 of the largest agency's 8,000 members (an office's review filter,
                # 11–13 ms at best; so 4–8 ms).
                via(
                    "pk__in",
                    far_side(Community, "registrations").values("community"),
                    in_array(
                        "member",
                        far_side(Agency, "members").values("pk"),
                        agency__in=scope.agency_ids,
                    ),
                    **own(scope),
                ),
                street__in=scope.street_ids,
                pk__in=scope.community_ids,
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
        # The city sees every grid: read from the table alone, not each matched against the
        # city's every community (the bench's scope line: 0.6 ms against 0.2 ms, 3×).
        if scope_of(user).city:
            return self.all()
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
            any_of(
                # Agencies with agreements in the viewer's communities or streets.
                via(
                    "pk__in",
                    far_side(Agency, "agreements").values("agency"),
                    community__in=scope.place_community_ids,
                ),
                # Agencies of members who reported in there, and the viewer's own. A
                # community's members (1,200 at city size) are read first and looked up by the
                # primary key: as a subquery PostgreSQL hashed all 60,000 members (15 ms). A
                # street's stay a subquery, as in Member's scope.
                via(
                    "pk__in",
                    far_side(Agency, "members").values("agency"),
                    (via_ids if not scope.street_ids else partial(via, "pk__in"))(
                        far_side(Community, "registrations").values("member"),
                        community__in=scope.place_community_ids,
                    ),
                    **own(scope, member=""),
                ),
                pk__in=scope.agency_ids,
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
