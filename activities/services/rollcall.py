"""Roll call (点名): everyone on an activity recorded in one save, with history, in a number of
queries that does not grow with the number of people; walk-ins found among the community's
reported-in members."""

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from communities.history import ChangeReason
from members.models import Member, Registration
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, Participation

Status = Participation.Status
Decision = Participation.LeaveDecision

MARKS = (Status.PRESENT, Status.ABSENT, Status.LEAVE)
HISTORY_REASON = ChangeReason.ROLL_CALL
SEARCH_LIMIT = 10

# What a roll call may change; everything else (review, check-in times…) is someone else's.
UPDATED_FIELDS = [
    "status",
    "hours",
    "leave_reason",
    "leave_decision",
    "leave_decided_by",
    "leave_decided_at",
    "source",
    "recorded_by",
    "recorded_at",
]
_COMPARED = ["status", "hours", "leave_reason", "leave_decision"]


@dataclass(frozen=True)
class RollCallRow:
    """One person's line on the roll call.

    `status` is PRESENT, ABSENT or LEAVE, or "" to leave a signed-up row as it is; `hours`
    counts for PRESENT only and None means the activity's length; `decision` answers a pending
    leave request (APPROVED, REJECTED, or "" for not yet)."""

    member_id: int
    status: str = ""
    hours: Decimal | None = None
    leave_reason: str = ""
    decision: str = ""


@dataclass(frozen=True)
class RollCallResult:
    """What one save recorded. `present`, `absent` and `leave` count the rows it wrote (added or
    changed) by the mark they now have; `waiting` the rows it leaves unmarked (still signed up,
    or with a leave request nobody has answered). Locked rows count nowhere."""

    added: int
    changed: int
    approved: int
    rejected: int
    present: int = 0
    absent: int = 0
    leave: int = 0
    waiting: int = 0
    # The messages telling members of their leave decisions, and whom none could reach.
    notified: Notified = Notified()

    @property
    def saved(self) -> int:
        return self.added + self.changed


def row_key(member_id) -> str:
    """The key of a row's errors in the ValidationError the service raises; an error about one
    field of the row has the field's name after it (`m12-hours`), as the roll call form names
    its inputs."""
    return f"m{member_id}"


def field_key(member_id, field: str | None) -> str:
    return f"{row_key(member_id)}-{field}" if field else row_key(member_id)


def roll_call_closed_reason(activity: Activity, now=None) -> str | None:
    """Why the roll call of `activity` cannot be taken now, or None when it can: it opens at
    the start (so late-comers can be marked while it runs) and stays open afterwards."""
    now = now or timezone.now()
    if activity.status == Activity.Status.CANCELLED:
        return _("This activity was cancelled; there is no roll call.")
    if activity.status == Activity.Status.DRAFT:
        return _("This activity is a draft; publish it before taking the roll call.")
    if now < activity.starts_at:
        return _("The roll call opens when the activity starts.")
    return None


def is_pending_leave(participation: Participation) -> bool:
    """A leave request awaiting a decision: still a sign-up (Participation.asks_for_leave)."""
    return participation.asks_for_leave


def walk_in_candidates(*, activity: Activity, user) -> QuerySet:
    """Members who may be added on the spot: reported in (either kind) to the activity's
    community, and not on the activity yet — or only on its waitlist (候补): they held no seat,
    and came anyway."""
    reported_in = Registration.objects.reported_in().filter(
        member=OuterRef("pk"), community=activity.community_id
    )
    on_activity = Participation.objects.filter(member=OuterRef("pk"), activity=activity).exclude(
        status=Status.WAITLISTED
    )
    return (
        Member.objects.visible_to(user)
        .active()
        .filter(Exists(reported_in))
        .exclude(Exists(on_activity))
        .select_related("agency")
    )


def walk_in_search(*, activity: Activity, user, query: str) -> list[Member]:
    """Walk-in candidates whose name contains `query`, or whose mobile ends with it when it is
    all digits (the last 4 digits are what people remember and say aloud)."""
    query = query.strip()
    if not query:
        return []
    candidates = walk_in_candidates(activity=activity, user=user).matching(query)
    return list(candidates.order_by("name", "pk")[:SEARCH_LIMIT])


def _hours(value, default: Decimal) -> Decimal:
    """The hours of a PRESENT row: `default` when none are given. The database holds the range
    (the hours_in_range constraint); this says so before it refuses the row."""
    if value is None or value == "":
        return default
    try:
        hours = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise _RowError(_("Enter the hours as a number, e.g. 2 or 1.5."), "hours") from exc
    if not hours.is_finite():
        raise _RowError(_("Enter the hours as a number, e.g. 2 or 1.5."), "hours")
    if not Decimal(0) <= hours <= Participation.MAX_HOURS:
        raise _RowError(Participation.HOURS_OUT_OF_RANGE, "hours")
    if hours != hours.quantize(Decimal("0.1")):
        raise _RowError(_("Give the hours with at most one decimal, e.g. 1.5."), "hours")
    return hours.quantize(Decimal("0.1"))


