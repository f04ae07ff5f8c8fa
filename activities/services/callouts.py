"""Emergency call-outs (吹哨报到).

Community staff (or a street officer, for several communities: one call each, sharing a batch
key) raise a call: what, where, when, how many people, which grids or all. It goes at once to
every member reported in there (of those grids: their report-in's grid), on every channel they
have, quiet hours ignored (Notification.URGENT_KINDS); each gets a personal signed link
(CallOutAnswer.get_absolute_url) and answers with one tap, no password:

    pending ──▶ coming ◀──▶ cannot (with an optional reason)

An answer may change while the call is open. Coming signs the member up (SIGNED_UP) to the
call's activity, so roll call and figures follow; cannot after coming takes that sign-up back.
Every answer locks the call's row first, so answers to one call take turns: the answer that
fills the need (coming ≥ needed) closes the call as filled in its own transaction, once.

An open call whose need is not met escalates (callout_escalate_due, beat every minute) after
CALLOUT_ESCALATE_MINUTES to the offices of the agencies with an agreement in force in the
community, who may send more of their members (callout_send_more); after as long again to the
street's officers. A call closes when filled or cancelled by staff, and every member called is
told (CALL_OUT_CLOSED): those coming to come, the others that no more are needed; so are the
offices (and the street) an escalation asked for more, so that they send no more.
"""

import datetime as dt
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Count, DateTimeField, IntegerField, Q, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.history import ChangeReason
from communities.models import Agency, Agreement, Community, StaffRole
from communities.permissions import can_manage, scope_of
from members.models import Member, Registration
from notifications.models import Notification
from notifications.notify import Outgoing, notify, notify_all

from ..models import Activity, ActivityType, CallOut, CallOutAnswer, Participation
from ..models.callouts import MAX_NEEDED
from .signup import _locked as _locked_activity

Answer = CallOutAnswer.Answer


class Reason:
    """Why a version of a call or an answer was written (its history's reason)."""

    RAISED = "call-out raised"
    ANSWERED = "call-out answered"
    SENT = "call-out sent by an office"
    FILLED = "call-out filled"
    CANCELLED = "call-out cancelled"
    ESCALATED = "call-out escalated"


# --- Who may do what ---------------------------------------------------------------------------


def may_raise(user, community) -> bool:
    """Community staff (and grid workers) raise calls for their community, street officers for
    any of their street's communities."""
    return can_manage(user, community) or community.street_id in scope_of(user).street_ids


def raises_calls(user) -> bool:
    """Whether `user` raises calls at all: staff of a community or officers of a street, who
    are where the members are. The city administrator reads every call but raises none."""
    scope = scope_of(user)
    return bool(scope.community_ids or scope.street_ids)


def raise_communities(user):
    """The communities `user` may raise a call for."""
    scope = scope_of(user)
    if scope.city:
        return Community.objects.all()
    return Community.objects.filter(
        Q(pk__in=scope.community_ids) | Q(street__in=scope.street_ids)
    ).order_by("name", "pk")


def sending_agencies(user, call: CallOut):
    """The viewer's agencies whose office may send more members to `call`: those with an
    agreement in force in its community, once the call has escalated to the offices."""
    agency_ids = scope_of(user).agency_ids
    if not agency_ids or call.escalation_level < CallOut.Level.OFFICES:
        return Agency.objects.none()
    in_force = Agreement.objects.in_force().filter(community=call.community_id)
    return Agency.objects.filter(pk__in=agency_ids).filter(pk__in=in_force.values("agency"))


# --- Raising -------------------------------------------------------------------------------------


def _recipients(community, grids):
    """The active members reported in to `community` (in `grids`, when any are chosen), each once
    (a member with two report-ins there is one person), with what `notify` reads of their
    login."""
    reported_in = Registration.objects.reported_in().filter(community=community)
    if grids:
        reported_in = reported_in.filter(grid__in=grids)
    return Member.objects.filter(
        pk__in=reported_in.values("member"), status=Member.Status.ACTIVE
    ).select_related("user__notification_preference", "agency")


