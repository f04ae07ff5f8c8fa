"""Every kind of message links to the page it is about, and that link opened signed out goes
through the sign-in and lands there (issue 10, point 1): a member taps the link in an e-mail or
a group robot's message in WeChat's browser, where nobody is signed in yet."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import formats, timezone

from activities.models import Activity, Concern, DutyAssignment, Participation
from activities.services.review import participation_dispute, participation_dispute_answer
from communities.permissions import needs_second_factor
from members.activation import activation_issue
from members.models import Registration
from notifications import messages
from notifications.models import Notification
from tests.second_factor import enrol, next_code

Kind = Notification.Kind
User = get_user_model()
# The member's own report-ins, with their state (members/report_in.py's page).
MY_REPORT_IN = 'data-testid="my-report-in"'


def _coming(world):
    starts = timezone.now() + dt.timedelta(days=2)
    return Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="万寿小区环境清扫",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
        capacity=5,
    )


def _activity(kind, context=None, reader="sanxia_member"):
    def case(world, people):
        return world.shengli_activity, context or {}, reader, [world.shengli_activity.title]

    return case


def _inactivity(world, people):
    coming = _coming(world)
    return world.sanxia_member, {}, "sanxia_member", ["活动报名", coming.title]


def _digest(world, people):
    end = timezone.localdate() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=6)
    context = {
        "start": start,
        "end": end,
        "present": 1,
        "absent": 0,
        "leave": 0,
        "hours": 2,
        "rate": "100%",
        "inactive_names": [],
        "inactive_count": 0,
    }
    shown = [f'value="{start.isoformat()}"', f'value="{end.isoformat()}"', "李建华"]
    return world.sanxia, context, "sanxia_office", shown


def _duty(world, people):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    duty = DutyAssignment.objects.create(
        agreement=world.agreement, date=tomorrow, member=world.sanxia_member
    )
    shown = ['data-testid="my-duty"', formats.date_format(tomorrow, "n月j日"), "胜利一路社区"]
    return duty, {}, "sanxia_member", shown


def _approved(world, people):
    registration = Registration.objects.get(member=world.sanxia_member, community=world.shengli)
    return registration, {}, "sanxia_member", ["胜利一路社区", "已报到", MY_REPORT_IN]


def _returned(world, people):
    registration = Registration.objects.create(
        member=world.sanxia_member,
        community=world.shenzhen,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.RETURNED,
        applied_on=timezone.localdate(),
        return_reason="请向实际居住地社区报到",
    )
    return registration, {}, "sanxia_member", ["深圳路社区", "请向实际居住地社区报到", MY_REPORT_IN]


def _leave(world, people):
    p = world.shengli_participation
    p.status, p.leave_reason = Participation.Status.LEAVE, "单位开会"
    p.leave_decision, p.hours = Participation.LeaveDecision.APPROVED, None
    p.save()
    return p, {}, "sanxia_member", [world.shengli_activity.title]


def _seat(world, people):
    coming = _coming(world)
    Participation.objects.create(activity=coming, member=world.sanxia_member, waitlisted_at=None)
    return coming, {}, "sanxia_member", [coming.title, 'data-testid="my-sign-up"']


def _concern(reader):
    def case(world, people):
        concern = Concern.objects.create(
            community=world.shengli,
            title="3栋门口路灯不亮",
            reported_by=world.sanxia_member.user,
            forwarded_to="万寿桥街道城建办",
            resolution="已修好",
        )
        return concern, {"name": "李建华"}, reader, [concern.title]

    return case


def _need(kind, reader):
    def case(world, people):
        from activities.services.needs import need_publish

        need = need_publish(
            by=people["shengli_staff"],
            community=world.shengli,
            title="帮独居老人买菜",
            deadline=timezone.now() + dt.timedelta(days=2),
            hours=1,
        )
        context = {"name": "李建华", "hours": 1, "reason": "老人已由家属照顾"}
        return need, context, reader, [need.title]

    return case


def _call_out(world, people):
    from activities.models import CallOut
    from activities.services.callouts import callout_raise

    now = timezone.now()
    call = callout_raise(
        by=people["shengli_staff"],
        community=world.shengli,
        title="沿江防汛巡逻增援",
        place="滨江公园段",
        starts_at=now,
        ends_at=now + dt.timedelta(hours=3),
        needed=3,
    )
    return call, CallOut


def _escalated(world, people):
    call, model = _call_out(world, people)
    model.objects.filter(pk=call.pk).update(
        escalation_level=model.Level.OFFICES, escalated_at=timezone.now()
    )
    call.refresh_from_db()
    return call, {"missing": 3}, "sanxia_office", [call.title, 'data-testid="callout-send-more"']


def _disputed(world, people):
    dispute = participation_dispute(
        by=people["sanxia_office"],
        participation=world.shengli_participation,
        reason="本人当晚在单位值班",
    )
    url = reverse("activities:dispute_answer", args=[world.shengli_participation.pk])
    context = {"agency": "三峡旅游新区", "name": "李建华", "url": url}
    return dispute, context, "shengli_staff", ["李建华", "本人当晚在单位值班"]


def _answered(world, people):
    dispute, *_ = _disputed(world, people)
    participation_dispute_answer(
        by=people["shengli_staff"],
        participation=world.shengli_participation,
        answer="巡逻队长确认本人全程在岗",
    )
    dispute.refresh_from_db()
    url = reverse("reports:review_record", args=[world.shengli_participation.pk])
    context = {"name": "李建华", "url": url}
    return dispute, context, "sanxia_office", ["李建华", "巡逻队长确认本人全程在岗"]


# kind → what the message is about, the context its caller passes, who reads it, and what the
# page its link opens must show of that object.
CASES = {
    Kind.UPCOMING: _activity(Kind.UPCOMING),
    Kind.ROLL_CALL_DUE: _activity(Kind.ROLL_CALL_DUE, {"pending": 1}, "shengli_staff"),
    Kind.INACTIVITY: _inactivity,
    Kind.AGENCY_DIGEST: _digest,
    Kind.DUTY_ROSTER: _duty,
    Kind.ACTIVITY_CHANGED: _activity(Kind.ACTIVITY_CHANGED),
    Kind.ACTIVITY_CANCELLED: _activity(Kind.ACTIVITY_CANCELLED, {"reason": "暴雨"}),
    Kind.REGISTRATION_APPROVED: _approved,
    Kind.REGISTRATION_RETURNED: _returned,
    Kind.LEAVE_DECIDED: _leave,
    Kind.SEAT_FREED: _seat,
    Kind.CONCERN_RAISED: _concern("shengli_staff"),
    Kind.CONCERN_FORWARDED: _concern("sanxia_member"),
    Kind.CONCERN_RESOLVED: _concern("sanxia_member"),
    Kind.ATTENDANCE_DISPUTED: _disputed,
    Kind.DISPUTE_ANSWERED: _answered,
    Kind.NEED_CLAIMED: _need(Kind.NEED_CLAIMED, "shengli_staff"),
    Kind.NEED_DONE: _need(Kind.NEED_DONE, "shengli_staff"),
    Kind.NEED_VERIFIED: _need(Kind.NEED_VERIFIED, "sanxia_member"),
    Kind.NEED_SENT_BACK: _need(Kind.NEED_SENT_BACK, "sanxia_member"),
    Kind.NEED_WITHDRAWN: _need(Kind.NEED_WITHDRAWN, "sanxia_member"),
    Kind.CALL_OUT_ESCALATED: _escalated,
}
# Not in CASES: a MESSAGE links wherever its writer says, and the ACTIVATION link is opened by
# someone who cannot sign in yet; a CALL_OUT and its CALL_OUT_CLOSED link to the member's
# signed answer page, answered without signing in (both tested below).
SIGNED_OUT = {Kind.MESSAGE, Kind.ACTIVATION, Kind.CALL_OUT, Kind.CALL_OUT_CLOSED}


def test_every_kind_of_message_is_covered():
    assert set(CASES) | SIGNED_OUT == set(Kind)
    assert set(messages.TEXTS) == set(Kind)


@pytest.fixture
def people(community_staff, agency_office, member_user):
    return {"shengli_staff": community_staff, "sanxia_office": agency_office}


@pytest.mark.parametrize("kind", list(CASES))
def test_the_link_opened_signed_out_returns_to_its_page_after_sign_in(client, world, people, kind):
    obj, context, reader, shown = CASES[kind](world, people)
    url = messages.render(kind, obj, context).url
    assert url.startswith("/") and url != "/login/"

    response = client.get(url)
    assert response.status_code == 302, kind
    login = response.headers["Location"]
    assert urlsplit(login).path == reverse(settings.LOGIN_URL)

    signed_in = client.post(login, {"username": reader, "password": f"pw-{reader}"})
    assert signed_in.status_code == 302, kind
    landed = signed_in.headers["Location"]
    user = get_user_model().objects.get(username=reader)
    if needs_second_factor(user):
        # An office's code comes first, on a page that keeps where the link was going.
        device = enrol(user)
        query = urlsplit(client.get(url).headers["Location"]).query
        assert parse_qs(query)["next"] == [url], kind
        passed = client.post(f"/second-factor/?{query}", {"otp_token": next_code(device)})
        landed = passed.headers["Location"]
    assert landed == url, kind

    page = client.get(url)
    assert page.status_code == 200, kind
    text = page.content.decode()
    for needed in shown:
        assert needed in text, (kind, needed)


def test_a_message_kept_by_the_outbox_links_to_the_same_page(world, member_user):
    from notifications.notify import notify

    notify(
        kind=Kind.INACTIVITY,
        recipients=[member_user],
        obj=world.sanxia_member,
        enqueue=False,
    )
    row = Notification.objects.get(kind=Kind.INACTIVITY, channel=Notification.Channel.INAPP)
    assert row.url == settings.SITE_URL + reverse("activities:open_activities")


def test_the_activation_link_opens_signed_out(client, world, agency_office):
    issued = activation_issue(member=world.sanxia_member_2, by=agency_office)
    context = {
        "name": "王海燕",
        "agency": "三峡旅游新区",
        "expires": timezone.localdate(),
        "url": issued.url,
    }
    url = messages.render(Kind.ACTIVATION, issued.link, context).url
    assert url == issued.url

    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert world.sanxia_member_2.mobile in response.content.decode()


@pytest.mark.parametrize("kind", [Kind.CALL_OUT, Kind.CALL_OUT_CLOSED])
def test_a_call_outs_link_opens_its_answer_page_signed_out(client, world, community_staff, kind):
    from activities.services.callouts import callout_cancel

    call, _model = _call_out(world, {"shengli_staff": community_staff})
    answer = call.answers.get(member=world.sanxia_member)
    if kind == Kind.CALL_OUT_CLOSED:
        callout_cancel(call=call, by=community_staff, reason="险情解除")
    row = Notification.objects.get(kind=kind, channel=Notification.Channel.INAPP)
    assert row.url == settings.SITE_URL + answer.get_absolute_url()

    page = client.get(urlsplit(row.url).path)
    assert page.status_code == 200
    text = page.content.decode()
    assert call.title in text and "李建华" in text
    assert ('data-testid="answer-closed"' in text) == (kind == Kind.CALL_OUT_CLOSED)
