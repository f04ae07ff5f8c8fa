"""Resident needs (微心愿 / 需求清单).

A community's staff and grid workers (can_manage) publish a need, new or from a resident concern;
members reported in to the community claim it, up to the number of claimants it wants (the
need's row lock makes concurrent claims take turns). A claim's life:

    claimed ──done──▶ done ──verify──▶ verified
      │  ▲              │
      │  └─send back────┘   (with a reason)
      └──give back──▶ given back (the place is free again; the member may claim again)

The need's state follows its claims: 待认领 (open) while it has a free place, 已认领 (claimed)
while a claim is still being carried out, 已完成 (done) when every claim is done and awaits
verification, 已核实 (verified) when every claim is verified. Staff withdraw (已撤回) an open or
claimed need with a reason. Verifying a claim records voluntary service: a participation PRESENT
with the claim's hours on the need's activity, of nature VOLUNTEER (created at the first
verification), so the figures, ledgers and reports count it as any other service.

Claimants are told when their claim is verified, sent back or the need withdrawn; the community's
staff and grid workers when a need is claimed or done.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community
from communities.permissions import can_manage
from members.models import Member, Registration, member_of
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, ActivityType, Concern, Need, NeedClaim, Participation
from ..models.needs import MAX_CLAIMANTS, MAX_NEED_HOURS
from .notes import concern_handlers


class Reason:
    """Why a version of a need or a claim was written (its history's reason)."""

    PUBLISHED = "need published"
    CLAIMED = "need claimed"
    GIVEN_BACK = "need given back"
    DONE = "need done"
    VERIFIED = "need verified"
    SENT_BACK = "need sent back"
    WITHDRAWN = "need withdrawn"

    LABELS = {
        PUBLISHED: _("Published"),
        CLAIMED: _("Claimed by a member"),
        GIVEN_BACK: _("Given back by the claimant"),
        DONE: _("Recorded done by the claimant"),
        VERIFIED: _("Verified by the community"),
        SENT_BACK: _("Sent back by the community"),
        WITHDRAWN: _("Withdrawn by the community"),
    }


def reason_label(code):
    from communities.history import change_reason_label

    return Reason.LABELS.get(code) or change_reason_label(code)


HOURS_RANGE = _("Hours must be more than 0 and at most 24.")
NOT_YOURS = _("Only the community's staff and grid workers may do this.")


def _hours(value, field: str) -> Decimal:
    try:
        hours = Decimal(str(value)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({field: HOURS_RANGE}) from None
    if not hours.is_finite() or hours <= 0 or hours > MAX_NEED_HOURS:
        raise ValidationError({field: HOURS_RANGE})
    return hours


def _require_manager(user, community) -> None:
    if not can_manage(user, community):
        raise ValidationError(NOT_YOURS)


def _save(obj, reason: str, user, when=None, **fields) -> None:
    """Saves `obj` with its history's reason, who and (the demo's past) when."""
    for name, value in fields.items():
        setattr(obj, name, value)
    obj._change_reason = reason
    obj._history_user = user
    if when is not None:
        obj._history_date = when
    obj.save()


def _staff(need):
    return list(concern_handlers(need.community))


def _tell(need, recipients, kind, *, tell, context=None, slot="") -> Notified:
    recipients = [r for r in recipients if r is not None]
    if not (tell and recipients):
        return Notified()
    return notify(
        kind=kind,
        recipients=recipients,
        obj=need,
        context=context or {},
        slot=slot[:40],
        robot=need.community,
    )


def _slot(claim, now) -> str:
    return f"{claim.pk}:{now:%Y%m%d%H%M%S%f}"


def _locked(need) -> Need:
    return Need.objects.select_for_update(of=("self",)).select_related("community").get(pk=need.pk)


def _follow_claims(need, user, reason, when=None) -> None:
    """Sets the need's state from its claims (unless withdrawn)."""
    if need.state == Need.State.WITHDRAWN:
        return
    states = list(need.claims.active().values_list("state", flat=True))
    if len(states) < need.claimants:
        state = Need.State.OPEN
    elif NeedClaim.State.CLAIMED in states:
        state = Need.State.CLAIMED
    elif NeedClaim.State.DONE in states:
        state = Need.State.DONE
    else:
        state = Need.State.VERIFIED
    if state != need.state:
        _save(need, reason, user, when, state=state)


@transaction.atomic
def need_publish(
    *,
    by,
    community: Community,
    title: str,
    deadline: dt.datetime,
    hours,
    description: str = "",
    place: str = "",
    claimants: int = 1,
    concern: Concern | None = None,
    now: dt.datetime | None = None,
) -> Need:
    """Publishes a need of `community` (from `concern`, when given)."""
    now = now or timezone.now()
    _require_manager(by, community)
    title = (title or "").strip()
    errors = {}
    if not title:
        errors["title"] = _("Give the need a short title.")
    if deadline is None or deadline <= now:
        errors["deadline"] = _("The deadline must be in the future.")
    try:
        claimants = int(claimants)
    except (TypeError, ValueError):
        claimants = 0
    if not 1 <= claimants <= MAX_CLAIMANTS:
        errors["claimants"] = _("A need wants between 1 and 20 claimants.")
    try:
        hours = _hours(hours, "hours")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if concern is not None and concern.community_id != community.pk:
        errors["concern"] = _("The concern must be one of this community's.")
    if errors:
        raise ValidationError(errors)
    need = Need(
        community=community,
        concern=concern,
        title=title,
        description=(description or "").strip(),
        place=(place or "").strip(),
        deadline=deadline,
        claimants=claimants,
        hours=hours,
        published_by=by,
        created_at=now,
    )
    _save(need, Reason.PUBLISHED, by, now)
    return need


def may_claim(user, need) -> bool:
    member = member_of(user)
    return (
        member is not None
        and member.status == Member.Status.ACTIVE
        and Registration.objects.reported_in()
        .filter(member=member, community=need.community_id)
        .exists()
    )


@transaction.atomic
def need_claim(*, need: Need, user, now=None, tell: bool = True) -> NeedClaim:
    """`user`'s member claims `need`; refused when every place is taken."""
    now = now or timezone.now()
    need = _locked(need)
    if not may_claim(user, need):
        raise ValidationError(
            _("Only members reported in to %(community)s may claim its needs.")
            % {"community": need.community.name}
        )
    if need.state != Need.State.OPEN:
        raise ValidationError(_("This need is not open for claiming."))
    if need.deadline <= now:
        raise ValidationError(_("The deadline of this need has passed."))
    member = member_of(user)
    claim = NeedClaim.objects.filter(need=need, member=member).first()
    if claim is not None and claim.state != NeedClaim.State.GIVEN_BACK:
        raise ValidationError(_("You have already claimed this need."))
    if need.claims.active().count() >= need.claimants:
        raise ValidationError(_("Every place on this need is taken."))
    if claim is None:
        claim = NeedClaim(need=need, member=member)
    _save(
        claim,
        Reason.CLAIMED,
        user,
        now,
        state=NeedClaim.State.CLAIMED,
        claimed_at=now,
        note="",
        hours=None,
        done_at=None,
        sent_back_reason="",
    )
    _follow_claims(need, user, Reason.CLAIMED, now)
    claim.need = need
    claim.notified = _tell(
        need,
        _staff(need),
        Notification.Kind.NEED_CLAIMED,
        tell=tell,
        context={"name": member.name},
        slot=_slot(claim, now),
    )
    return claim


def _own_claim(need, user, states) -> NeedClaim:
    member = member_of(user)
    claim = (
        NeedClaim.objects.select_for_update().filter(need=need, member=member).first()
        if member
        else None
    )
    if claim is None or claim.state not in states:
        raise ValidationError(_("You have no claim of this need to do this with."))
    return claim


@transaction.atomic
def need_give_back(*, need: Need, user) -> NeedClaim:
    """The claimant gives a claimed need back: its place is free again."""
    need = _locked(need)
    if need.state == Need.State.WITHDRAWN:
        raise ValidationError(_("This need was withdrawn."))
    claim = _own_claim(need, user, (NeedClaim.State.CLAIMED,))
    _save(claim, Reason.GIVEN_BACK, user, state=NeedClaim.State.GIVEN_BACK)
    _follow_claims(need, user, Reason.GIVEN_BACK)
    return claim


@transaction.atomic
def need_done(*, need: Need, user, note: str, hours, now=None, tell: bool = True) -> NeedClaim:
    """The claimant records the need done, with what was done and the hours spent."""
    now = now or timezone.now()
    need = _locked(need)
    if need.state == Need.State.WITHDRAWN:
        raise ValidationError(_("This need was withdrawn."))
    claim = _own_claim(need, user, (NeedClaim.State.CLAIMED,))
    note = (note or "").strip()
    errors = {}
    if not note:
        errors["note"] = _("Say in a few words what was done.")
    try:
        hours = _hours(hours, "hours")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    _save(
        claim,
        Reason.DONE,
        user,
        now,
        state=NeedClaim.State.DONE,
        note=note,
        hours=hours,
        done_at=now,
    )
    _follow_claims(need, user, Reason.DONE, now)
    claim.notified = _tell(
        need,
        _staff(need),
        Notification.Kind.NEED_DONE,
        tell=tell,
        context={"name": claim.member.name},
        slot=_slot(claim, now),
    )
    return claim


def _claim_to_review(need, claim_id) -> NeedClaim:
    claim = (
        NeedClaim.objects.select_for_update(of=("self",))
        .select_related("member__user")
        .filter(need=need, pk=claim_id, state=NeedClaim.State.DONE)
        .first()
    )
    if claim is None:
        raise ValidationError(_("Choose a claim that is done and awaits verification."))
    return claim


def _service_activity(need, claim, by, now) -> Activity:
    """The need's activity of voluntary service, created at its first verification: the time
    its first verified claimant spent, up to when they recorded it done."""
    if need.activity_id:
        return need.activity
    ends = claim.done_at or now
    starts = ends - dt.timedelta(hours=float(claim.hours))
    kind, _created = ActivityType.objects.get_or_create(
        code=ActivityType.Code.OTHER, defaults={"name": str(ActivityType.Code.OTHER.label)}
    )
    activity = Activity.objects.create(
        community=need.community,
        type=kind,
        title=str(_("Resident need: %(title)s") % {"title": need.title})[:100],
        description=need.description,
        place=need.place,
        starts_at=starts,
        ends_at=ends,
        nature=Activity.Nature.VOLUNTEER,
        organizer=by,
    )
    _save(need, Reason.VERIFIED, by, now, activity=activity)
    return activity


@transaction.atomic
def need_verify(*, need: Need, by, claim_id, now=None, tell: bool = True) -> NeedClaim:
    """Staff verify a done claim: it counts as voluntary service with its hours."""
    now = now or timezone.now()
    need = _locked(need)
    _require_manager(by, need.community)
    claim = _claim_to_review(need, claim_id)
    activity = _service_activity(need, claim, by, now)
    participation = Participation(
        activity=activity,
        member=claim.member,
        status=Participation.Status.PRESENT,
        hours=claim.hours,
        source=Participation.Source.ROLL_CALL,
        recorded_by=by,
        recorded_at=now,
    )
    participation._change_reason = Reason.VERIFIED
    participation._history_user = by
    participation._history_date = now
    participation.save()
    _save(
        claim,
        Reason.VERIFIED,
        by,
        now,
        state=NeedClaim.State.VERIFIED,
        verified_by=by,
        verified_at=now,
        participation=participation,
    )
    _follow_claims(need, by, Reason.VERIFIED, now)
    claim.notified = _tell(
        need,
        [claim.member.user],
        Notification.Kind.NEED_VERIFIED,
        tell=tell,
        context={"hours": claim.hours},
        slot=_slot(claim, now),
    )
    return claim


@transaction.atomic
def need_send_back(*, need: Need, by, claim_id, reason: str, now=None, tell=True) -> NeedClaim:
    """Staff send a done claim back to its claimant, with a reason: it is claimed again."""
    now = now or timezone.now()
    need = _locked(need)
    _require_manager(by, need.community)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the need is sent back.")})
    claim = _claim_to_review(need, claim_id)
    _save(
        claim,
        Reason.SENT_BACK,
        by,
        now,
        state=NeedClaim.State.CLAIMED,
        sent_back_reason=reason[:200],
        done_at=None,
    )
    _follow_claims(need, by, Reason.SENT_BACK, now)
    claim.notified = _tell(
        need,
        [claim.member.user],
        Notification.Kind.NEED_SENT_BACK,
        tell=tell,
        context={"reason": claim.sent_back_reason},
        slot=_slot(claim, now),
    )
    return claim


@transaction.atomic
def need_withdraw(*, need: Need, by, reason: str, now=None, tell: bool = True) -> Need:
    """Staff withdraw an open or claimed need, with a reason; its claimants are told."""
    now = now or timezone.now()
    need = _locked(need)
    _require_manager(by, need.community)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason for withdrawing the need.")})
    if need.state not in (Need.State.OPEN, Need.State.CLAIMED):
        raise ValidationError(_("Only a need awaiting claimants or claimed can be withdrawn."))
    claimants = [
        c.member.user
        for c in need.claims.filter(state=NeedClaim.State.CLAIMED).select_related("member__user")
    ]
    _save(need, Reason.WITHDRAWN, by, now, state=Need.State.WITHDRAWN, withdraw_reason=reason[:200])
    need.notified = _tell(
        need,
        claimants,
        Notification.Kind.NEED_WITHDRAWN,
        tell=tell,
        context={"reason": need.withdraw_reason},
        slot=f"withdrawn:{now:%Y%m%d%H%M%S}",
    )
    return need
