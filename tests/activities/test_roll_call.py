"""The roll call (点名): one screen, one POST for everyone, all or nothing, with history; walk-ins
found among the community's reported-in members; pending leave requests decided there."""

import datetime as dt
import itertools
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Participation
from activities.services.rollcall import (
    RollCallRow,
    participation_roll_call,
    walk_in_search,
)
from members.models import Member, Registration
from notifications.models import Notification, NotificationPreference
from tests.conftest import make_user

Status = Participation.Status
Decision = Participation.LeaveDecision


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


def roll_call_url(activity):
    return reverse("activities:roll_call", args=[activity.pk])


def search_url(activity):
    return reverse("activities:roll_call_search", args=[activity.pk])


def board_url(activity):
    return reverse("activities:attendance_board", args=[activity.pk])


def page(response):
    return response.content.decode()


_mobiles = itertools.count(1)


def new_member(world, name, *, agency=None, community=None, reg_status="active", **extra):
    """A member of 三峡 (by default) reported in to 胜利一路社区 (by default); `reg_status`
    None for no report-in at all."""
    member = Member.objects.create(
        agency=agency or world.sanxia, name=name, mobile=f"135{next(_mobiles):08d}", **extra
    )
    if reg_status:
        Registration.objects.create(
            member=member,
            community=community or world.shengli,
            status=reg_status,
            applied_on=timezone.localdate(),
            return_reason="材料不全" if reg_status == Registration.Status.RETURNED else "",
        )
    return member


def finished_activity(world, *, hours=2, **extra):
    now = timezone.now()
    fields = {
        "community": world.shengli,
        "grid": world.zilinyuan,
        "type": world.cleanup,
        "title": "紫林苑楼道清理",
        "starts_at": now - dt.timedelta(hours=hours + 1),
        "ends_at": now - dt.timedelta(hours=1),
    }
    fields.update(extra)
    return Activity.objects.create(**fields)


def sign_up(activity, members, **extra):
    return [
        Participation.objects.create(
            activity=activity, member=m, source=Participation.Source.SIGN_UP, **extra
        )
        for m in members
    ]


def signed_up_people(world, activity, count, prefix="报名"):
    members = [new_member(world, f"{prefix}{i:02d}") for i in range(count)]
    sign_up(activity, members)
    return members


def pending_leave(world, activity, name="请假人", reason="家中有事"):
    member = new_member(world, name)
    user = make_user(Member._meta.get_field("user").related_model, f"user-{member.pk}")
    member.user = user
    member.save(update_fields=["user"])
    # A request awaiting a decision is still a sign-up (services.leave).
    (participation,) = sign_up(
        activity,
        [member],
        leave_reason=reason,
        leave_decision=Decision.PENDING,
    )
    return participation


def form_data(marks, *, resident_volunteers=0, walk_ins=()):
    """POST data: marks maps a member to a status or to a dict of the row's fields."""
    data = {"resident_volunteers": str(resident_volunteers), "walkin": [m.pk for m in walk_ins]}
    for member, mark in marks.items():
        fields = {"status": mark} if isinstance(mark, str) else dict(mark)
        for name, value in fields.items():
            if value is not None:
                data[f"m{member.pk}-{name}"] = str(value)
    return data


def status_of(participation):
    participation.refresh_from_db()
    return participation.status


