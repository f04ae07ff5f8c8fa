"""The admin's paginator for city-size tables: PostgreSQL's estimate of an unfiltered table's
rows instead of COUNT(*) over all of them; exact counts wherever else."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from activities.models import Participation
from communities.admin import EstimatedCountPaginator


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def counts(client, **params):
    url = reverse("admin:activities_participation_changelist")
    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()], response.context["cl"]


@pytest.mark.postgres
def test_a_large_unfiltered_table_is_counted_by_the_estimate(staff_client, world, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_participation")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    counted, cl = counts(staff_client)
    assert counted == []
    assert cl.result_count == Participation.objects.count()
    # Filtered, the count is exact (and it is the only count: no "of N in all").
    counted, cl = counts(staff_client, status__exact=Participation.Status.PRESENT)
    assert len(counted) == 1
    assert cl.result_count == Participation.objects.filter(status="present").count()
    assert cl.full_result_count is None


@pytest.mark.postgres
def test_a_table_below_the_threshold_is_counted_exactly(staff_client, world):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_participation")
    counted, cl = counts(staff_client)
    assert len(counted) == 1
    assert cl.result_count == Participation.objects.count()
