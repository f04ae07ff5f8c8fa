"""The duty rota (排班): the agency office puts its members on duty at the community, day by day,
under an agreement with a daily quota ("每天安排一名") — by hand, or by an even rotation.

Who may be put on duty (`rota_pool`): the agency's members still with it who reported in to the
community through the agency (包联社区). A day is written only while the agreement is in force and
from today on: past days stay as they were kept. Every write locks the agreement's row first, so
two offices' tabs cannot interleave a month, and is all or nothing. Each function runs a fixed
number of queries, whatever the number of members or days.
"""

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_create_with_history

from communities.dates import local_midnight
from communities.history import ChangeReason
from communities.models import Agreement
from members.models import Member, Registration

from ..models import DutyAssignment, Participation

# The years a rota can be asked for: far enough either way for any agreement, near enough that
# the month before and after (and their local midnights) are dates.
YEARS = range(1900, 3000)


def month_start(text: str | None, today: dt.date | None = None) -> dt.date:
    """The first day of the month `text` names ("2026-12"); this month for anything else, so
    that a hand-edited address shows a page rather than an error."""
    today = today or timezone.localdate()
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        if year in YEARS:
            return dt.date(year, month, 1)
    except (TypeError, ValueError):
        pass
    return today.replace(day=1)


def month_end(first: dt.date) -> dt.date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_days(first: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((month_end(first) - first).days + 1)]


def in_force_on(agreement: Agreement, day: dt.date) -> bool:
    """As AgreementQuerySet.in_force, for one agreement already read."""
    return (
        agreement.status == Agreement.Status.ACTIVE
        and agreement.starts_on <= day <= agreement.ends_on
    )


def editable(agreement: Agreement, day: dt.date, today: dt.date | None = None) -> bool:
    """Whether the office may still change who is on duty that day: the agreement is in force
    then and the day has not passed."""
    today = today or timezone.localdate()
    return day >= today and in_force_on(agreement, day)


def rota_pool(agreement: Agreement):
    """The members the office may put on duty under `agreement`: its agency's members still
    with it who reported in to the agreement's community through the agency, in the order of
    the rotation (by name)."""
    reported_in = (
        Registration.objects.reported_in()
        .filter(community=agreement.community_id, kind=Registration.Kind.LIAISON)
        .values("member")
    )
    return Member.objects.filter(
        agency=agreement.agency_id, status=Member.Status.ACTIVE, pk__in=reported_in
    ).order_by("name", "pk")


