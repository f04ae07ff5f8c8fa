"""The content security policy walk of tests/e2e/test_content_security_policy.py for the roles
of a community and an agency: community staff, the grid worker, the agency office and the
member each open every page the bench finds for them, in a real browser,
and none is refused, left in English, showing a code value or offering a dead link. A file of
its own so that CI's two test processes share the walk."""

import pytest

from tests.e2e.test_content_security_policy import (
    personas,  # noqa: F401 (a fixture)
    role_urls,
    walk_pages,
)
from tests.xiachen.test_admin import everything  # noqa: F401 (a fixture: a row of each model)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.any_database,  # CI walks the pages in its PostgreSQL leg only
    pytest.mark.django_db(transaction=True),  # live_server needs committed data
]


def test_no_page_of_the_workspace_roles_breaks_the_content_security_policy(
    browser,
    live_server,
    personas,  # noqa: F811
    city_admin,
    street_officer,
):
    walks = {
        username: role_urls(username)
        for username in personas
        if username not in (city_admin.username, street_officer.username)
    }
    assert len(walks) == 4
    # The walk saw each role's pages (154 of four roles when written), not a handful.
    assert walk_pages(browser, live_server, walks) > 120