# --- Who may open it ------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_everywhere(client, world):
    activity = world.shengli_activity
    for url in (roll_call_url(activity), search_url(activity) + "?q=李"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/login/")
    response = client.post(roll_call_url(activity), {})
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_another_communitys_staff_gets_404(client, world, other_community_staff):
    client.force_login(other_community_staff)
    activity = world.shengli_activity
    assert client.get(roll_call_url(activity)).status_code == 404
    assert client.get(search_url(activity) + "?q=李").status_code == 404
    assert client.post(roll_call_url(activity), form_data({})).status_code == 404


def test_an_unknown_activity_is_404(client, grid_worker):
    client.force_login(grid_worker)
    assert client.get("/activities/999999/roll-call/").status_code == 404


@pytest.mark.parametrize("persona", ["agency_office", "member_user", "street_officer"])
def test_people_who_see_the_activity_but_do_not_run_it_get_403(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    activity = world.shengli_activity
    assert client.get(roll_call_url(activity)).status_code == 403
    assert client.get(search_url(activity) + "?q=李").status_code == 403
    response = client.post(roll_call_url(activity), form_data({world.sanxia_member: "absent"}))
    assert response.status_code == 403
    assert status_of(world.shengli_participation) == Status.PRESENT


@pytest.mark.parametrize("persona", ["grid_worker", "community_staff", "city_admin"])
def test_managers_open_the_roll_call(client, request, world, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(roll_call_url(world.shengli_activity))
    assert response.status_code == 200
    assert "李建华" in page(response)
    assert 'id="roll-call-form"' in page(response)


def test_a_post_without_csrf_token_is_forbidden(world, grid_worker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(world.shengli_activity), form_data({world.sanxia_member: "absent"})
    )
    assert response.status_code == 403
    assert status_of(world.shengli_participation) == Status.PRESENT


def test_other_methods_are_not_allowed(client, world, grid_worker):
    client.force_login(grid_worker)
    assert client.put(roll_call_url(world.shengli_activity)).status_code == 405
    assert client.post(search_url(world.shengli_activity)).status_code == 405


# --- The screen -----------------------------------------------------------------------------


def test_the_screen_lists_everyone_on_the_activity_with_the_hours_prefilled(
    client, world, grid_worker
):
    activity = finished_activity(world, hours=3)
    signed = signed_up_people(world, activity, 2)
    request = pending_leave(world, activity, reason="孩子发烧")
    (recorded,) = sign_up(activity, [new_member(world, "已缺席")], status=Status.ABSENT)
    client.force_login(grid_worker)
    html = page(client.get(roll_call_url(activity)))

    for member in [*signed, request.member, recorded.member]:
        assert member.name in html
        assert member.masked_mobile in html
        assert member.mobile not in html
    # One tap each: three radios per person in one form.
    assert html.count('type="radio" name="m') == 3 * 4 + 2  # + approve / reject
    # Hours default to the activity's length.
    assert f'name="m{signed[0].pk}-hours" value="3"' in html  # as written, not "3.0"
    # The recorded absence is shown as recorded; signed-up rows start unmarked.
    assert re.search(rf'name="m{recorded.member.pk}-status" value="absent"[^>]*checked', html)
    assert not re.search(rf'name="m{signed[0].pk}-status"[^>]*checked', html)
    # The pending request shows the member's reason and the choice to approve or not.
    assert "孩子发烧" in html
    assert f'name="m{request.member.pk}-decision" value="approved"' in html
    assert f'name="m{request.member.pk}-decision" value="rejected"' in html
    assert 'name="resident_volunteers"' in html


def test_before_the_start_the_screen_says_when_it_opens(client, world, grid_worker):
    starts = timezone.now() + dt.timedelta(days=1)
    activity = finished_activity(world, starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
    (participation,) = sign_up(activity, [world.sanxia_member_2])
    client.force_login(grid_worker)
    html = page(client.get(roll_call_url(activity)))
    assert 'data-testid="roll-call-closed"' in html
    assert "opens when the activity starts" in html
    assert timezone.localtime(starts).strftime("%H:%M") in html
    assert 'id="roll-call-form"' not in html

    response = client.post(roll_call_url(activity), form_data({world.sanxia_member_2: "present"}))
    assert response.status_code == 400
    assert status_of(participation) == Status.SIGNED_UP


def test_an_ongoing_activity_can_be_called(client, world, grid_worker):
    now = timezone.now()
    activity = finished_activity(
        world, starts_at=now - dt.timedelta(minutes=10), ends_at=now + dt.timedelta(hours=1)
    )
    (participation,) = sign_up(activity, [world.sanxia_member_2])
    client.force_login(grid_worker)
    response = client.post(roll_call_url(activity), form_data({world.sanxia_member_2: "present"}))
    assert response.status_code == 302
    assert status_of(participation) == Status.PRESENT


def test_a_cancelled_activity_has_no_roll_call(client, world, grid_worker):
    activity = finished_activity(world, status=Activity.Status.CANCELLED)
    (participation,) = sign_up(activity, [world.sanxia_member_2])
    client.force_login(grid_worker)
    assert 'id="roll-call-form"' not in page(client.get(roll_call_url(activity)))
    response = client.post(roll_call_url(activity), form_data({world.sanxia_member_2: "present"}))
    assert response.status_code == 400
    assert status_of(participation) == Status.SIGNED_UP


def test_the_page_costs_the_same_queries_for_5_and_50_people(client, world, grid_worker):
    activity = finished_activity(world)
    client.force_login(grid_worker)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(roll_call_url(activity)).status_code == 200
        return len(captured)

    signed_up_people(world, activity, 4, "甲")
    pending_leave(world, activity, "乙")
    at_5 = queries()
    signed_up_people(world, activity, 44, "丙")
    pending_leave(world, activity, "丁")
    assert Participation.objects.filter(activity=activity).count() == 50
    assert queries() == at_5


# --- Saving -----------------------------------------------------------------------------------


def test_saving_records_everyone_and_opens_the_board(client, world, grid_worker):
    activity = finished_activity(world, hours=2)
    came, edited, away, excused = signed_up_people(world, activity, 4)
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data(
            {
                came: {"status": "present", "hours": ""},
                edited: {"status": "present", "hours": "1.5"},
                away: {"status": "absent", "hours": "2.0"},
                excused: {"status": "leave", "hours": "2.0", "leave_reason": "出差"},
            },
            resident_volunteers=6,
        ),
    )
    assert response.status_code == 302
    assert response.url == board_url(activity)

    rows = {
        p.member: p
        for p in Participation.objects.filter(activity=activity).select_related("member")
    }
    assert rows[came].status == Status.PRESENT and rows[came].hours == Decimal("2.0")
    assert rows[edited].hours == Decimal("1.5")
    assert rows[away].status == Status.ABSENT and rows[away].hours is None
    assert rows[excused].status == Status.LEAVE and rows[excused].hours is None
    assert rows[excused].leave_reason == "出差"
    assert rows[excused].leave_decision == Decision.APPROVED
    assert rows[excused].leave_decided_by == grid_worker
    for row in rows.values():
        assert row.source == Participation.Source.ROLL_CALL
        assert row.recorded_by == grid_worker
        assert timezone.now() - row.recorded_at < dt.timedelta(minutes=1)
    activity.refresh_from_db()
    assert activity.resident_volunteers == 6


def test_forty_people_are_one_post_and_cost_the_same_queries_as_ten(client, world, grid_worker):
    """The query count of the save does not grow with the number of people."""
    client.force_login(grid_worker)
    walk_in_pool = [new_member(world, f"现场{i}") for i in range(3)]

    def roll_call(size, walk_in):
        activity = finished_activity(world, title=f"{size}人活动")
        members = signed_up_people(world, activity, size - 2, prefix=f"{size}号")
        request = pending_leave(world, activity, f"{size}号请假")
        marks = {m: "present" for m in members}
        marks[members[0]] = "absent"
        marks[members[1]] = {"status": "leave", "leave_reason": "值班"}
        marks[request.member] = {"decision": "approved", "status": "leave"}
        marks[walk_in] = "present"
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                roll_call_url(activity), form_data(marks, resident_volunteers=3, walk_ins=[walk_in])
            )
        assert response.status_code == 302, page(response)
        assert Participation.objects.filter(activity=activity, status=Status.PRESENT).count() == (
            size - 3
        )
        assert Participation.objects.filter(activity=activity).count() == size
        return len(captured)

    roll_call(5, walk_in_pool[2])  # warms the session and the content-type cache
    at_10 = roll_call(10, walk_in_pool[0])
    at_40 = roll_call(40, walk_in_pool[1])
    assert at_40 == at_10


def test_the_service_costs_the_same_queries_for_10_and_40_people(world, grid_worker):
    def roll_call(size):
        activity = finished_activity(world, title=f"服务{size}")
        members = signed_up_people(world, activity, size, prefix=f"服务{size}号")
        rows = [RollCallRow(member_id=m.pk, status=Status.PRESENT) for m in members]
        with CaptureQueriesContext(connection) as captured:
            participation_roll_call(
                activity=activity, by=grid_worker, rows=rows, resident_volunteers=0
            )
        return len(captured)

    assert roll_call(40) == roll_call(10)


def test_every_change_has_history(client, world, grid_worker):
    activity = finished_activity(world)
    first, second = signed_up_people(world, activity, 2)
    walk_in = new_member(world, "现场来人")
    client.force_login(grid_worker)
    client.post(
        roll_call_url(activity),
        form_data({first: "present", second: "absent", walk_in: "present"}, walk_ins=[walk_in]),
    )
    for member, status in ((first, Status.PRESENT), (second, Status.ABSENT)):
        participation = Participation.objects.get(activity=activity, member=member)
        latest = participation.history.first()
        assert participation.history.count() == 2  # signed up, then the roll call
        assert latest.history_type == "~"
        assert latest.status == status
        assert latest.history_user == grid_worker
        assert latest.history_change_reason == "roll call"
    added = Participation.objects.get(activity=activity, member=walk_in)
    assert [h.history_type for h in added.history.all()] == ["+"]
    assert added.history.get().history_user == grid_worker


def test_saving_the_same_marks_again_adds_no_history(client, world, grid_worker):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)
    data = form_data({member: {"status": "present", "hours": "2.0"}})
    client.post(roll_call_url(activity), data)
    participation = Participation.objects.get(activity=activity, member=member)
    recorded_at = participation.recorded_at
    client.post(roll_call_url(activity), data)
    participation.refresh_from_db()
    assert participation.history.count() == 2
    assert participation.recorded_at == recorded_at


def test_people_left_unmarked_stay_signed_up_and_the_screen_says_so(client, world, grid_worker):
    activity = finished_activity(world)
    marked, unmarked = signed_up_people(world, activity, 2)
    client.force_login(grid_worker)
    response = client.post(roll_call_url(activity), form_data({marked: "present"}), follow=True)
    assert "1 person is not marked yet" in page(response)
    assert Participation.objects.get(member=unmarked, activity=activity).status == (
        Status.SIGNED_UP
    )
    assert Participation.objects.get(member=marked, activity=activity).status == Status.PRESENT


def test_leave_needs_a_reason_and_nothing_is_saved_without_one(client, world, grid_worker):
    activity = finished_activity(world)
    fine, excused = signed_up_people(world, activity, 2)
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data(
            {fine: {"status": "present", "hours": "1.5"}, excused: {"status": "leave"}},
            resident_volunteers=4,
        ),
    )
    assert response.status_code == 400
    html = page(response)
    assert "Give the reason for leave." in html
    assert "Nothing was saved" in html
    # What was typed is still there.
    assert re.search(rf'name="m{fine.pk}-status" value="present"[^>]*checked', html)
    assert f'name="m{fine.pk}-hours" value="1.5"' in html
    assert re.search(rf'name="m{excused.pk}-status" value="leave"[^>]*checked', html)
    assert 'name="resident_volunteers" value="4"' in html
    assert set(
        Participation.objects.filter(activity=activity).values_list("status", flat=True)
    ) == {Status.SIGNED_UP}
    activity.refresh_from_db()
    assert activity.resident_volunteers == 0


