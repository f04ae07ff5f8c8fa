"""What the reminder sweep costs in queries: each rule a fixed number, however many people are
due; and a sweep with nothing left to do a few, however many inactive members no channel
reaches (at city size 43,000, once walked and re-rendered every minute).

Each rule runs twice at a fixed `now`: first with N people due, then with 3N others due (those
of the first run are done by then); the two runs cost the same. The people are of every kind the
rule meets: logins with and without e-mail, with a choice of channels or the defaults, members
without a login (reached by a group robot where there is one, recorded as unreachable where
there is none).
"""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities import reminders
from activities.models import Activity, DutyAssignment, Participation
from communities.models import Agency, Agreement, StaffRole
from members.models import Member
from notifications.models import Notification, NotificationPreference

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday at 18:00: the weekly rules' slot (Monday from 09:00) and the duty roster's hour.
NOW = dt.datetime(2030, 6, 10, 18, 0, tzinfo=SHANGHAI)
H = dt.timedelta(hours=1)
ROBOT_URL = "https://robot.example.org/send?key=test"
Kind, State = Notification.Kind, Notification.State
N = 4

pytestmark = pytest.mark.django_db


class People:
    """Makes people of every kind the rules meet, each new."""

    def __init__(self, world, user_model):
        self.w = world
        self.user_model = user_model
        self.numbers = itertools.count(1)
        Activity.objects.all().delete()  # the world's activities are dated from the real today
        Agreement.objects.filter(pk=world.agreement.pk).update(
            starts_on=dt.date(2030, 1, 1), ends_on=dt.date(2032, 12, 31)
        )

    def login(self, i: int):
        """Every fourth: no e-mail; with e-mail; group robot only; e-mail only, none given."""
        n = next(self.numbers)
        user = self.user_model.objects.create_user(
            username=f"person{n}", email="" if i % 4 in (0, 3) else f"p{n}@example.org"
        )
        if i % 4 == 2:
            NotificationPreference.objects.create(user=user, inapp=False, webhook=True)
        if i % 4 == 3:
            NotificationPreference.objects.create(user=user, inapp=False, email=True)
        return user

    def members(self, count: int, agency=None) -> list[Member]:
        """`count` members, one in three without a login."""
        made = []
        for i in range(count):
            n = next(self.numbers)
            made.append(
                Member.objects.create(
                    agency=agency or self.w.sanxia,
                    name=f"成员{n}",
                    mobile=f"137{n:08d}",
                    user=None if i % 3 == 2 else self.login(i),
                )
            )
        return made

    def activity(self, starts_at, **fields) -> Activity:
        return Activity.objects.create(
            community=self.w.shengli,
            type=self.w.cleanup,
            title=f"清扫{next(self.numbers)}",
            starts_at=starts_at,
            ends_at=starts_at + 2 * H,
            **fields,
        )

    def sign_up(self, activity, members, status=Participation.Status.SIGNED_UP):
        Participation.objects.bulk_create(
            Participation(
                activity=activity, member=m, status=status, source=Participation.Source.SIGN_UP
            )
            for m in members
        )


@pytest.fixture
def people(world, django_user_model):
    # The community's robot reaches members without a login; their agency's does not.
    world.shengli.robot_webhook_url = ROBOT_URL
    world.shengli.save()
    return People(world, django_user_model)


def due_upcoming(people, n):
    people.sign_up(people.activity(NOW + 20 * H), people.members(n))


def due_roll_call(people, n):
    ended = people.activity(NOW - 4 * H, organizer=people.login(0))
    people.sign_up(ended, people.members(1))
    for i in range(n):
        StaffRole.objects.create(
            user=people.login(i), kind=StaffRole.Kind.COMMUNITY_STAFF, community=people.w.shengli
        )


def due_inactivity(people, n):
    people.members(n)


def due_agency_digest(people, n):
    for i in range(n):
        agency = Agency.objects.create(name=f"单位{next(people.numbers)}")
        StaffRole.objects.create(
            user=people.login(i), kind=StaffRole.Kind.AGENCY_OFFICE, agency=agency
        )
        present = people.activity(NOW - 5 * 24 * H)
        people.sign_up(present, people.members(2, agency), Participation.Status.PRESENT)
        people.members(2, agency)  # inactive, named in the digest


