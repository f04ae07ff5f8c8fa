"""Every page of every role answers hostile URL parameters without an error (no 500): the
filters, years, pages, sorts and ids people could type or paste, including a NUL character,
which PostgreSQL refuses in any string.

The pages are found the way `make bench` finds them (xiachen.bench.pages.plan): every URL of
the project each persona may open, objects chosen among those it sees."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from xiachen.bench import pages

# The parameter names the project's pages read (filters, periods, pages, sorting, switches).
NAMES = [
    "q",
    "page",
    "year",
    "month",
    "period",
    "status",
    "state",
    "review",
    "kind",
    "type",
    "nature",
    "community",
    "grid",
    "agency",
    "street",
    "member",
    "activity",
    "date_from",
    "date_to",
    "start",
    "end",
    "on",
    "sort",
    "order",
    "tab",
    "next",
    "format",
    "full",
    "channel",
    "number",
]
HOSTILE = [
    "\x00",
    "'\"<script>alert(1)</script>",
    "-1",
    "99999999999999999999999",
    "9999-99-99",
    "1e309",
    "%",
]


@pytest.fixture
def personas(
    world,
    city_admin,
    street_officer,
    community_staff,
    grid_worker,
    agency_office,
    member_user,
):
    return [
        city_admin.username,
        street_officer.username,
        community_staff.username,
        grid_worker.username,
        agency_office.username,
        member_user.username,
    ]


def test_no_page_of_any_role_fails_on_hostile_parameters(personas):
    planned, unknown = pages.plan(personas)
    assert unknown == []
    assert len({page.name for page in planned}) > 30  # the walk found the project's pages
    client = Client(raise_request_exception=False)
    User = get_user_model()
    failures = []
    for username in personas:
        client.force_login(User.objects.get(username=username))
        urls = {page.url.split("?")[0] for page in planned if page.username == username}
        for url in sorted(urls):
            if url.startswith("/admin/"):
                continue
            for value in HOSTILE:
                response = client.get(url, {name: value for name in NAMES})
                if response.status_code >= 500:
                    failures.append(f"{username} {url} {value!r} → {response.status_code}")
        client.logout()
    assert failures == []
