"""The reminder rules of DESIGN.md ("Reminders"): who gets each one and who does not, from when,
on which channels, and that running them again queues nothing new.

Every rule runs at a fixed `now` in Asia/Shanghai, years after the real clock: the conftest
world's own activities (dated from the real today) are removed so that each test sees only what
it builds. Texts are checked in English (LANGUAGE_CODE="en": the rules write in the site's
language), so that translating them does not break these tests.
"""

import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from activities import reminders, services
from activities.models import Activity, DutyAssignment, Participation
from communities.models import Agreement
from members.models import Member
from notifications.models import Notification, NotificationPreference
from notifications.notify import quiet_hours_due

SHANGHAI = ZoneInfo("Asia/Shanghai")
Kind, Channel = Notification.Kind, Notification.Channel
INAPP, EMAIL, WEBHOOK = Channel.INAPP, Channel.EMAIL, Channel.WEBHOOK
SIGNED_UP, PRESENT = Participation.Status.SIGNED_UP, Participation.Status.PRESENT
ABSENT, LEAVE = Participation.Status.ABSENT, Participation.Status.LEAVE
ROBOT_URL = "https://robot.example.org/send?key=test"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# A Wednesday of ISO week 2030-W24, after that week's moment for weekly messages (Monday 09:00).
NOW = at("2030-06-12 10:00")
MONDAY_9 = at("2030-06-10 09:00")
NEXT_MONDAY_9 = at("2030-06-17 09:00")
H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)

in_english = override_settings(LANGUAGE_CODE="en")


class Town:
    """The conftest world without its activities, and helpers to add people and activities."""

    def __init__(self, world, user_model):
        self.w = world
        self.user_model = user_model
        self.mobiles = itertools.count(13700000001)
        Activity.objects.all().delete()
        # In force from well before NOW to well after it.
        Agreement.objects.filter(pk=world.agreement.pk).update(
            starts_on=dt.date(2030, 1, 1), ends_on=dt.date(2032, 12, 31)
        )

    def member(self, name, agency=None, *, login=None, email="", left=False):
        user = None
        if login:
            user = self.user_model.objects.create_user(username=login, password="pw", email=email)
        return Member.objects.create(
            agency=agency or self.w.sanxia,
            name=name,
            mobile=str(next(self.mobiles)),
            user=user,
            status=Member.Status.LEFT if left else Member.Status.ACTIVE,
            left_on=dt.date(2030, 5, 1) if left else None,
        )

    def activity(self, starts_at, *, hours=2, community=None, title="楼道清理", **fields):
        return Activity.objects.create(
            community=community or self.w.shengli,
            type=self.w.cleanup,
            title=title,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=hours),
            **fields,
        )

    def join(self, activity, *members, status=SIGNED_UP, hours=None):
        for member in members:
            Participation.objects.create(
                activity=activity,
                member=member,
                status=status,
                hours=None if hours is None else Decimal(str(hours)),
                source=Participation.Source.SIGN_UP
                if status in (SIGNED_UP, LEAVE)
                else Participation.Source.ROLL_CALL,
                leave_reason="单位临时开会" if status == LEAVE else "",
            )


@pytest.fixture
def town(world, django_user_model):
    return Town(world, django_user_model)


def queued(kind, **filters):
    """{(who, channel, slot)} of the queued messages of a kind; who is a username, or the name of
    a member without a login. (Rows recording that no channel reaches someone are not queued.)"""
    rows = (
        Notification.objects.filter(kind=kind, **filters)
        .exclude(state=Notification.State.UNREACHABLE)
        .select_related("recipient")
    )
    return {
        (n.recipient.username if n.recipient else n.recipient_name, n.channel, n.slot) for n in rows
    }


def unreachable(kind):
    """{(name, reason, slot)} of the rows recording that no channel reaches someone."""
    rows = Notification.objects.filter(kind=kind, state=Notification.State.UNREACHABLE)
    return set(rows.values_list("recipient_name", "unreachable_reason", "slot"))


def who(kind, **filters):
    return {name for name, _channel, _slot in queued(kind, **filters)}


# Upcoming activity -----------------------------------------------------------------------------


def test_signed_up_members_get_the_24h_reminder_once_the_start_is_within_24_hours(town):
    activity = town.activity(NOW + 23 * H)
    town.join(activity, town.member("张伟", login="zhang"))
    town.join(activity, town.member("刘洋", login="liu", email="liu@example.org"))

    assert reminders.upcoming(NOW - 2 * H) == 0  # 25 h before the start
    assert reminders.upcoming(NOW) == 3

    assert queued(Kind.UPCOMING) == {
        ("zhang", INAPP, "24h"),
        ("liu", INAPP, "24h"),
        ("liu", EMAIL, "24h"),
    }
    email = Notification.objects.get(kind=Kind.UPCOMING, channel=EMAIL)
    assert email.address == "liu@example.org"
    assert email.object_id == activity.pk
    assert email.content_type == ContentType.objects.get_for_model(Activity)
    assert email.url.endswith(activity.get_absolute_url())
    assert email.due_at == NOW


