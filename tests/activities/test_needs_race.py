"""Twenty members tap "claim" at once on a need that wants three: the need's row lock makes them
take turns, so exactly three claim it and the others are told every place is taken. PostgreSQL
only; each thread has its own connection."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from activities.models import Need, NeedClaim
from activities.services.needs import need_claim, need_publish
from tests.activities.test_signup import reported_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEOPLE, PLACES = 20, 3


def test_twenty_parallel_claims_for_three_places_leave_exactly_three(
    world, django_user_model, community_staff
):
    assert connection.vendor == "postgresql"
    need = need_publish(
        by=community_staff,
        community=world.shengli,
        title="帮独居老人搬家",
        deadline=timezone.now() + dt.timedelta(days=2),
        hours=2,
        claimants=PLACES,
    )
    members = reported_in(world, django_user_model, PEOPLE)
    start = threading.Barrier(PEOPLE)
    refused, failures = [], []

    def tap(member):
        from django.db import connections

        try:
            start.wait()
            need_claim(need=Need(pk=need.pk), user=member.user, tell=False)
        except ValidationError:
            refused.append(member.pk)
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
    assert NeedClaim.objects.filter(need=need).active().count() == PLACES
    assert len(refused) == PEOPLE - PLACES
    need.refresh_from_db()
    assert need.state == Need.State.CLAIMED
