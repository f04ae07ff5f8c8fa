"""The lists' paginator."""

from django.core.paginator import Paginator as DjangoPaginator


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
    OFFSET walked every joined row before it."""

    def __init__(self, object_list, per_page, *args, read=None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.read = read

    def page(self, number):
        page = super().page(number)
        if self.count == 0:
            page.object_list = self.object_list[: self.per_page]
        if self.read is not None:
            page.object_list = self.read(page.object_list.values("pk"))
        return page