def test_then_the_2h_one_and_who_signs_up_an_hour_before_gets_only_that(town):
    activity = town.activity(NOW + 23 * H)
    town.join(activity, town.member("张伟", login="early"))
    reminders.upcoming(NOW)
    assert reminders.upcoming(NOW + 20 * H) == 0  # 3 h before: still the 24 h stage, sent

    town.join(activity, town.member("刘洋", login="late"))  # an hour before the start
    assert reminders.upcoming(NOW + 22 * H) == 2

    assert queued(Kind.UPCOMING) == {
        ("early", INAPP, "24h"),
        ("early", INAPP, "2h"),
        ("late", INAPP, "2h"),
    }
    late = Notification.objects.get(kind=Kind.UPCOMING, slot="2h", recipient__username="late")
    assert late.due_at == NOW + 22 * H


@override_settings(REMINDER_UPCOMING_HOURS=[48, 6])
def test_the_stages_follow_the_settings(town):
    activity = town.activity(NOW + 47 * H)
    town.join(activity, town.member("张伟", login="zhang"))

    assert reminders.upcoming(NOW - 2 * H) == 0
    assert reminders.upcoming(NOW) == 1
    assert reminders.upcoming(NOW + 40 * H) == 0
    assert reminders.upcoming(NOW + 41 * H) == 1
    assert {slot for _who, _channel, slot in queued(Kind.UPCOMING)} == {"48h", "6h"}


def test_only_members_still_signed_up_and_with_their_agency_are_reminded(town):
    activity = town.activity(NOW + 3 * H)
    town.join(activity, town.member("张伟", login="signed_up"))
    town.join(activity, town.member("刘洋", login="on_leave"), status=LEAVE)
    town.join(activity, town.member("陈静", login="absent"), status=ABSENT)
    town.join(activity, town.member("杨帆", login="present"), status=PRESENT, hours=2)
    town.join(activity, town.member("黄磊", login="left", left=True))

    reminders.upcoming(NOW)

    assert who(Kind.UPCOMING) == {"signed_up"}


@pytest.mark.parametrize(
    "status, reminded",
    [
        (Activity.Status.RECRUITING, True),
        # Only DRAFT and CANCELLED mean something when stored; the clock says the rest.
        (Activity.Status.ONGOING, True),
        (Activity.Status.DRAFT, False),
        (Activity.Status.CANCELLED, False),
    ],
)
def test_draft_and_cancelled_activities_send_no_reminder(town, status, reminded):
    activity = town.activity(NOW + 3 * H, status=status)
    town.join(activity, town.member("张伟", login="zhang"))

    assert reminders.upcoming(NOW) == int(reminded)


def test_no_reminder_for_an_activity_that_started_or_is_more_than_24_hours_away(town):
    zhang = town.member("张伟", login="zhang")
    town.join(town.activity(NOW - 10 * MIN, hours=3), zhang)  # under way
    town.join(town.activity(NOW + 24 * H + MIN, title="下周清扫"), zhang)

    assert reminders.upcoming(NOW) == 0
    assert not Notification.objects.exists()


def test_a_member_without_login_gets_a_robot_message_only_where_the_community_has_one(town):
    activity = town.activity(NOW + 3 * H)
    offline = town.member("赵强")
    town.join(activity, offline)

    assert reminders.upcoming(NOW) == 0
    assert unreachable(Kind.UPCOMING) == {(offline.name, Notification.Unreachable.NO_LOGIN, "24h")}

    town.w.shengli.robot_webhook_url = ROBOT_URL
    town.w.shengli.robot_kind = "dingtalk"
    town.w.shengli.save()
    assert reminders.upcoming(NOW) == 1

    row = Notification.objects.get(channel=WEBHOOK)
    assert (row.channel, row.recipient, row.recipient_name) == (WEBHOOK, None, offline.name)
    assert row.recipient_mobile == offline.mobile
    assert (row.address, row.robot_kind) == (ROBOT_URL, "dingtalk")
    assert row.recipient_key == f"m{offline.pk}"


