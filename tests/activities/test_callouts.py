"""Call-outs (吹哨报到), issue 12 point 1: who is called, how they answer, when a call closes and
escalates, and on which channels the call goes."""

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from activities.models import CallOut, CallOutAnswer, Participation
from activities.models.callouts import answer_id_of, answer_token
from activities.services.callouts import (
    callout_answer,
    callout_cancel,
    callout_escalate_due,
    callout_raise,
    callout_raise_many,
    callout_send_more,
    counts,
)
from communities.models import Community, StaffRole
from members.models import Member, Registration
from notifications.models import Notification, NotificationPreference
from tests.activities.test_signup import reported_in
from tests.conftest import make_user

Kind, Channel = Notification.Kind, Notification.Channel
Answer = CallOutAnswer.Answer


def raise_call(world, by, *, needed=2, grids=(), now=None, community=None, **extra):
    now = now or timezone.now()
    return callout_raise(
        by=by,
        community=community or world.shengli,
        title="沿江防汛巡逻增援",
        place="滨江公园段",
        starts_at=now + dt.timedelta(minutes=30),
        ends_at=now + dt.timedelta(hours=4),
        needed=needed,
        grids=grids,
        now=now,
        **extra,
    )


def answer_of(call, member):
    return CallOutAnswer.objects.get(call=call, member=member)


# --- Who is called ---------------------------------------------------------------------------


def test_it_calls_every_member_reported_in_and_no_one_else(world, community_staff):
    call = raise_call(world, community_staff)
    called = set(call.answers.values_list("member__name", flat=True))
    # 李建华 is reported in; 王海燕's report-in is pending; 陈思远 is at 深圳路社区.
    assert called == {"李建华"}
    assert call.activity.nature == call.activity.Nature.VOLUNTEER
    assert call.activity.community == world.shengli


