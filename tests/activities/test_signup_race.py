"""Forty members tap "sign up" at once for ten seats: the activity's row lock makes them take
turns, so exactly ten are signed up and thirty wait in line, each at their own place. PostgreSQL
only (SQLite writes one transaction at a time anyway); each thread has its own connection."""

import threading

import pytest
from django.db import connection

from activities.models import Activity, Participation
from activities.services.signup import participation_sign_up
from tests.activities.test_signup import coming, reported_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEOPLE, SEATS = 40, 10


def test_forty_parallel_sign_ups_for_ten_seats_leave_exactly_ten(world, django_user_model):
    assert connection.vendor == "postgresql"
    activity = coming(world, capacity=SEATS)
    members = reported_in(world, django_user_model, PEOPLE)
    start = threading.Barrier(PEOPLE)
    failures = []

    def tap(member):
        from django.db import connections

        try:
            start.wait()
            participation_sign_up(activity=Activity(pk=activity.pk), member=member)
        except Exception as exc:  # noqa: BLE001 — reported below, with the member
            failures.append((member.name, repr(exc)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    rows = Participation.objects.filter(activity=activity)
    assert rows.filter(status=Participation.Status.SIGNED_UP).count() == SEATS
    assert rows.filter(status=Participation.Status.WAITLISTED).count() == PEOPLE - SEATS
    positions = sorted(
        rows.with_waitlist_position()
        .filter(status=Participation.Status.WAITLISTED)
        .values_list("waitlist_position", flat=True)
    )
    assert positions == list(range(1, PEOPLE - SEATS + 1))
    assert Activity.objects.with_place_counts().get(pk=activity.pk).signed_up == SEATS
