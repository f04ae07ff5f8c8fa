"""A resident need on a phone (390×844, Chinese UI): a member finds it in the menu, claims it
and records it done; the community's staff verify it, and the member's record counts the hours
as voluntary service."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Need, NeedClaim, Participation
from activities.services.needs import need_publish

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_out(page):
    page.context.clear_cookies()


@pytest.mark.parametrize("screen", ["phone"])
def test_claim_done_verify_on_a_phone(page, screen, world, community_staff):
    need = need_publish(
        by=community_staff,
        community=world.shengli,
        title="帮刘奶奶代买降压药",
        place="紫林苑3栋",
        deadline=timezone.now() + dt.timedelta(days=3),
        hours=1,
    )

    log_in(page, "sanxia_member")
    follow_menu(page, test_id="nav-needs")
    expect(page).to_have_url(re.compile(r"/activities/needs/$"))
    page.get_by_role("link", name="帮刘奶奶代买降压药").click()
    assert_no_horizontal_scroll(page)
    page.get_by_role("button", name="认领这个微心愿").click()
    expect(page.get_by_test_id("my-claim")).to_have_attribute("data-state", "claimed")
    expect(page.get_by_test_id("need-state")).to_contain_text("已认领")
    form = page.get_by_test_id("done-form")
    form.locator("textarea").fill("买好药送到家，叮嘱按时服用。")
    form.locator("input[name='done-hours']").fill("1.5")
    form.get_by_role("button", name="登记完成").click()
    expect(page.get_by_test_id("my-claim")).to_have_attribute("data-state", "done")
    assert_no_horizontal_scroll(page)

    log_out(page)
    log_in(page, "shengli_staff")
    page.goto(need.get_absolute_url())
    expect(page.get_by_test_id("claim-row")).to_contain_text("买好药送到家")
    page.get_by_test_id("verify-form").get_by_role("button", name="核实").click()
    expect(page.get_by_test_id("need-state")).to_have_attribute("data-state", "verified")
    expect(page.get_by_test_id("timeline").first).to_contain_text("社区核实")
    assert_no_horizontal_scroll(page)

    claim = NeedClaim.objects.get(need=need)
    assert claim.participation.status == Participation.Status.PRESENT
    assert claim.participation.hours == 1.5
    assert Need.objects.get(pk=need.pk).state == Need.State.VERIFIED
