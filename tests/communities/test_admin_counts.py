"""The admin's paginator for city-size tables: PostgreSQL's estimate of an unfiltered table's
rows instead of COUNT(*) over all of them; exact counts wherever else."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from activities.models import Participation
from communities.admin import EstimatedCountPaginator


def counts(client, **params):
    """The list's queries, and its ChangeList, once the session and content types are warm."""
    url = reverse("admin:activities_participation_changelist")
    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return [q["sql"] for q in queries], response.context["cl"]


def more_rows_than_analyzed(world):
    """Participations added after ANALYZE: the estimate still says the old number."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_participation")
    analyzed = Participation.objects.count()
    Participation.objects.create(activity=world.shengli_activity, member=world.yuanlin_member)
    return analyzed


@pytest.mark.postgres
def test_a_large_unfiltered_table_is_counted_by_the_estimate(staff_client, world, monkeypatch):
    analyzed = more_rows_than_analyzed(world)
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    estimated, cl = counts(staff_client)
    assert cl.result_count == analyzed != Participation.objects.count()
    # Filtered, the count is exact (and it is the only count: no "of N in all").
    _, cl = counts(staff_client, status__exact=Participation.Status.PRESENT)
    assert cl.result_count == Participation.objects.filter(status="present").count()
    assert cl.full_result_count is None
    # Below the threshold the count is exact, in as many queries as the estimate took.
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 10**9)
    exact, cl = counts(staff_client)
    assert cl.result_count == Participation.objects.count()
    assert len(exact) == len(estimated)


@pytest.mark.postgres
def test_a_table_below_the_threshold_is_counted_exactly(staff_client, world):
    more_rows_than_analyzed(world)
    _, cl = counts(staff_client)
    assert cl.result_count == Participation.objects.count()
