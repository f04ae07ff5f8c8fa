"""The lists' paginator reads a page's rows with one query, empty or full."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communities.models import Street
from communities.pagination import Paginator, SortedPk


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


# A page in the second half of a list is read from its end (communities/pagination.py).


def messages(number=47):
    """`number` messages whose queue times and send times tie in fives and threes, a third of
    them never sent (NULL): orders where only the last term, the pk, tells rows apart."""
    import datetime as dt

    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from notifications.models import Notification

    street = Street.objects.create(name="万寿桥街道")
    start = timezone.now() - dt.timedelta(days=1)
    Notification.objects.bulk_create(
        Notification(
            kind=Notification.Kind.MESSAGE,
            channel=Notification.Channel.INAPP,
            state=Notification.State.SENT,
            content_type=ContentType.objects.get_for_model(street),
            object_id=street.pk,
            recipient_key=f"m{n}",
            recipient_name="王海燕",
            subject=f"提醒{n % 4}",
            body="正文",
            created_at=start + dt.timedelta(minutes=n // 5),
            sent_at=None if n % 3 == 0 else start + dt.timedelta(hours=n // 3),
        )
        for n in range(number)
    )
    return Notification.objects.all()


def orderings():
    from django.db.models import F

    return [
        ("-created_at", "-pk"),
        ("created_at", "pk"),
        (F("sent_at").asc(nulls_last=True), "-created_at", "pk"),
        ("sent_at", "-id"),
        (F("sent_at").desc(nulls_first=True), "subject", F("pk").desc()),
        (SortedPk().desc(),),
        ("subject", SortedPk().asc()),
    ]


def read_as_django_does(rows, number, **options):
    from django.core.paginator import Paginator as DjangoPaginator

    return [row.pk for row in DjangoPaginator(rows, 10, **options).page(number)]


@pytest.mark.django_db
@pytest.mark.parametrize("orphans", [0, 7])
def test_every_page_read_from_the_end_is_the_page_read_from_the_start(orphans):
    everything = messages()
    for ordering in orderings():
        rows = everything.order_by(*ordering)
        paginator = Paginator(rows, 10, orphans=orphans)
        assert paginator.num_pages == (5 if orphans == 0 else 4)
        for number in paginator.page_range:
            with CaptureQueriesContext(connection) as ctx:
                page = Paginator(rows, 10, orphans=orphans).get_page(number)
                shown = [row.pk for row in page]
            assert shown == read_as_django_does(rows, number, orphans=orphans), (ordering, number)
            assert len(ctx.captured_queries) == 2  # the count, and the page's rows
    # The model's own ordering (Meta: -created_at, -pk) is read from the end too.
    last = Paginator(everything, 10).get_page(5)
    assert [row.pk for row in last] == read_as_django_does(everything, 5)


@pytest.mark.django_db
def test_the_last_page_skips_no_rows_and_the_first_none_either():
    rows = messages().order_by("-created_at", "-pk")
    # Pages 1 and 2 start 0 and 10 rows from the start; 3, 4 and 5 end 17, 7 and 0 rows
    # before the end: never the OFFSET of 40 rows that a last page read from the start skips.
    for number, size, skipped, turned in [
        (1, 10, 0, False),
        (2, 10, 10, False),
        (3, 10, 17, True),
        (4, 10, 7, True),
        (5, 7, 0, True),
        (999999, 7, 0, True),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            page = Paginator(rows, 10).get_page(number)
            assert len(page) == size
        sql = ctx.captured_queries[-1]["sql"]
        assert sql.endswith(f"LIMIT {size} OFFSET {skipped}" if skipped else f"LIMIT {size}"), sql
        assert ('"created_at" ASC' in sql) == turned, sql


@pytest.mark.django_db
def test_a_page_read_from_the_end_with_its_joins_is_in_the_lists_order():
    everything = messages()
    rows = everything.order_by("-created_at", "-pk")

    def read(ids):
        return everything.filter(pk__in=ids).order_by("-created_at", "-pk")

    for number in range(1, 6):
        with CaptureQueriesContext(connection) as ctx:
            shown = [row.pk for row in Paginator(rows, 10, read=read).get_page(number)]
        assert shown == read_as_django_does(rows, number), number
        assert len(ctx.captured_queries) == 2


@pytest.mark.django_db
def test_a_list_sorted_on_its_primary_key_past_the_index_is_read_from_the_end_too():
    # `id + 0` (reports.review's filtered list) orders as the primary key does: no ties.
    rows = messages().order_by(SortedPk().desc())
    with CaptureQueriesContext(connection) as ctx:
        last = [row.pk for row in Paginator(rows, 10).get_page(5)]
    assert last == read_as_django_does(rows, 5) == sorted(last, reverse=True)
    sql = ctx.captured_queries[-1]["sql"]
    assert "+ 0) ASC" in sql and "OFFSET" not in sql, sql


@pytest.mark.django_db
def test_a_list_whose_order_may_tie_is_read_from_the_start():
    rows = messages().order_by("subject")  # ties, no pk: its reverse is not its order reversed
    with CaptureQueriesContext(connection) as ctx:
        assert len(Paginator(rows, 10).get_page(5)) == 7
    assert "OFFSET 40" in ctx.captured_queries[-1]["sql"]
    # Nor is a list that is not a QuerySet.
    assert list(Paginator(list(range(47)), 10).get_page(5)) == list(range(40, 47))


@pytest.mark.django_db
def test_the_count_a_view_knows_is_not_counted_again():
    rows = messages().order_by("-created_at", "-pk")
    with CaptureQueriesContext(connection) as ctx:
        shown = [row.pk for row in Paginator(rows, 10, count=47).get_page(5)]
    assert len(ctx.captured_queries) == 1
    assert shown == read_as_django_does(rows, 5)
    with CaptureQueriesContext(connection) as ctx:
        assert list(Paginator(rows.none(), 10, count=0).get_page(1)) == []
    assert len(ctx.captured_queries) <= 1
