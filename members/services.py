"""Writes to report-ins (报到): a community reviewing them and placing members in its grids.

A decision is told to the member through the outbox (`notifications.notify`), in the same
transaction: the message is queued if and only if the decision is saved. `now` is when the
decision is taken (default: the clock); `tell=False` records it without a message — the demo
records its past that way, whose news is old.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Grid
from notifications.models import Notification
from notifications.notify import Notified, notify

from .models import Registration


def _locked(registration: Registration) -> Registration:
    """The row as it is now, locked until the transaction ends, so that two reviewers tapping
    at once cannot both decide it."""
    return (
        Registration.objects.select_for_update()
        .select_related("member", "community")
        .get(pk=registration.pk)
    )


def _check_pending(registration: Registration) -> None:
    if registration.status != Registration.Status.PENDING:
        raise ValidationError(
            _("This report-in is no longer waiting for review: it is “%(status)s”."),
            code="not_pending",
            params={"status": registration.get_status_display()},
        )


def _check_grid(registration: Registration, grid: Grid | None) -> None:
    if grid is not None and grid.community_id != registration.community_id:
        raise ValidationError(
            _("%(grid)s is not a grid of %(community)s."),
            code="grid_of_another_community",
            params={"grid": grid.name, "community": registration.community.name},
        )


def _save(registration: Registration, user, now: dt.datetime | None = None) -> None:
    # The history row names who did it, also outside a request (the shell, a task).
    registration._history_user = user
    if now is not None:
        registration._history_date = now
    registration.save()


def _tell_member(registration: Registration, tell: bool) -> None:
    """Tells the member the report-in was approved or returned (the reason is in the message).
    `registration.notified` says what was queued and whether no channel could reach them."""
    if not tell:
        registration.notified = Notified()
        return
    kind = {
        Registration.Status.ACTIVE: Notification.Kind.REGISTRATION_APPROVED,
        Registration.Status.RETURNED: Notification.Kind.REGISTRATION_RETURNED,
    }[registration.status]
    # The community's group robot reaches a member who has no login of their own.
    registration.notified = notify(
        kind=kind, recipients=[registration.member], obj=registration, robot=registration.community
    )


@transaction.atomic
def registration_approve(
    *,
    registration: Registration,
    reviewer,
    grid: Grid | None = None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Registration:
    """Accepts a pending report-in: the member is reported in (ACTIVE), placed in `grid` if one
    is given. Returns the updated registration."""
    now = now or timezone.now()
    registration = _locked(registration)
    _check_pending(registration)
    _check_grid(registration, grid)
    registration.status = Registration.Status.ACTIVE
    registration.reviewer = reviewer
    registration.reviewed_at = now
    registration.return_reason = ""
    if grid is not None:
        registration.grid = grid
    _save(registration, reviewer, now)
    _tell_member(registration, tell)
    return registration


@transaction.atomic
def registration_return(
    *,
    registration: Registration,
    reviewer,
    reason: str,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Registration:
    """Sends a pending report-in back to the member with the reason (RETURNED). The member may
    then report in again."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            _("Say why the report-in is returned: the member reads this."), code="no_reason"
        )
    max_length = Registration._meta.get_field("return_reason").max_length
    if len(reason) > max_length:
        raise ValidationError(
            _("Keep the reason within %(max)s characters."),
            code="reason_too_long",
            params={"max": max_length},
        )
    registration = _locked(registration)
    _check_pending(registration)
    registration.status = Registration.Status.RETURNED
    registration.reviewer = reviewer
    registration.reviewed_at = now
    registration.return_reason = reason
    _save(registration, reviewer, now)
    _tell_member(registration, tell)
    return registration


@transaction.atomic
def registration_assign_grid(*, registration: Registration, grid: Grid | None, by) -> Registration:
    """Places a reported-in member in one of the community's grids, or in none (`grid=None`)."""
    registration = _locked(registration)
    if registration.status != Registration.Status.ACTIVE:
        raise ValidationError(
            _(
                "Only a member who has reported in can be placed in a grid; this report-in "
                "is “%(status)s”."
            ),
            code="not_active",
            params={"status": registration.get_status_display()},
        )
    _check_grid(registration, grid)
    if registration.grid_id != (grid.pk if grid else None):
        registration.grid = grid
        _save(registration, by)
    return registration
