"""Which agencies' members take part in which activities: an agency office's activity scope read
from an index of its own, kept by the database."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from communities.models import Agency


class AgencyActivity(models.Model):
    """An activity that members of `agency` take part in, with how many of its participations
    are theirs: one row per pair that has any (DESIGN.md: an agency office sees the activities
    its members are on).

    Read by the office's activity scope (ActivityQuerySet.visible_to) instead of the
    participations themselves: the city's largest agency has 61,576 activities among its
    members' several hundred thousand participations, and the scope counted those through
    their member index (130 ms); its pairs are read from one index (`one_per_pair`).

    Written by the database alone, so that no path can miss it — sign-up, roll call, the
    admin, a bulk insert or delete, seed_scale's COPY, a member moving agency: triggers on
    the participations and on the members' agency (migration 0023_agency_activities; their
    names in TRIGGERS below). Nothing in Python writes it."""

    agency = models.ForeignKey(
        Agency,
        # The triggers remove a pair with its last participation, before the activity or the
        # member can go (a member's participations protect them; an agency, its members).
        on_delete=models.DO_NOTHING,
        db_index=False,  # the pair's unique index starts with the agency
        related_name="+",
        verbose_name=_("agency"),
    )
    activity = models.ForeignKey(
        "activities.Activity",
        on_delete=models.DO_NOTHING,
        related_name="+",
        verbose_name=_("activity"),
    )
    participations = models.PositiveIntegerField(_("participations"))

    class Meta:
        verbose_name = _("activity of an agency's members")
        verbose_name_plural = _("activities of agencies' members")
        constraints = [
            # "an agency office's activities": its pairs read from this index alone.
            models.UniqueConstraint(
                fields=["agency", "activity"], name="activities_agencyactivity_one_per_pair"
            ),
        ]

    def __str__(self):
        return f"{self.agency_id} · {self.activity_id}"


# The triggers that keep the pairs, by table (PostgreSQL's names): a bulk load that turns them
# off (seed_scale's COPY) fills the table again with `REBUILD` before it turns them back on.
TRIGGERS = {
    "activities_participation": [
        "activities_agencyactivity_participation",
        "activities_agencyactivity_participation_moved",
    ],
    "members_member": ["activities_agencyactivity_member"],
}

# The pairs as the participations have them, counted.
REBUILD = [
    "DELETE FROM activities_agencyactivity",
    """
    INSERT INTO activities_agencyactivity (agency_id, activity_id, participations)
    SELECT m.agency_id, p.activity_id, COUNT(*)
    FROM activities_participation p JOIN members_member m ON m.id = p.member_id
    GROUP BY m.agency_id, p.activity_id
    """,
]
