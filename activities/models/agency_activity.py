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
    agreement set or cleared, a record's status or hours changed, an activity moved in time:
    triggers on the participations, the members' agency, the activities' agreement, start and
    nature, and the agreements' agency (migrations 0023_agency_activities and
    0026_agency_activity_attendance; their names in TRIGGERS below). Nothing in Python writes
    it."""

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
    # The activity's start and nature, kept with it, and DESIGN.md's figures of the agency's
    # participations in it: present (and their hours), absent, on leave. An office's totals
    # over a period are these rows summed (reports.evidence.agency_totals: the yearly summary;
    # the review list's count), where counting its 154,000 participations took 100–270 ms at
    # city size. Per activity, not per month: a roll call writes only its own activity's rows,
    # so two roll calls never wait on one agency's total.
    starts_at = models.DateTimeField(_("starts at"))
    nature = models.CharField(_("nature"), max_length=10)
    present = models.PositiveIntegerField(_("present"), default=0)
    absent = models.PositiveIntegerField(_("absent"), default=0)
    leaves = models.PositiveIntegerField(_("leaves"), default=0)
    hours = models.DecimalField(_("service hours"), max_digits=9, decimal_places=1, default=0)

    class Meta:
        verbose_name = _("activity of an agency")
        verbose_name_plural = _("activities of agencies")
        constraints = [
            # "an agency office's activities": its pairs read from this index alone.
            models.UniqueConstraint(
                fields=["agency", "activity"], name="activities_agencyactivity_one_per_pair"
            ),
        ]
        indexes = [
            # "an agency's attendance over a period, by nature" (the yearly summary) and "the
            # count of an office's records" (the review list): its rows of the period, or all of
            # them, found by this index and their figures read from the table. The figures are
            # not in the index: a participation's trigger updates its pair's figures, and with
            # them in an index no such update could stay on its page (HOT), so a statement
            # changing 5,000 records of one pair walked ever more versions of its row: a status
            # change of 5,000 records took 65 s, and 10,000 inserted 16.5 s; without them in the
            # index 4.4 s and 2.9 s (0.12 s and 1.8 s when the pairs kept a count alone).
            models.Index(
                fields=["agency", "starts_at"],
                include=["nature"],
                name="agencyactivity_period",
            ),
        ]

    def __str__(self):
        return f"{self.agency_id} · {self.activity_id}"


# The triggers that keep the pairs, by table (PostgreSQL's names): a bulk load that turns them
# off (seed_scale's COPY) fills the table again with `REBUILD` before it turns them back on.
TRIGGERS = {
    "activities_participation": [
        "activities_agencyactivity_participation",
        "activities_agencyactivity_participation_changed",
    ],
    "members_member": ["activities_agencyactivity_member"],
    "activities_activity": [
        "activities_agencyactivity_activity",
        "activities_agencyactivity_activity_agreement",
        "activities_agencyactivity_activity_moved",
    ],
    "communities_agreement": ["activities_agencyactivity_agreement"],
}

# The pairs as the participations and the activities' agreements have them.
REBUILD = [
    "DELETE FROM activities_agencyactivity",
    """
    INSERT INTO activities_agencyactivity
        (agency_id, activity_id, participations, by_agreement, starts_at, nature,
         present, absent, leaves, hours)
    SELECT pairs.agency_id, pairs.activity_id, SUM(participations), SUM(by_agreement) > 0,
           t.starts_at, t.nature, SUM(present), SUM(absent), SUM(leaves), SUM(hours)
    FROM (
        SELECT m.agency_id, p.activity_id, 1 AS participations, 0 AS by_agreement,
               CASE WHEN p.status = 'present' THEN 1 ELSE 0 END AS present,
               CASE WHEN p.status = 'absent' THEN 1 ELSE 0 END AS absent,
               CASE WHEN p.status = 'leave' THEN 1 ELSE 0 END AS leaves,
               CASE WHEN p.status = 'present' THEN COALESCE(p.hours, 0) ELSE 0 END AS hours
        FROM activities_participation p JOIN members_member m ON m.id = p.member_id
        UNION ALL
        SELECT g.agency_id, t.id, 0, 1, 0, 0, 0, 0
        FROM activities_activity t JOIN communities_agreement g ON g.id = t.agreement_id
    ) AS pairs JOIN activities_activity t ON t.id = pairs.activity_id
    GROUP BY pairs.agency_id, pairs.activity_id, t.starts_at, t.nature
    """,
]
