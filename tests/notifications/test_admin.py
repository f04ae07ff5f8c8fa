"""The admin of the outbox, duty rota and preferences; cancelling and moving activities there."""

import datetime as dt
import re
import warnings

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.deprecation import RemovedInDjango60Warning

from activities.models import Activity, DutyAssignment, Participation
from communities.models import Agency, Community
from members.models import Member
from notifications.models import Notification, NotificationPreference

State, Kind = Notification.State, Notification.Kind


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def page(response):
    return response.content.decode()


def message(about, member, *, state=State.SENT, slot="", subject="提醒"):
    return Notification.objects.create(
        kind=Kind.MESSAGE,
        channel=Notification.Channel.INAPP,
        state=state,
        recipient=member.user,
        recipient_name=member.name,
        recipient_mobile=member.mobile,
        agency=member.agency,
        recipient_key=f"u{member.user_id}" if member.user_id else f"m{member.pk}",
        content_type=ContentType.objects.get_for_model(about),
        object_id=about.pk,
        slot=slot,
        subject=subject,
        body="正文",
        attempts=4 if state == State.FAILED else 1,
    )


@pytest.fixture
def rows(world, member_user):
    """One of each new model."""
    return {
        Notification: message(world.shengli_activity, world.sanxia_member, subject="巡逻提醒"),
        DutyAssignment: DutyAssignment.objects.create(
            agreement=world.agreement, date=timezone.localdate(), member=world.sanxia_member
        ),
        NotificationPreference: NotificationPreference.objects.create(user=member_user),
    }


# --- The new pages --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Notification, DutyAssignment, NotificationPreference])
def test_the_admin_pages_of_the_new_models_open(staff_client, rows, model):
    changelist = url(model, "changelist")
    assert staff_client.get(changelist).status_code == 200
    assert staff_client.get(changelist, {"q": "李建华"}).status_code == 200
    assert staff_client.get(url(model, "change", rows[model].pk)).status_code == 200
    cl = staff_client.get(changelist).context["cl"]
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            assert staff_client.get(changelist + choice["query_string"]).status_code == 200


def test_duty_and_preferences_can_be_added_but_the_outbox_is_written_by_code(staff_client, rows):
    assert staff_client.get(url(DutyAssignment, "add")).status_code == 200
    assert staff_client.get(url(NotificationPreference, "add")).status_code == 200
    assert staff_client.get(url(Notification, "add")).status_code == 403


def test_the_outbox_searches_subjects_usernames_and_member_names(staff_client, world, rows):
    message(world.shenzhen_activity, world.yuanlin_member, subject="清扫提醒")
    changelist = url(Notification, "changelist")

    def found(q):
        return {n.subject for n in staff_client.get(changelist, {"q": q}).context["cl"].result_list}

    assert found("巡逻") == {"巡逻提醒"}
    assert found("yuanlin_member") == {"清扫提醒"}
    assert found("陈思远") == {"清扫提醒"}
    html = page(staff_client.get(changelist))
    assert "李建华" in html and "陈思远" in html


def test_the_outbox_change_page_is_read_only(staff_client, rows):
    notification = rows[Notification]
    response = staff_client.post(
        url(Notification, "change", notification.pk), {"subject": "改过", "state": "failed"}
    )
    assert response.status_code == 302
    notification.refresh_from_db()
    assert (notification.subject, notification.state) == ("巡逻提醒", State.SENT)


def test_the_send_again_action_requeues_failed_messages_only(staff_client, world, rows):
    failed = message(world.shengli_activity, world.sanxia_member, state=State.FAILED, slot="f")
    sent = rows[Notification]
    response = staff_client.post(
        url(Notification, "changelist"),
        {"action": "send_again", ACTION_CHECKBOX_NAME: [failed.pk, sent.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.state, failed.attempts) == (State.PENDING, 0)
    assert (sent.state, sent.attempts) == (State.SENT, 1)
    html = page(response)
    assert "1 message is queued to be sent again." in html
    assert "1 message was left alone" in html


def test_duty_assignments_pick_members_and_agreements_by_autocomplete(staff_client, rows):
    html = page(staff_client.get(url(DutyAssignment, "add")))
    autocompleted = re.findall(r'<select name="(\w+)"[^>]*class="admin-autocomplete"', html)
    assert sorted(autocompleted) == ["agreement", "member"]


def add_rows(world, model, start, count):
    members = Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i}", mobile=f"1370000{i:04d}")
        for i in range(start, start + count)
    )
    if model is Notification:
        for member in members:
            message(member, member, state=State.FAILED)
        for member in (world.sanxia_member, world.yuanlin_member):
            for i in range(start, start + count):
                message(world.shengli_activity, member, slot=str(i))
    else:
        DutyAssignment.objects.bulk_create(
            DutyAssignment(
                agreement=world.agreement,
                date=timezone.localdate() + dt.timedelta(days=i % 7),
                member=member,
            )
            for i, member in enumerate(members)
        )


