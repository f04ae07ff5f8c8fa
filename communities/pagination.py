"""The lists' paginator."""

from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import BigIntegerField, F, Func, OrderBy, QuerySet


class SortedPk(Func):
    """The primary key as a sort key no index gives (`id + 0`), for a list filtered on a column
    that goes with the id (a community's records lie in one stretch of ids, a period's too in a
    live city): PostgreSQL then reads the rows that match through their own indexes and sorts
    them, where `ORDER BY id LIMIT 20` walked the primary key hoping to meet 20 of them soon —
    and walked 1.4 million participations before the first of a community's. The list is in
    the same order; the paginator still reads its deep pages from the end."""

    template = "(%(expressions)s + 0)"
    output_field = BigIntegerField()

    def __init__(self):
        super().__init__(F("pk"))


class Paginator(DjangoPaginator):
    """Django's paginator, except that a page reads its rows with one query even when the count
    said there are none. Django skips that query for an empty list, so a page cost one query
    fewer empty than full; here every list page costs the same number of queries however many
    rows it has — what `make bench` compares between the demo and the city.

    `read`, when given, turns the ids of a page's rows (a sliced `values("pk")` QuerySet) into
    the rows to show, ordered as the list is — typically the same model filtered on those ids,
    with its `select_related`. The list itself is then sorted and counted on its own table
    only, and the joins are made for the page's rows alone, still in one query: sorted after
    the joins, a city's 30,000 work updates took 200 ms for a page of 20, and a deep page's
    OFFSET walked every joined row before it.

    `count`, when given, is the number of rows in the list, which the view knows already.

    A page in the second half of the list is read from its end: the list in reverse order,
    skipping the rows after the page, and turned round again here (or by `read`, which orders
    its rows as the list). OFFSET reads every row it skips, so the last page of the city's
    200,000 messages read them all (290 ms); from the end it skips none. It is the same page,
    in the same order, with the same number of queries — provided the order is total: it is
    read so only when the list's ordering ends with the primary key, as every list's does."""

    def __init__(self, object_list, per_page, *args, read=None, count=None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.read = read
        if count is not None:
            # The view counted the list already (the outbox's counts per state add up to it):
            # no second count of the same rows.
            self.count = count

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        after = self.count - top  # the rows after the page
        if after < bottom and self._readable_from_the_end():
            rows = self.object_list.reverse()[after : self.count - bottom]
            if self.read is not None:
                return self._get_page(self.read(rows.values("pk")), number, self)
            return self._get_page(list(rows)[::-1], number, self)
        page = super().page(number)
        if self.count == 0:
            page.object_list = self.object_list[: self.per_page]
        if self.read is not None:
            page.object_list = self.read(page.object_list.values("pk"))
        return page

    def _readable_from_the_end(self) -> bool:
        """Whether the list is a QuerySet whose reverse order is exactly its order turned round:
        its last ordering term is the primary key, so no two rows tie."""
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return False
        query = rows.query
        if query.combinator or query.is_sliced or query.distinct_fields or query.extra_order_by:
            return False
        ordering = query.order_by or (query.default_ordering and rows.model._meta.ordering)
        if not ordering:
            return False
        last = ordering[-1]
        if isinstance(last, OrderBy):
            last = last.expression
        if isinstance(last, SortedPk):
            return True
        if isinstance(last, F):
            last = last.name
        if not isinstance(last, str):
            return False
        pk = rows.model._meta.pk
        return last.removeprefix("-") in {"pk", pk.name, pk.attname}
