"""The beat task's sweep on a city's share of members: once the week's first sweep has recorded
who cannot be reached, each sweep after it has nothing left to do and takes under a second.

PostgreSQL only. Apart from tests/activities/test_sweep_performance.py, so that under
pytest-xdist (a file's tests stay in one process) the 40,000 members here are built while the
other process builds that file's 10,000 reminders, not after them.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Community, StaffRole, Street
from members.models import Member
from notifications.models import Notification
from tests.activities.test_sweep_performance import (  # noqa: F401  (a fixture)
    analyze,
    no_quiet_hours,
    sweep_once,
)
from tests.conftest import alone

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_quiet_hours"),
]


# A Monday at 10:00 in Asia/Shanghai, years ahead: in the weekly rules' slot.
CITY_MONDAY = dt.datetime(2031, 6, 9, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def build_city(members: int = 40_000, agencies: int = 1_000) -> None:
    """A sweep's share of a city: `members` inactive members spread over `agencies` agencies
    with no group robot, three in four without a login (unreachable); an office per agency;
    500 activities ended this week still awaiting roll call before 20 community staff; 100
    activities tomorrow with 20 members signed up to each."""
    user_model = get_user_model()
    street, _ = Street.objects.get_or_create(name="城市规模街道")
    communities = Community.objects.bulk_create(
        Community(street=street, name=f"城市规模社区{i}") for i in range(20)
    )
    made = Agency.objects.bulk_create(Agency(name=f"城市规模单位{i}") for i in range(agencies))
    logins = user_model.objects.bulk_create(
        (user_model(username=f"city-{i:05d}", password="!") for i in range(members // 4)),
        batch_size=5000,
    )
    offices = user_model.objects.bulk_create(
        user_model(username=f"city-office-{i:04d}", password="!") for i in range(agencies)
    )
    staff = user_model.objects.bulk_create(
        user_model(username=f"city-staff-{i:02d}", password="!") for i in range(20)
    )
    StaffRole.objects.bulk_create(
        [
            *(
                StaffRole(user=user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=agency)
                for user, agency in zip(offices, made, strict=True)
            ),
            *(
                StaffRole(user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=community)
                for user, community in zip(staff, communities, strict=True)
            ),
        ]
    )
    people = Member.objects.bulk_create(
        (
            Member(
                agency=made[i % agencies],
                user=logins[i // 4] if i % 4 == 0 else None,
                name=f"城市成员{i:05d}",
                mobile=f"15{i:09d}",
            )
            for i in range(members)
        ),
        batch_size=5000,
    )
    cleanup = ActivityType.objects.get(code=ActivityType.Code.CLEANUP)
    ended = [
        Activity(
            community=communities[n % 20],
            type=cleanup,
            title=f"本周巡逻{n}",
            organizer=staff[n % 20],
            starts_at=CITY_MONDAY - dt.timedelta(hours=4 + n % 72),
            ends_at=CITY_MONDAY - dt.timedelta(hours=2 + n % 72),
        )
        for n in range(500)
    ]
    tomorrow = [
        Activity(
            community=communities[n % 20],
            type=cleanup,
            title=f"明日巡逻{n}",
            starts_at=CITY_MONDAY + dt.timedelta(hours=20),
            ends_at=CITY_MONDAY + dt.timedelta(hours=22),
        )
        for n in range(100)
    ]
    ended, tomorrow = (Activity.objects.bulk_create(batch) for batch in (ended, tomorrow))
    Participation.objects.bulk_create(
        [
            *(
                Participation(activity=a, member=people[n], source=Participation.Source.SIGN_UP)
                for n, a in enumerate(ended)
            ),
            *(
                Participation(
                    activity=a, member=people[n * 20 + k], source=Participation.Source.SIGN_UP
                )
                for n, a in enumerate(tomorrow)
                for k in range(20)
            ),
        ],
        batch_size=5000,
    )
    analyze()


def test_a_sweep_with_nothing_left_to_do_takes_under_a_second_at_city_size():
    build_city()
    first = sweep_once(CITY_MONDAY)
    print(f"city, first sweep of the week: queued {first[0]}, {first[1]:.1f} s, {first[2]} queries")
    unreachable = Notification.objects.filter(state=Notification.State.UNREACHABLE).count()
    assert unreachable >= 30_000, "three in four inactive members recorded as unreachable"
    # Workers deliver what the first sweep handed them (else the next sweeps hand it out again,
    # as lost, two minutes on); autovacuum analyzes after a load this size.
    Notification.objects.filter(state=Notification.State.PENDING).update(
        state=Notification.State.SENT, sent_at=CITY_MONDAY
    )
    analyze()

    for later in (5, 6):
        with alone():  # timed: never beside another test under pytest-xdist
            queued, seconds, queries = sweep_once(CITY_MONDAY + dt.timedelta(minutes=later))
        print(f"city, nothing left to do: {seconds:.2f} s, {queries} queries")
        assert queued == 0
    assert seconds < 1
    assert queries <= 10