@pytest.mark.parametrize(
    "email, preference, robot, channels",
    [
        ("", None, False, {INAPP}),
        ("a@example.org", None, False, {INAPP, EMAIL}),
        ("a@example.org", None, True, {INAPP, EMAIL}),  # the robot only when chosen
        ("a@example.org", {"email": False}, False, {INAPP}),
        ("a@example.org", {"inapp": False}, False, {EMAIL}),
        ("", {"inapp": False}, False, set()),  # e-mail chosen but no address
        ("a@example.org", {"webhook": True}, True, {INAPP, EMAIL, WEBHOOK}),
        ("", {"inapp": False, "webhook": True}, True, {WEBHOOK}),
        ("", {"webhook": True}, False, {INAPP}),  # chosen, but the community has no robot
    ],
)
def test_channels_follow_the_members_preference(town, email, preference, robot, channels):
    if robot:
        town.w.shengli.robot_webhook_url = ROBOT_URL
        town.w.shengli.save()
    member = town.member("张伟", login="zhang", email=email)
    if preference is not None:
        NotificationPreference.objects.create(user=member.user, **preference)
    town.join(town.activity(NOW + 3 * H), member)

    reminders.upcoming(NOW)

    assert {channel for _who, channel, _slot in queued(Kind.UPCOMING)} == channels


@in_english
def test_the_upcoming_text_says_what_when_and_where(town):
    activity = town.activity(at("2030-06-12 14:30"), title="紫林苑楼道清理", place="紫林苑3栋")
    town.join(activity, town.member("张伟", login="zhang"))

    reminders.upcoming(NOW)

    row = Notification.objects.get()
    assert row.subject == "Reminder: 紫林苑楼道清理"
    assert row.body.startswith("紫林苑楼道清理 starts at 6月12日 14:30 at 紫林苑3栋.")


# Roll call due ---------------------------------------------------------------------------------


@pytest.fixture
def ended(town, grid_worker):
    """Ended at 09:00, an hour before NOW, organized by the grid worker; one of three is still
    signed up."""
    activity = town.activity(NOW - 3 * H, organizer=grid_worker)
    town.join(activity, town.member("张伟"))
    town.join(activity, town.member("刘洋"), status=PRESENT, hours=2)
    town.join(activity, town.member("陈静"), status=LEAVE)
    return activity


@in_english
def test_roll_call_due_goes_to_the_organizer_and_the_communitys_staff(
    ended, community_staff, other_community_staff, agency_office
):
    assert reminders.roll_call_due(NOW) == 2

    assert queued(Kind.ROLL_CALL_DUE) == {
        ("shengli_grid", INAPP, "roll-call"),
        ("shengli_staff", INAPP, "roll-call"),
    }
    row = Notification.objects.filter(kind=Kind.ROLL_CALL_DUE).first()
    assert row.object_id == ended.pk
    assert row.body == "楼道清理 ended at 6月12日 09:00; 1 people still await roll call."
    assert reminders.roll_call_due(NOW + 10 * MIN) == 0


def test_no_roll_call_reminder_before_the_hour_has_passed(ended, community_staff):
    assert reminders.roll_call_due(NOW - MIN) == 0
    assert reminders.roll_call_due(NOW) == 2


@override_settings(REMINDER_ROLL_CALL_AFTER_HOURS=3)
def test_the_wait_after_the_end_follows_the_settings(ended, community_staff):
    assert reminders.roll_call_due(NOW + 2 * H - MIN) == 0
    assert reminders.roll_call_due(NOW + 2 * H) == 2


def test_no_roll_call_reminder_once_everyone_is_recorded(ended, community_staff):
    ended.participations.filter(status=SIGNED_UP).update(status=ABSENT)

    assert reminders.roll_call_due(NOW) == 0


@pytest.mark.parametrize("days, reminded", [(6, True), (7, False), (30, False)])
def test_activities_that_ended_long_ago_are_left_alone(ended, community_staff, days, reminded):
    # REMINDER_ROLL_CALL_WITHIN_DAYS is 7.
    assert reminders.roll_call_due(NOW + dt.timedelta(days=days)) == (2 if reminded else 0)


def test_no_roll_call_reminder_for_a_cancelled_activity(ended, community_staff):
    Activity.objects.filter(pk=ended.pk).update(status=Activity.Status.CANCELLED)

    assert reminders.roll_call_due(NOW) == 0


def test_staff_are_told_only_of_the_activities_whose_roll_call_is_due(town, ended, community_staff):
    recorded = town.activity(NOW - 5 * H, title="已点名")
    town.join(recorded, town.member("赵强"), status=PRESENT, hours=2)
    town.join(town.activity(NOW + 3 * H, title="还没开始"), town.member("钱多"))

    assert reminders.roll_call_due(NOW) == 2  # the organizer and the staff member

    assert set(Notification.objects.values_list("object_id", flat=True)) == {ended.pk}