def test_a_member_with_two_report_ins_there_is_called_once(world, community_staff):
    Registration.objects.create(
        member=world.sanxia_member,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    call = raise_call(world, community_staff)
    assert call.answers.count() == 1


def test_chosen_grids_call_only_their_members(world, community_staff, django_user_model):
    others = reported_in(world, django_user_model, 2)
    Registration.objects.filter(member=others[0]).update(grid=world.wanshou)
    call = raise_call(world, community_staff, grids=[world.wanshou])
    assert list(call.answers.values_list("member", flat=True)) == [others[0].pk]
    assert call.activity.grid == world.wanshou


def test_it_refuses_a_call_that_does_not_add_up(world, community_staff):
    with pytest.raises(ValidationError) as refused:
        raise_call(world, community_staff, needed=0, grids=[world.hanlinyuan])
    assert set(refused.value.message_dict) == {"needed", "grids"}
    assert not CallOut.objects.exists()


def test_only_staff_and_the_street_raise_a_call(world, member_user, other_community_staff):
    for user in (member_user, other_community_staff):
        with pytest.raises(ValidationError):
            raise_call(world, user)
    assert not CallOut.objects.exists()


def test_a_street_officer_calls_several_communities_as_one_batch(world, street_officer):
    jianshe = Community.objects.create(street=world.wanshouqiao, name="建设社区")
    now = timezone.now()
    calls = callout_raise_many(
        by=street_officer,
        communities=[world.shengli, jianshe],
        title="防汛增援",
        place="江堤",
        starts_at=now,
        ends_at=now + dt.timedelta(hours=2),
        needed=3,
    )
    assert [c.community for c in calls] == [world.shengli, jianshe]
    assert calls[0].batch and calls[0].batch == calls[1].batch
    answer = calls[0].answers.get()
    assert answer.added_by == CallOutAnswer.AddedBy.STREET


# --- Channels --------------------------------------------------------------------------------


def test_the_call_goes_on_every_channel_at_once_even_in_the_quiet_hours(
    world, community_staff, member_user
):
    member_user.email = "li@example.cn"
    member_user.save()
    NotificationPreference.objects.create(user=member_user, inapp=False, email=False, sms=False)
    now = timezone.now()
    hour = timezone.localtime(now).hour
    with override_settings(QUIET_HOURS=[hour, (hour + 3) % 24]):  # now is in the quiet hours
        call = raise_call(world, community_staff, now=now)
    rows = Notification.objects.filter(kind=Kind.CALL_OUT, recipient=member_user)
    # The member chose nothing for reminders: a call reaches them anyway, at once, on every
    # channel they have (a login, an e-mail address, a mobile; no robot here).
    assert set(rows.values_list("channel", flat=True)) == {
        Channel.INAPP,
        Channel.EMAIL,
        Channel.SMS,
    }
    assert all(row.due_at == now for row in rows)
    answer = answer_of(call, world.sanxia_member)
    assert all(row.url.endswith(answer.get_absolute_url()) for row in rows)


def test_members_with_only_a_mobile_get_the_call_by_sms(world, community_staff):
    # 李建华 has a login without e-mail; a member without a login has only the mobile.
    Registration.objects.filter(member=world.sanxia_member_2).update(
        status=Registration.Status.ACTIVE
    )
    raise_call(world, community_staff)
    sms = Notification.objects.filter(kind=Kind.CALL_OUT, channel=Channel.SMS)
    assert set(sms.values_list("recipient_mobile", flat=True)) == {"13900000001", "13900000002"}
    assert set(sms.values_list("address", flat=True)) == {"13900000001", "13900000002"}
    assert not sms.filter(state=Notification.State.UNREACHABLE).exists()
    text = sms.first()
    assert text.subject.startswith("吹哨") and "/activities/callouts/a/" in text.url


def test_a_member_with_email_and_a_mobile_gets_the_call_by_sms_too_unchosen(
    world, community_staff, member_user
):
    # Issue 12: "on every channel they have". For reminders 李建华 chose e-mail only (and a
    # member with an address used to get no text message at all).
    member_user.email = "li@example.cn"
    member_user.save()
    NotificationPreference.objects.create(user=member_user, inapp=False, email=True, sms=False)
    call = raise_call(world, community_staff)
    rows = Notification.objects.filter(kind=Kind.CALL_OUT, recipient=member_user)
    assert set(rows.values_list("channel", "address")) == {
        (Channel.INAPP, ""),
        (Channel.EMAIL, "li@example.cn"),
        (Channel.SMS, "13900000001"),
    }
    # Closing the call tells them on the same channels.
    callout_cancel(call=call, by=community_staff, reason="水位回落")
    closed = Notification.objects.filter(kind=Kind.CALL_OUT_CLOSED, recipient=member_user)
    assert set(closed.values_list("channel", flat=True)) == {
        Channel.INAPP,
        Channel.EMAIL,
        Channel.SMS,
    }


def test_a_reminder_still_follows_the_members_choice(world, community_staff, member_user):
    from notifications.notify import notify

    member_user.email = "li@example.cn"
    member_user.save()
    NotificationPreference.objects.create(user=member_user, inapp=False, email=True, sms=False)
    world.sanxia.robot_webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"
    world.sanxia.save()
    notify(
        kind=Kind.UPCOMING,
        recipients=[member_user],
        obj=world.shengli_activity,
        context={"activity": world.shengli_activity},
        robot=world.sanxia,
        enqueue=False,
    )
    rows = Notification.objects.filter(kind=Kind.UPCOMING, recipient=member_user)
    assert set(rows.values_list("channel", flat=True)) == {Channel.EMAIL}


def test_the_group_robot_post_never_carries_a_personal_link(world, community_staff):
    world.shengli.robot_webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"
    world.shengli.save()
    Registration.objects.filter(member=world.sanxia_member_2).update(
        status=Registration.Status.ACTIVE
    )
    raise_call(world, community_staff)
    posts = Notification.objects.filter(kind=Kind.CALL_OUT, channel=Channel.WEBHOOK)
    # Every member is mentioned, whether they chose the robot or not (李建华 did not).
    assert set(posts.values_list("recipient_name", flat=True)) == {"李建华", "王海燕"}
    for post in posts:
        assert post.robot_owner == Notification.RobotOwner.COMMUNITY
        assert post.url.endswith("/activities/callouts/") and "/a/" not in post.url


def test_a_members_agency_robot_mentions_them_and_the_community_still_sees_it(
    client, world, community_staff
):
    world.shengli.robot_webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=c"
    world.shengli.save()
    world.sanxia.robot_webhook_url = "https://oapi.dingtalk.com/robot/send?access_token=a"
    world.sanxia.save()
    call = raise_call(world, community_staff)
    rows = Notification.objects.filter(kind=Kind.CALL_OUT, recipient_name="李建华")
    # One robot a member: their agency's, not also the community's.
    post = rows.get(channel=Channel.WEBHOOK)
    assert (post.robot_owner, post.agency) == (Notification.RobotOwner.AGENCY, world.sanxia)
    # Every row of the call stays the community's: its staff see them, and the text
    # message's cost once sent.
    assert set(rows.values_list("community", flat=True)) == {world.shengli.pk}
    sms = rows.get(channel=Channel.SMS)
    Notification.objects.filter(pk=sms.pk).update(
        state=Notification.State.SENT, sms_parts=2, sent_at=timezone.now()
    )
    client.force_login(community_staff)
    html = client.get(reverse("notifications:outbox")).content.decode()
    assert 'data-testid="sms-cost"' in html and "0.090" in html
    assert call.title in html


# --- The signed link -------------------------------------------------------------------------


def test_the_answer_link_names_its_answer_and_nothing_forged(world, community_staff):
    call = raise_call(world, community_staff)
    answer = answer_of(call, world.sanxia_member)
    token = answer_token(answer.pk)
    assert answer_id_of(token) == answer.pk
    assert len(token) <= 24
    value, signature = token.split(":")
    assert answer_id_of(f"{value}:{'A' * len(signature)}") is None
    assert answer_id_of(answer_token(answer.pk + 1)[:-1] + "x") is None
    for bad in ("", "x", ":", "1:", "a" * 200, "😀:😀"):
        assert answer_id_of(bad) is None


# --- Answering -------------------------------------------------------------------------------


def test_coming_signs_up_and_cannot_takes_it_back(world, community_staff):
    call = raise_call(world, community_staff)
    answer = answer_of(call, world.sanxia_member)
    callout_answer(answer_id=answer.pk, coming=True)
    p = Participation.objects.get(activity=call.activity, member=world.sanxia_member)
    assert p.status == Participation.Status.SIGNED_UP

    callout_answer(answer_id=answer.pk, coming=False, reason="在外地出差")
    answer.refresh_from_db()
    assert (answer.answer, answer.reason) == (Answer.CANNOT, "在外地出差")
    assert not Participation.objects.filter(activity=call.activity).exists()
    assert counts(call) == {"coming": 0, "cannot": 1, "pending": 0, "called": 1}


def test_coming_after_the_start_still_signs_up(world, community_staff):
    now = timezone.now()
    call = callout_raise(
        by=community_staff,
        community=world.shengli,
        title="紧急排涝",
        place="万寿小区",
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(hours=2),
        needed=5,
    )
    callout_answer(answer_id=answer_of(call, world.sanxia_member).pk, coming=True)
    assert Participation.objects.filter(activity=call.activity).count() == 1


def test_the_answer_that_fills_the_need_closes_the_call_and_tells_everyone(
    world, community_staff, django_user_model
):
    extra = reported_in(world, django_user_model, 2)
    call = raise_call(world, community_staff, needed=2)
    callout_answer(answer_id=answer_of(call, extra[0]).pk, coming=True)
    call.refresh_from_db()
    assert call.state == CallOut.State.OPEN
    callout_answer(answer_id=answer_of(call, extra[1]).pk, coming=True)
    call.refresh_from_db()
    assert call.state == CallOut.State.FILLED and call.closed_at is not None
    closed = Notification.objects.filter(kind=Kind.CALL_OUT_CLOSED, channel=Channel.INAPP)
    assert closed.count() == 3
    told = {row.recipient.username: row.body for row in closed}
    assert "请按时到达" in told["m0"] and "不再需要" in told["sanxia_member"]
    with pytest.raises(ValidationError):
        callout_answer(answer_id=answer_of(call, world.sanxia_member).pk, coming=True)
    assert call.history.filter(history_change_reason="call-out filled").count() == 1


def test_a_cancelled_call_refuses_answers_and_tells_everyone(world, community_staff):
    call = raise_call(world, community_staff)
    callout_cancel(call=call, by=community_staff, reason="险情解除")
    call.refresh_from_db()
    call.activity.refresh_from_db()
    assert call.state == CallOut.State.CANCELLED
    assert call.activity.status == call.activity.Status.CANCELLED
    row = Notification.objects.get(kind=Kind.CALL_OUT_CLOSED, channel=Channel.INAPP)
    assert "险情解除" in row.body
    with pytest.raises(ValidationError):
        callout_answer(answer_id=answer_of(call, world.sanxia_member).pk, coming=True)
    with pytest.raises(ValidationError):
        callout_cancel(call=call, by=community_staff)


def test_only_its_staff_cancel_a_call(world, community_staff, other_community_staff):
    call = raise_call(world, community_staff)
    with pytest.raises(ValidationError):
        callout_cancel(call=call, by=other_community_staff)
    call.refresh_from_db()
    assert call.state == CallOut.State.OPEN


# --- Escalation ------------------------------------------------------------------------------


def test_an_unfilled_call_escalates_to_the_offices_then_the_street(
    world, community_staff, agency_office, other_agency_office, street_officer
):
    # With the default CALLOUT_ESCALATE_MINUTES: "after a set time (default 30 minutes)".
    raised = timezone.now()
    call = raise_call(world, community_staff, now=raised)
    assert callout_escalate_due(now=raised + dt.timedelta(minutes=29)) == []

    first = raised + dt.timedelta(minutes=30)
    assert [c.pk for c in callout_escalate_due(now=first)] == [call.pk]
    assert callout_escalate_due(now=first) == []  # once
    call.refresh_from_db()
    assert (call.escalation_level, call.escalated_at) == (CallOut.Level.OFFICES, first)
    told = Notification.objects.filter(kind=Kind.CALL_OUT_ESCALATED)
    # 三峡 has an agreement in force at 胜利一路社区; 园林局 has none there.
    assert set(told.values_list("recipient__username", flat=True)) == {"sanxia_office"}

    assert callout_escalate_due(now=first + dt.timedelta(minutes=29)) == []
    second = first + dt.timedelta(minutes=30)
    assert [c.pk for c in callout_escalate_due(now=second)] == [call.pk]
    call.refresh_from_db()
    assert call.escalation_level == CallOut.Level.STREET
    assert set(told.values_list("recipient__username", flat=True)) == {
        "sanxia_office",
        "street_officer",
    }
    assert callout_escalate_due(now=second + dt.timedelta(hours=1)) == []


def test_a_community_with_no_office_to_ask_goes_to_the_street_at_once(
    world, community_staff, street_officer, agency_office, django_user_model
):
    # 建设社区 has no agreement in force: no agency office can send anyone there.
    jianshe = Community.objects.create(street=world.wanshouqiao, name="建设社区")
    StaffRole.objects.create(
        user=make_user(django_user_model, "jianshe_staff"),
        kind=StaffRole.Kind.COMMUNITY_STAFF,
        community=jianshe,
    )
    raised = timezone.now()
    call = raise_call(world, street_officer, community=jianshe, now=raised)
    first = raised + dt.timedelta(minutes=30)
    assert [c.pk for c in callout_escalate_due(now=first)] == [call.pk]
    call.refresh_from_db()
    assert call.escalation_level == CallOut.Level.STREET
    assert (call.escalated_at, call.escalated_to_street_at) == (None, first)
    told = Notification.objects.get(kind=Kind.CALL_OUT_ESCALATED, channel=Channel.INAPP)
    assert told.recipient == street_officer and "无共建单位" in told.body
    assert callout_escalate_due(now=first + dt.timedelta(hours=1)) == []


def test_a_filled_or_ended_call_does_not_escalate(world, community_staff):
    raised = timezone.now()
    call = raise_call(world, community_staff, needed=1, now=raised)
    callout_answer(answer_id=answer_of(call, world.sanxia_member).pk, coming=True, now=raised)
    assert callout_escalate_due(now=raised + dt.timedelta(hours=1)) == []
    other = raise_call(world, community_staff, now=raised)
    assert callout_escalate_due(now=other.ends_at + dt.timedelta(minutes=1)) == []


def test_closing_an_escalated_call_tells_the_offices_and_the_street_it_asked(
    world, community_staff, agency_office, other_agency_office, street_officer
):
    raised = timezone.now()
    filled = raise_call(world, community_staff, needed=1, now=raised)
    cancelled = raise_call(world, community_staff, now=raised)
    callout_escalate_due(now=raised + dt.timedelta(minutes=30))  # both: to the offices
    callout_escalate_due(now=raised + dt.timedelta(minutes=60))  # both: to the street
    filled_answer = answer_of(filled, world.sanxia_member)
    callout_answer(answer_id=filled_answer.pk, coming=True, now=raised + dt.timedelta(minutes=61))
    callout_cancel(call=cancelled, by=community_staff, reason="险情解除")

    # The members' messages are about their answers; the offices' and street's about the call.
    told = Notification.objects.filter(
        kind=Kind.CALL_OUT_CLOSED, channel=Channel.INAPP, content_type__model="callout"
    )
    for call in (filled, cancelled):
        rows = told.filter(object_id=call.pk)
        # 三峡's office (an agreement in force there) and the street; not 园林局's office.
        assert set(rows.values_list("recipient__username", flat=True)) == {
            "sanxia_office",
            "street_officer",
        }
        assert all(row.url.endswith(call.get_absolute_url()) for row in rows)
    [filled_row] = told.filter(object_id=filled.pk, recipient=agency_office)
    assert "无需再增派" in filled_row.body
    assert "险情解除" in told.get(object_id=cancelled.pk, recipient=agency_office).body


def test_closing_a_call_never_escalated_tells_no_office(world, community_staff, agency_office):
    call = raise_call(world, community_staff, needed=1)
    callout_answer(answer_id=answer_of(call, world.sanxia_member).pk, coming=True)
    assert not Notification.objects.filter(recipient=agency_office).exists()


def test_an_office_sends_more_of_its_members_after_escalation(
    world, community_staff, agency_office, other_agency_office, django_user_model
):
    raised = timezone.now()
    call = raise_call(world, community_staff, now=raised)
    with pytest.raises(ValidationError):  # not escalated yet
        callout_send_more(call=call, by=agency_office, member_ids=[world.sanxia_member_2.pk])
    callout_escalate_due(now=raised + dt.timedelta(minutes=31))
    call.refresh_from_db()
    with pytest.raises(ValidationError):  # 园林局 has no agreement there
        callout_send_more(call=call, by=other_agency_office, member_ids=[world.yuanlin_member.pk])
    sent = callout_send_more(
        call=call,
        by=agency_office,
        # Another agency's member and one already called are left out.
        member_ids=[world.sanxia_member_2.pk, world.yuanlin_member.pk, world.sanxia_member.pk],
    )
    assert [a.member for a in sent] == [world.sanxia_member_2]
    assert sent[0].added_by == CallOutAnswer.AddedBy.AGENCY and sent[0].agency == world.sanxia
    assert Notification.objects.filter(
        kind=Kind.CALL_OUT, recipient_name="王海燕", channel=Channel.SMS
    ).exists()


def test_the_call_is_visible_to_its_people_only(
    world, community_staff, street_officer, agency_office, other_community_staff, member_user
):
    call = raise_call(world, community_staff)
    for user in (community_staff, street_officer, member_user):
        assert CallOut.objects.visible_to(user).filter(pk=call.pk).exists(), user
    for user in (other_community_staff, agency_office):
        assert not CallOut.objects.visible_to(user).filter(pk=call.pk).exists(), user
    callout_escalate_due(now=timezone.now() + dt.timedelta(hours=1, minutes=1))
    assert CallOut.objects.visible_to(agency_office).filter(pk=call.pk).exists()


def test_an_office_role_of_another_agency_is_not_told(world, community_staff, django_user_model):
    user = make_user(django_user_model, "yuanlin_office2")
    StaffRole.objects.create(user=user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin)
    raised = timezone.now()
    raise_call(world, community_staff, now=raised)
    callout_escalate_due(now=raised + dt.timedelta(minutes=31))
    assert not Notification.objects.filter(recipient=user).exists()
    assert Member.objects.count() == 3


def test_the_beat_task_and_the_command_escalate_what_is_due(world, community_staff, agency_office):
    from django.core.management import call_command

    from activities.tasks import escalate_call_outs
    from xiachen.celery import app

    assert app.conf.beat_schedule["escalate call-outs"]["task"] == escalate_call_outs.name
    first = raise_call(world, community_staff, now=timezone.now() - dt.timedelta(minutes=31))
    assert escalate_call_outs() == {"escalated": [first.pk]}
    second = raise_call(world, community_staff, now=timezone.now() - dt.timedelta(minutes=31))
    out = io.StringIO()
    call_command("escalate_call_outs", stdout=out)
    assert "1" in out.getvalue()
    second.refresh_from_db()
    assert second.escalation_level == CallOut.Level.OFFICES


def test_every_answer_has_its_creation_in_the_history(world, community_staff, django_user_model):
    reported_in(world, django_user_model, 3)
    call = raise_call(world, community_staff)
    history = CallOutAnswer.history.filter(call_id=call.pk)
    assert history.count() == 4
    first = history.get(member=world.sanxia_member)
    assert (first.history_type, first.history_change_reason) == ("+", "call-out raised")
    assert first.history_user == community_staff and first.answer == Answer.PENDING
    callout_answer(answer_id=first.id, coming=True)
    assert [h.history_type for h in history.filter(id=first.id).order_by("history_id")] == [
        "+",
        "~",
    ]
