"""Attendance review (考勤审核): the agency office confirms its members' records or disputes them;
the community answers a dispute (explains, or corrects the record) and changes a confirmed
record only by a backfill (补录) with a reason. Every change is kept in the history, with who,
when and why.

Scope: an office reviews the records of its own agencies' members (`reviewable_by`); a
community answers and backfills the records of its own activities (`can_manage`). Ids outside
that scope are never touched: the bulk confirm filters them out in its one UPDATE.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.history import ChangeReason
from communities.models import StaffRole
from communities.permissions import can_manage, can_review_attendance, scope_of
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Dispute, Participation
from .rollcall import _hours, _RowError

Review = Participation.Review
Status = Participation.Status

# The most records one bulk confirm takes: a page of the review list, with room to spare.
MAX_BULK = 200


def reviewable_by(user):
    """The records `user` reviews as an agency party office: those of its agencies' members
    (none for anyone else). Each agency's members a subquery on the row's own member column,
    as the participation scope reads them."""
    from members.models import Member

    agency_ids = scope_of(user).agency_ids
    if not agency_ids:
        return Participation.objects.none()
    return Participation.objects.to_review().filter(
        member__in=Member.objects.filter(agency__in=agency_ids).values("pk")
    )


def _history(rows, *, by, now, reason) -> None:
    """One history row per changed record, written in one INSERT (as the roll call does)."""
    for row in rows:
        row._change_reason = reason
    Participation.history.bulk_history_create(
        rows, update=True, default_user=by, default_date=now, default_change_reason=reason
    )


@transaction.atomic
def participation_confirm(*, by, ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Confirms the records of `ids` that `by` reviews and are not confirmed yet, in one
    UPDATE; ids of anyone else's records change nothing. Returns how many were confirmed."""
    now = now or timezone.now()
    ids = list(dict.fromkeys(int(pk) for pk in ids))[:MAX_BULK]
    if not ids or not can_review_attendance(by):
        return 0
    rows = list(
        reviewable_by(by)
        .filter(pk__in=ids)
        .exclude(review=Review.CONFIRMED)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not rows:
        return 0
    changed = {"review": Review.CONFIRMED, "reviewed_by": by, "reviewed_at": now}
    Participation.objects.filter(pk__in=[row.pk for row in rows]).update(**changed)
    for row in rows:
        for name, value in changed.items():
            setattr(row, name, value)
    _history(rows, by=by, now=now, reason=ChangeReason.REVIEW_CONFIRMED)
    return len(rows)


def _one(queryset, participation) -> Participation:
    """The record, re-read and locked, if it is in `queryset` (the actor's scope)."""
    try:
        return (
            queryset.select_for_update(of=("self",))
            .select_related("activity__community", "member__agency")
            .get(pk=participation.pk)
        )
    except Participation.DoesNotExist as exc:
        raise ValidationError(_("This record is not yours to review.")) from exc


def _holders(kind, **place):
    """The active logins holding a role of `kind` at `place` (community= or agency=)."""
    lookups = {f"staff_roles__{name}": value for name, value in place.items()}
    return list(
        get_user_model()
        .objects.filter(is_active=True, staff_roles__kind=kind, **lookups)
        .distinct()
    )


def _community_staff(community_id):
    return _holders(StaffRole.Kind.COMMUNITY_STAFF, community=community_id)


def _agency_offices(agency_id):
    return _holders(StaffRole.Kind.AGENCY_OFFICE, agency=agency_id)


@transaction.atomic
def participation_dispute(
    *,
    by,
    participation: Participation,
    reason: str,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Dispute:
    """The office disputes a record (异议) with a reason, or keeps its dispute after the
    community's answer with a new one; the community's staff are told. A confirmed record is
    not disputed: it is settled. Returns the dispute (`notified`: what was queued)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say what is wrong with the record.")})
    p = _one(reviewable_by(by), participation)
    if p.review == Review.CONFIRMED:
        raise ValidationError(_("This record is confirmed; it can no longer be disputed."))
    if p.disputes.filter(answered_at__isnull=True).exists():
        raise ValidationError(_("The community has not answered the last dispute yet."))
    dispute = Dispute.objects.create(
        participation=p, reason=reason[:200], raised_by=by, raised_at=now
    )
    p.review = Review.DISPUTED
    p.reviewed_by, p.reviewed_at = by, now
    _save_with_history(
        p,
        ["review", "reviewed_by", "reviewed_at"],
        by=by,
        now=now,
        reason=ChangeReason.REVIEW_DISPUTED,
    )
    dispute.notified = Notified()
    recipients = _community_staff(p.activity.community_id)
    if tell and recipients:
        dispute.notified = notify(
            kind=Notification.Kind.ATTENDANCE_DISPUTED,
            recipients=recipients,
            obj=dispute,
            robot=p.activity.community,
            context={
                "agency": p.member.agency.short_name or p.member.agency.name,
                "name": p.member.name,
                "url": reverse("activities:dispute_answer", args=[p.pk]),
            },
        )
    return dispute


def _save_with_history(p: Participation, fields, *, by, now, reason) -> None:
    p._change_reason = reason
    p._history_date = now
    p._history_user = by
    p.save(update_fields=fields)


@dataclass(frozen=True)
class Correction:
    """A record's attendance as the community corrects it: status PRESENT, ABSENT or LEAVE,
    hours for PRESENT (None: the activity's length), the reason of a LEAVE."""

    status: str
    hours: Decimal | None = None
    leave_reason: str = ""


def _correct(p: Participation, correction: Correction, *, by, now) -> bool:
    """Writes `correction` onto `p`; whether it changed anything."""
    if correction.status not in Participation.RECORDED:
        raise ValidationError({"status": _("Choose present, absent or leave.")})
    try:
        hours = (
            _hours(correction.hours, p.activity.duration_hours)
            if correction.status == Status.PRESENT
            else None
        )
    except _RowError as error:
        raise ValidationError({"hours": error.message}) from error
    leave_reason = (correction.leave_reason or "").strip()[:200]
    if correction.status == Status.LEAVE:
        leave_reason = leave_reason or p.leave_reason
        if not leave_reason:
            raise ValidationError({"leave_reason": _("Give the reason for leave.")})
    before = (p.status, p.hours, p.leave_reason)
    p.status, p.hours = correction.status, hours
    if correction.status == Status.LEAVE:
        approved = Participation.LeaveDecision.APPROVED
        if p.leave_reason != leave_reason or p.leave_decision != approved:
            p.leave_decision = approved
            p.leave_decided_by, p.leave_decided_at = by, now
        p.leave_reason = leave_reason
    elif p.leave_decision != Participation.LeaveDecision.REJECTED:
        p.leave_reason, p.leave_decision = "", ""
        p.leave_decided_by, p.leave_decided_at = None, None
    return (p.status, p.hours, p.leave_reason) != before


CORRECTED_FIELDS = [
    "status",
    "hours",
    "leave_reason",
    "leave_decision",
    "leave_decided_by",
    "leave_decided_at",
    "recorded_by",
    "recorded_at",
]


def records_managed_by(by):
    """The records of the activities of the communities `by` manages (the city: all); each
    community's activities a subquery on the row's activity column."""
    from ..models import Activity

    scope = scope_of(by)
    if scope.city:
        return Participation.objects.all()
    return Participation.objects.filter(
        activity__in=Activity.objects.filter(community__in=scope.community_ids).values("pk")
    )


@transaction.atomic
def participation_dispute_answer(
    *,
    by,
    participation: Participation,
    answer: str,
    correction: Correction | None = None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Dispute:
    """The community answers the open dispute of a record: explains the record as it is, or
    corrects it (`correction`); the agency office is told, and confirms the record or keeps its
    dispute. Returns the dispute answered (`notified`: what was queued)."""
    now = now or timezone.now()
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError({"answer": _("Explain the record, or what you corrected.")})
    p = _one(records_managed_by(by), participation)
    if not can_manage(by, p.activity.community):
        raise ValidationError(_("Only the community's staff and grid workers answer disputes."))
    dispute = (
        p.disputes.filter(answered_at__isnull=True)
        .select_for_update()
        .order_by("-raised_at")
        .first()
        if p.review == Review.DISPUTED
        else None
    )
    if dispute is None:
        raise ValidationError(_("This record is not disputed."))
    if correction is not None and _correct(p, correction, by=by, now=now):
        p.recorded_by, p.recorded_at = by, now
        _save_with_history(
            p, CORRECTED_FIELDS, by=by, now=now, reason=ChangeReason.DISPUTE_ANSWERED
        )
        dispute.corrected = True
    dispute.answer = answer[:300]
    dispute.answered_by, dispute.answered_at = by, now
    dispute.save(update_fields=["answer", "corrected", "answered_by", "answered_at"])
    dispute.notified = Notified()
    recipients = _agency_offices(p.member.agency_id)
    if tell and recipients:
        dispute.participation = p  # the message names the activity: no query
        dispute.notified = notify(
            kind=Notification.Kind.DISPUTE_ANSWERED,
            recipients=recipients,
            obj=dispute,
            slot="answered",
            robot=p.member.agency,
            context={
                "name": p.member.name,
                "url": reverse("reports:review_record", args=[p.pk]),
            },
        )
    return dispute


@transaction.atomic
def participation_backfill(
    *,
    by,
    participation: Participation,
    correction: Correction,
    reason: str,
    now: dt.datetime | None = None,
) -> Participation:
    """A later change to a record the office has confirmed (补录): with a reason, kept in the
    history with who and when. The record goes back to the office to review again."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for the backfill.")})
    p = _one(records_managed_by(by), participation)
    if not can_manage(by, p.activity.community):
        raise ValidationError(_("Only the community's staff and grid workers backfill records."))
    if not p.is_locked:
        raise ValidationError(
            _("This record is not confirmed yet: change it at the roll call or in the answer.")
        )
    if not _correct(p, correction, by=by, now=now):
        raise ValidationError(_("Nothing has changed: the record already says so."))
    p.source = Participation.Source.BACKFILL
    p.backfill_reason = reason[:200]
    p.recorded_by, p.recorded_at = by, now
    p.review, p.reviewed_by, p.reviewed_at = Review.UNREVIEWED, None, None
    # The history's reason is the kind of change; the reason itself is in backfill_reason.
    _save_with_history(
        p,
        [*CORRECTED_FIELDS, "source", "backfill_reason", "review", "reviewed_by", "reviewed_at"],
        by=by,
        now=now,
        reason=ChangeReason.BACKFILL,
    )
    return p
