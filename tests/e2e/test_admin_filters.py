"""The admin's search filters in a browser: typing an agency's name in the filter box and
choosing it opens the list filtered by it; clearing the box opens it unfiltered."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import authenticator_of, type_code

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_choosing_an_agency_in_the_filter_box_filters_the_participations(
    desktop, live_server, world, superuser
):
    page = desktop
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    # The admin's sign-in is the site's: the password, then the second factor's code.
    device = authenticator_of("root")
    page.goto("/admin/login/?next=/admin/activities/participation/")
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill("pw-root")
    page.get_by_role("button", name="登录").click()
    type_code(page, device)
    expect(page.locator("#result_list")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)  # 李建华's and 陈思远's

    box = page.locator('select[data-filter-param="member__agency__id__exact"]')
    box.locator("xpath=following-sibling::span[1]").click()  # select2 opens a search field
    page.locator(".select2-container--open .select2-search__field").fill("园林")
    # The box first lists every agency, then (a quarter second on) the ones that match: a click
    # while the list is being replaced can land on no option. Wait for the matching list alone.
    options = page.locator(".select2-container--open .select2-results__option")
    expect(options).to_have_text(["市园林和林业局"])
    options.first.click()
    expect(page).to_have_url(re.compile(rf"member__agency__id__exact={world.yuanlin.pk}"))
    expect(rows).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("陈思远")
    # The box shows the chosen agency; its clear button lists everyone again.
    chosen = page.locator('select[data-filter-param="member__agency__id__exact"] + span')
    expect(chosen).to_contain_text("市园林和林业局")
    chosen.locator(".select2-selection__clear").click()
    expect(page).not_to_have_url(re.compile("member__agency"))
    expect(rows).to_have_count(2)
    assert errors == []
