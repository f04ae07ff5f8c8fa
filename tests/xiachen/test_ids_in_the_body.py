"""The role matrix puts the other side's objects in the URL; here they are in the POST body: a
form of side A's staff, office or member naming side B's member, grid, agreement, activity or
record (ids a hostile user can type) writes nothing that ties them to it."""

import datetime as dt

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from activities.models import (
    Activity,
    CallOut,
    CallOutAnswer,
    Concern,
    DoorToDoorUnit,
    DutyAssignment,
    Participation,
    WorkUpdate,
)
from members.models import Registration
from reports.models import Evaluation

from . import matrix_data as md
from .test_role_matrix import token_of


@pytest.fixture(scope="module")
def d(django_db_setup, django_db_blocker):
    yield from md.rows_and_clients(django_db_blocker)


def _when(days, hours=0):
    return (timezone.localtime() + dt.timedelta(days=days, hours=hours)).strftime("%Y-%m-%dT%H:%M")


# (what, role, URL, POST data, rows that must stay empty or unchanged), each a function of d.
CASES = {
    "an office confirms another agency's record": (
        "office",
        lambda d: reverse("reports:review_confirm"),
        lambda d: {"ids": [d.b.unreviewed.pk]},
        lambda d: Participation.objects.filter(pk=d.b.unreviewed.pk).exclude(
            review=Participation.Review.UNREVIEWED
        ),
    ),
    "an office puts another agency's member on its rota": (
        "office",
        lambda d: reverse("activities:rota_day", args=[d.a.agreement.pk]),
        lambda d: {"date": timezone.localdate().isoformat(), "members": [d.b.member.pk]},
        lambda d: DutyAssignment.objects.filter(member=d.b.member),
    ),
    "staff approve a report-in into another community's grid": (
        "staff",
        lambda d: reverse("members:registration_approve", args=[d.a.registration.pk]),
        lambda d: {"grid": d.world.hanlinyuan.pk},
        lambda d: Registration.objects.filter(grid=d.world.hanlinyuan),
    ),
    "staff put a member in another community's grid": (
        "staff",
        # The pk is the report-in's: 李建华's, approved in 胜利一路社区.
        lambda d: reverse(
            "members:member_grid",
            args=[Registration.objects.get(member=d.a.member, community=d.a.community).pk],
        ),
        lambda d: {"grid": d.world.hanlinyuan.pk},
        lambda d: Registration.objects.filter(grid=d.world.hanlinyuan),
    ),
    "staff plan an activity in another community's grid under its agreement": (
        "staff",
        lambda d: reverse("activities:activity_create"),
        lambda d: {
            "title": "越界活动",
            "type": d.world.cleanup.pk,
            "nature": Activity.Nature.VOLUNTEER,
            "starts_at": _when(3),
            "ends_at": _when(3, 1),
            "place": "江边",
            "grid": d.world.hanlinyuan.pk,
            "agreement": d.b.agreement.pk,
        },
        lambda d: Activity.objects.filter(title="越界活动"),
    ),
    "staff file a concern on another community's activity and grid": (
        "staff",
        lambda d: reverse("activities:concern_create"),
        lambda d: {
            "title": "越界民情",
            "description": "d",
            "location": "l",
            "grid": d.world.hanlinyuan.pk,
            "activity": d.b.past.pk,
        },
        lambda d: Concern.objects.filter(title="越界民情"),
    ),
    "a member files a concern on another community's activity": (
        "member",
        lambda d: reverse("activities:concern_create"),
        lambda d: {
            "title": "越界民情",
            "description": "d",
            "location": "l",
            "activity": d.b.past.pk,
        },
        lambda d: Concern.objects.filter(title="越界民情"),
    ),
    "staff post an update on another community's activity": (
        "staff",
        lambda d: reverse("activities:work_update_create"),
        lambda d: {"body": "越界动态", "activity": d.b.past.pk},
        lambda d: WorkUpdate.objects.filter(body="越界动态"),
    ),
    "staff assign a door unit to a member not reported in to them": (
        "staff",
        lambda d: reverse("activities:door_units", args=[d.a.past.pk]),
        lambda d: {"building": "9栋", "households": "3", "member": d.b.member_2.pk},
        lambda d: DoorToDoorUnit.objects.filter(building="9栋"),
    ),
    "staff rate a member of another community": (
        "staff",
        lambda d: reverse("reports:evaluations"),
        lambda d: {
            "member": d.b.member.pk,
            f"rating-{d.b.member.pk}": Evaluation.Rating.EXCELLENT,
            "year": timezone.localdate().year,
        },
        lambda d: Evaluation.objects.filter(member=d.b.member, community=d.a.community),
    ),
    "staff raise a call in another community and its grid": (
        "staff",
        lambda d: reverse("activities:callout_create"),
        lambda d: {
            "communities": [d.b.community.pk],
            "grids": [d.world.hanlinyuan.pk],
            "activity_type": d.world.patrol.pk,
            "title": "越界吹哨",
            "place": "江堤",
            "starts_at": _when(0, 1),
            "ends_at": _when(0, 3),
            "needed": "3",
        },
        lambda d: CallOut.objects.filter(title="越界吹哨"),
    ),
    "an office sends another agency's member to a call": (
        "office",
        lambda d: reverse("activities:callout_send_more", args=[d.a.callout.pk]),
        lambda d: {"member": [d.b.member.pk, d.b.member_2.pk]},
        lambda d: CallOutAnswer.objects.filter(
            call=d.a.callout, member__in=[d.b.member, d.b.member_2]
        ),
    ),
    "staff call another community's members in at their roll call": (
        "staff",
        lambda d: reverse("activities:roll_call", args=[d.a.past.pk]),
        lambda d: {
            f"m{d.b.member_2.pk}-status": Participation.Status.PRESENT,
            f"m{d.b.member_2.pk}-hours": "2",
            "walkin": [d.b.member_2.pk],
        },
        lambda d: Participation.objects.filter(activity=d.a.past, member=d.b.member_2),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_other_sides_ids_in_a_form_write_nothing(case, d, db):
    role, url, data, rows = CASES[case]
    # An unreviewed record of side B's (this test's own, rolled back with it).
    d.b.unreviewed = Participation.objects.create(
        activity=d.b.coming,
        member=d.b.member_2,
        status=Participation.Status.PRESENT,
        hours=1,
        source=Participation.Source.ROLL_CALL,
    )
    assert not rows(d).exists()
    client = d.clients[role]
    with transaction.atomic():
        response = client.post(url(d), {**data(d), "csrfmiddlewaretoken": token_of(client)})
        written = list(rows(d))
        transaction.set_rollback(True)
    assert response.status_code < 500
    assert written == [], f"{case}: {response.status_code}"


def test_the_same_forms_with_the_own_sides_ids_write(d, db):
    """The control: the posts above are well formed, refused for the ids alone."""
    own = Participation.objects.create(
        activity=d.a.coming,
        member=d.world.sanxia_member_2,
        status=Participation.Status.PRESENT,
        hours=1,
        source=Participation.Source.ROLL_CALL,
    )
    client = d.clients["office"]
    with transaction.atomic():
        client.post(
            reverse("reports:review_confirm"),
            {"ids": [own.pk], "csrfmiddlewaretoken": token_of(client)},
        )
        client.post(
            reverse("activities:rota_day", args=[d.a.agreement.pk]),
            {
                "date": timezone.localdate().isoformat(),
                "members": [d.a.member.pk],
                "csrfmiddlewaretoken": token_of(client),
            },
        )
        own.refresh_from_db()
        assert own.review == Participation.Review.CONFIRMED
        assert DutyAssignment.objects.filter(member=d.a.member).exists()
        transaction.set_rollback(True)


def test_the_call_out_forms_with_the_own_sides_ids_write(d, db):
    """The control for the call-out cases: the same posts with side A's ids write."""
    staff, office = d.clients["staff"], d.clients["office"]
    with transaction.atomic():
        staff.post(
            reverse("activities:callout_create"),
            {
                "communities": [d.a.community.pk],
                "grids": [d.world.zilinyuan.pk],
                "activity_type": d.world.patrol.pk,
                "title": "本社区吹哨",
                "place": "江堤",
                "starts_at": _when(0, 1),
                "ends_at": _when(0, 3),
                "needed": "3",
                "csrfmiddlewaretoken": token_of(staff),
            },
        )
        office.post(
            reverse("activities:callout_send_more", args=[d.a.callout.pk]),
            {"member": [d.world.sanxia_member_2.pk], "csrfmiddlewaretoken": token_of(office)},
        )
        assert CallOut.objects.filter(title="本社区吹哨").exists()
        assert CallOutAnswer.objects.filter(
            call=d.a.callout, member=d.world.sanxia_member_2
        ).exists()
        transaction.set_rollback(True)
