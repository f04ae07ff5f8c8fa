"""Roll call (点名): everyone on an activity recorded in one save, with history, in a number of
queries that does not grow with the number of people; walk-ins found among the community's
reported-in members."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from members.models import Member, Registration
from notifications.models import Notification
from notifications.notify import notify

from ..models import Activity, Participation

Status = Participation.Status
Decision = Participation.LeaveDecision

MARKS = (Status.PRESENT, Status.ABSENT, Status.LEAVE)
HISTORY_REASON = "roll call"
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
    added: int
    changed: int
    approved: int
    rejected: int


def row_key(member_id) -> str:
    """The key of a row's errors in the ValidationError the service raises."""
    return f"m{member_id}"


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
    return participation.status == Status.LEAVE and participation.leave_decision == Decision.PENDING


def walk_in_candidates(*, activity: Activity, user) -> QuerySet:
    """Members who may be added on the spot: active, with an active report-in (either kind) to
    the activity's community, and not on the activity yet."""
    reported_in = Registration.objects.filter(
        member=OuterRef("pk"),
        community=activity.community_id,
        status=Registration.Status.ACTIVE,
    )
    on_activity = Participation.objects.filter(member=OuterRef("pk"), activity=activity)
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
    candidates = walk_in_candidates(activity=activity, user=user)
    if query.isdigit():
        candidates = candidates.filter(mobile__endswith=query)
    else:
        candidates = candidates.filter(name__icontains=query)
    return list(candidates.order_by("name", "pk")[:SEARCH_LIMIT])


def _hours(value, default: Decimal) -> Decimal:
    if value is None or value == "":
        return default
    try:
        hours = Decimal(value).quantize(Decimal("0.1"))
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValidationError(_("Enter the hours as a number, e.g. 2 or 1.5.")) from exc
    if not Decimal(0) <= hours <= Decimal(24):
        raise ValidationError(_("Hours must be between 0 and 24."))
    return hours


def _snapshot(participation: Participation) -> tuple:
    return tuple(getattr(participation, name) for name in _COMPARED) + (
        participation.leave_decided_by_id,
    )


class _RowError(Exception):
    def __init__(self, message):
        self.message = message


def _decide(participation, row, *, by, now, default_hours) -> str:
    """Applies `row` to an existing participation; returns the leave decision taken now ("" for
    none). Raises _RowError for a row that cannot be saved."""
    p = participation
    status = row.status
    pending = is_pending_leave(p)
    decision_now = ""
    if pending:
        decision = row.decision
        if decision not in ("", Decision.APPROVED, Decision.REJECTED):
            raise _RowError(_("Approve or reject the leave request."))
        if decision == Decision.APPROVED:
            if status not in ("", Status.LEAVE):
                raise _RowError(
                    _("The leave is approved but the person is marked present or absent.")
                )
            status = Status.LEAVE
        elif decision == Decision.REJECTED:
            status = Status.SIGNED_UP if status in ("", Status.LEAVE) else status
        elif status in (Status.PRESENT, Status.ABSENT):
            # Marked as having come (or not): the request is answered by that, as not approved.
            decision = Decision.REJECTED
        else:
            return ""  # undecided and still asking for leave: nothing to record yet
        decision_now = decision
    elif status == "":
        return ""
    elif status not in MARKS:
        raise _RowError(_("Choose present, absent or leave."))

    if status == Status.LEAVE:
        reason = (row.leave_reason or "").strip() or (p.leave_reason if pending else "")
        if not reason:
            raise _RowError(_("Give the reason for leave."))
        p.leave_reason = reason[:200]
        if decision_now or p.leave_decision != Decision.APPROVED:
            # A leave recorded by staff at the roll call is decided by them there and then.
            p.leave_decision = Decision.APPROVED
            p.leave_decided_by = by
            p.leave_decided_at = now
    elif decision_now == Decision.REJECTED:
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
    p.status = status
    try:
        p.hours = _hours(row.hours, default_hours) if status == Status.PRESENT else None
    except ValidationError as exc:
        raise _RowError(exc.messages[0]) from exc
    return decision_now


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
    by `row_key(member_id)` and nothing is saved. Records the agency office confirmed are
    locked. The number of queries does not depend on the number of rows. `now` is when the
    roll call is taken (default: the clock); the demo passes the moment of its story."""
    now = now or timezone.now()
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
    default_hours = activity.duration_hours
    errors: dict[str, list] = {}
    seen = set()
    to_create, to_update, decided = [], [], []
    for row in rows:
        key = row_key(row.member_id)
        if row.member_id in seen:
            errors.setdefault(key, []).append(_("This person is on the list twice."))
            continue
        seen.add(row.member_id)
        participation = existing.get(row.member_id)
        try:
            if participation is None:
                member = walk_ins.get(row.member_id)
                if member is None:
                    raise _RowError(
                        _(
                            "This person cannot be added: only active members reported in to "
                            "this community who are not on the activity yet can be."
                        )
                    )
                if row.status not in MARKS:
                    raise _RowError(_("Mark whether they came: present, absent or leave."))
                new = Participation(activity=activity, member=member, source="")
                _decide(new, row, by=by, now=now, default_hours=default_hours)
                new.source = Participation.Source.ROLL_CALL
                new.recorded_by = by
                new.recorded_at = now
                to_create.append(new)
                continue
            if participation.review == Participation.Review.CONFIRMED:
                raise _RowError(
                    _(
                        "The agency office has confirmed this record; it can no longer be "
                        "changed at the roll call."
                    )
                )
            before = _snapshot(participation)
            decision = _decide(participation, row, by=by, now=now, default_hours=default_hours)
        except _RowError as error:
            errors.setdefault(key, []).append(error.message)
            continue
        if _snapshot(participation) != before or decision:
            participation.source = Participation.Source.ROLL_CALL
            participation.recorded_by = by
            participation.recorded_at = now
            to_update.append(participation)
        if decision:
            decided.append(participation)
    if errors:
        raise ValidationError(errors)

    try:
        if to_create:
            bulk_create_with_history(
                to_create,
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
    if to_update:
        bulk_update_with_history(
            to_update,
            Participation,
            UPDATED_FIELDS,
            default_user=by,
            default_change_reason=HISTORY_REASON,
            default_date=now,
        )
    if activity.resident_volunteers != resident_volunteers:
        activity.resident_volunteers = resident_volunteers
        activity.save(update_fields=["resident_volunteers", "updated_at"])
    for participation in decided:
        participation.activity = activity  # the message names the activity: no query per row
        notify(
            kind=Notification.Kind.LEAVE_DECIDED,
            recipients=[participation.member],
            obj=participation,
            slot=participation.leave_decision,
            robot=activity.community,
        )
    return RollCallResult(
        added=len(to_create),
        changed=len(to_update),
        approved=sum(p.leave_decision == Decision.APPROVED for p in decided),
        rejected=sum(p.leave_decision == Decision.REJECTED for p in decided),
    )
