"""A member's sign-up (报名) and the waitlist (候补): the service's rules, the freed seat offered
to the first in line, and the waitlist counting nowhere a sign-up counts."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from activities import figures, reminders
from activities.models import Activity, Participation
from activities.services.activity import activity_update
from activities.services.rollcall import RollCallRow, participation_roll_call
from activities.services.signup import (
    participation_cancel,
    participation_sign_up,
    sign_up_clashes,
    waitlist_fill,
)
from communities.history import ChangeReason
from members.models import Member, Registration
from notifications.models import Notification
from tests.conftest import make_user

Status = Participation.Status


def reported_in(world, django_user_model, n, *, community=None, prefix="m"):
    """`n` active members of 三峡 with logins, each reported in (approved) to `community`."""
    members = []
    for i in range(n):
        user = make_user(django_user_model, f"{prefix}{i}")
        member = Member.objects.create(
            agency=world.sanxia, name=f"成员{prefix}{i}", mobile=f"1370000{i:04d}", user=user
        )
        Registration.objects.create(
            member=member,
            community=community or world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
        members.append(member)
    return members


def coming(world, *, capacity=None, days=2, hours=2, title="万寿小区环境清扫", **extra):
    starts = timezone.now() + dt.timedelta(days=days)
    return Activity.objects.create(
        community=extra.pop("community", world.shengli),
        type=world.cleanup,
        title=title,
        place="万寿小区",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=hours),
        capacity=capacity,
        **extra,
    )


def statuses(activity):
    return dict(
        Participation.objects.filter(activity=activity).values_list("member__name", "status")
    )


def seat_notices(activity):
    return Notification.objects.filter(
        kind=Notification.Kind.SEAT_FREED, object_id=str(activity.pk)
    )


def test_a_reported_in_member_signs_up_and_takes_a_seat(world):
    activity = coming(world, capacity=3)
    result = participation_sign_up(activity=activity, member=world.sanxia_member)
    p = result.participation
    assert (p.status, p.source, p.recorded_by) == (
        Status.SIGNED_UP,
        Participation.Source.SIGN_UP,
        world.sanxia_member.user,
    )
    assert not result.waitlisted
    assert p.history.get().history_change_reason == ChangeReason.SIGNED_UP
    assert Activity.objects.with_place_counts().get(pk=activity.pk).signed_up == 1


def test_a_full_activity_puts_members_on_the_waitlist_in_order(world, django_user_model):
    activity = coming(world, capacity=2)
    a, b, c, d = reported_in(world, django_user_model, 4)
    results = [participation_sign_up(activity=activity, member=m) for m in (a, b, c, d)]
    assert [r.position for r in results] == [None, None, 1, 2]
    assert [r.participation.status for r in results] == [Status.SIGNED_UP] * 2 + [
        Status.WAITLISTED
    ] * 2
    assert list(
        Participation.objects.filter(activity=activity).waitlist().values_list("member", flat=True)
    ) == [c.pk, d.pk]
    # The waitlist holds no seat: the activity counts two.
    counted = Activity.objects.with_place_counts().get(pk=activity.pk)
    assert counted.signed_up == 2


def test_a_cancelled_seat_goes_to_the_first_in_line_who_is_told(world, django_user_model):
    activity = coming(world, capacity=1)
    a, b, c = reported_in(world, django_user_model, 3)
    for member in (a, b, c):
        participation_sign_up(activity=activity, member=member)

    result = participation_cancel(activity=activity, member=a)

    assert [p.member for p in result.promoted] == [b]
    assert statuses(activity) == {b.name: Status.SIGNED_UP, c.name: Status.WAITLISTED}
    promoted = Participation.objects.get(activity=activity, member=b)
    assert promoted.came_off_waitlist
    assert promoted.history.first().history_change_reason == ChangeReason.SEAT_GIVEN
    # The cancelled row is gone, its history kept.
    assert (
        Participation.history.filter(member=a, activity=activity, history_type="-")
        .get()
        .history_change_reason
        == ChangeReason.SIGN_UP_CANCELLED
    )
    notice = seat_notices(activity).get()
    assert notice.recipient == b.user
    assert activity.get_absolute_url() in notice.url
    # c is first in line now.
    position = (
        Participation.objects.filter(activity=activity, member=c)
        .with_waitlist_position()
        .get()
        .waitlist_position
    )
    assert position == 1


def test_giving_the_seat_back_passes_it_on_to_the_next(world, django_user_model):
    activity = coming(world, capacity=1)
    a, b, c = reported_in(world, django_user_model, 3)
    for member in (a, b, c):
        participation_sign_up(activity=activity, member=member)
    participation_cancel(activity=activity, member=a)  # b gets the seat

    result = participation_cancel(activity=activity, member=b)  # b gives it back

    assert [p.member for p in result.promoted] == [c]
    assert statuses(activity) == {c.name: Status.SIGNED_UP}
    assert set(seat_notices(activity).values_list("recipient", flat=True)) == {b.user_id, c.user_id}


def test_leaving_the_waitlist_frees_no_seat(world, django_user_model):
    activity = coming(world, capacity=1)
    a, b, c = reported_in(world, django_user_model, 3)
    for member in (a, b, c):
        participation_sign_up(activity=activity, member=member)
    result = participation_cancel(activity=activity, member=b)
    assert result.promoted == ()
    assert statuses(activity) == {a.name: Status.SIGNED_UP, c.name: Status.WAITLISTED}
    assert not seat_notices(activity).exists()


def test_more_seats_from_the_organizer_go_to_those_waiting(world, django_user_model):
    activity = coming(world, capacity=1)
    members = reported_in(world, django_user_model, 4)
    for member in members:
        participation_sign_up(activity=activity, member=member)
    values = {
        name: getattr(activity, name)
        for name in ("type", "title", "starts_at", "ends_at", "place", "nature", "status")
    }
    activity_update(activity=activity, **values, capacity=3)
    assert sorted(statuses(activity).values()) == [Status.SIGNED_UP] * 3 + [Status.WAITLISTED]
    assert seat_notices(activity).count() == 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": Activity.Status.CANCELLED}, "This activity is cancelled."),
        ({"status": Activity.Status.DRAFT}, "This activity is not open for sign-up yet."),
        ({"days": -1}, "This activity has already started"),
        ({"days": 0, "hours": 3, "started": True}, "This activity has already started"),
    ],
)
def test_sign_up_and_cancel_are_refused_once_closed(world, settings, change, message):
    settings.LANGUAGE_CODE = "en"
    change = dict(change)
    started = change.pop("started", False)
    days = change.pop("days", 2)
    hours = change.pop("hours", 2)
    activity = coming(world, days=days, hours=hours, **change)
    if started:
        activity.starts_at = timezone.now() - dt.timedelta(minutes=1)
        activity.save()
    with pytest.raises(ValidationError, match=message):
        participation_sign_up(activity=activity, member=world.sanxia_member)
    with pytest.raises(ValidationError, match=message):
        participation_cancel(activity=activity, member=world.sanxia_member)
    assert not Participation.objects.filter(activity=activity).exists()


def test_a_cancel_after_the_start_keeps_the_sign_up(world):
    activity = coming(world, capacity=2)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    later = activity.starts_at + dt.timedelta(minutes=5)
    with pytest.raises(ValidationError):
        participation_cancel(activity=activity, member=world.sanxia_member, now=later)
    assert statuses(activity) == {world.sanxia_member.name: Status.SIGNED_UP}


@pytest.mark.parametrize(
    "who", ["pending report-in", "other community", "left the agency", "returned report-in"]
)
def test_only_members_reported_in_to_the_community_may_sign_up(world, who):
    activity = coming(world)
    member = world.sanxia_member
    if who == "pending report-in":
        member = world.sanxia_member_2
    elif who == "other community":
        member = world.yuanlin_member
    elif who == "left the agency":
        member.status = Member.Status.LEFT
        member.left_on = timezone.localdate()
        member.save()
    else:
        Registration.objects.filter(member=member).update(
            status=Registration.Status.RETURNED, return_reason="不是本社区"
        )
    with pytest.raises(ValidationError):
        participation_sign_up(activity=activity, member=member)
    assert not Participation.objects.filter(activity=activity).exists()


def test_signing_up_twice_is_refused(world):
    activity = coming(world, capacity=5)
    participation_sign_up(activity=activity, member=world.sanxia_member)
    with pytest.raises(ValidationError):
        participation_sign_up(activity=activity, member=world.sanxia_member)
    assert Participation.objects.filter(activity=activity).count() == 1


def test_cancelling_without_a_sign_up_is_refused(world):
    activity = coming(world)
    with pytest.raises(ValidationError):
        participation_cancel(activity=activity, member=world.sanxia_member)


def test_clashes_are_the_overlapping_sign_ups_and_waitlist_places(world, django_user_model):
    (other_community_member,) = reported_in(
        world, django_user_model, 1, community=world.shenzhen, prefix="x"
    )
    Registration.objects.create(
        member=other_community_member,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    member = other_community_member
    wanted = coming(world, days=3, hours=2)
    # Overlaps by an hour, in the other community: a dual report-in's clash.
    overlapping = coming(world, community=world.shenzhen, title="翰林苑巡查", days=3, hours=3)
    overlapping.starts_at = wanted.starts_at + dt.timedelta(hours=1)
    overlapping.ends_at = wanted.starts_at + dt.timedelta(hours=4)
    overlapping.save()
    # Ends just as the wanted one starts: no clash.
    before = coming(world, title="早班", days=3, hours=1)
    before.starts_at = wanted.starts_at - dt.timedelta(hours=1)
    before.ends_at = wanted.starts_at
    before.save()
    for activity in (overlapping, before):
        participation_sign_up(activity=activity, member=member)
    assert [p.activity for p in sign_up_clashes(member=member, activity=wanted)] == [overlapping]
    overlapping.status = Activity.Status.CANCELLED
    overlapping.save()
    assert sign_up_clashes(member=member, activity=wanted) == []


# --- The waitlist counts nowhere a sign-up counts ---------------------------------------------


@pytest.fixture
def full_with_waitlist(world, django_user_model):
    activity = coming(world, capacity=1, days=0, hours=1)
    activity.starts_at = timezone.now() + dt.timedelta(hours=1)
    activity.ends_at = activity.starts_at + dt.timedelta(hours=2)
    activity.save()
    seated, waiting = reported_in(world, django_user_model, 2)
    participation_sign_up(activity=activity, member=seated)
    participation_sign_up(activity=activity, member=waiting)
    return activity, seated, waiting


def test_upcoming_reminders_go_to_the_seated_not_the_waitlist(full_with_waitlist):
    activity, seated, waiting = full_with_waitlist
    reminders.upcoming(timezone.now())
    told = set(
        Notification.objects.filter(
            kind=Notification.Kind.UPCOMING, object_id=str(activity.pk)
        ).values_list("recipient", flat=True)
    )
    assert told == {seated.user_id}
    assert activity.signed_up_members() == [seated]


def test_the_waitlist_is_not_pending_roll_call_nor_a_record(full_with_waitlist):
    activity, seated, waiting = full_with_waitlist
    after = activity.ends_at + dt.timedelta(hours=2)
    pending = Participation.objects.filter(activity=activity).pending_roll_call(after)
    assert list(pending.values_list("member", flat=True)) == [seated.pk]
    assert not Participation.objects.filter(member=waiting).to_review().exists()
    totals = figures.attendance(Participation.objects.filter(activity=activity))
    assert (totals.present, totals.absent, totals.leaves) == (0, 0, 0)


def test_the_roll_call_adds_someone_from_the_waitlist_who_came(full_with_waitlist, grid_worker):
    activity, seated, waiting = full_with_waitlist
    waitlisted = Participation.objects.get(member=waiting)
    later = activity.starts_at + dt.timedelta(minutes=30)
    result = participation_roll_call(
        activity=activity,
        by=grid_worker,
        rows=[
            RollCallRow(member_id=seated.pk, status=Status.ABSENT),
            RollCallRow(member_id=waiting.pk, status=Status.PRESENT),
        ],
        resident_volunteers=0,
        now=later,
    )
    assert (result.added, result.changed, result.waiting) == (0, 2, 0)
    came = Participation.objects.get(pk=waitlisted.pk)  # the same row, now a record
    assert (came.status, came.source) == (Status.PRESENT, Participation.Source.ROLL_CALL)
    totals = figures.attendance(Participation.objects.filter(activity=activity))
    assert (totals.present, totals.absent) == (1, 1)


def test_a_waitlisted_row_left_alone_at_the_roll_call_stays_out_of_it(
    full_with_waitlist, grid_worker
):
    activity, seated, waiting = full_with_waitlist
    result = participation_roll_call(
        activity=activity,
        by=grid_worker,
        rows=[RollCallRow(member_id=seated.pk, status=Status.PRESENT)],
        resident_volunteers=0,
        now=activity.starts_at + dt.timedelta(minutes=30),
    )
    assert (result.changed, result.waiting) == (1, 0)
    assert Participation.objects.get(member=waiting).status == Status.WAITLISTED


def test_no_seat_is_given_once_the_activity_has_started(full_with_waitlist):
    activity, seated, waiting = full_with_waitlist
    Participation.objects.filter(member=seated).delete()
    result = waitlist_fill(activity=activity, now=activity.starts_at + dt.timedelta(minutes=1))
    assert result.promoted == ()
    assert Participation.objects.get(member=waiting).status == Status.WAITLISTED