@pytest.mark.parametrize(
    "bad_row",
    [
        {"status": "present", "hours": "30"},
        {"status": "present", "hours": "abc"},
        {"status": "present", "hours": "1.25"},
        {"status": "maybe"},
    ],
)
def test_one_bad_row_saves_nothing_and_is_marked(client, world, grid_worker, bad_row):
    activity = finished_activity(world)
    members = signed_up_people(world, activity, 5)
    marks = {m: "present" for m in members}
    marks[members[3]] = bad_row
    client.force_login(grid_worker)
    response = client.post(roll_call_url(activity), form_data(marks, resident_volunteers=2))
    assert response.status_code == 400
    html = page(response)
    assert html.count("xc-rc-invalid") == 1
    assert re.search(rf'class="[^"]*xc-rc-invalid[^"]*" data-member="{members[3].pk}"', html)
    assert (
        not Participation.objects.filter(activity=activity)
        .exclude(status=Status.SIGNED_UP)
        .exists()
    )
    activity.refresh_from_db()
    assert activity.resident_volunteers == 0


@pytest.mark.parametrize("value", ["-1", "many", ""])
def test_a_bad_resident_volunteer_count_is_an_error(client, world, grid_worker, value):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)
    data = form_data({member: "present"})
    data["resident_volunteers"] = value
    response = client.post(roll_call_url(activity), data)
    assert response.status_code == 400
    assert 'id="error_1_id_resident_volunteers"' in page(response) or "invalid-feedback" in page(
        response
    )
    assert Participation.objects.get(activity=activity, member=member).status == Status.SIGNED_UP