def due_duty_roster(people, n):
    for member in people.members(n):
        DutyAssignment.objects.create(
            agreement=people.w.agreement, date=NOW.date() + dt.timedelta(days=1), member=member
        )


DUE = {
    Kind.UPCOMING: due_upcoming,
    Kind.ROLL_CALL_DUE: due_roll_call,
    Kind.INACTIVITY: due_inactivity,
    Kind.AGENCY_DIGEST: due_agency_digest,
    Kind.DUTY_ROSTER: due_duty_roster,
}


def run(kind) -> tuple[int, int]:
    """(messages queued, queries run) of one rule at NOW, content types read afresh."""
    ContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as queries:
        queued = reminders.RULES[kind](NOW)
    return queued, len(queries)


@pytest.mark.parametrize("kind", DUE)
def test_each_rule_costs_the_same_queries_for_n_and_for_3n_people_due(people, kind):
    DUE[kind](people, N)
    few, few_queries = run(kind)
    DUE[kind](people, 3 * N)
    many, many_queries = run(kind)

    assert many > few > 0
    assert many_queries == few_queries, (
        f"{few_queries} queries for {few}, {many_queries} for {many}"
    )


@pytest.mark.parametrize("kind", DUE)
def test_a_rule_with_nothing_left_to_do_runs_a_query_and_writes_nothing(people, kind):
    DUE[kind](people, N)
    run(kind)
    rows = Notification.objects.count()

    queued, queries = run(kind)

    assert queued == 0
    assert Notification.objects.count() == rows
    assert queries <= 3, "a content type, and one query (two for roll call: organizers, staff)"


def test_inactive_members_no_channel_reaches_are_recorded_once_and_then_cost_nothing(people):
    """Members without a login in an agency without a robot: the week's first sweep records each
    as unreachable, in bulk; the sweeps after it leave them out in SQL."""
    costs = {}
    for count in (10, 30):
        Notification.objects.all().delete()
        Member.objects.bulk_create(
            Member(agency=people.w.sanxia, name=f"离线{count}-{i}", mobile=f"136{count:02d}{i:06d}")
            for i in range(count)
        )
        ContentType.objects.clear_cache()
        with CaptureQueriesContext(connection) as first:
            reminders.sweep(NOW)
        recorded = Notification.objects.filter(kind=Kind.INACTIVITY, state=State.UNREACHABLE)
        assert recorded.filter(recipient_name__startswith=f"离线{count}-").count() == count
        with CaptureQueriesContext(connection) as later:
            assert sum(reminders.sweep(NOW + 10 * dt.timedelta(minutes=1)).values()) == 0
        costs[count] = len(first), len(later)

    assert costs[10] == costs[30]
    assert costs[30][1] <= 6, "a query or two per rule that may be due"


def test_an_unreachable_member_who_gets_a_channel_is_told_in_the_same_slot(people):
    """The record of an unreachable message does not stand in the way of the message itself once
    a channel reaches the person: here, the agency sets up its group robot on the Monday."""
    offline = Member.objects.create(agency=people.w.sanxia, name="赵强", mobile="13611112222")
    reminders.inactivity(NOW)
    assert Notification.objects.get(object_id=offline.pk, kind=Kind.INACTIVITY).state == (
        State.UNREACHABLE
    )

    Agency.objects.filter(pk=people.w.sanxia.pk).update(robot_webhook_url=ROBOT_URL)
    assert reminders.inactivity(NOW + H) >= 1

    states = Notification.objects.filter(object_id=offline.pk, kind=Kind.INACTIVITY)
    assert set(states.values_list("channel", "state")) == {
        (Notification.Channel.NONE, State.UNREACHABLE),
        (Notification.Channel.WEBHOOK, State.PENDING),
    }
    assert reminders.inactivity(NOW + 2 * H) == 0


def test_who_was_told_on_one_channel_is_not_told_again_on_another_in_the_same_slot(people):
    """DESIGN.md: at most once per (kind, recipient, object, slot) — not once per channel."""
    member = people.members(1)[0]  # a login without e-mail: the inbox only
    activity = people.activity(NOW + 20 * H)
    people.sign_up(activity, [member])
    assert reminders.upcoming(NOW) == 1

    member.user.email = "late@example.org"
    member.user.save()

    assert reminders.upcoming(NOW + H) == 0