@pytest.mark.parametrize("model", [Notification, DutyAssignment])
def test_changelist_queries_do_not_grow_with_rows(staff_client, world, model):
    changelist = url(model, "changelist")
    staff_client.get(changelist)  # warm caches (content types, session) out of the count

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            shown = len(staff_client.get(changelist).context["cl"].result_list)
        return len(queries), shown

    add_rows(world, model, 0, 5)
    small, shown_small = count_queries()
    add_rows(world, model, 100, 45)
    large, shown_large = count_queries()
    assert shown_large > shown_small >= 5
    assert small == large


# --- Group robots ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Community, Agency])
def test_community_and_agency_forms_take_a_group_robot_without_a_deprecation_warning(
    staff_client, world, model
):
    obj = world.shengli if model is Community else world.sanxia
    with warnings.catch_warnings():
        warnings.simplefilter("error", RemovedInDjango60Warning)
        html = page(staff_client.get(url(model, "change", obj.pk)))
    assert 'name="robot_webhook_url"' in html
    assert 'name="robot_kind"' in html


def test_a_robot_url_without_a_scheme_is_taken_as_https(staff_client, world):
    agency = world.sanxia
    response = staff_client.post(
        url(Agency, "change", agency.pk),
        {
            "name": agency.name,
            "short_name": agency.short_name,
            "kind": agency.kind,
            "address": "",
            "is_active": "on",
            "robot_webhook_url": "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
            "robot_kind": "wecom",
        },
    )
    assert response.status_code == 302
    agency.refresh_from_db()
    assert agency.robot_webhook_url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"


# --- Cancelling and moving activities -------------------------------------------------------


@pytest.fixture
def upcoming(world):
    """A 胜利一路社区 clean-up tomorrow: 李建华 signed up, 陈思远 on leave, 王海燕 (no login)
    signed up."""
    starts = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑楼道清理",
        place="紫林苑3栋",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
    )
    for member, status in (
        (world.sanxia_member, Participation.Status.SIGNED_UP),
        (world.sanxia_member_2, Participation.Status.SIGNED_UP),
        (world.yuanlin_member, Participation.Status.LEAVE),
    ):
        Participation.objects.create(
            activity=activity,
            member=member,
            status=status,
            leave_reason="出差" if status == Participation.Status.LEAVE else "",
            source=Participation.Source.SIGN_UP,
        )
    return activity


def told(activity, kind, state=None):
    """Who has a message of `kind` about `activity` (in `state`; by default, any state that
    sends it)."""
    rows = Notification.objects.filter(
        kind=kind, content_type=ContentType.objects.get_for_model(Activity), object_id=activity.pk
    )
    if state is None:
        rows = rows.exclude(state=State.UNREACHABLE)
    else:
        rows = rows.filter(state=state)
    return set(rows.values_list("recipient_name", flat=True))


def cancel(staff_client, activities, **extra):
    return staff_client.post(
        url(Activity, "changelist"),
        {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [a.pk for a in activities], **extra},
    )


def test_cancelling_in_the_admin_asks_for_the_reason_first(staff_client, world, upcoming):
    response = cancel(staff_client, [upcoming])
    assert response.status_code == 200
    html = page(response)
    assert "紫林苑楼道清理" in html
    assert 'name="reason"' in html
    upcoming.refresh_from_db()
    assert upcoming.status == Activity.Status.RECRUITING
    assert not told(upcoming, Kind.ACTIVITY_CANCELLED)

    # Without a reason: the same page again, with an error.
    response = cancel(staff_client, [upcoming], apply="1", reason="  ")
    assert response.status_code == 200
    assert "This field is required." in page(response)
    upcoming.refresh_from_db()
    assert upcoming.status == Activity.Status.RECRUITING