def test_a_service_error_keeps_the_rows_in_one_transaction(world, grid_worker):
    """Atomicity at the service: a bad row after good ones rolls everything back."""
    activity = finished_activity(world)
    members = signed_up_people(world, activity, 3)
    rows = [RollCallRow(member_id=m.pk, status=Status.PRESENT) for m in members[:2]]
    rows.append(RollCallRow(member_id=members[2].pk, status=Status.LEAVE))  # no reason
    with pytest.raises(ValidationError) as raised:
        participation_roll_call(activity=activity, by=grid_worker, rows=rows, resident_volunteers=1)
    assert list(raised.value.message_dict) == [f"m{members[2].pk}-leave_reason"]
    assert set(
        Participation.objects.filter(activity=activity).values_list("status", flat=True)
    ) == {Status.SIGNED_UP}


def test_the_service_refuses_before_the_start(world, grid_worker):
    starts = timezone.now() + dt.timedelta(hours=1)
    activity = finished_activity(world, starts_at=starts, ends_at=starts + dt.timedelta(hours=1))
    (member,) = signed_up_people(world, activity, 1)
    with pytest.raises(ValidationError):
        participation_roll_call(
            activity=activity,
            by=grid_worker,
            rows=[RollCallRow(member_id=member.pk, status=Status.PRESENT)],
            resident_volunteers=0,
        )