def test_an_organizer_from_elsewhere_still_gets_it_and_inactive_logins_do_not(
    town, ended, community_staff, other_community_staff
):
    Activity.objects.filter(pk=ended.pk).update(organizer=other_community_staff)
    community_staff.is_active = False
    community_staff.save()

    reminders.roll_call_due(NOW)

    assert who(Kind.ROLL_CALL_DUE) == {"shenzhen_staff"}


# Inactivity nudge ------------------------------------------------------------------------------


@pytest.fixture
def attendance(town):
    """Who attended when, before MONDAY_9 (inactive = no *present* in the last 30 days)."""
    recent = town.activity(MONDAY_9 - 20 * DAY, title="近期活动")
    old = town.activity(MONDAY_9 - 31 * DAY, title="早前活动")
    town.join(recent, town.member("张伟", login="recent"), status=PRESENT, hours=2)
    town.join(old, town.member("刘洋", login="old"), status=PRESENT, hours=2)
    town.join(recent, town.member("陈静", login="absent_only"), status=ABSENT)
    town.member("杨帆", login="never")
    town.join(recent, town.member("黄磊", login="gone", left=True), status=PRESENT, hours=2)
    town.member("孙丽", login="gone_idle", left=True)


def test_inactive_members_are_nudged_after_the_weekly_moment(town, attendance):
    assert reminders.inactivity(MONDAY_9 - MIN) == 0

    reminders.inactivity(MONDAY_9)

    # The conftest world's members took part in nothing since; 王海燕 has no login and her
    # agency no robot, so nothing can reach her.
    assert queued(Kind.INACTIVITY) == {
        ("old", INAPP, "2030-W24"),
        ("absent_only", INAPP, "2030-W24"),
        ("never", INAPP, "2030-W24"),
        ("sanxia_member", INAPP, "2030-W24"),
        ("yuanlin_member", INAPP, "2030-W24"),
    }
    assert unreachable(Kind.INACTIVITY) == {
        ("王海燕", Notification.Unreachable.NO_LOGIN, "2030-W24")
    }
    row = Notification.objects.get(kind=Kind.INACTIVITY, recipient__username="old")
    assert row.recipient_name == "刘洋"
    assert row.content_type == ContentType.objects.get_for_model(Member)
    assert row.object_id == Member.objects.get(name="刘洋").pk


def test_the_nudge_is_sent_once_a_week_and_again_the_next_week(town, attendance):
    first = reminders.inactivity(MONDAY_9)

    assert reminders.inactivity(MONDAY_9 + 5 * MIN) == 0
    assert reminders.inactivity(NOW) == 0
    assert reminders.inactivity(at("2030-06-16 23:59")) == 0  # Sunday, same ISO week
    assert reminders.inactivity(NEXT_MONDAY_9 - MIN) == 0  # next week, before its moment
    assert reminders.inactivity(NEXT_MONDAY_9) == first
    assert {slot for _who, _c, slot in queued(Kind.INACTIVITY)} == {"2030-W24", "2030-W25"}


@override_settings(REMINDER_WEEKLY_WEEKDAY=4, REMINDER_WEEKLY_HOUR=18)
def test_the_weekly_moment_follows_the_settings(town, attendance):
    assert reminders.inactivity(NOW) == 0  # Wednesday
    assert reminders.inactivity(at("2030-06-14 17:59")) == 0
    assert reminders.inactivity(at("2030-06-14 18:00")) == 5
    assert reminders.inactivity(at("2030-06-15 08:00")) == 0


@override_settings(INACTIVE_AFTER_DAYS=60)
def test_the_inactivity_period_follows_the_settings(town, attendance):
    reminders.inactivity(MONDAY_9)

    assert "old" not in who(Kind.INACTIVITY)
    assert "never" in who(Kind.INACTIVITY)


def test_only_attendance_up_to_now_counts(town):
    # As activities.figures.inactive_members: a presence after `now` does not make one active then.
    member = town.member("张伟", login="zhang")
    town.join(town.activity(MONDAY_9 + 2 * H), member, status=PRESENT, hours=2)

    reminders.inactivity(MONDAY_9)

    assert "zhang" in who(Kind.INACTIVITY)


# Agency digest ---------------------------------------------------------------------------------


