"""A call-out on a phone (390×844, Chinese UI): community staff raise a call; two members answer
from the links in their messages, without signing in; the live page's count follows; the call
escalates when the time is up, and the agency office finds it in its inbox with a way to send
more of its members."""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import CallOut, CallOutAnswer, Participation
from activities.services.callouts import callout_escalate_due
from notifications import delivery
from notifications.models import Notification
from tests.activities.test_signup import reported_in

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def message_link(member) -> str:
    """The link of the call in the member's inbox message, as the phone would open it."""
    row = Notification.objects.get(
        kind=Notification.Kind.CALL_OUT,
        recipient=member.user,
        channel=Notification.Channel.INAPP,
    )
    return urlsplit(row.url).path


@pytest.mark.parametrize("screen", ["phone"])
def test_raise_answer_watch_and_escalate_on_a_phone(
    page, screen, world, community_staff, agency_office, django_user_model
):
    second = reported_in(world, django_user_model, 1, prefix="zhang")[0]
    now = timezone.now()

    log_in(page, "shengli_staff")
    follow_menu(page, test_id="nav-callouts")
    expect(page).to_have_url(re.compile(r"/activities/callouts/$"))
    page.get_by_test_id("callout-new").click()
    form = page.get_by_test_id("callout-form")
    form.get_by_label("事由").fill("沿江防汛巡逻增援")
    form.get_by_label("地点").fill("滨江公园段")
    form.get_by_label("开始时间").fill(_local(now + dt.timedelta(minutes=20)))
    form.get_by_label("结束时间").fill(_local(now + dt.timedelta(hours=3)))
    form.get_by_label("需要人数").fill("3")
    assert_no_horizontal_scroll(page)
    form.get_by_role("button", name="发起吹哨").click()
    expect(page.get_by_test_id("callout-state")).to_contain_text("响应中")
    expect(page.get_by_test_id("count-pending")).to_have_text("2")
    expect(page.get_by_test_id("count-coming")).to_have_text("0")
    live = page.url
    call = CallOut.objects.get()

    # Two members answer from their messages' links, signed out.
    answering = page.context.browser.new_context(
        base_url=live.split("/activities/")[0],
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    phone = answering.new_page()
    phone.goto(message_link(world.sanxia_member))
    expect(phone.get_by_test_id("callout-answer")).to_contain_text("沿江防汛巡逻增援")
    assert_no_horizontal_scroll(phone)
    phone.get_by_role("button", name="马上到").click()
    expect(phone.get_by_test_id("answer-mine")).to_have_attribute("data-answer", "coming")
    expect(phone.get_by_test_id("answer-counts")).to_contain_text("马上到 1")

    phone.goto(message_link(second))
    phone.get_by_label("原因（可不填）").fill("在外地出差")
    phone.get_by_role("button", name="来不了").click()
    expect(phone.get_by_test_id("answer-mine")).to_have_attribute("data-answer", "cannot")
    answering.close()

    page.goto(live)
    expect(page.get_by_test_id("count-coming")).to_have_text("1")
    expect(page.get_by_test_id("count-cannot")).to_have_text("1")
    expect(page.get_by_test_id("answers-cannot")).to_contain_text("在外地出差")
    expect(page.get_by_test_id("callout-short")).to_contain_text("还差 2 人")
    assert Participation.objects.filter(activity=call.activity).count() == 1

    # Half an hour on and still short: the beat task escalates it to 三峡's office.
    assert callout_escalate_due(now=timezone.now() + dt.timedelta(minutes=31)) == [call]
    told = Notification.objects.filter(
        kind=Notification.Kind.CALL_OUT_ESCALATED, recipient=agency_office
    )
    delivery.deliver_inbox(list(told.values_list("pk", flat=True)), token="e2e")
    page.goto(live)
    expect(page.get_by_test_id("callout-level")).to_contain_text("已升级至共建单位")

    page.context.clear_cookies()
    log_in(page, "sanxia_office")
    page.goto("/notifications/inbox/")
    page.get_by_role("button", name=re.compile("吹哨升级")).first.click()
    expect(page).to_have_url(re.compile(rf"/activities/callouts/{call.pk}/$"))
    page.get_by_test_id("callout-send-more").click()
    page.get_by_test_id("send-more-search").fill("王海燕")
    page.get_by_role("button", name="搜索").click()
    page.get_by_label(re.compile("王海燕")).check()
    page.get_by_role("button", name="向所选党员吹哨").click()
    expect(page.get_by_test_id("count-pending")).to_have_text("1")
    assert_no_horizontal_scroll(page)
    assert CallOutAnswer.objects.filter(call=call, member=world.sanxia_member_2).exists()