# --- Confirmed records are locked -------------------------------------------------------------


def test_confirmed_rows_are_read_only_and_the_screen_says_why(client, world, grid_worker):
    activity = finished_activity(world)
    (confirmed,) = sign_up(
        activity,
        [new_member(world, "已确认")],
        status=Status.PRESENT,
        hours=2,
        review=Participation.Review.CONFIRMED,
    )
    client.force_login(grid_worker)
    html = page(client.get(roll_call_url(activity)))
    assert 'data-testid="locked-rows"' in html
    assert "已确认" in html
    assert f'name="m{confirmed.member_id}-status"' not in html
    assert "backfill" in html

    # A page opened before the office confirmed still has the row: a change there is refused
    # with the lock's message (not dropped in silence), and the row as it was saves.
    response = client.post(roll_call_url(activity), form_data({confirmed.member: "absent"}))
    assert response.status_code == 400
    assert f"已确认: {Participation.LOCKED}" in page(response)
    assert status_of(confirmed) == Status.PRESENT
    unchanged = form_data({confirmed.member: {"status": "present", "hours": "2"}})
    assert client.post(roll_call_url(activity), unchanged).status_code == 302
    assert status_of(confirmed) == Status.PRESENT


def test_the_service_refuses_to_change_a_confirmed_row(world, grid_worker):
    activity = finished_activity(world)
    (confirmed,) = sign_up(
        activity,
        [new_member(world, "已确认")],
        status=Status.PRESENT,
        hours=2,
        review=Participation.Review.CONFIRMED,
    )
    with pytest.raises(ValidationError) as raised:
        participation_roll_call(
            activity=activity,
            by=grid_worker,
            rows=[RollCallRow(member_id=confirmed.member_id, status=Status.ABSENT)],
            resident_volunteers=0,
        )
    assert "confirmed" in str(raised.value)
    assert status_of(confirmed) == Status.PRESENT
    assert confirmed.history.count() == 1