def _robot_for(call: CallOut, member: Member):
    """Whose group robot @-mentions `member` with `call`: their agency's, when it has one (the
    group chat of their own workplace, which their office reads too), otherwise the call's
    community's. One robot a member: a second post of the same call in another group would
    only repeat it, and each post mentions everyone of its group at once."""
    agency = member.agency
    return agency if agency.robot_webhook_url else call.community


def _outgoing(call: CallOut, answer: CallOutAnswer, **more) -> Outgoing:
    """The message about `answer` to its member, on every channel they have (an urgent kind):
    the outbox keeps it under the call's community whichever robot posts it."""
    return Outgoing(
        answer.member,
        answer,
        robot=_robot_for(call, answer.member),
        community=call.community,
        **more,
    )


def _ask(
    call: CallOut, members, *, added_by, by=None, now, tell: bool = True
) -> list[CallOutAnswer]:
    """Answers (pending) for `members` on `call`, written in bulk with their history, and the
    call's message to each, queued at once (unless not `tell`): the statements do not grow with
    the members."""
    answers = [
        CallOutAnswer(
            call=call,
            member=member,
            added_by=added_by,
            # The office that sent them: their own agency's.
            agency_id=member.agency_id if added_by == CallOutAnswer.AddedBy.AGENCY else None,
            created_at=now,
        )
        for member in members
    ]
    if not answers:
        return []
    answers = CallOutAnswer.objects.bulk_create(answers)
    _history_created(
        CallOutAnswer.objects.filter(call=call, pk__gte=min(a.pk for a in answers)),
        by=by,
        reason=Reason.SENT if added_by == CallOutAnswer.AddedBy.AGENCY else Reason.RAISED,
        now=now,
    )
    by_member = {member.pk: member for member in members}
    for answer in answers:
        answer.call = call
        answer.member = by_member[answer.member_id]
    if not tell:
        call.notified = None
        return answers
    call.notified = notify_all(
        Notification.Kind.CALL_OUT,
        (_outgoing(call, answer, deadline=call.ends_at) for answer in answers),
        due_at=now,
    )
    return answers


def _history_created(rows, *, by, reason: str, now) -> None:
    """The history's creation records ("+") of the answers `rows` selects, copied from their
    rows by the database in one INSERT … SELECT: the call's thousands of answers get theirs
    without a model instance each (simple_history's bulk path built 3,000 in Python). The
    call's row lock keeps other answers of the call out while this runs."""
    history = CallOutAnswer.history.model
    fields = [f.attname for f in CallOutAnswer._meta.concrete_fields]
    select = (
        rows.order_by()
        .annotate(
            history_date_=Value(now, output_field=DateTimeField()),
            history_change_reason_=Value(reason, output_field=CharField()),
            history_type_=Value("+", output_field=CharField()),
            history_user_id_=Value(getattr(by, "pk", None), output_field=IntegerField()),
        )
        .values_list(
            *fields,
            "history_date_",
            "history_change_reason_",
            "history_type_",
            "history_user_id_",
        )
    )
    sql, params = select.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = [*fields, "history_date", "history_change_reason", "history_type", "history_user_id"]
    columns = [history._meta.get_field(name).column for name in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({', '.join(quote(c) for c in columns)}) {sql}",
            params,
        )


def _save(obj, why: str, user, when, **fields) -> None:
    """Saves `obj` with its history's reason (`why`), who and when."""
    for name, value in fields.items():
        setattr(obj, name, value)
    obj._change_reason = why
    obj._history_user = user
    obj._history_date = when
    obj.save()