def on_leave(member_ids, first: dt.date, last: dt.date) -> set[tuple[int, dt.date]]:
    """(member, day) of the approved leaves (请假, approved) of `member_ids` (ids or a
    `values("pk")` subquery) on activities starting between `first` and `last`: a member on
    leave that day is not put on duty."""
    rows = (
        Participation.objects.filter(
            member__in=member_ids,
            status=Participation.Status.LEAVE,
            leave_decision=Participation.LeaveDecision.APPROVED,
            activity__starts_at__gte=local_midnight(first),
            activity__starts_at__lt=local_midnight(last + dt.timedelta(days=1)),
        )
        .annotate(day=TruncDate("activity__starts_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("member", "day")
        .distinct()
    )
    return set(rows)


@dataclass
class RotaResult:
    """What one write did: assignments added and removed, and the days it left under quota."""

    added: int = 0
    removed: int = 0
    short_days: list[dt.date] = field(default_factory=list)


def _add(assignments: list, by, reason: ChangeReason) -> int:
    """Writes the assignments and their history ("+") in two statements."""
    if assignments:
        bulk_create_with_history(
            assignments, DutyAssignment, default_user=by, default_change_reason=reason
        )
    return len(assignments)


def _remove(assignments, by, reason: ChangeReason) -> int:
    """Deletes the assignments, their history ("-", who and why) written first in one
    statement. Deleted one by one, the history's signal would cost a statement each; nothing
    points at an assignment but its history and messages about it (a generic relation)."""
    rows = list(assignments.order_by())
    if not rows:
        return 0
    History = DutyAssignment.history.model
    now = timezone.now()
    History.objects.bulk_create(
        History(
            id=row.pk,
            agreement_id=row.agreement_id,
            date=row.date,
            member_id=row.member_id,
            note=row.note,
            history_date=now,
            history_type="-",
            history_user=by,
            history_change_reason=reason,
        )
        for row in rows
    )
    gone = DutyAssignment.objects.filter(pk__in=[row.pk for row in rows])
    return gone._raw_delete(gone.db)


def _lock(agreement: Agreement) -> Agreement:
    """The agreement's row, locked until the write commits: one writer of its rota at a time."""
    return Agreement.objects.select_for_update().get(pk=agreement.pk)


def _writable_days(agreement, first: dt.date, today: dt.date) -> list[dt.date]:
    return [day for day in month_days(first) if editable(agreement, day, today)]


def _rotation(agreement, pool: list[int], pool_rows, before: dt.date) -> list[int]:
    """The pool in the order of its next turns: whoever was on duty under the agreement the
    longest ago first, those never on duty before everyone (in the pool's order). The rotation
    so continues where the previous month's ended — the last one on duty goes last — and a
    member who joined the pool gets a turn soon."""
    last = dict(
        DutyAssignment.objects.filter(agreement=agreement, date__lt=before, member__in=pool_rows)
        .order_by()
        .values("member")
        .annotate(last=Max("date"))
        .values_list("member", "last")
    )
    position = {member_id: n for n, member_id in enumerate(pool)}
    return sorted(pool, key=lambda m: (last.get(m, dt.date.min), position[m]))


@transaction.atomic
def rota_fill(
    *,
    agreement: Agreement,
    month: dt.date,
    by,
    replace: bool = False,
    today: dt.date | None = None,
) -> RotaResult:
    """Fills the month's days still to come by an even rotation through `rota_pool`: each day
    takes the quota's next members in turn, skipping (without losing their turn) those on
    approved leave that day. Days someone is on duty already keep them and are topped up to
    the quota; with `replace`, those days are cleared first. A day the pool cannot fill is
    left under quota and reported."""
    today = today or timezone.localdate()
    agreement = _lock(agreement)
    days = _writable_days(agreement, month.replace(day=1), today)
    result = RotaResult()
    if not days:
        return result
    existing = DutyAssignment.objects.filter(agreement=agreement, date__in=days)
    taken: dict[dt.date, list[int]] = defaultdict(list)
    if replace:
        result.removed = _remove(existing, by, ChangeReason.ROTA_FILLED)
    else:
        for day, member_id in existing.order_by("date", "member").values_list("date", "member"):
            taken[day].append(member_id)
    pool_rows = rota_pool(agreement)
    pool = list(pool_rows.values_list("pk", flat=True))
    queue = _rotation(agreement, pool, pool_rows.values("pk"), days[0])
    leaves = on_leave(pool_rows.values("pk"), days[0], days[-1])
    quota = agreement.daily_quota
    new = []
    for day in days:
        kept = taken.get(day, [])
        picked = [
            member_id
            for member_id in queue
            if member_id not in kept and (member_id, day) not in leaves
        ][: max(0, quota - len(kept))]
        # Whoever is on duty goes to the back of the line; those skipped keep their place.
        on_duty = set(kept) | set(picked)
        queue = [m for m in queue if m not in on_duty] + [m for m in queue if m in on_duty]
        new += [DutyAssignment(agreement=agreement, date=day, member_id=m) for m in picked]
        if len(kept) + len(picked) < quota:
            result.short_days.append(day)
    result.added = _add(new, by, ChangeReason.ROTA_FILLED)
    return result


@transaction.atomic
def rota_clear(*, agreement: Agreement, month: dt.date, by, today: dt.date | None = None) -> int:
    """Takes everyone off duty on the month's days still to come; past days stay. Returns the
    number of assignments removed."""
    today = today or timezone.localdate()
    agreement = _lock(agreement)
    days = _writable_days(agreement, month.replace(day=1), today)
    if not days:
        return 0
    return _remove(
        DutyAssignment.objects.filter(agreement=agreement, date__in=days),
        by,
        ChangeReason.ROTA_CLEARED,
    )


@transaction.atomic
def rota_day_set(
    *,
    agreement: Agreement,
    day: dt.date,
    member_ids: Iterable[int],
    by,
    today: dt.date | None = None,
) -> RotaResult:
    """Puts exactly `member_ids` on duty on `day` (none: nobody), within the quota, each one of
    the pool and not on approved leave that day. Refused as a whole otherwise."""
    today = today or timezone.localdate()
    agreement = _lock(agreement)
    wanted = set(member_ids)
    if not editable(agreement, day, today):
        raise ValidationError(
            _("This day can no longer be changed: it has passed or the agreement is not in force.")
        )
    if len(wanted) > agreement.daily_quota:
        raise ValidationError(
            _("At most %(quota)d members a day under this agreement."),
            params={"quota": agreement.daily_quota},
        )
    allowed = dict(rota_pool(agreement).filter(pk__in=wanted).values_list("pk", "name"))
    if set(allowed) != wanted:
        raise ValidationError(
            _(
                "Only members of the agency who reported in to this community can be put on "
                "duty here."
            ),
            code="not_in_pool",
        )
    away = sorted(allowed[m] for m, leave_day in on_leave(wanted, day, day) if leave_day == day)
    if away:
        raise ValidationError(
            _("On approved leave that day: %(names)s."), params={"names": "、".join(away)}
        )
    current = set(
        DutyAssignment.objects.filter(agreement=agreement, date=day).values_list(
            "member", flat=True
        )
    )
    result = RotaResult()
    if current - wanted:
        result.removed = _remove(
            DutyAssignment.objects.filter(
                agreement=agreement, date=day, member__in=current - wanted
            ),
            by,
            ChangeReason.ROTA_SET,
        )
    result.added = _add(
        [
            DutyAssignment(agreement=agreement, date=day, member_id=m)
            for m in sorted(wanted - current)
        ],
        by,
        ChangeReason.ROTA_SET,
    )
    if len(wanted) < agreement.daily_quota:
        result.short_days.append(day)
    return result