# --- Leave requests ---------------------------------------------------------------------------


def leave_notifications(participation):
    return Notification.objects.filter(
        kind=Notification.Kind.LEAVE_DECIDED,
        object_id=participation.pk,
        recipient=participation.member.user,
    )


def test_approving_a_leave_request_records_the_decision_and_tells_the_member(
    client, world, grid_worker
):
    activity = finished_activity(world)
    request = pending_leave(world, activity, reason="孩子发烧")
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({request.member: {"status": "leave", "decision": "approved"}}),
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.LEAVE
    assert request.leave_decision == Decision.APPROVED
    assert request.leave_reason == "孩子发烧"
    assert request.leave_decided_by == grid_worker
    assert request.leave_decided_at is not None
    notification = leave_notifications(request).get(channel=Notification.Channel.INAPP)
    assert notification.slot == Decision.APPROVED
    assert activity.title in notification.subject


def test_a_leave_decision_no_channel_can_carry_is_said_on_the_page(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    # E-mail only, and no address: nothing reaches them.
    NotificationPreference.objects.create(
        user=request.member.user, inapp=False, email=True, webhook=False
    )
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({request.member: {"status": "leave", "decision": "approved"}}),
    )
    html = page(client.get(response["Location"]))
    assert "Roll call saved" in html
    assert (
        "Not told, as no channel reaches them: 请假人 (chose only e-mail, and has no e-mail "
        "address)." in html
    )
    assert list(leave_notifications(request).values_list("state", flat=True)) == [
        Notification.State.UNREACHABLE
    ]


def test_rejecting_a_leave_request_puts_them_back_to_be_marked_and_tells_them(
    client, world, grid_worker
):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    client.force_login(grid_worker)
    client.post(
        roll_call_url(activity),
        form_data({request.member: {"status": "leave", "decision": "rejected"}}),
    )
    request.refresh_from_db()
    assert request.status == Status.SIGNED_UP
    assert request.leave_decision == Decision.REJECTED
    assert request.leave_decided_by == grid_worker
    assert leave_notifications(request).filter(slot=Decision.REJECTED).exists()