@pytest.fixture
def last_week(town):
    """Attendance of 三峡 members around last week (Monday 3 June to Sunday 9 June 2030)."""
    w = town.w
    first = town.activity(at("2030-06-04 09:00"), hours=2.5, title="防汛巡逻")
    sunday = town.activity(at("2030-06-09 20:00"), hours=3, title="门岗值守")
    this_week = town.activity(at("2030-06-10 08:00"), title="本周清扫")
    before = town.activity(at("2030-06-02 23:00"), title="上上周巡逻")
    town.join(first, w.sanxia_member, status=PRESENT, hours=2.5)
    town.join(first, town.member("赵一凡"), status=ABSENT)
    town.join(sunday, town.member("孙丽"), status=PRESENT, hours=3)
    town.join(sunday, town.member("周敏"), status=LEAVE)
    town.join(sunday, town.member("贾明"))  # still signed up: counts nowhere
    town.join(this_week, town.member("吴杰"), status=PRESENT, hours=2)
    town.join(before, town.member("郑强"), status=ABSENT)
    town.member("钱多", left=True)


def _digest_for(username):
    return Notification.objects.get(kind=Kind.AGENCY_DIGEST, recipient__username=username)


@in_english
def test_each_agency_office_gets_last_weeks_figures_of_its_own_members(
    town, last_week, agency_office, other_agency_office, community_staff
):
    assert reminders.agency_digest(MONDAY_9) == 2

    assert queued(Kind.AGENCY_DIGEST) == {
        ("sanxia_office", INAPP, "2030-W24"),
        ("yuanlin_office", INAPP, "2030-W24"),
    }
    sanxia = _digest_for("sanxia_office")
    assert sanxia.subject == "Weekly attendance of 三峡旅游新区"
    assert sanxia.object_id == town.w.sanxia.pk
    figures, _, rest = sanxia.body.partition(" 5 inactive for 30 days: ")
    assert figures == (
        "Last week (6月3日–6月9日) your members were present 2 times, absent 1, on leave 1; "
        "5.5 service hours; attendance rate 66.7%."
    )
    inactive, _, overdue = rest.partition(" ")
    # Only active members with no presence in 30 days; 钱多 left, 吴杰 came this week.
    assert set(inactive.split("、")) == {"王海燕", "赵一凡", "周敏", "郑强", "贾明"}
    # Every record marked at a roll call (not 贾明's sign-up) was recorded years before 2030.
    assert overdue == "6 records unreviewed for more than 14 days."


@in_english
def test_a_week_without_records_has_no_rate(town, last_week, other_agency_office):
    reminders.agency_digest(MONDAY_9)

    yuanlin = _digest_for("yuanlin_office")
    assert yuanlin.subject == "Weekly attendance of 园林局"
    assert yuanlin.body == (
        "Last week (6月3日–6月9日) your members were present 0 times, absent 0, on leave 0; "
        "0 service hours; attendance rate —. 1 inactive for 30 days: 陈思远"
    )


def test_the_digest_goes_once_a_week_after_the_weekly_moment(town, last_week, agency_office):
    assert reminders.agency_digest(MONDAY_9 - MIN) == 0
    assert reminders.agency_digest(MONDAY_9) == 1
    assert reminders.agency_digest(NOW) == 0
    assert reminders.agency_digest(NEXT_MONDAY_9) == 1

    assert queued(Kind.AGENCY_DIGEST) == {
        ("sanxia_office", INAPP, "2030-W24"),
        ("sanxia_office", INAPP, "2030-W25"),
    }


@in_english
def test_next_weeks_digest_counts_that_week(town, last_week, agency_office):
    reminders.agency_digest(NEXT_MONDAY_9)

    assert _digest_for("sanxia_office").body.startswith(
        "Last week (6月10日–6月16日) your members were present 1 times, absent 0, on leave 0; "
        "2 service hours; attendance rate 100%."
    )


# The week's slot ----------------------------------------------------------------------------------

TUESDAY = at("2030-06-11 10:00")


def test_weekly_kinds_go_out_in_their_slot_and_wait_for_the_next_one(
    town, attendance, agency_office
):
    """The report: an agency set up its group robot on a Tuesday, and 15 "long time no see"
    posts went into its group at once."""
    monday = MONDAY_9 + 5 * MIN
    assert reminders.sweep(monday)[Kind.INACTIVITY] == 5
    assert queued(Kind.AGENCY_DIGEST) == {("sanxia_office", INAPP, "2030-W24")}

    # Tuesday: 三峡 sets up its robot, and three more of its members have no login and no
    # presence in 30 days. The robot could reach them now; they wait for the next slot.
    town.w.sanxia.robot_webhook_url = ROBOT_URL
    town.w.sanxia.save()
    offline = {town.member(f"离线{i}").name for i in range(3)}
    rows = Notification.objects.count()
    tuesday = reminders.sweep(TUESDAY)
    assert (tuesday[Kind.INACTIVITY], tuesday[Kind.AGENCY_DIGEST]) == (0, 0)
    assert Notification.objects.count() == rows, "nothing new, not even an unreachable row"

    # The next Monday: everyone inactive again, those without a login through the robot.
    reminders.sweep(NEXT_MONDAY_9 + 5 * MIN)
    assert who(Kind.INACTIVITY, slot="2030-W25", channel=WEBHOOK) == offline | {"王海燕"}
    assert queued(Kind.AGENCY_DIGEST, slot="2030-W25") == {("sanxia_office", INAPP, "2030-W25")}


