"""Writes to agreements. Agreement.status is not editable anywhere else: these functions are the
only way an agreement is signed, terminated or expired, so each change is checked and kept in
its history."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from .history import ChangeReason
from .models import Agreement

ONE_ACTIVE_PER_PAIR = "communities_agreement_one_active_per_pair"
EXPIRED_BY_DATE = ChangeReason.EXPIRED


def _term(agreement: Agreement) -> str:
    starts = formats.date_format(agreement.starts_on)
    ends = formats.date_format(agreement.ends_on)
    return f"{starts} – {ends}"


def _already_active_error(other: Agreement) -> ValidationError:
    return ValidationError(
        _(
            "Agreement %(number)s between this agency and this community is already active "
            "(%(term)s). Terminate it, or wait until it ends, before signing another one."
        ),
        code="already_active",
        params={"number": other.number, "term": _term(other)},
    )


def _other_active(pair: list[Agreement], agreement: Agreement) -> Agreement | None:
    for other in pair:
        if other.pk != agreement.pk and other.status == Agreement.Status.ACTIVE:
            return other
    return None


def _expire(agreement: Agreement) -> None:
    agreement.status = Agreement.Status.EXPIRED
    # Nobody did this: the calendar did. Without these the history would credit whoever
    # happened to be logged in, or say nothing at all.
    agreement._history_user = None
    agreement._change_reason = EXPIRED_BY_DATE
    agreement.save(update_fields=["status", "updated_at"])


@transaction.atomic
def agreement_sign(
    *,
    agreement: Agreement,
    by,
    signed_on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """Signs a draft: it becomes the pair's one active agreement. `now` is when it is signed
    (default: the clock); the demo passes the moment of its story."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    signed_on = signed_on or today
    if signed_on > today:
        raise ValidationError(
            _("The signing date cannot be in the future."), code="signed_in_future"
        )
    # Lock every agreement of the pair, this one included, so that two people signing two
    # drafts of the same pair at once are put in a queue here rather than both passing the check.
    pair = list(
        Agreement.objects.select_for_update()
        .filter(agency_id=agreement.agency_id, community_id=agreement.community_id)
        .order_by("pk")
    )
    current = next((a for a in pair if a.pk == agreement.pk), None)
    if current is None:
        raise ValidationError(_("This agreement no longer exists."), code="missing")
    if current.status != Agreement.Status.DRAFT:
        raise ValidationError(
            _("Only a draft can be signed; this agreement is %(status)s."),
            code="not_draft",
            params={"status": current.get_effective_status_display().lower()},
        )
    if current.ends_on < today:
        raise ValidationError(
            _("This agreement ended on %(ends)s; an agreement that has ended cannot be signed."),
            code="ended",
            params={"ends": formats.date_format(current.ends_on)},
        )
    for other in pair:
        if other.status == Agreement.Status.ACTIVE and other.ends_on < today:
            _expire(other)  # expired in fact; store it so it no longer blocks the pair
    other = _other_active(pair, current)
    if other is not None:
        raise _already_active_error(other)

    current.status = Agreement.Status.ACTIVE
    current.signed_on = signed_on
    current.signed_by = by
    current.signed_at = now
    current._history_user = by
    current._history_date = now
    current._change_reason = ChangeReason.SIGNED
    try:
        # A savepoint, so that on PostgreSQL the transaction is still usable to say why.
        with transaction.atomic():
            current.save()
    except IntegrityError as exc:
        # Someone signed another agreement of the pair between our check and our write.
        winner = (
            Agreement.objects.filter(
                agency_id=current.agency_id,
                community_id=current.community_id,
                status=Agreement.Status.ACTIVE,
            )
            .exclude(pk=current.pk)
            .first()
        )
        if winner is not None:
            raise _already_active_error(winner) from exc
        if ONE_ACTIVE_PER_PAIR in str(exc):
            raise ValidationError(
                _(
                    "This agency already has an active agreement with this community. "
                    "Terminate it, or wait until it ends, before signing another one."
                ),
                code="already_active",
            ) from exc
        raise
    # The caller's object reflects what is now stored.
    agreement.refresh_from_db()
    return agreement


@transaction.atomic
def agreement_terminate(
    *, agreement: Agreement, by, reason: str, on: dt.date | None = None
) -> Agreement:
    """Ends an active agreement early, with the reason kept on the record."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            _("Give the reason the agreement is terminated."), code="reason_required"
        )
    today = timezone.localdate()
    on = on or today
    current = Agreement.objects.select_for_update().filter(pk=agreement.pk).first()
    if current is None:
        raise ValidationError(_("This agreement no longer exists."), code="missing")
    if not current.can_be_terminated:
        raise ValidationError(
            _("Only an active agreement can be terminated; this agreement is %(status)s."),
            code="not_active",
            params={"status": current.get_effective_status_display().lower()},
        )
    if on > today:
        raise ValidationError(
            _("The termination date cannot be in the future."), code="terminated_in_future"
        )
    if current.signed_on and on < current.signed_on:
        raise ValidationError(
            _("The termination date cannot be before the agreement was signed (%(signed)s)."),
            code="terminated_before_signing",
            params={"signed": formats.date_format(current.signed_on)},
        )
    current.status = Agreement.Status.TERMINATED
    current.terminated_on = on
    current.termination_reason = reason
    current.terminated_by = by
    current._history_user = by
    current._change_reason = ChangeReason.TERMINATED
    current.save()
    agreement.refresh_from_db()
    return agreement


@transaction.atomic
def agreements_expire(*, today: dt.date | None = None) -> int:
    """Stores EXPIRED on every active agreement past its end date; returns how many.

    Each is saved on its own, not with a bulk update, so that its history shows the change."""
    today = today or timezone.localdate()
    due = Agreement.objects.select_for_update().filter(
        status=Agreement.Status.ACTIVE, ends_on__lt=today
    )
    count = 0
    for agreement in due:
        _expire(agreement)
        count += 1
    return count