def test_marking_a_leave_request_present_answers_it_as_not_approved(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    client.force_login(grid_worker)
    client.post(roll_call_url(activity), form_data({request.member: "present"}))
    request.refresh_from_db()
    assert request.status == Status.PRESENT
    assert request.hours == activity.duration_hours
    assert request.leave_decision == Decision.REJECTED
    assert leave_notifications(request).filter(slot=Decision.REJECTED).exists()


def test_an_undecided_request_stays_pending_and_nobody_is_told(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    client.force_login(grid_worker)
    client.post(roll_call_url(activity), form_data({request.member: "leave"}))
    request.refresh_from_db()
    assert (request.status, request.leave_decision) == (Status.SIGNED_UP, Decision.PENDING)
    assert not leave_notifications(request).exists()


def test_approving_leave_but_marking_present_is_refused(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({request.member: {"status": "present", "decision": "approved"}}),
    )
    assert response.status_code == 400
    request.refresh_from_db()
    assert request.leave_decision == Decision.PENDING
    assert not leave_notifications(request).exists()


def test_a_failed_save_tells_nobody(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    (other,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({request.member: {"status": "leave", "decision": "approved"}, other: "leave"}),
    )
    assert response.status_code == 400
    assert not Notification.objects.filter(kind=Notification.Kind.LEAVE_DECIDED).exists()


# --- Walk-ins ---------------------------------------------------------------------------------


@pytest.fixture
def candidates(world):
    """Everyone named 测试…; only 测试可加 and 测试居住 may be added to a 胜利一路 activity."""
    activity = finished_activity(world)
    c = {
        "liaison": new_member(world, "测试可加"),
        "residence": new_member(world, "测试居住", agency=world.yuanlin),
        "elsewhere": new_member(world, "测试外社区", community=world.shenzhen),
        "pending": new_member(world, "测试待审核", reg_status=Registration.Status.PENDING),
        "revoked": new_member(world, "测试已撤销", reg_status=Registration.Status.REVOKED),
        "returned": new_member(world, "测试已退回", reg_status=Registration.Status.RETURNED),
        "unregistered": new_member(world, "测试未报到", reg_status=None),
        "left": new_member(
            world, "测试已离开", status=Member.Status.LEFT, left_on=timezone.localdate()
        ),
        "on_activity": new_member(world, "测试已报名"),
    }
    Registration.objects.filter(member=c["residence"]).update(kind=Registration.Kind.RESIDENCE)
    sign_up(activity, [c["on_activity"]])
    return activity, c


def test_the_search_finds_only_active_registrants_not_yet_on_the_activity(
    world, grid_worker, candidates
):
    activity, c = candidates
    found = walk_in_search(activity=activity, user=grid_worker, query="测试")
    assert {m.name for m in found} == {"测试可加", "测试居住"}


def test_the_search_finds_by_the_last_four_digits_of_the_mobile(
    client, world, grid_worker, candidates
):
    activity, c = candidates
    target = c["liaison"]
    client.force_login(grid_worker)
    response = client.get(search_url(activity), {"q": target.mobile[-4:], "format": "json"})
    data = json.loads(page(response))
    assert [r["id"] for r in data["results"]] == [target.pk]
    assert data["results"][0]["mobile"] == target.masked_mobile
    assert target.mobile not in page(response)
    # Digits of someone who may not be added find nobody.
    response = client.get(search_url(activity), {"q": c["elsewhere"].mobile[-4:], "format": "json"})
    assert json.loads(page(response))["results"] == []


def test_the_json_answer_carries_the_row_to_add(client, world, grid_worker, candidates):
    activity, c = candidates
    client.force_login(grid_worker)
    response = client.get(
        search_url(activity), {"q": "可加"}, headers={"Accept": "application/json"}
    )
    (result,) = json.loads(page(response))["results"]
    assert result["name"] == "测试可加"
    assert f'name="walkin" value="{c["liaison"].pk}"' in result["row"]
    assert re.search(
        rf'name="m{c["liaison"].pk}-status" value="present"[^>]*checked', result["row"]
    )


def test_the_script_gets_an_html_fragment(client, world, grid_worker, candidates):
    activity, c = candidates
    client.force_login(grid_worker)
    response = client.get(
        search_url(activity), {"q": "测试"}, headers={"X-Requested-With": "fetch"}
    )
    html = page(response)
    assert "<html" not in html
    assert html.count("data-add-walk-in=") == 2
    assert "<template>" in html
    assert "测试外社区" not in html


def test_without_script_the_search_shows_the_roll_call_with_links_to_add(
    client, world, grid_worker, candidates
):
    activity, c = candidates
    client.force_login(grid_worker)
    html = page(client.get(search_url(activity), {"q": "可加"}))
    assert 'id="roll-call-form"' in html
    assert "测试已报名" in html  # the roll call itself is there
    link = re.search(r'href="([^"]*\?add=\d+[^"]*)"', html).group(1).replace("&amp;", "&")
    assert f"add={c['liaison'].pk}" in link

    html = page(client.get(link))
    assert f'name="walkin" value="{c["liaison"].pk}"' in html
    # A second search keeps the one already added.
    assert f'name="add" value="{c["liaison"].pk}"' in html
    html = page(client.get(search_url(activity), {"q": "居住", "add": c["liaison"].pk}))
    assert f'name="walkin" value="{c["liaison"].pk}"' in html
    assert re.search(rf"add={c['liaison'].pk}&amp;add={c['residence'].pk}", html)


@pytest.mark.parametrize("query", ["", "12", "  "])
def test_a_search_too_short_says_what_to_type(client, world, grid_worker, query):
    client.force_login(grid_worker)
    response = client.get(search_url(world.shengli_activity), {"q": query})
    assert response.status_code == 200
    assert "last 4 digits" in page(response)


def test_a_walk_in_is_saved_with_source_roll_call(client, world, grid_worker, candidates):
    activity, c = candidates
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({c["liaison"]: "present", c["on_activity"]: "absent"}, walk_ins=[c["liaison"]]),
    )
    assert response.status_code == 302
    added = Participation.objects.get(activity=activity, member=c["liaison"])
    assert added.status == Status.PRESENT
    assert added.hours == activity.duration_hours
    assert added.source == Participation.Source.ROLL_CALL
    assert added.recorded_by == grid_worker


@pytest.mark.parametrize(
    "who", ["elsewhere", "pending", "revoked", "returned", "left", "unregistered"]
)
def test_someone_who_may_not_be_added_saves_nothing(client, world, grid_worker, candidates, who):
    activity, c = candidates
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity),
        form_data({c[who]: "present", c["on_activity"]: "present"}, walk_ins=[c[who]]),
    )
    assert response.status_code == 400
    assert not Participation.objects.filter(activity=activity, member=c[who]).exists()
    assert Participation.objects.get(activity=activity, member=c["on_activity"]).status == (
        Status.SIGNED_UP
    )


