"""The activities of each agency (its members' and its agreements'): an agency office's activity
scope read from an index of its own, kept by the database."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from communities.models import Agency


class AgencyActivity(models.Model):
    """An activity an agency office sees by its agency (DESIGN.md): one its members take part in
    (`participations`: how many of the activity's participations are theirs) or one that counts
    toward one of the agency's agreements (`by_agreement`). One row per pair that either holds.

    Read by the office's activity scope (ActivityQuerySet.visible_to) instead of the
    participations and agreements themselves: the city's largest agency has 61,918 activities
    among its members' 154,000 participations, and the scope counted those through their member
    index and united them with its agreements' (130 ms); its pairs are one read of one index
    (`one_per_pair`).

    Written by the database alone, so that no path can miss it — sign-up, roll call, the
    admin, a bulk insert or delete, seed_scale's COPY, a member moving agency, an activity's
    agreement set or cleared: triggers on the participations, the members' agency, the
    activities' agreement and the agreements' agency (migration 0023_agency_activities; their
    names in TRIGGERS below). Nothing in Python writes it."""

    agency = models.ForeignKey(
        Agency,
        # The triggers remove an activity's pairs with it; a member's participations protect
        # them, an agency its members and agreements.
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
    by_agreement = models.BooleanField(_("counts toward an agreement of the agency"))

    class Meta:
        verbose_name = _("activity of an agency")
        verbose_name_plural = _("activities of agencies")
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
    "activities_activity": [
        "activities_agencyactivity_activity",
        "activities_agencyactivity_activity_agreement",
    ],
    "communities_agreement": ["activities_agencyactivity_agreement"],
}

# The pairs as the participations and the activities' agreements have them.
REBUILD = [
    "DELETE FROM activities_agencyactivity",
    """
    INSERT INTO activities_agencyactivity (agency_id, activity_id, participations, by_agreement)
    SELECT agency_id, activity_id, SUM(participations), SUM(by_agreement) > 0
    FROM (
        SELECT m.agency_id, p.activity_id, 1 AS participations, 0 AS by_agreement
        FROM activities_participation p JOIN members_member m ON m.id = p.member_id
        UNION ALL
        SELECT g.agency_id, t.id, 0, 1
        FROM activities_activity t JOIN communities_agreement g ON g.id = t.agreement_id
    ) AS pairs
    GROUP BY agency_id, activity_id
    """,
]