def _snapshot(participation: Participation) -> tuple:
    return tuple(getattr(participation, name) for name in _COMPARED) + (
        participation.leave_decided_by_id,
    )


class _RowError(Exception):
    def __init__(self, message, field: str | None = None):
        self.message, self.field = message, field


@dataclass(frozen=True)
class _Outcome:
    """What a row asks for, once checked: the mark, the hours of a PRESENT row, the reason of a
    LEAVE row, and the answer given now to a pending leave request ("" for none)."""

    status: str
    hours: Decimal | None
    leave_reason: str
    decision: str


def _outcome(participation: Participation | None, row: RollCallRow, *, default_hours):
    """The rules of one line of the roll call: what `row` does to `participation` (None for
    someone added on the spot), or None when it leaves it as it is. Raises _RowError, naming the
    field at fault, for a line that cannot be saved. Changes nothing."""
    if participation is not None and participation.status == Status.WAITLISTED:
        # Someone from the waitlist is marked as a walk-in is: their row is not a seat.
        participation = None
    status = row.status
    if status not in ("", *MARKS):
        raise _RowError(_("Choose present, absent or leave."), "status")
    if participation is None and not status:
        raise _RowError(_("Mark whether they came: present, absent or leave."), "status")
    pending = participation is not None and is_pending_leave(participation)
    decision = ""
    if pending:
        decision = row.decision
        if decision not in ("", Decision.APPROVED, Decision.REJECTED):
            raise _RowError(_("Approve or reject the leave request."), "decision")
        if decision == Decision.APPROVED:
            if status not in ("", Status.LEAVE):
                raise _RowError(
                    _("The leave is approved but the person is marked present or absent."),
                    "decision",
                )
            status = Status.LEAVE
        elif decision == Decision.REJECTED:
            status = Status.SIGNED_UP if status in ("", Status.LEAVE) else status
        elif status in (Status.PRESENT, Status.ABSENT):
            # Marked as having come (or not): the request is answered by that, as not approved.
            decision = Decision.REJECTED
        else:
            return None  # undecided and still asking for leave: nothing to record yet
    elif not status:
        return None
    reason = ""
    if status == Status.LEAVE:
        reason = (row.leave_reason or "").strip() or (participation.leave_reason if pending else "")
        if not reason:
            raise _RowError(_("Give the reason for leave."), "leave_reason")
    hours = _hours(row.hours, default_hours) if status == Status.PRESENT else None
    return _Outcome(status=status, hours=hours, leave_reason=reason[:200], decision=decision)


def roll_call_row_error(
    *, participation: Participation | None, row: RollCallRow, default_hours: Decimal
) -> tuple[str | None, str] | None:
    """What is wrong with one line of a roll call, as (field, message), or None: the service's
    own rules, for the form to show on the line before anything is saved."""
    try:
        _outcome(participation, row, default_hours=default_hours)
    except _RowError as error:
        return error.field, error.message
    return None


def _apply(p: Participation, outcome: _Outcome, *, by, now) -> None:
    """Writes a checked outcome onto the participation, with the leave decision's who and
    when."""
    if outcome.status == Status.LEAVE:
        p.leave_reason = outcome.leave_reason
        if outcome.decision or p.leave_decision != Decision.APPROVED:
            # A leave recorded by staff at the roll call is decided by them there and then.
            p.leave_decision = Decision.APPROVED
            p.leave_decided_by = by
            p.leave_decided_at = now
    elif outcome.decision == Decision.REJECTED:
        p.leave_decision = Decision.REJECTED
        p.leave_decided_by = by
        p.leave_decided_at = now
    elif p.leave_decision != Decision.REJECTED:
        # No longer on leave: the old leave stays in the history only. A rejected request
        # keeps its reason, so the decision still says what was rejected.
        p.leave_reason = ""
        p.leave_decision = ""
        p.leave_decided_by = None
        p.leave_decided_at = None
    p.status = outcome.status
    p.hours = outcome.hours