def test_cancelling_in_the_admin_tells_those_signed_up(staff_client, world, upcoming):
    response = cancel(staff_client, [upcoming], apply="1", reason="暴雨预警")
    assert response.status_code == 302
    upcoming.refresh_from_db()
    assert upcoming.status == Activity.Status.CANCELLED
    assert upcoming.cancel_reason == "暴雨预警"
    # 王海燕 has no login and the community no robot: there is no channel to reach her, and
    # the outbox and the page say so.
    assert told(upcoming, Kind.ACTIVITY_CANCELLED) == {"李建华"}
    assert told(upcoming, Kind.ACTIVITY_CANCELLED, State.UNREACHABLE) == {"王海燕"}
    body = Notification.objects.get(kind=Kind.ACTIVITY_CANCELLED, recipient_name="李建华").body
    assert "暴雨预警" in body
    html = page(staff_client.get(url(Activity, "changelist")))
    assert "Cancelled 1 activity." in html
    assert "those signed up are told" not in html
    assert "Not told, as no channel reaches them: 王海燕 (no login of their own" in html


def test_cancelling_reports_each_activity_that_cannot_be_cancelled(staff_client, world, upcoming):
    already = world.shenzhen_activity
    already.status = Activity.Status.CANCELLED
    already.cancel_reason = "早已取消"
    already.save()
    response = cancel(staff_client, [upcoming, already], apply="1", reason="暴雨预警")
    html = page(staff_client.get(response["Location"]))
    assert "翰林苑环境清扫 was not cancelled: This activity is already cancelled." in html
    assert "Cancelled 1 activity" in html
    already.refresh_from_db()
    assert already.cancel_reason == "早已取消"
    assert not told(already, Kind.ACTIVITY_CANCELLED)


