"""Writes to report-ins (报到) — a community reviewing them and placing members in its grids —
and to an agency's roster (adding, editing, importing members, a member leaving).

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
from simple_history.utils import bulk_create_with_history

from communities.history import ChangeReason
from communities.models import Agency, Agreement, Community, Grid
from notifications.models import Notification
from notifications.notify import Notified, notify

from .models import Member, Registration
from .sessions import sessions_end


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


# --- A member reporting in (报到, 双报到) ---------------------------------------------------


def liaison_communities(member: Member, on: dt.date | None = None):
    """The communities a member may report in to as their agency's liaison: those with an
    agreement of the agency in force."""
    return Community.objects.filter(
        pk__in=Agreement.objects.in_force(on).filter(agency=member.agency_id).values("community")
    )


def _check_may_apply(member: Member, community: Community, kind: str, today: dt.date) -> None:
    if member.status != Member.Status.ACTIVE:
        raise ValidationError(
            _("You are no longer on your agency's active roster, so you cannot report in."),
            code="member_left",
        )
    live = Registration.objects.filter(
        member=member, kind=kind, status__in=Registration.LIVE_STATUSES
    )
    same = live.filter(community=community).first()
    if same is not None:
        raise ValidationError(
            _("You have reported in to %(community)s already: “%(status)s”.")
            if same.status == Registration.Status.ACTIVE
            else _("Your report-in to %(community)s is already waiting for its review."),
            code="already_live",
            params={"community": community.name, "status": same.get_status_display()},
        )
    if kind == Registration.Kind.LIAISON:
        if not liaison_communities(member, today).filter(pk=community.pk).exists():
            raise ValidationError(
                _(
                    "%(agency)s has no agreement in force with %(community)s. Report in to one "
                    "of your agency's liaison communities, or there as a resident."
                ),
                code="no_agreement",
                params={"agency": member.agency.name, "community": community.name},
            )
    else:
        home = live.select_related("community").first()
        if home is not None:
            raise ValidationError(
                _(
                    "You are reported in as a resident of %(home)s. If you have moved, ask "
                    "%(home)s to end that report-in first."
                ),
                code="one_residence",
                params={"home": home.community.name},
            )


@transaction.atomic
def registration_apply(
    *, member: Member, community: Community, kind: str, now: dt.datetime | None = None
) -> Registration:
    """A member reports in to `community` (liaison: one of their agency's agreements in force;
    residence: any community, one at a time). The report-in waits for the community's review
    (PENDING). The member's row is locked while it is checked, so that two taps make one."""
    now = now or timezone.now()
    member = (
        Member.objects.select_for_update(of=("self",))
        .select_related("agency", "user")
        .get(pk=member.pk)
    )
    _check_may_apply(member, community, kind, timezone.localdate(now))
    registration = Registration(
        member=member, community=community, kind=kind, applied_on=timezone.localdate(now)
    )
    _save(registration, member.user, now)
    return registration


@transaction.atomic
def registration_withdraw(*, registration: Registration, by, now: dt.datetime | None = None):
    """The member takes back a report-in still waiting for review (REVOKED, ended today)."""
    now = now or timezone.now()
    registration = _locked(registration)
    _check_pending(registration)
    registration.status = Registration.Status.REVOKED
    registration.ended_on = timezone.localdate(now)
    _save(registration, by, now)
    return registration


# --- The agency's roster (党员名册) --------------------------------------------------------


def _save_member(member: Member, by, reason: str = "") -> None:
    member._history_user = by
    if reason:
        member._change_reason = reason
    member.save()


def _lock_roster(agency_id: int) -> None:
    """Holds the agency's roster until the transaction ends: two offices' tabs adding the same
    mobile at once are told so, instead of one of them failing on the unique constraint."""
    Agency.objects.select_for_update().filter(pk=agency_id).first()


@transaction.atomic
def member_save(*, member: Member, by) -> Member:
    """Adds a member to their agency's roster, or saves the changes to one (a validated
    MemberForm's instance); the history names who did it. The mobile is checked again under
    the roster's lock (the form checked it before)."""
    _lock_roster(member.agency_id)
    _check_not_deleted(member)
    if (
        Member.objects.filter(agency=member.agency_id, mobile=member.mobile)
        .exclude(pk=member.pk)
        .exists()
    ):
        raise ValidationError(
            {"mobile": _("This agency already has a member with this mobile.")},
            code="duplicate_on_roster",
        )
    _save_member(member, by)
    _rename_unactivated_login(member)
    return member


def _rename_unactivated_login(member: Member) -> None:
    """A login not yet activated follows its member's mobile (its username, which the
    activation page tells the member): a corrected mobile is what they will sign in with."""
    from .activation import username_for

    if not member.user_id:
        return
    user = member.user
    if user.has_usable_password() or user.username.startswith(member.mobile):
        return
    user.username = username_for(member)
    user.save(update_fields=["username"])


def _check_not_deleted(member: Member) -> None:
    """A member who deleted their account stays on the roster as they left it: their contact
    details are not written again, nor are they put back (members.privacy.account_delete)."""
    if member.deleted_at is not None:
        raise ValidationError(
            _("This member deleted their account: their details can no longer be changed."),
            code="account_deleted",
        )


def _locked_member(member: Member) -> Member:
    return Member.objects.select_for_update().get(pk=member.pk)


@transaction.atomic
def member_leave(*, member: Member, left_on: dt.date, by) -> Member:
    """Marks a member as having left the agency on `left_on`. They stay on the roster (their
    records stay theirs), drop out of every count of active members, and no longer count as
    reported in anywhere (RegistrationQuerySet.reported_in). Their sessions end."""
    member = _locked_member(member)
    if member.status == Member.Status.LEFT:
        raise ValidationError(_("This member has already left the agency."), code="already_left")
    member.status, member.left_on = Member.Status.LEFT, left_on
    _save_member(member, by, ChangeReason.LEFT)
    # Whoever left the agency is signed out everywhere (issue 11).
    sessions_end(user_id=member.user_id)
    return member


@transaction.atomic
def member_rejoin(*, member: Member, by) -> Member:
    """Puts a member who had left back on the active roster (a mistake undone, or back from a
    posting elsewhere); their report-ins count again as they were."""
    member = _locked_member(member)
    _check_not_deleted(member)
    if member.status == Member.Status.ACTIVE:
        raise ValidationError(_("This member is already on the active roster."), code="active")
    member.status, member.left_on = Member.Status.ACTIVE, None
    _save_member(member, by, ChangeReason.REJOINED)
    return member


@transaction.atomic
def members_import(*, agency: Agency, members: list[Member], by) -> list[Member]:
    """Adds `members` (validated rows of an imported file, not yet saved) to `agency`'s roster,
    all or none: the agency's row is locked so that two imports (or an import and a member
    added by hand) cannot both add the same mobile, and the mobiles are checked once more
    under that lock. Created with their history in bulk: a constant number of queries."""
    _lock_roster(agency.pk)
    mobiles = [member.mobile for member in members]
    taken = set(
        Member.objects.filter(agency=agency, mobile__in=mobiles).values_list("mobile", flat=True)
    )
    if taken:
        raise ValidationError(
            _("Meanwhile these mobiles were added to the roster: %(mobiles)s."),
            code="duplicate_on_roster",
            params={"mobiles": "、".join(sorted(taken))},
        )
    for member in members:
        member.agency = agency
    return bulk_create_with_history(
        members, Member, default_user=by, default_change_reason=ChangeReason.IMPORTED
    )