def test_the_service_refuses_a_walk_in_from_another_community(world, grid_worker, candidates):
    activity, c = candidates
    with pytest.raises(ValidationError) as raised:
        participation_roll_call(
            activity=activity,
            by=grid_worker,
            rows=[RollCallRow(member_id=c["elsewhere"].pk, status=Status.PRESENT)],
            resident_volunteers=0,
        )
    assert f"m{c['elsewhere'].pk}" in raised.value.message_dict


def test_a_walk_in_must_be_marked(client, world, grid_worker, candidates):
    activity, c = candidates
    client.force_login(grid_worker)
    response = client.post(roll_call_url(activity), form_data({}, walk_ins=[c["liaison"]]))
    assert response.status_code == 400
    assert "Mark whether they came" in page(response)
    assert not Participation.objects.filter(member=c["liaison"]).exists()


@pytest.mark.parametrize("value", ["abc", "-3", "999999", "9" * 30])
def test_bad_walk_in_ids_are_an_error_not_a_crash(client, world, grid_worker, value):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)
    data = form_data({member: "present"})
    data["walkin"] = [value]
    response = client.post(roll_call_url(activity), data)
    assert response.status_code == 400
    assert "cannot be" in page(response)
    assert Participation.objects.get(activity=activity, member=member).status == Status.SIGNED_UP

    response = client.get(roll_call_url(activity), {"add": value})
    assert response.status_code == 200
    assert "could not be found" in page(response)


def test_adding_someone_already_on_the_activity_keeps_one_row(
    client, world, grid_worker, candidates
):
    activity, c = candidates
    client.force_login(grid_worker)
    html = page(client.get(roll_call_url(activity), {"add": c["on_activity"].pk}))
    assert html.count(f'data-member="{c["on_activity"].pk}"') == 1
    assert f'name="walkin" value="{c["on_activity"].pk}"' not in html


def test_a_roll_call_recorded_later_is_dated_and_checked_when_it_was_taken(world, grid_worker):
    # A roll call taken on paper last month, entered now (as the demo enters its story).
    taken = timezone.now() - dt.timedelta(days=30)
    activity = finished_activity(
        world,
        starts_at=taken - dt.timedelta(hours=3),
        ends_at=taken - dt.timedelta(hours=1),
    )
    (member,) = signed_up_people(world, activity, 1)

    participation_roll_call(
        activity=activity,
        by=grid_worker,
        rows=[RollCallRow(member_id=member.pk, status=Status.PRESENT)],
        resident_volunteers=0,
        now=taken,
    )

    row = Participation.objects.get(activity=activity, member=member)
    assert row.recorded_at == taken
    assert row.history.latest("history_id").history_date == taken
    # The rules hold at that moment: before the start, the roll call was not open yet.
    with pytest.raises(ValidationError, match="opens when the activity starts"):
        participation_roll_call(
            activity=activity,
            by=grid_worker,
            rows=[],
            resident_volunteers=0,
            now=activity.starts_at - dt.timedelta(minutes=1),
        )
