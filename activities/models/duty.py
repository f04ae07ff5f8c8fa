"""The duty rota (排班): who of an agency is on duty at the community on a day."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from communities.models import Agreement, in_force_on
from communities.permissions import any_of, own, scope_of
from members.models import Member


class DutyAssignmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                agreement__community__in=scope.place_community_ids,
                agreement__agency__in=scope.agency_ids,
                **own(scope),
            )
        )

    def on_duty(self, *days):
        """Who is on duty on `days`: assignments under an agreement in force that day, of
        members still with their agency. The duty-roster reminder and the dashboards."""
        # In force on the assignment's own day, said of the agreement joined: a community's
        # few agreements are probed for their days in the unique index (agreement, date,
        # member), where the agreements in force on each day, as a subquery ORed per day,
        # made PostgreSQL read the whole city's assignments of those days first (2,100 rows
        # for a staff dashboard's two days: 2–3 ms → 0.6 ms at city size).
        return self.filter(
            in_force_on(F("date"), "agreement__"),
            date__in=days,
            member__status=Member.Status.ACTIVE,
        )


class DutyAssignment(models.Model):
    """Who of the agency is on duty at the community on a day (排班), under an agreement."""

    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.CASCADE,
        related_name="duty_assignments",
        verbose_name=_("agreement"),
    )
    date = models.DateField(_("date"))
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="duty_assignments",
        verbose_name=_("member"),
    )
    note = models.CharField(_("note"), max_length=100, blank=True)

    # Who put whom on duty or took them off, and when (activities.services.rota writes it).
    history = HistoricalRecords(
        verbose_name=_("historical duty assignment"),
        verbose_name_plural=_("historical duty assignments"),
    )
    objects = DutyAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("duty assignment")
        verbose_name_plural = _("duty assignments")
        ordering = ["date", "agreement"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "date", "member"],
                name="activities_dutyassignment_once_a_day",
                violation_error_message=_("This member is already on duty that day."),
            ),
        ]
        indexes = [
            # "tomorrow's duty": the duty-roster reminder.
            models.Index(fields=["date"], name="dutyassignment_date"),
        ]

    def __str__(self):
        return f"{self.date} {self.member}"

    def clean(self):
        super().clean()
        if self.member_id and self.agreement_id:
            if self.member.agency_id != self.agreement.agency_id:
                raise ValidationError(
                    {"member": _("The member must belong to the agency of the agreement.")}
                )