@transaction.atomic
def callout_raise(
    *,
    by,
    community: Community,
    title: str,
    place: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    needed: int,
    grids=(),
    description: str = "",
    activity_type: ActivityType | None = None,
    batch: str = "",
    now: dt.datetime | None = None,
    tell: bool = True,
) -> CallOut:
    """Raises a call in `community` and asks every member reported in there (in `grids`, when
    any) at once. Its activity (voluntary service) is created with it; those coming are signed
    up to it. Raises ValidationError, changing nothing, for a call that does not add up.
    `tell=False` (the demo, writing a call of the past) queues no message."""
    now = now or timezone.now()
    if not may_raise(by, community):
        raise ValidationError(
            _("Only the community's staff and its street's officers raise calls.")
        )
    title, place = (title or "").strip(), (place or "").strip()
    grids = list(grids or ())
    errors = {}
    if not title:
        errors["title"] = _("Say what the call is for.")
    if not place:
        errors["place"] = _("Say where people should come.")
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        errors["ends_at"] = _("A call must end after it starts.")
    elif ends_at <= now:
        errors["ends_at"] = _("The call must end in the future.")
    try:
        needed = int(needed)
    except (TypeError, ValueError):
        needed = 0
    if not 1 <= needed <= MAX_NEEDED:
        errors["needed"] = _("A call needs between 1 and 500 people.")
    if any(grid.community_id != community.pk for grid in grids):
        errors["grids"] = _("Choose grids of this community.")
    if errors:
        raise ValidationError(errors)
    if activity_type is None:
        activity_type, _created = ActivityType.objects.get_or_create(
            code=ActivityType.Code.OTHER, defaults={"name": str(ActivityType.Code.OTHER.label)}
        )
    activity = Activity.objects.create(
        community=community,
        grid=grids[0] if len(grids) == 1 else None,
        type=activity_type,
        title=title,
        description=(description or "").strip(),
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        nature=Activity.Nature.VOLUNTEER,
        status=Activity.Status.RECRUITING,
        organizer=by,
    )
    call = CallOut(
        community=community,
        batch=batch,
        raised_by=by,
        title=title,
        description=activity.description,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        needed=needed,
        activity=activity,
        created_at=now,
    )
    _save(call, Reason.RAISED, by, now)
    if grids:
        call.grids.set(grids)
    street = community.street_id in scope_of(by).street_ids and not can_manage(by, community)
    added_by = CallOutAnswer.AddedBy.STREET if street else CallOutAnswer.AddedBy.COMMUNITY
    call.answers_made = _ask(
        call, list(_recipients(community, grids)), added_by=added_by, by=by, now=now, tell=tell
    )
    return call


def callout_raise_many(*, by, communities, **fields) -> list[CallOut]:
    """A street officer's call to several communities: one call each, raised together under
    one batch key (the street sees them side by side), all or none."""
    batch = uuid.uuid4().hex if len(communities) > 1 else ""
    with transaction.atomic():
        return [
            callout_raise(by=by, community=community, batch=batch, **fields)
            for community in communities
        ]


def open_calls_of(member: Member, now: dt.datetime | None = None, limit: int = 20):
    """The calls still open to `member` (not filled, cancelled or over), the latest first, each
    as the member's answer with its call: what their home page and the call list show."""
    now = now or timezone.now()
    return (
        CallOutAnswer.objects.filter(
            member=member, call__state=CallOut.State.OPEN, call__ends_at__gt=now
        )
        .select_related("call__community")
        .order_by("-call__created_at", "-pk")[:limit]
    )


# --- Answering -----------------------------------------------------------------------------------


def _locked_call(call_id) -> CallOut:
    return (
        CallOut.objects.select_for_update(of=("self",))
        .select_related("community", "activity")
        .get(pk=call_id)
    )


def counts(call: CallOut) -> dict:
    """How the answers stand: coming, cannot, pending, all (one query)."""
    return call.answers.aggregate(
        coming=Count("pk", filter=Q(answer=Answer.COMING)),
        cannot=Count("pk", filter=Q(answer=Answer.CANNOT)),
        pending=Count("pk", filter=Q(answer=Answer.PENDING)),
        called=Count("pk"),
    )


def _sign_up(call: CallOut, member: Member, now) -> None:
    """The member coming is signed up to the call's activity (under its row lock): until the
    call ends, even once it has started, which is what a call is for."""
    activity = _locked_activity(call.activity)
    p = Participation.objects.filter(activity=activity, member=member).first()
    if p is None:
        p = Participation(
            activity=activity,
            member=member,
            status=Participation.Status.SIGNED_UP,
            source=Participation.Source.SIGN_UP,
            recorded_by=member.user,
            recorded_at=now,
        )
    elif p.status == Participation.Status.WAITLISTED:
        p.status, p.waitlisted_at, p.recorded_at = Participation.Status.SIGNED_UP, None, now
    else:
        return  # signed up, or recorded at a roll call already: that stands
    # The member answered through their link, signed in or not: the change is theirs.
    p._change_reason = ChangeReason.SIGNED_UP
    p._history_user = member.user
    p._history_date = now
    p.save()


