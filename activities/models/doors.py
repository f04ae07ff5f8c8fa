"""Door-to-door publicity (入户宣传): the buildings and stairwells an activity covers."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from communities.permissions import any_of, own, scope_of, via
from members.models import Member

from .activity import Activity


class DoorToDoorUnitQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The community's managers and its street see every unit; an agency office sees the
        units of its own members, a member their own (never other agencies' people)."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # As Participation's: each branch a subquery on the row's own indexed column.
        return self.filter(
            any_of(
                via(
                    "activity__in",
                    Activity.objects.values("pk"),
                    community__in=scope.place_community_ids,
                ),
                via("member__in", Member.objects.values("pk"), agency__in=scope.agency_ids),
                **own(scope),
            )
        )


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
    # The assigned member's agency and the activity's start, kept with the unit by the database
    # (triggers of migration 0031_door_unit_agency_period; their names in TRIGGERS below) so
    # that an agency's households over a period are one read of one index
    # (`doortodoorunit_agency_period`). Nothing in Python writes them.
    agency = models.ForeignKey(
        "communities.Agency",
        on_delete=models.DO_NOTHING,  # a member protects their agency, and the unit follows them
        null=True,
        editable=False,
        db_index=False,  # the period index starts with it
        related_name="+",
        verbose_name=_("agency"),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, editable=False)

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
        indexes = [
            # "an agency's households over a period" (its yearly summary,
            # reports.evidence.agency_totals): the units of its members in the period's
            # activities, read from this index alone. Joined through the members and the
            # activities, the 144,000 units of the city were read whole for each summary
            # (13–23 ms of a 50 ms page); the index gives 三峡's 3,000 of a year in 0.5 ms.
            models.Index(
                fields=["agency", "starts_at"],
                include=["households", "households_reached"],
                name="doortodoorunit_agency_period",
            ),
        ]

    def __str__(self):
        return f"{self.building}{self.stairwell}"


# The triggers that keep a unit's agency and start, by table (PostgreSQL's names): a bulk load
# that turns them off (seed_scale's COPY) fills the columns again with `REBUILD` before it turns
# them back on.
TRIGGERS = {
    "activities_doortodoorunit": ["activities_doortodoorunit_kept"],
    "members_member": ["activities_doortodoorunit_member"],
    "activities_activity": ["activities_doortodoorunit_activity"],
}

# Every unit's agency and start as its member and its activity have them.
REBUILD = [
    """
    UPDATE activities_doortodoorunit SET
        agency_id = (SELECT m.agency_id FROM members_member m
                     WHERE m.id = activities_doortodoorunit.member_id),
        starts_at = (SELECT t.starts_at FROM activities_activity t
                     WHERE t.id = activities_doortodoorunit.activity_id)
    """,
]