@pytest.mark.parametrize(
    "when, in_slot",
    [
        ("2030-06-10 08:59", False),
        ("2030-06-10 09:00", True),
        ("2030-06-10 23:59", True),  # the slot lasts until the end of its day
        ("2030-06-11 00:00", False),
        ("2030-06-12 10:00", False),
        ("2030-06-16 23:59", False),  # Sunday, same ISO week
    ],
)
def test_a_sweep_outside_the_slot_queues_no_weekly_message(
    town, attendance, agency_office, when, in_slot
):
    # The first sweep of the week, say after the beat was down all Monday.
    assert reminders.in_weekly_slot(at(when)) is in_slot
    queued_now = reminders.sweep(at(when))
    assert bool(queued_now[Kind.INACTIVITY]) is in_slot
    assert bool(queued_now[Kind.AGENCY_DIGEST]) is in_slot


# Duty roster -----------------------------------------------------------------------------------


@pytest.fixture
def roster(town):
    """三峡's duty at 胜利一路社区: today, tomorrow (13 June) and the day after."""
    w = town.w
    today = town.member("刘洋", login="today")
    DutyAssignment.objects.create(agreement=w.agreement, date=NOW.date(), member=today)
    tomorrow = DutyAssignment.objects.create(
        agreement=w.agreement, date=NOW.date() + DAY, member=w.sanxia_member
    )
    later = town.member("张伟", login="day_after")
    DutyAssignment.objects.create(agreement=w.agreement, date=NOW.date() + 2 * DAY, member=later)
    gone = town.member("黄磊", login="gone", left=True)
    DutyAssignment.objects.create(agreement=w.agreement, date=NOW.date() + DAY, member=gone)
    return tomorrow


@in_english
def test_the_member_on_duty_tomorrow_is_told_from_the_roster_hour(town, roster):
    evening = at("2030-06-12 17:00")

    assert reminders.duty_roster(evening - MIN) == 0
    assert reminders.duty_roster(evening) == 1

    assert queued(Kind.DUTY_ROSTER) == {("sanxia_member", INAPP, "2030-06-13")}
    row = Notification.objects.get(kind=Kind.DUTY_ROSTER)
    assert row.object_id == roster.pk
    assert row.content_type == ContentType.objects.get_for_model(DutyAssignment)
    assert row.subject == "On duty tomorrow at 胜利一路社区"
    assert row.body == "You are on duty at 胜利一路社区 tomorrow, 6月13日."
    assert row.due_at == evening
    assert reminders.duty_roster(evening + 4 * H) == 0


@override_settings(REMINDER_DUTY_ROSTER_HOUR=8)
def test_the_roster_hour_follows_the_settings(town, roster):
    assert reminders.duty_roster(at("2030-06-12 07:59")) == 0
    assert reminders.duty_roster(at("2030-06-12 08:00")) == 1


def test_after_midnight_the_next_day_is_the_one_looked_at(town, roster):
    reminders.duty_roster(at("2030-06-13 17:00"))

    assert queued(Kind.DUTY_ROSTER) == {("day_after", INAPP, "2030-06-14")}


@pytest.mark.parametrize(
    "changes",
    [
        {"status": Agreement.Status.TERMINATED, "termination_reason": "单位撤并"},
        {"ends_on": dt.date(2030, 6, 12)},  # expired before the duty day
    ],
)
def test_no_duty_reminder_under_an_agreement_no_longer_in_force(town, roster, changes):
    Agreement.objects.filter(pk=town.w.agreement.pk).update(**changes)

    assert reminders.duty_roster(at("2030-06-12 18:00")) == 0


# Quiet hours -----------------------------------------------------------------------------------

# The production default (README): the test settings have none, so that no other test depends on
# the hour the suite runs at.
night_is_quiet = override_settings(QUIET_HOURS=[22, 7])