def _cancel_sign_up(call: CallOut, member: Member) -> None:
    activity = _locked_activity(call.activity)
    p = Participation.objects.filter(
        activity=activity, member=member, status__in=Participation.SIGNED_UP_OR_WAITING
    ).first()
    if p is not None:
        p._change_reason = ChangeReason.SIGN_UP_CANCELLED
        p._history_user = member.user
        p.delete()


@transaction.atomic
def callout_answer(
    *,
    answer_id: int,
    coming: bool,
    reason: str = "",
    now: dt.datetime | None = None,
    tell: bool = True,
) -> CallOutAnswer:
    """The member's answer: coming (signed up to the call's activity) or cannot (with a reason;
    a sign-up from an earlier "coming" is taken back). Refused (ValidationError) once the call
    is closed or over. The answer that fills the need closes the call and tells everyone."""
    now = now or timezone.now()
    answer = CallOutAnswer.objects.select_related("member__user").get(pk=answer_id)
    call = _locked_call(answer.call_id)
    closed = call.closed_reason(now)
    if closed:
        raise ValidationError(closed)
    answer = (
        CallOutAnswer.objects.select_for_update(of=("self",))
        .select_related("member__user")
        .get(pk=answer_id)
    )
    was_coming = answer.answer == Answer.COMING
    if coming and not was_coming:
        _sign_up(call, answer.member, now)
    elif not coming and was_coming:
        _cancel_sign_up(call, answer.member)
    _save(
        answer,
        Reason.ANSWERED,
        answer.member.user,
        now,
        answer=Answer.COMING if coming else Answer.CANNOT,
        reason="" if coming else (reason or "").strip()[:200],
        answered_at=now,
    )
    answer.call = call
    if coming and counts(call)["coming"] >= call.needed:
        _close(call, CallOut.State.FILLED, by=answer.member.user, now=now, tell=tell)
    return answer


# --- Closing -------------------------------------------------------------------------------------


def _close(call: CallOut, state, *, by, now, reason: str = "", tell: bool = True) -> None:
    """Closes the locked `call` and tells each member called (CALL_OUT_CLOSED) if `tell`."""
    _save(
        call,
        Reason.FILLED if state == CallOut.State.FILLED else Reason.CANCELLED,
        by,
        now,
        state=state,
        closed_at=now,
        cancel_reason=reason[:200],
    )
    if not tell:
        call.notified = None
        return
    answers = list(
        call.answers.select_related(
            "member__user__notification_preference", "member__agency"
        ).order_by("pk")
    )
    for answer in answers:
        answer.call = call
    call.notified = notify_all(
        Notification.Kind.CALL_OUT_CLOSED,
        (_outgoing(call, a) for a in answers),
    )
    # The offices (and the street) an escalation asked to send more people are told too.
    senders = []
    if call.escalation_level >= CallOut.Level.OFFICES:
        senders += list(_office_users(call))
    if call.escalation_level >= CallOut.Level.STREET:
        senders += list(_street_users(call))
    senders = list({user.pk: user for user in senders}.values())  # an office and an officer
    if senders:
        call.notified += notify(
            kind=Notification.Kind.CALL_OUT_CLOSED, recipients=senders, obj=call
        ).queued


@transaction.atomic
def callout_cancel(*, call: CallOut, by, reason: str = "", now=None) -> CallOut:
    """Staff cancel an open call: its activity is cancelled too, and everyone called is told."""
    now = now or timezone.now()
    call = _locked_call(call.pk)
    if not may_raise(by, call.community):
        raise ValidationError(
            _("Only the community's staff and its street's officers cancel calls.")
        )
    if call.state != CallOut.State.OPEN:
        raise ValidationError(_("Only an open call can be cancelled."))
    reason = (reason or "").strip()
    activity = _locked_activity(call.activity)
    activity.status, activity.cancel_reason = Activity.Status.CANCELLED, reason[:200]
    activity.save(update_fields=["status", "cancel_reason", "updated_at"])
    _close(call, CallOut.State.CANCELLED, by=by, now=now, reason=reason)
    return call


# --- Escalating ----------------------------------------------------------------------------------


