"""The annual evaluation (年度评价) on a phone, in Chinese: the staff of 胜利一路社区 rate the
members reported in to them on one page; two 优秀 of three are refused with the cap's message and
nothing saved; one 优秀 is saved. 李建华, rated 基本合格, objects with a reason; the staff answer
and raise the rating to 合格; 李建华 reads the answer."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from members.models import Member, Registration
from reports.models import Evaluation, EvaluationObjection

from .browser import assert_no_horizontal_scroll, follow_menu, log_in

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def screen():
    """At 390 px, as in WeChat's browser."""
    return "phone"


def open_menu_link(page, name):
    follow_menu(page, name)


def choose(page, member, rating):
    page.locator(f'label[for="r{member.pk}-{rating}"]').click()


@pytest.fixture
def reported_in(world):
    """李建华 and two more of 三峡's members reported in to 胜利一路社区."""
    others = [
        Member.objects.create(agency=world.sanxia, name=name, mobile=mobile)
        for name, mobile in [("赵丽君", "13900000011"), ("孙志远", "13900000012")]
    ]
    for member in others:
        Registration.objects.create(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
    return [world.sanxia_member, *others]


def test_staff_rate_a_member_objects_and_the_staff_answer(
    browser, page, live_server, world, community_staff, reported_in
):
    lijianhua, zhao, sun = reported_in

    # The staff rate the page: two 优秀 of three pass the third.
    log_in(page, "shengli_staff")
    open_menu_link(page, "年度评价")
    expect(page.get_by_role("heading", level=1)).to_contain_text("年度评价")
    assert_no_horizontal_scroll(page)
    choose(page, lijianhua, "basic")
    page.locator(f'input[name="comment-{lijianhua.pk}"]').fill("请假较多")
    choose(page, zhao, "excellent")
    choose(page, sun, "excellent")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("error")).to_contain_text("未保存任何评价")
    expect(page.get_by_test_id("error")).to_contain_text("优秀")
    assert_no_horizontal_scroll(page)
    assert not Evaluation.objects.exists()
    # What was chosen is still there; one 优秀 becomes 合格.
    expect(page.locator(f'input[name="comment-{lijianhua.pk}"]')).to_have_value("请假较多")
    choose(page, sun, "qualified")
    page.get_by_test_id("save").click()
    expect(page.get_by_role("alert").first).to_contain_text("已保存 3 条评价")
    assert Evaluation.objects.get(member=zhao).rating == Evaluation.Rating.EXCELLENT

    # 李建华 objects on their phone.
    member_context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    member_context.set_default_timeout(10_000)
    member = member_context.new_page()
    log_in(member, "sanxia_member")
    open_menu_link(member, "我的年度评价")
    card = member.get_by_test_id("evaluation")
    expect(card.get_by_test_id("rating")).to_have_text("基本合格")
    assert_no_horizontal_scroll(member)
    card.get_by_text("对此评价提出异议").click()
    card.get_by_label("异议理由").fill("上半年脚伤请假，下半年每周都参加了巡逻")
    card.get_by_test_id("object").click()
    expect(member.get_by_role("alert").first).to_contain_text("异议已提交")
    expect(card.get_by_test_id("objection")).to_contain_text("待答复")
    objection = EvaluationObjection.objects.get()

    # The staff see it on the evaluation page, answer, and raise the rating.
    page.goto("/evaluations/")
    page.get_by_test_id("open-objections").get_by_role("link").click()
    expect(page.get_by_test_id("objection")).to_contain_text("下半年每周都参加了巡逻")
    assert_no_horizontal_scroll(page)
    page.get_by_test_id("answer-form").get_by_role("textbox").fill("已核实下半年出勤，调整为合格")
    page.get_by_test_id("answer-form").get_by_text("合格", exact=True).click()
    page.get_by_test_id("send-answer").click()
    expect(page.get_by_role("alert").first).to_contain_text("已答复")
    objection.refresh_from_db()
    assert objection.answered_by == community_staff
    assert Evaluation.objects.get(member=lijianhua).rating == Evaluation.Rating.QUALIFIED

    # 李建华 reads the answer.
    member.reload()
    answer = member.get_by_test_id("answer")
    expect(answer).to_contain_text("已核实下半年出勤")
    expect(answer).to_contain_text("评价由基本合格调整为合格")
    expect(card.get_by_test_id("rating")).to_have_text("合格")
    assert_no_horizontal_scroll(member)
    member_context.close()