@pytest.mark.parametrize(
    "when, deadline, due",
    [
        ("2030-06-12 12:00", None, "2030-06-12 12:00"),
        ("2030-06-12 21:59", None, "2030-06-12 21:59"),
        ("2030-06-12 22:00", None, "2030-06-13 07:00"),
        ("2030-06-12 23:00", None, "2030-06-13 07:00"),
        ("2030-06-13 03:00", None, "2030-06-13 07:00"),
        ("2030-06-13 07:00", None, "2030-06-13 07:00"),
        # What it is about comes first: sent at once rather than too late.
        ("2030-06-12 23:00", "2030-06-13 06:00", "2030-06-12 23:00"),
        ("2030-06-12 23:00", "2030-06-13 07:00", "2030-06-12 23:00"),
        ("2030-06-12 23:00", "2030-06-13 08:00", "2030-06-13 07:00"),
        ("2030-06-12 12:00", "2030-06-12 13:00", "2030-06-12 12:00"),
    ],
)
@night_is_quiet
def test_quiet_hours_hold_a_message_until_seven_unless_its_deadline_comes_first(
    when, deadline, due
):
    assert quiet_hours_due(at(when), deadline and at(deadline)) == at(due)


@override_settings(QUIET_HOURS=[1, 6])
def test_quiet_hours_that_do_not_span_midnight():
    assert quiet_hours_due(at("2030-06-13 00:30")) == at("2030-06-13 00:30")
    assert quiet_hours_due(at("2030-06-13 03:00")) == at("2030-06-13 06:00")
    assert quiet_hours_due(at("2030-06-13 06:00")) == at("2030-06-13 06:00")


@night_is_quiet
def test_reminders_queued_at_night_are_due_in_the_morning_unless_too_late(
    town, grid_worker, roster
):
    night = at("2030-06-12 23:00")
    member = town.member("张伟", login="zhang")
    town.join(town.activity(at("2030-06-13 10:00"), title="上午清扫"), member)
    town.join(town.activity(at("2030-06-13 06:00"), title="清晨巡逻"), member)
    town.join(
        town.activity(at("2030-06-12 19:00"), organizer=grid_worker, title="晚间巡逻"), member
    )

    reminders.sweep(night)

    def about(row):
        if row.kind == Kind.DUTY_ROSTER:
            return ""
        return Activity.objects.get(pk=row.object_id).title

    due = {(n.kind, about(n)): n.due_at for n in Notification.objects.exclude(kind=Kind.INACTIVITY)}
    assert due == {
        (Kind.UPCOMING, "上午清扫"): at("2030-06-13 07:00"),
        (Kind.UPCOMING, "清晨巡逻"): night,
        (Kind.ROLL_CALL_DUE, "晚间巡逻"): at("2030-06-13 07:00"),
        # "Tomorrow" must arrive before the duty day begins.
        (Kind.DUTY_ROSTER, ""): night,
    }


# The whole sweep and the management command ----------------------------------------------------

# A Monday evening: the weekly messages' slot is Monday from 09:00.
EVENING = at("2030-06-10 18:00")


@pytest.fixture
def busy_evening(town, grid_worker, community_staff, agency_office, other_agency_office):
    """At EVENING one reminder of every kind is due."""
    w = town.w
    w.sanxia_member.user.email = "sanxia_member@example.org"
    w.sanxia_member.user.save()
    town.join(town.activity(EVENING - 5 * DAY), w.sanxia_member, status=PRESENT, hours=2)
    town.join(town.activity(EVENING + 20 * H), w.sanxia_member)
    town.join(town.activity(EVENING - 3 * H, organizer=grid_worker), w.sanxia_member_2)
    DutyAssignment.objects.create(
        agreement=w.agreement, date=EVENING.date() + DAY, member=w.sanxia_member
    )
    return {
        Kind.UPCOMING: 2,  # sanxia_member: in-app and e-mail
        Kind.ROLL_CALL_DUE: 2,  # the organizer and the community's staff
        Kind.INACTIVITY: 1,  # yuanlin_member; 王海燕 cannot be reached, 李建华 came
        Kind.AGENCY_DIGEST: 2,  # one office each
        Kind.DUTY_ROSTER: 2,  # sanxia_member: in-app and e-mail
    }


def test_a_second_sweep_queues_nothing_new(busy_evening):
    assert reminders.sweep(EVENING) == busy_evening
    rows = list(Notification.objects.order_by("pk").values_list())

    again = reminders.sweep(EVENING)
    later = reminders.sweep(EVENING + 30 * MIN)

    assert set(again.values()) == set(later.values()) == {0}
    assert list(Notification.objects.order_by("pk").values_list()) == rows