def _office_users(call: CallOut):
    in_force = Agreement.objects.in_force(timezone.localdate()).filter(community=call.community_id)
    roles = StaffRole.objects.filter(
        kind=StaffRole.Kind.AGENCY_OFFICE, agency__in=in_force.values("agency")
    )
    return get_user_model().objects.filter(pk__in=roles.values("user"), is_active=True)


def _street_users(call: CallOut):
    roles = StaffRole.objects.filter(
        kind=StaffRole.Kind.STREET_OFFICER, street=call.community.street_id
    )
    return get_user_model().objects.filter(pk__in=roles.values("user"), is_active=True)


def _escalate(call: CallOut, now, tell: bool = True) -> int:
    """One step up for the locked, due `call`; the new level. A community with no agency office
    to ask (no agreement in force there, or no office login) goes to the street at once rather
    than losing another CALLOUT_ESCALATE_MINUTES on a step that reaches nobody."""
    missing = max(0, call.needed - counts(call)["coming"])
    offices = list(_office_users(call)) if call.escalation_level == CallOut.Level.NONE else []
    if offices:
        level, recipients, slot = CallOut.Level.OFFICES, offices, "offices"
        fields = {"escalation_level": level, "escalated_at": now}
    else:
        level, recipients, slot = CallOut.Level.STREET, _street_users(call), "street"
        fields = {"escalation_level": level, "escalated_to_street_at": now}
    _save(call, Reason.ESCALATED, None, now, **fields)
    if not tell:
        call.notified = None
        return level
    call.notified = notify(
        kind=Notification.Kind.CALL_OUT_ESCALATED,
        recipients=list(recipients),
        obj=call,
        context={
            "missing": missing,
            "street": level == CallOut.Level.STREET,
            "no_offices": level == CallOut.Level.STREET and not call.escalated_at,
        },
        slot=slot,
    )
    return level


@transaction.atomic
def callout_escalate_due(*, now: dt.datetime | None = None, tell: bool = True) -> list[CallOut]:
    """Escalates every open call whose need has waited long enough (CallOutQuerySet.
    due_to_escalate), one step each. Safe to run twice at once: the calls are locked, and a run
    skips those another holds, so each step happens once."""
    now = now or timezone.now()
    due = list(
        CallOut.objects.due_to_escalate(now)
        .select_for_update(of=("self",), skip_locked=True)
        .select_related("community")
        .order_by("pk")
    )
    for call in due:
        _escalate(call, now, tell)
    return due


# --- Offices sending more ------------------------------------------------------------------------


def send_more_candidates(call: CallOut, agencies, query: str = ""):
    """The members an office may still send: active members of its `agencies` not yet called,
    found by name or mobile."""
    members = Member.objects.filter(agency__in=agencies, status=Member.Status.ACTIVE).exclude(
        pk__in=CallOutAnswer.objects.filter(call=call).values("member")
    )
    query = (query or "").strip()
    if query:
        members = members.filter(Q(name__contains=query) | Q(mobile__contains=query))
    return members.order_by("name", "pk")


@transaction.atomic
def callout_send_more(*, call: CallOut, by, member_ids, now=None) -> list[CallOutAnswer]:
    """An agency office sends more of its members to an escalated, open call: each gets the
    call's message and link as the first ones did. Members already called are left out."""
    now = now or timezone.now()
    call = _locked_call(call.pk)
    agencies = list(sending_agencies(by, call))
    if not agencies:
        raise ValidationError(_("Your agency is not asked to send members to this call."))
    closed = call.closed_reason(now)
    if closed:
        raise ValidationError(closed)
    ids = set()
    for value in member_ids or ():
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            continue
    if not ids:
        raise ValidationError(_("Choose the members to send."))
    members = list(
        send_more_candidates(call, agencies)
        .filter(pk__in=ids)
        .select_related("user__notification_preference", "agency")
    )
    if not members:
        raise ValidationError(_("Choose members of your agency who have not been called yet."))
    try:
        with transaction.atomic():
            return _ask(
                call,
                members,
                added_by=CallOutAnswer.AddedBy.AGENCY,
                by=by,
                now=now,
            )
    except IntegrityError as exc:  # called meanwhile by another office's tap
        raise ValidationError(_("Some of these members have just been called.")) from exc
