"""The rules of a roll call's line live in the database's constraints and one service check;
the form asks that check and shows its answer on the field it is about. And the message after
saving counts what the save wrote."""

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from activities.models import Participation
from activities.services.rollcall import RollCallRow, participation_roll_call
from tests.activities.test_roll_call import (
    finished_activity,
    form_data,
    new_member,
    page,
    pending_leave,
    roll_call_url,
    sign_up,
    signed_up_people,
    status_of,
)

Status = Participation.Status
Decision = Participation.LeaveDecision
HOURS_RANGE = "Hours must be between 0 and 24."
ONE_DECIMAL = "Give the hours with at most one decimal, e.g. 1.5."
NOT_A_NUMBER = "Enter the hours as a number, e.g. 2 or 1.5."


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def errors_at(html, member, field) -> list[str]:
    """The errors shown on the roll call right after the row's input `field`, before the next
    input of any row."""
    start = html.index(f'name="m{member.pk}-{field}"')
    rest = html[start:]
    following = re.search(rf'name="m\d+-(?!{field}")', rest)
    return re.findall(r'role="alert">([^<]+)<', rest[: following.start()] if following else rest)


BAD_LINES = [
    ("hours above the day", {"status": "present", "hours": "30"}, "hours", HOURS_RANGE),
    ("negative hours", {"status": "present", "hours": "-1"}, "hours", HOURS_RANGE),
    ("hundredths of an hour", {"status": "present", "hours": "1.25"}, "hours", ONE_DECIMAL),
    ("leave without a reason", {"status": "leave"}, "leave_reason", "Give the reason for leave."),
    (
        "leave approved but marked present",
        {"status": "present", "decision": "approved"},
        "decision",
        "The leave is approved but the person is marked present or absent.",
    ),
]


def _row(member, line) -> RollCallRow:
    hours = line.get("hours")
    return RollCallRow(
        member_id=member.pk,
        status=line.get("status", ""),
        hours=Decimal(hours) if hours else None,
        decision=line.get("decision", ""),
    )


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [case[1:] for case in BAD_LINES],
    ids=[case[0] for case in BAD_LINES],
)
def test_the_form_shows_the_services_own_answer_on_the_field(
    client, world, grid_worker, line, field, message
):
    activity = finished_activity(world)
    (fine,) = signed_up_people(world, activity, 1)
    if "decision" in line:
        member = pending_leave(world, activity).member
    else:
        (member,) = signed_up_people(world, activity, 1, prefix="有误")

    # The service, as any caller meets it: the rule, keyed by the row and the field.
    with pytest.raises(ValidationError) as raised:
        participation_roll_call(
            activity=activity, by=grid_worker, rows=[_row(member, line)], resident_volunteers=0
        )
    assert raised.value.message_dict == {f"m{member.pk}-{field}": [message]}

    # The page: the same words on the same field, every row kept as typed, nothing saved.
    client.force_login(grid_worker)
    response = client.post(
        roll_call_url(activity), form_data({fine: {"status": "present"}, member: line})
    )
    assert response.status_code == 400
    html = page(response)
    assert errors_at(html, member, field) == [message]
    assert re.search(rf'name="m{fine.pk}-status" value="present"[^>]*checked', html)
    assert not Participation.objects.filter(activity=activity, status=Status.PRESENT).exists()


@pytest.mark.parametrize("hours", ["NaN", "Infinity", "abc"])
def test_the_service_refuses_hours_that_are_no_number(world, grid_worker, hours):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    row = RollCallRow(member_id=member.pk, status=Status.PRESENT, hours=hours)
    with pytest.raises(ValidationError) as raised:
        participation_roll_call(
            activity=activity, by=grid_worker, rows=[row], resident_volunteers=0
        )
    assert raised.value.message_dict == {f"m{member.pk}-hours": [NOT_A_NUMBER]}


def test_the_database_holds_the_same_rules(world):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    participation = Participation.objects.get(activity=activity, member=member)
    participation.status, participation.hours = Status.PRESENT, Participation.MAX_HOURS + 1
    with pytest.raises(ValidationError) as raised:
        participation.validate_constraints()
    assert raised.value.messages == [HOURS_RANGE]
    participation.status, participation.hours = Status.LEAVE, None
    with pytest.raises(ValidationError):
        participation.validate_constraints()


# --- What the "saved" message counts ----------------------------------------------------------


def saved_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_message_counts_what_this_save_wrote_not_locked_or_unchanged_rows(
    client, world, grid_worker
):
    activity = finished_activity(world)
    (confirmed,) = sign_up(
        activity,
        [new_member(world, "已确认")],
        status=Status.PRESENT,
        hours=2,
        review=Participation.Review.CONFIRMED,
    )
    (already,) = sign_up(activity, [new_member(world, "已点过")], status=Status.PRESENT, hours=2)
    newly_absent, newly_present = signed_up_people(world, activity, 2)
    client.force_login(grid_worker)

    marks = {
        confirmed.member: "present",  # locked (a form opened before the office confirmed it)
        already.member: "present",  # as it was
        newly_absent: "absent",
        newly_present: "present",
    }
    # A change to the locked record refuses the save, so nothing is lost without a word.
    refused = client.post(roll_call_url(activity), form_data({**marks, confirmed.member: "absent"}))
    assert refused.status_code == 400
    assert status_of(confirmed) == Status.PRESENT
    assert activity.participations.get(member=newly_absent).status == Status.SIGNED_UP

    response = client.post(roll_call_url(activity), form_data(marks), follow=True)

    assert saved_messages(response) == ["Roll call saved: 1 present, 1 absent, 0 on leave."]
    assert status_of(confirmed) == Status.PRESENT


def test_an_approved_leave_request_counts_as_leave_and_not_as_unmarked(client, world, grid_worker):
    activity = finished_activity(world)
    request = pending_leave(world, activity)
    (waiting,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)

    response = client.post(
        roll_call_url(activity),
        form_data({request.member: {"decision": "approved"}}),
        follow=True,
    )

    assert status_of(request) == Status.LEAVE
    assert saved_messages(response) == [
        "Roll call saved: 0 present, 0 absent, 1 on leave.",
        "1 person is not marked yet: still waiting for the roll call.",
    ]
    assert status_of(Participation.objects.get(member=waiting)) == Status.SIGNED_UP


def test_saving_again_without_a_change_says_nothing_changed(client, world, grid_worker):
    activity = finished_activity(world)
    (member,) = signed_up_people(world, activity, 1)
    client.force_login(grid_worker)
    first = client.post(roll_call_url(activity), form_data({member: "present"}), follow=True)
    assert saved_messages(first) == ["Roll call saved: 1 present, 0 absent, 0 on leave."]

    response = client.post(roll_call_url(activity), form_data({member: "present"}), follow=True)

    assert saved_messages(response) == ["Nothing has changed: the roll call was already saved."]