def change_form_data(activity, **changes):
    """What the activity's admin change form posts, with its participations unchanged."""
    local = {name: timezone.localtime(getattr(activity, name)) for name in ("starts_at", "ends_at")}
    data = {
        "community": activity.community_id,
        "grid": activity.grid_id or "",
        "type": activity.type_id,
        "title": activity.title,
        "description": activity.description,
        "place": activity.place,
        "starts_at_0": local["starts_at"].date().isoformat(),
        "starts_at_1": local["starts_at"].strftime("%H:%M:%S"),
        "ends_at_0": local["ends_at"].date().isoformat(),
        "ends_at_1": local["ends_at"].strftime("%H:%M:%S"),
        "capacity": activity.capacity or "",
        "nature": activity.nature,
        "status": activity.status,
        "organizer": activity.organizer_id or "",
        "agreement": activity.agreement_id or "",
        "resident_volunteers": activity.resident_volunteers,
        "cancel_reason": activity.cancel_reason,
    }
    participations = list(activity.participations.order_by("pk"))
    prefix = "participations"
    data |= {
        f"{prefix}-TOTAL_FORMS": len(participations),
        f"{prefix}-INITIAL_FORMS": len(participations),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for i, p in enumerate(participations):
        data |= {
            f"{prefix}-{i}-id": p.pk,
            f"{prefix}-{i}-activity": activity.pk,
            f"{prefix}-{i}-member": p.member_id,
            f"{prefix}-{i}-status": p.status,
            f"{prefix}-{i}-hours": p.hours if p.hours is not None else "",
            f"{prefix}-{i}-source": p.source,
            f"{prefix}-{i}-review": p.review,
        }
    return data | changes


def save_in_admin(staff_client, activity, **changes):
    response = staff_client.post(
        url(Activity, "change", activity.pk), change_form_data(activity, **changes)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_moving_an_activity_in_the_admin_tells_those_signed_up_but_not_those_on_leave(
    staff_client, world, upcoming
):
    # Moved within its day (the admin's time fields keep the date): three hours on from a start
    # after 19:00 would end after midnight, before it starts.
    starts = timezone.localtime(upcoming.starts_at)
    later = starts.replace(hour=9 if starts.hour >= 12 else 15, minute=30, second=0)
    save_in_admin(
        staff_client,
        upcoming,
        starts_at_1=later.strftime("%H:%M:%S"),
        ends_at_1=(later + dt.timedelta(hours=2)).strftime("%H:%M:%S"),
    )
    assert told(upcoming, Kind.ACTIVITY_CHANGED) == {"李建华"}
    assert told(upcoming, Kind.ACTIVITY_CHANGED, State.UNREACHABLE) == {"王海燕"}
    html = page(staff_client.get(url(Activity, "changelist")))
    assert "1 message about the change is queued." in html
    assert "Not told, as no channel reaches them: 王海燕" in html
    notification = Notification.objects.get(kind=Kind.ACTIVITY_CHANGED, state=State.PENDING)
    assert notification.recipient == world.sanxia_member.user
    assert later.strftime("%H:%M") in notification.body


def test_a_new_place_is_news_too_and_each_change_is_told_once(staff_client, world, upcoming):
    changed = Notification.objects.filter(kind=Kind.ACTIVITY_CHANGED, state=State.PENDING)
    save_in_admin(staff_client, upcoming, place="万寿小区活动室")
    assert changed.count() == 1
    upcoming.refresh_from_db()
    save_in_admin(staff_client, upcoming, place="紫林苑3栋")
    assert changed.count() == 2


def test_other_changes_and_past_activities_are_no_news(staff_client, world, upcoming):
    save_in_admin(staff_client, upcoming, title="紫林苑楼道大扫除", capacity=30)
    past = world.shengli_activity  # ended an hour ago; 李建华 was present
    Participation.objects.create(
        activity=past, member=world.yuanlin_member, source=Participation.Source.SIGN_UP
    )
    save_in_admin(staff_client, past, place="江边")
    assert not Notification.objects.filter(kind=Kind.ACTIVITY_CHANGED).exists()


def test_putting_someone_on_leave_while_moving_the_activity_spares_them(
    staff_client, world, upcoming
):
    data = change_form_data(upcoming, place="万寿小区活动室")
    mine = upcoming.participations.get(member=world.sanxia_member)
    i = list(upcoming.participations.order_by("pk")).index(mine)
    data[f"participations-{i}-status"] = Participation.Status.LEAVE
    # The inline does not show the reason; set it as the member would have given it.
    Participation.objects.filter(pk=mine.pk).update(leave_reason="家中有事")
    response = staff_client.post(url(Activity, "change", upcoming.pk), data)
    assert response.status_code == 302
    assert told(upcoming, Kind.ACTIVITY_CHANGED) == set()


def test_the_change_form_cannot_cancel_without_telling_people(client, superuser, world):
    """Cancelled is not a choice in the form: only the cancel action, which notifies, sets it."""
    client.force_login(superuser)
    url = reverse("admin:activities_activity_change", args=[world.shenzhen_activity.pk])
    page = client.get(url).content.decode()
    assert 'value="recruiting"' in page
    assert 'value="cancelled"' not in page


# --- The outbox at city size ----------------------------------------------------------------


def test_the_outbox_list_reads_newest_first_without_dating_every_row(staff_client, world, rows):
    """200,000 messages: the page is read newest first, and no link of years reads the date of
    every message (the date filter costs no query)."""
    for i in range(3):
        message(world.shengli_activity, world.sanxia_member, slot=f"s{i}")
    changelist = url(Notification, "changelist")
    staff_client.get(changelist)
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(changelist)
    sqls = [q["sql"] for q in queries]
    listing = next(s for s in sqls if 'FROM "notifications_notification"' in s and "ORDER BY" in s)
    assert listing.split("ORDER BY")[1].split("LIMIT")[0].strip() == (
        '"notifications_notification"."created_at" DESC, "notifications_notification"."id" DESC'
    )
    if connection.vendor == "postgresql":
        # With sorting priced out, a plan still sorts only if no index gives the order.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + listing)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Sort" not in plan and "notification_newest" in plan, plan
    assert not [s for s in sqls if "DATE_TRUNC" in s.upper() or "django_datetime_trunc" in s]
    assert not [s for s in sqls if "MIN(" in s.upper()]
    shown = [(n.created_at, n.pk) for n in response.context["cl"].result_list]
    assert shown == sorted(shown, reverse=True)
    # Messages of the last week, through the date filter.
    week_ago = (timezone.now() - dt.timedelta(days=7)).isoformat()
    recent = staff_client.get(changelist, {"created_at__gte": week_ago})
    assert len(recent.context["cl"].result_list) == Notification.objects.count()
