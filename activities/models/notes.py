"""What came of the work: work updates (工作动态) and residents' concerns (民情)."""

from functools import partial

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from communities.links import id_url
from communities.models import Community, Grid
from communities.permissions import any_of, own, scope_of, union_of, via
from members.models import Member, Registration

from .activity import Activity


class WorkUpdateQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # A member's few are looked up through each branch's index (a union, as Activity's); a
        # street's or an agency's thousands are found in one pass over the table (ORed), which
        # costs less than uniting their ids and joining them back (a street officer's at city
        # size: 4 ms ORed, 9 ms as a union).
        combine = any_of if scope.is_staff_of_any_place else partial(union_of, self.model.objects)
        return self.filter(
            combine(
                # Those of a community the viewer reported in to.
                via("community__in", Registration.objects.values("community"), **own(scope)),
                # An agency's members' logins as a subquery on the row's own indexed column, a
                # street's communities as their ids (Scope.street_community_ids): ORed joins to
                # communities and members made PostgreSQL join every work update before
                # filtering.
                via("author__in", Member.objects.values("user"), agency__in=scope.agency_ids),
                community__in=scope.place_community_ids,
                author=scope.user_id,
            )
        )


class WorkUpdate(models.Model):
    """工作动态: what was done, posted after an activity by staff or members."""

    community = models.ForeignKey(
        Community,
        on_delete=models.CASCADE,
        related_name="work_updates",
        verbose_name=_("community"),
    )
    activity = models.ForeignKey(
        Activity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_updates",
        verbose_name=_("activity"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="work_updates",
        verbose_name=_("author"),
    )
    body = models.TextField(_("text"))
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    objects = WorkUpdateQuerySet.as_manager()

    class Meta:
        verbose_name = _("work update")
        verbose_name_plural = _("work updates")
        ordering = ["-created_at"]
        indexes = [
            # "this community's work updates, newest first" (-created_at, -pk): the work
            # update list.
            models.Index(
                fields=["community", "created_at", "id"], name="workupdate_community_created"
            ),
            # "every work update, newest first" (-created_at, -pk): the city administrator's
            # work update list, read backwards from it instead of sorting them all (its
            # deepest page 50 ms → 5 ms at city size).
            models.Index(fields=["created_at", "id"], name="workupdate_newest"),
        ]

    def __str__(self):
        return self.body[:30]


class ConcernQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                # As WorkUpdate's: ids and subqueries rather than ORed joins.
                via("reported_by__in", Member.objects.values("user"), agency__in=scope.agency_ids),
                community__in=scope.place_community_ids,
                reported_by=scope.user_id,
            )
        )

    def open(self):
        return self.exclude(state=Concern.State.RESOLVED)


class Concern(models.Model):
    """民情: a residents' concern raised during the work, followed until it is resolved."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        FORWARDED = "forwarded", _("Forwarded")
        RESOLVED = "resolved", _("Resolved")

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="concerns", verbose_name=_("community")
    )
    grid = models.ForeignKey(
        Grid,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="concerns",
        verbose_name=_("grid"),
    )
    activity = models.ForeignKey(
        Activity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="concerns",
        verbose_name=_("activity"),
    )
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.OPEN)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="reported_concerns",
        verbose_name=_("reported by"),
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="handled_concerns",
        verbose_name=_("handler"),
    )
    forwarded_to = models.CharField(_("forwarded to"), max_length=100, blank=True)
    resolution = models.TextField(_("resolution note"), blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    objects = ConcernQuerySet.as_manager()

    class Meta:
        verbose_name = _("resident concern")
        verbose_name_plural = _("resident concerns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="resolved") | ~Q(resolution=""),
                name="activities_concern_resolved_has_note",
                violation_error_message=_("A resolved concern needs a resolution note."),
            ),
        ]
        indexes = [
            # "open concerns of this community, oldest first": the community's concern list;
            # and "how many are open" (the staff dashboard's figure), from the index alone. The
            # reporter rides along for the scope's other branch (`reported_by = viewer`), which
            # PostgreSQL tests on each row even where the community decides: without it the
            # count read the rows, as its hand-written reference does not (8 buffers against 5).
            models.Index(
                fields=["community", "state", "created_at"],
                include=["reported_by"],
                name="concern_open_by_age",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return id_url("activities:concern_detail", self.pk)
