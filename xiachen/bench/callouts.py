"""A call-out (吹哨) to 3,000 members at city size, queued as the raise form queues it.

The street officer among the demo accounts raises one call to several of their street's
communities at once (the largest first, until 3,000 members reported in there are called; the
city administrator does, across streets, if the street has fewer), through the service the form
calls. Timed from the call to the last message in the outbox, with its statements counted; then
rolled back, so nothing is left and no delivery task is published (they go out on commit).
"""

import datetime as dt
import time

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from activities.models import CallOutAnswer
from activities.services.callouts import callout_raise_many
from communities.models import Community
from communities.permissions import scope_of
from members.models import Member, Registration
from notifications.models import Notification

from .measure import Line, count_queries
from .sweep import rolled_back

SIZE = 3000
TARGET = 10.0
STREET_OFFICER = "wanshouqiao_street"
CITY_ADMIN = "admin"


def _communities(user, size: int) -> tuple[list[Community], int]:
    """The largest communities `user` may call to, until `size` members are reached; and how
    many they call (a member is asked once by each community's call)."""
    scope = scope_of(user)
    places = Community.objects.all()
    if not scope.city:
        places = places.filter(street__in=scope.street_ids)
    reported_in = Registration.objects.reported_in().filter(
        community__in=places, member__status=Member.Status.ACTIVE
    )
    sizes = (
        reported_in.values("community")
        .annotate(n=Count("member", distinct=True))
        .order_by("-n", "community")
    )
    chosen, total = [], 0
    for row in sizes:
        if total >= size:
            break
        chosen.append(row["community"])
        total += row["n"]
    return list(Community.objects.filter(pk__in=chosen).order_by("pk")), total


def bench(
    *, judge: bool, size: int = SIZE, officer: str = STREET_OFFICER, admin: str = CITY_ADMIN
) -> list[Line]:
    users = get_user_model().objects.in_bulk([officer, admin], field_name="username")
    caller = users.get(officer)
    communities, members = _communities(caller, size) if caller else ([], 0)
    if members < size and admin in users:
        caller = users[admin]
        communities, members = _communities(caller, size)
    if not communities:
        return [Line("callout", "a call-out", "no community with members to call", "one", False)]
    now = timezone.now()
    lines = []
    with rolled_back():
        before = Notification.objects.count()
        started = time.perf_counter()
        calls, queries = count_queries(
            lambda: callout_raise_many(
                by=caller,
                communities=communities,
                title="长江水位超警戒，紧急加派沿江防汛巡逻",
                place="滨江步道",
                starts_at=now + dt.timedelta(minutes=30),
                ends_at=now + dt.timedelta(hours=3),
                needed=50,
            )
        )
        seconds = time.perf_counter() - started
        answers = CallOutAnswer.objects.filter(call__in=calls)
        called = answers.count()
        people = answers.values("member").distinct().count()
        messages = Notification.objects.count() - before
    name = f"call-out by {caller.username} to {len(communities)} communities, {members} members"
    lines.append(
        Line(
            "callout",
            f"{name}: every member called once",
            f"{called} answers ({people} people), {messages} messages",
            f"{members} answers, a message or more each",
            called == members and messages >= members,
            note="harness",
        )
    )
    lines.append(
        Line(
            "callout",
            f"{name}: queued",
            f"{seconds:.2f} s, {queries} queries",
            f"≤ {TARGET:g} s for {size:,} members",
            seconds <= TARGET,
            judged=judge and members >= size,
        )
    )
    return lines
