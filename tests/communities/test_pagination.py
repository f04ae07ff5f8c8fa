"""The lists' paginator reads a page's rows with one query, empty or full."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communities.models import Street
from communities.pagination import Paginator


def queries_for_a_page(rows):
    with CaptureQueriesContext(connection) as ctx:
        page = Paginator(rows, 20).get_page(1)
        shown = list(page)
    return len(ctx.captured_queries), shown


@pytest.mark.django_db
def test_an_empty_list_costs_the_same_queries_as_a_full_one():
    Street.objects.bulk_create(Street(name=f"街道{n}") for n in range(3))
    full, shown = queries_for_a_page(Street.objects.order_by("pk"))
    assert len(shown) == 3
    nothing, shown = queries_for_a_page(Street.objects.filter(name="无此街道").order_by("pk"))
    assert shown == []
    assert nothing == full == 2  # the count, and the page's rows


@pytest.mark.django_db
def test_pages_beyond_the_first_are_as_django_makes_them():
    Street.objects.bulk_create(Street(name=f"街道{n}") for n in range(45))
    page = Paginator(Street.objects.order_by("pk"), 20).get_page(3)
    assert page.number == 3 and len(page) == 5
    assert Paginator(Street.objects.order_by("pk"), 20).get_page("oops").number == 1


@pytest.mark.django_db
def test_a_page_read_with_its_joins_is_still_one_query_in_the_lists_order():
    Street.objects.bulk_create(Street(name=f"街道{n:02}") for n in range(45))

    def read(ids):
        return Street.objects.filter(pk__in=ids).order_by("-name")

    full = Street.objects.order_by("-name")
    with CaptureQueriesContext(connection) as ctx:
        shown = [street.name for street in Paginator(full, 20, read=read).get_page(3)]
    assert shown == [f"街道{n:02}" for n in range(4, -1, -1)]
    assert len(ctx.captured_queries) == 2  # the count, and the page's rows
    nothing = full.filter(name="无此街道")
    with CaptureQueriesContext(connection) as ctx:
        assert list(Paginator(nothing, 20, read=read).get_page(1)) == []
    assert len(ctx.captured_queries) == 2
