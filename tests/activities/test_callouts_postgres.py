"""Call-outs at once and at city size, on PostgreSQL: parallel answers close a call once, two
escalation runs at once escalate once, and a call to 3,000 members is queued in under 10 s with
as many statements as a call to 300. Each thread has its own connection."""

import datetime as dt
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.models import CallOut, CallOutAnswer, Participation
from activities.services.callouts import callout_answer, callout_escalate_due
from communities.models import Community
from members.models import Member, Registration
from notifications.models import Notification
from tests.activities.test_callouts import raise_call
from tests.activities.test_signup import reported_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Kind = Notification.Kind


def at_once(jobs):
    """Runs each job in its own thread, all released together; (results, failures)."""
    start = threading.Barrier(len(jobs))
    results, failures = [], []

    def run(job):
        try:
            start.wait()
            results.append(job())
        except ValidationError as exc:
            results.append(exc)
        except Exception as exc:  # noqa: BLE001 — reported below
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, failures


PEOPLE, NEEDED = 12, 3


def test_parallel_answers_fill_the_call_once(world, community_staff, django_user_model):
    assert connection.vendor == "postgresql"
    members = reported_in(world, django_user_model, PEOPLE)
    call = raise_call(world, community_staff, needed=NEEDED)
    ids = list(
        CallOutAnswer.objects.filter(call=call, member__in=members).values_list("pk", flat=True)
    )

    results, failures = at_once(
        [lambda pk=pk: callout_answer(answer_id=pk, coming=True) for pk in ids]
    )

    assert failures == []
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == PEOPLE - NEEDED
    call.refresh_from_db()
    assert call.state == CallOut.State.FILLED
    assert (
        CallOutAnswer.objects.filter(call=call, answer=CallOutAnswer.Answer.COMING).count()
        == NEEDED
    )
    assert Participation.objects.filter(activity=call.activity).count() == NEEDED
    assert call.history.filter(history_change_reason="call-out filled").count() == 1
    # Everyone called is told once that the call is filled.
    told = Notification.objects.filter(kind=Kind.CALL_OUT_CLOSED, channel="inapp")
    assert told.count() == PEOPLE + 1
    assert told.values("recipient").distinct().count() == PEOPLE + 1


def test_two_escalation_runs_at_once_escalate_once(world, community_staff, agency_office):
    raised = timezone.now() - dt.timedelta(minutes=31)
    calls = [raise_call(world, community_staff, needed=5, now=raised) for _ in range(3)]

    results, failures = at_once([callout_escalate_due, callout_escalate_due])

    assert failures == []
    escalated = sorted(call.pk for run in results for call in run)
    assert escalated == sorted(call.pk for call in calls)
    for call in calls:
        call.refresh_from_db()
        assert call.escalation_level == CallOut.Level.OFFICES
        assert call.history.filter(history_change_reason="call-out escalated").count() == 1
    assert Notification.objects.filter(kind=Kind.CALL_OUT_ESCALATED).count() == 3


def _city_members(world, community, n, prefix, mobile_prefix):
    """`n` members reported in to `community`: a third with an e-mail, a third with a login
    only, a third without a login (reached by SMS)."""
    User = get_user_model()
    users = User.objects.bulk_create(
        [
            User(
                username=f"{prefix}{i}",
                password="!",
                email=f"{prefix}{i}@example.cn" if i % 3 == 0 else "",
            )
            for i in range(n)
            if i % 3 != 2
        ]
    )
    logins = iter(users)
    members = Member.objects.bulk_create(
        [
            Member(
                agency=world.sanxia,
                name=f"成员{prefix}{i}",
                mobile=f"{mobile_prefix}{i:08d}",
                user=next(logins) if i % 3 != 2 else None,
            )
            for i in range(n)
        ]
    )
    Registration.objects.bulk_create(
        [
            Registration(
                member=member,
                community=community,
                status=Registration.Status.ACTIVE,
                applied_on=timezone.localdate(),
            )
            for member in members
        ]
    )


def _raise_timed(world, by, community):
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        call = raise_call(world, by, needed=50, community=community)
        took = time.perf_counter() - started
    return call, took, len(queries)


def test_a_call_to_3000_members_is_queued_in_under_10_s(world, city_admin):
    small = Community.objects.create(street=world.wanshouqiao, name="建设社区")
    big = Community.objects.create(street=world.wanshouqiao, name="东山花园社区")
    _city_members(world, small, 300, "s", "135")
    _city_members(world, big, 3000, "b", "136")

    raise_call(world, city_admin, needed=1)  # the first call reads what later ones have cached
    small_call, _took, small_queries = _raise_timed(world, city_admin, small)
    call, took, queries = _raise_timed(world, city_admin, big)

    assert took < 10, f"{took:.1f} s"
    assert queries == small_queries, (small_queries, queries)
    assert call.answers.count() == 3000
    rows = Notification.objects.filter(kind=Kind.CALL_OUT, object_id__in=call.answers.values("pk"))
    # Every member is reached on every channel they have: the inbox for the logins, e-mail for
    # a third, a text message for all (each has a mobile).
    assert rows.values("recipient_key").distinct().count() == 3000
    assert rows.filter(channel="inapp").count() == 2000
    assert rows.filter(channel="email").count() == 1000
    assert rows.filter(channel="sms").count() == 3000
    assert not rows.filter(state=Notification.State.UNREACHABLE).exists()
    print(f"\n3,000 members called in {took:.2f} s with {queries} queries")
