"""Leave (请假), the services: a member asks before the start with a reason, may withdraw while
it waits; the organizer approves or rejects; the member is told; an approved leave frees the
seat for the first in line. A request still waiting is no leave in any figure."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from activities import figures
from activities.models import Activity, Participation
from activities.services.activity import activity_cancel
from activities.services.leave import (
    participation_leave_decide,
    participation_leave_request,
    participation_leave_withdraw,
    pending_leave_requests,
)
from activities.services.signup import participation_sign_up
from communities.history import ChangeReason
from notifications.models import Notification
from tests.activities.test_signup import coming, reported_in

Status = Participation.Status
Decision = Participation.LeaveDecision


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def mine(activity, member):
    return Participation.objects.get(activity=activity, member=member)


def decided_notices(participation):
    return Notification.objects.filter(
        kind=Notification.Kind.LEAVE_DECIDED,
        object_id=str(participation.pk),
        channel=Notification.Channel.INAPP,
    )


@pytest.fixture
def full(world, django_user_model):
    """A coming activity with 2 seats, both taken (a, b), and c then d on the waitlist."""
    activity = coming(world, capacity=2)
    a, b, c, d = reported_in(world, django_user_model, 4)
    for member in (a, b, c, d):
        participation_sign_up(activity=activity, member=member)
    return activity, a, b, c, d


def test_a_request_waits_holding_the_seat_and_counts_as_no_leave(full):
    activity, a, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="  单位临时开会 ")
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_reason) == (
        Status.SIGNED_UP,
        Decision.PENDING,
        "单位临时开会",
    )
    assert p.leave_decided_by is None and p.leave_decided_at is None
    assert p.history.latest().history_change_reason == ChangeReason.LEAVE_REQUESTED
    assert p.history.latest().history_user == a.user
    # Still holds the seat: the waitlist is where it was.
    assert mine(activity, full[3]).status == Status.WAITLISTED
    rows = Participation.objects.filter(activity=activity)
    assert figures.attendance(rows).leaves == 0
    assert list(rows.leave_requests()) == [p]


@pytest.mark.parametrize(
    "reason, message",
    [
        ("", "Give the reason for leave."),
        ("   ", "Give the reason for leave."),
        ("长" * 201, "200"),
    ],
)
def test_a_request_needs_a_reason_of_at_most_200_characters(full, reason, message):
    activity, a, *_ = full
    with pytest.raises(ValidationError) as raised:
        participation_leave_request(activity=activity, member=a, reason=reason)
    assert message in str(raised.value)
    assert mine(activity, a).leave_decision == ""


def test_a_reason_of_exactly_200_characters_is_kept(full):
    activity, a, *_ = full
    participation_leave_request(activity=activity, member=a, reason="长" * 200)
    assert mine(activity, a).leave_reason == "长" * 200


def test_only_a_member_holding_a_seat_may_ask(full, world):
    activity, _a, _b, c, _d = full
    for member in (c, world.sanxia_member_2):  # waitlisted; not on the activity at all
        with pytest.raises(ValidationError) as raised:
            participation_leave_request(activity=activity, member=member, reason="有事")
        assert "only from an activity you signed up to" in str(raised.value)
    assert mine(activity, c).status == Status.WAITLISTED
    assert not Participation.objects.filter(activity=activity).leave_requests().exists()


@pytest.mark.parametrize("change", ["started", "cancelled", "draft"])
def test_asking_is_refused_once_the_activity_started_or_will_not_take_place(full, change):
    activity, a, *_ = full
    if change == "started":
        now = activity.starts_at + dt.timedelta(minutes=1)
    else:
        now = None
        Activity.objects.filter(pk=activity.pk).update(status=change)
    with pytest.raises(ValidationError) as raised:
        participation_leave_request(activity=activity, member=a, reason="有事", now=now)
    expected = {
        "started": "already started",
        "cancelled": "cancelled",
        "draft": "not open yet",
    }[change]
    assert expected in str(raised.value)
    assert mine(activity, a).leave_decision == ""


def test_asking_twice_is_refused_and_keeps_the_first_reason(full):
    activity, a, *_ = full
    participation_leave_request(activity=activity, member=a, reason="第一次")
    with pytest.raises(ValidationError, match="already asked"):
        participation_leave_request(activity=activity, member=a, reason="第二次")
    assert mine(activity, a).leave_reason == "第一次"


def test_the_member_withdraws_a_waiting_request_and_is_signed_up_as_before(full):
    activity, a, *_ = full
    participation_leave_request(activity=activity, member=a, reason="有事")
    p = participation_leave_withdraw(activity=activity, member=a)
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_reason) == (Status.SIGNED_UP, "", "")
    reasons = list(
        p.history.order_by("history_date").values_list("history_change_reason", flat=True)
    )
    assert reasons[-2:] == [ChangeReason.LEAVE_REQUESTED, ChangeReason.LEAVE_WITHDRAWN]
    with pytest.raises(ValidationError, match="no leave request"):
        participation_leave_withdraw(activity=activity, member=a)


def test_withdrawing_is_refused_after_the_start(full):
    activity, a, *_ = full
    participation_leave_request(activity=activity, member=a, reason="有事")
    with pytest.raises(ValidationError, match="already started"):
        participation_leave_withdraw(
            activity=activity, member=a, now=activity.starts_at + dt.timedelta(seconds=1)
        )
    assert mine(activity, a).asks_for_leave


def test_approving_records_the_decision_tells_the_member_and_gives_the_seat_on(full, grid_worker):
    activity, a, _b, c, d = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    decided = participation_leave_decide(
        participation=p, by=grid_worker, decision=Decision.APPROVED
    )
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_reason) == (Status.LEAVE, Decision.APPROVED, "出差")
    assert p.leave_decided_by == grid_worker and p.leave_decided_at is not None
    assert p.recorded_by == grid_worker
    latest = p.history.latest()
    assert (latest.history_change_reason, latest.history_user) == (
        ChangeReason.LEAVE_APPROVED,
        grid_worker,
    )
    notice = decided_notices(p).get()
    assert notice.recipient == a.user and notice.slot == Decision.APPROVED
    assert notice.url.endswith(activity.get_absolute_url())
    assert "approved" in notice.body
    # The first in line gets the seat and is told; the second keeps waiting.
    assert [x.member for x in decided.filled.promoted] == [c]
    assert mine(activity, c).status == Status.SIGNED_UP
    assert mine(activity, d).status == Status.WAITLISTED
    assert Notification.objects.filter(
        kind=Notification.Kind.SEAT_FREED, recipient=c.user, object_id=str(activity.pk)
    ).exists()
    # Now it is leave, in the figures too.
    assert figures.attendance(Participation.objects.filter(activity=activity)).leaves == 1


def test_rejecting_keeps_the_seat_and_tells_the_member_why(full, community_staff):
    activity, a, _b, c, _d = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    decided = participation_leave_decide(
        participation=p, by=community_staff, decision=Decision.REJECTED, note="当天人手不足"
    )
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_decision_note) == (
        Status.SIGNED_UP,
        Decision.REJECTED,
        "当天人手不足",
    )
    assert p.leave_reason == "出差"  # the decision still says what was rejected
    assert p.leave_decided_by == community_staff
    assert decided.filled is None
    assert mine(activity, c).status == Status.WAITLISTED
    notice = decided_notices(p).get()
    assert notice.slot == Decision.REJECTED and "当天人手不足" in notice.body
    # Refused once, not asked again.
    with pytest.raises(ValidationError, match="not approved"):
        participation_leave_request(activity=activity, member=a, reason="再请一次")
    assert figures.attendance(Participation.objects.filter(activity=activity)).leaves == 0


def test_a_request_no_longer_waiting_cannot_be_decided(full, grid_worker):
    activity, a, b, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    participation_leave_withdraw(activity=activity, member=a)
    with pytest.raises(ValidationError, match="no longer waiting"):
        participation_leave_decide(participation=p, by=grid_worker, decision=Decision.APPROVED)
    never_asked = mine(activity, b)
    with pytest.raises(ValidationError, match="no longer waiting"):
        participation_leave_decide(
            participation=never_asked, by=grid_worker, decision=Decision.APPROVED
        )
    assert mine(activity, b).status == Status.SIGNED_UP
    assert not Notification.objects.filter(kind=Notification.Kind.LEAVE_DECIDED).exists()


def test_a_decision_twice_is_refused_and_tells_once(full, grid_worker):
    activity, a, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    participation_leave_decide(participation=p, by=grid_worker, decision=Decision.APPROVED)
    with pytest.raises(ValidationError, match="no longer waiting"):
        participation_leave_decide(participation=p, by=grid_worker, decision=Decision.REJECTED)
    assert mine(activity, a).leave_decision == Decision.APPROVED
    assert decided_notices(p).count() == 1


@pytest.mark.parametrize("decision", ["", "maybe", Decision.PENDING])
def test_an_unknown_decision_changes_nothing(full, grid_worker, decision):
    activity, a, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    with pytest.raises(ValidationError):
        participation_leave_decide(participation=p, by=grid_worker, decision=decision)
    assert mine(activity, a).asks_for_leave


def test_a_note_over_200_characters_changes_nothing(full, grid_worker):
    activity, a, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    with pytest.raises(ValidationError, match="200"):
        participation_leave_decide(
            participation=p, by=grid_worker, decision=Decision.REJECTED, note="长" * 201
        )
    assert mine(activity, a).asks_for_leave


def test_after_the_start_an_approval_frees_no_seat(full, grid_worker):
    activity, a, _b, c, _d = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    participation_leave_decide(
        participation=p,
        by=grid_worker,
        decision=Decision.APPROVED,
        now=activity.starts_at + dt.timedelta(minutes=5),
    )
    assert mine(activity, a).status == Status.LEAVE
    assert mine(activity, c).status == Status.WAITLISTED


def test_the_organizers_list_holds_their_communities_pending_requests_only(
    full, world, grid_worker, other_community_staff
):
    activity, a, b, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    elsewhere = coming(world, community=world.shenzhen, title="翰林苑宣传")
    y = world.yuanlin_member  # reported in to 深圳路社区
    participation_sign_up(activity=elsewhere, member=y)
    q = participation_leave_request(activity=elsewhere, member=y, reason="加班")
    assert list(pending_leave_requests(grid_worker)) == [p]
    assert list(pending_leave_requests(other_community_staff)) == [q]
    # Decided or on a cancelled activity: off the list.
    participation_leave_request(activity=activity, member=b, reason="病")
    activity_cancel(activity=activity, reason="暴雨")
    assert list(pending_leave_requests(grid_worker)) == []


def test_cancelling_tells_the_waitlist_too(full):
    activity, a, b, c, d = full
    activity_cancel(activity=activity, reason="暴雨预警")
    told = set(
        Notification.objects.filter(
            kind=Notification.Kind.ACTIVITY_CANCELLED,
            object_id=str(activity.pk),
            channel=Notification.Channel.INAPP,
        ).values_list("recipient", flat=True)
    )
    assert told == {m.user_id for m in (a, b, c, d)}


def test_the_roll_call_answers_a_request_made_by_the_member(full, grid_worker):
    """The same stored request is what the roll call shows and decides, once it has started."""
    from activities.services.rollcall import RollCallRow, participation_roll_call

    activity, a, *_ = full
    p = participation_leave_request(activity=activity, member=a, reason="出差")
    participation_roll_call(
        activity=activity,
        by=grid_worker,
        rows=[RollCallRow(member_id=a.pk, decision=Decision.APPROVED)],
        resident_volunteers=0,
        now=activity.ends_at + dt.timedelta(minutes=10),
    )
    p.refresh_from_db()
    assert (p.status, p.leave_decision, p.leave_decided_by) == (
        Status.LEAVE,
        Decision.APPROVED,
        grid_worker,
    )


def test_the_database_refuses_a_waiting_request_stored_as_leave(full):
    from django.db import IntegrityError, transaction

    activity, a, *_ = full
    with pytest.raises(IntegrityError), transaction.atomic():
        Participation.objects.filter(activity=activity, member=a).update(
            status=Status.LEAVE, leave_reason="x", leave_decision=Decision.PENDING
        )
    assert mine(activity, a).status == Status.SIGNED_UP