@transaction.atomic
def participation_roll_call(
    *,
    activity: Activity,
    by,
    rows: Iterable[RollCallRow],
    resident_volunteers: int,
    now: dt.datetime | None = None,
) -> RollCallResult:
    """Records the roll call of `activity` as `by` took it: one row per person (walk-ins are
    added, source ROLL_CALL), pending leave requests decided (the member is told), and the
    number of resident volunteers. All or nothing: any bad row raises a ValidationError keyed
    by `field_key(member_id, field)` and nothing is saved. Records the agency office confirmed
    are locked. The number of queries does not depend on the number of rows. `now` is when the
    roll call is taken (default: the clock); the demo passes the moment of its story."""
    now = now or timezone.now()
    _check_open(activity, resident_volunteers, now)
    rows = list(rows)
    existing = {
        p.member_id: p
        for p in Participation.objects.filter(activity=activity)
        .select_related("member__user")
        .select_for_update(of=("self",))
    }
    walk_in_ids = {row.member_id for row in rows if row.member_id not in existing}
    walk_ins = (
        {m.pk: m for m in walk_in_candidates(activity=activity, user=by).filter(pk__in=walk_in_ids)}
        if walk_in_ids
        else {}
    )
    plan = _plan(activity, rows, existing=existing, walk_ins=walk_ins, by=by, now=now)
    _write(plan, by=by, now=now)
    if activity.resident_volunteers != resident_volunteers:
        activity.resident_volunteers = resident_volunteers
        activity.save(update_fields=["resident_volunteers", "updated_at"])
    saved = Counter(p.status for p in (*plan.to_create, *plan.to_update))
    return RollCallResult(
        added=len(plan.to_create),
        changed=len(plan.to_update),
        approved=sum(p.leave_decision == Decision.APPROVED for p in plan.decided),
        rejected=sum(p.leave_decision == Decision.REJECTED for p in plan.decided),
        present=saved[Status.PRESENT],
        absent=saved[Status.ABSENT],
        leave=saved[Status.LEAVE],
        waiting=sum(
            p.status == Status.SIGNED_UP or is_pending_leave(p)
            for p in existing.values()
            if p.review != Participation.Review.CONFIRMED
        ),
        notified=_tell_leave_decisions(activity, plan.decided),
    )


def _check_open(activity: Activity, resident_volunteers, now: dt.datetime) -> None:
    closed = roll_call_closed_reason(activity, now)
    if closed:
        raise ValidationError(closed)
    if (
        isinstance(resident_volunteers, bool)
        or not isinstance(resident_volunteers, int)
        or resident_volunteers < 0
    ):
        raise ValidationError(
            {"resident_volunteers": _("Enter the number of resident volunteers, 0 or more.")}
        )


@dataclass
class _Plan:
    """What a roll call will write: new rows (walk-ins), changed rows, and the leave requests
    it answers."""

    to_create: list = field(default_factory=list)
    to_update: list = field(default_factory=list)
    decided: list = field(default_factory=list)


def _plan(activity, rows, *, existing, walk_ins, by, now) -> _Plan:
    """Checks every row and says what to write; raises one ValidationError with every row's
    errors, so that nothing is saved when anything is wrong."""
    default_hours = activity.duration_hours
    errors: dict[str, list] = {}
    seen = set()
    plan = _Plan()
    for row in rows:
        if row.member_id in seen:
            errors.setdefault(row_key(row.member_id), []).append(
                _("This person is on the list twice.")
            )
            continue
        seen.add(row.member_id)
        participation = existing.get(row.member_id)
        try:
            _check_row_may_change(participation, row, walk_ins)
            outcome = _outcome(participation, row, default_hours=default_hours)
        except _RowError as error:
            errors.setdefault(field_key(row.member_id, error.field), []).append(error.message)
            continue
        if participation is None:
            new = Participation(activity=activity, member=walk_ins[row.member_id])
            _apply(new, outcome, by=by, now=now)
            _recorded(new, by=by, now=now)
            plan.to_create.append(new)
            continue
        if outcome is None:
            continue
        before = _snapshot(participation)
        _apply(participation, outcome, by=by, now=now)
        if _snapshot(participation) != before or outcome.decision:
            _recorded(participation, by=by, now=now)
            plan.to_update.append(participation)
        if outcome.decision:
            plan.decided.append(participation)
    if errors:
        raise ValidationError(errors)
    return plan


def _check_row_may_change(participation, row, walk_ins) -> None:
    if participation is None and row.member_id not in walk_ins:
        raise _RowError(
            _(
                "This person cannot be added: only active members reported in to "
                "this community who are not on the activity yet can be."
            )
        )
    if participation is not None and participation.is_locked:
        raise _RowError(Participation.LOCKED)


def _recorded(participation, *, by, now) -> None:
    participation.source = Participation.Source.ROLL_CALL
    participation.recorded_by = by
    participation.recorded_at = now


def _write(plan: _Plan, *, by, now) -> None:
    """Writes the plan in bulk, with history."""
    try:
        if plan.to_create:
            bulk_create_with_history(
                plan.to_create,
                Participation,
                default_user=by,
                default_change_reason=HISTORY_REASON,
                default_date=now,
            )
    except IntegrityError as exc:
        # Someone else added one of them in the meantime (one row per member and activity).
        raise ValidationError(
            {NON_FIELD_ERRORS: [_("Someone else changed this roll call meanwhile; try again.")]}
        ) from exc
    if plan.to_update:
        bulk_update_with_history(
            plan.to_update,
            Participation,
            UPDATED_FIELDS,
            default_user=by,
            default_change_reason=HISTORY_REASON,
            default_date=now,
        )


def _tell_leave_decisions(activity: Activity, decided) -> Notified:
    notified = Notified()
    for participation in decided:
        participation.activity = activity  # the message names the activity: no query per row
        notified += notify(
            kind=Notification.Kind.LEAVE_DECIDED,
            recipients=[participation.member],
            obj=participation,
            slot=participation.leave_decision,
            robot=activity.community,
        )
    return notified