def counts_line(kind_label, **counts):
    return gettext("%(kind)s: queued %(queued)s, sent %(sent)s, failed %(failed)s") % {
        "kind": kind_label,
        **counts,
    }


def total_line(**counts):
    return gettext("Total: queued %(queued)s, sent %(sent)s") % counts


def run_send_reminders(when=EVENING):
    """`manage.py send_reminders` at `when`, on a clock that ticks a microsecond a reading."""
    out = StringIO()
    ticks = (when + dt.timedelta(microseconds=n) for n in itertools.count())
    # A management command starts with no language active: the site's, zh-hans.
    translation.deactivate()
    with mock.patch("django.utils.timezone.now", side_effect=lambda: next(ticks)):
        call_command("send_reminders", stdout=out)
    return out.getvalue()


def test_send_reminders_queues_and_sends_and_prints_counts_per_kind(busy_evening):
    output = run_send_reminders()

    total = sum(busy_evening.values())
    with translation.override("zh-hans"):
        expected = [
            counts_line(Kind(kind).label, queued=n, sent=n, failed=0)
            for kind, n in sorted(busy_evening.items())
        ]
        expected.append(total_line(queued=total, sent=total))
    assert "排队" in expected[-1]  # the command speaks the site's language
    assert output.splitlines() == expected
    # All sent, but for the nudge to 王海燕: no login, no robot, recorded as unreachable.
    assert set(
        Notification.objects.exclude(state=Notification.State.SENT).values_list(
            "recipient_name", "state"
        )
    ) == {("王海燕", Notification.State.UNREACHABLE)}
    assert Notification.objects.exclude(state=Notification.State.UNREACHABLE).count() == total
    assert sorted(m.subject for m in mail.outbox) == sorted(
        Notification.objects.filter(channel=EMAIL).values_list("subject", flat=True)
    )
    assert {tuple(m.to) for m in mail.outbox} == {("sanxia_member@example.org",)}


def test_send_reminders_right_after_queues_and_sends_nothing_new(busy_evening):
    run_send_reminders()
    sent = list(Notification.objects.order_by("pk").values_list("pk", "state", "sent_at"))
    emails = len(mail.outbox)

    output = run_send_reminders(EVENING + MIN)

    with translation.override("zh-hans"):
        expected = [
            counts_line(Kind(kind).label, queued=0, sent=0, failed=0)
            for kind in sorted(busy_evening)
        ]
        expected.append(total_line(queued=0, sent=0))
    assert output.splitlines() == expected
    assert list(Notification.objects.order_by("pk").values_list("pk", "state", "sent_at")) == sent
    assert len(mail.outbox) == emails


# Event messages (activities.services) ----------------------------------------------------------


@pytest.fixture
def upcoming_activity(town):
    """Three days ahead of the real clock (these services read it); two signed up, one on leave,
    one who left."""
    activity = town.activity(timezone.now() + 3 * DAY, title="翰林苑清扫", place="翰林苑")
    town.join(activity, town.member("张伟", login="zhang", email="zhang@example.org"))
    town.join(activity, town.member("刘洋", login="liu"))
    town.join(activity, town.member("陈静", login="on_leave"), status=LEAVE)
    town.join(activity, town.member("黄磊", login="gone", left=True))
    return activity


def test_a_change_is_told_to_those_signed_up_once_per_saved_version(
    upcoming_activity, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.activity_notify_changed(activity=upcoming_activity).queued == 3
    assert len(callbacks) == 1  # delivery is handed to a worker after commit
    assert services.activity_notify_changed(activity=upcoming_activity).queued == 0

    upcoming_activity.place = "翰林苑东门"
    upcoming_activity.save()
    assert services.activity_notify_changed(activity=upcoming_activity).queued == 3

    changed = queued(Kind.ACTIVITY_CHANGED)
    assert {name for name, _c, _s in changed} == {"zhang", "liu"}
    assert len({slot for _n, _c, slot in changed}) == 2
    assert len(changed) == 6


def test_a_cancellation_is_told_to_those_signed_up_once(upcoming_activity):
    services.activity_cancel(activity=upcoming_activity, reason="暴雨预警")
    with pytest.raises(ValidationError):
        services.activity_cancel(activity=upcoming_activity, reason="暴雨预警")

    assert queued(Kind.ACTIVITY_CANCELLED) == {
        ("zhang", INAPP, "cancelled"),
        ("zhang", EMAIL, "cancelled"),
        ("liu", INAPP, "cancelled"),
    }
    assert all("暴雨预警" in n.body for n in Notification.objects.all())
    # No reminder for it afterwards either.
    assert reminders.upcoming(upcoming_activity.starts_at - H) == 0
