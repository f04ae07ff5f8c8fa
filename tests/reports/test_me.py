"""A member's own record, contact details, calendar address and data (issue 10, point 6)."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from activities.models import Activity, Participation
from communities.dates import local_midnight
from members.models import CalendarFeed, Member
from reports.me import ledgers
from reports.models import ExportLog


@pytest.fixture
def member_client(client, member_user):
    client.force_login(member_user)
    return client


def activity(world, title, *, days, nature, hours=2, status=Activity.Status.FINISHED, at=None):
    starts = at or timezone.now() + dt.timedelta(days=days)
    return Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title=title,
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=hours),
        nature=nature,
        status=status,
    )


def take_part(world, act, status, hours=None, member=None):
    return Participation.objects.create(
        activity=act,
        member=member or world.sanxia_member,
        status=status,
        hours=hours,
        leave_reason="出差" if status == Participation.Status.LEAVE else "",
        source=Participation.Source.ROLL_CALL,
    )


@pytest.fixture
def year_of_service(world):
    """This year, for 李建华: the world's present duty patrol (2 hours); voluntary 3 h present,
    1.5 h present; duty absent; voluntary leave; a draft with a present row (not counted);
    another member's present row (not his). All in the first days of this year, whatever the
    day the tests run."""

    def day(n):
        return local_midnight(dt.date(timezone.localdate().year, 1, 1)) + dt.timedelta(
            days=n, hours=9
        )

    patrol = world.shengli_activity
    Activity.objects.filter(pk=patrol.pk).update(
        starts_at=day(1), ends_at=day(1) + dt.timedelta(hours=2)
    )
    v = Activity.Nature.VOLUNTEER
    d = Activity.Nature.DUTY
    take_part(
        world, activity(world, "清扫一", days=0, at=day(2), nature=v), "present", Decimal("3")
    )
    take_part(
        world, activity(world, "清扫二", days=0, at=day(3), nature=v), "present", Decimal("1.5")
    )
    take_part(world, activity(world, "巡逻二", days=0, at=day(4), nature=d), "absent")
    take_part(world, activity(world, "宣讲", days=0, at=day(5), nature=v), "leave")
    draft = activity(world, "草稿", days=0, at=day(6), nature=v, status=Activity.Status.DRAFT)
    take_part(world, draft, "present", Decimal("5"))
    other = activity(world, "别人的", days=0, at=day(7), nature=v)
    take_part(world, other, "present", Decimal("7"), member=world.sanxia_member_2)


def test_the_two_ledgers_and_the_rate_follow_the_design(world, year_of_service):
    figures = ledgers(
        Participation.objects.filter(member=world.sanxia_member), dt.date.today().year
    )
    assert figures["duty"].hours == Decimal("2.0") and figures["duty"].present == 1
    assert figures["duty"].absent == 1
    assert figures["volunteer"].hours == Decimal("4.5") and figures["volunteer"].present == 2
    assert figures["volunteer"].leaves == 1
    total = figures["total"]
    assert (total.present, total.absent, total.leaves, total.hours) == (3, 1, 1, Decimal("6.5"))
    assert total.attendance_rate == Decimal("0.75")  # 3 ÷ (3 + 1), leave left out


def test_the_page_shows_the_ledgers_history_and_report_ins(member_client, world, year_of_service):
    page = member_client.get("/me/").content.decode()
    assert 'data-figure="duty_hours">2<' in page
    assert 'data-figure="volunteer_hours">4.5<' in page
    assert 'data-figure="attendance_rate">75%<' in page
    assert "缺席 1 次，请假 1 次" in page
    assert "清扫一" in page and "草稿" not in page and "别人的" not in page
    assert "胜利一路社区" in page  # the report-in


def test_last_years_page_has_nothing_of_this_year(member_client, world, year_of_service):
    page = member_client.get("/me/", {"year": timezone.localdate().year - 1}).content.decode()
    assert 'data-figure="duty_hours">0<' in page
    assert 'data-testid="no-history"' in page


@pytest.mark.parametrize("year", ["abc", "1999", "2100", "99999999999999999999", "-1", "2024.5"])
def test_a_bad_year_says_so_and_shows_this_year(member_client, world, year):
    response = member_client.get("/me/", {"year": year})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="year-error"' in page
    assert f"{timezone.localdate().year} 年服务情况" in page


def test_the_pages_are_for_members(client, community_staff, agency_office):
    for user in (community_staff, agency_office):
        client.force_login(user)
        for url in ("/me/", "/me/contact/", "/me/calendar/"):
            assert client.get(url).status_code == 403
        assert client.post("/me/data.json").status_code == 403


def test_the_page_costs_the_same_queries_however_much_was_done(member_client, world):
    def count():
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get("/me/").status_code == 200
        return len(captured)

    few = count()
    for n in range(30):
        act = activity(world, f"活动{n}", days=-(n % 20) - 1, nature=Activity.Nature.VOLUNTEER)
        take_part(world, act, "present", Decimal("1"))
        take_part(world, activity(world, f"将来{n}", days=n + 1, nature="duty"), "signed_up")
    assert count() == few


# Contact details.


def test_a_member_changes_their_mobile_and_email(member_client, world, member_user):
    response = member_client.post(
        "/me/contact/", {"mobile": "13911112222", "email": "li@example.cn"}
    )
    assert response.status_code == 302
    world.sanxia_member.refresh_from_db()
    member_user.refresh_from_db()
    assert world.sanxia_member.mobile == "13911112222"
    assert member_user.email == "li@example.cn"
    assert world.sanxia_member.history.first().history_user == member_user


def test_a_mobile_another_member_of_the_agency_has_is_refused_with_nothing_saved(
    member_client, world, member_user
):
    response = member_client.post(
        "/me/contact/", {"mobile": "13900000002", "email": "li@example.cn"}
    )
    assert response.status_code == 200
    assert "已有使用该手机号的党员" in response.content.decode() or "手机号" in (
        response.content.decode()
    )
    world.sanxia_member.refresh_from_db()
    member_user.refresh_from_db()
    assert world.sanxia_member.mobile == "13900000001"
    assert member_user.email == ""


@pytest.mark.parametrize(
    "data",
    [
        {"mobile": "123", "email": ""},
        {"mobile": "", "email": ""},
        {"mobile": "13900000001", "email": "not-an-address"},
        {"mobile": "1390000000\x00", "email": ""},
        {"mobile": "<script>", "email": "<script>@x"},
    ],
)
def test_bad_contact_details_are_refused_in_chinese(member_client, world, data):
    response = member_client.post("/me/contact/", data)
    assert response.status_code == 200
    assert "is-invalid" in response.content.decode()
    world.sanxia_member.refresh_from_db()
    assert world.sanxia_member.mobile == "13900000001"


# Calendar.


def feed_path(member_client):
    member_client.post("/me/calendar/", {"action": "create"})
    token = CalendarFeed.objects.get().token
    return f"/calendar/{token}.ics", token


def test_the_calendar_holds_what_the_member_signed_up_for(client, member_client, world):
    coming = activity(world, "将来的清扫", days=3, nature="volunteer")
    take_part(world, coming, "signed_up")
    cancelled = activity(world, "取消的", days=4, nature="duty", status=Activity.Status.CANCELLED)
    take_part(world, cancelled, "signed_up")
    take_part(world, activity(world, "缺席的", days=-5, nature="duty"), "absent")
    take_part(world, activity(world, "很久以前", days=-200, nature="duty"), "present", 1)
    take_part(world, activity(world, "候补的", days=5, nature="volunteer"), "waitlisted")
    path, _token = feed_path(member_client)
    client.logout()
    response = client.get(path)  # the phone reads it without signing in
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = {str(event["summary"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {"将来的清扫", "取消的", "沿江防汛巡逻"}
    assert str(events["取消的"]["status"]) == "CANCELLED"
    assert str(events["将来的清扫"]["status"]) == "CONFIRMED"
    assert events["将来的清扫"].decoded("dtstart") == coming.starts_at.replace(microsecond=0)
    assert "胜利一路社区" in str(events["将来的清扫"]["location"])
    assert CalendarFeed.objects.get().last_read_at is not None


def test_a_renewed_or_revoked_address_stops_working(client, member_client, world):
    path, token = feed_path(member_client)
    member_client.post("/me/calendar/", {"action": "renew"})
    assert client.get(path).status_code == 404
    new = CalendarFeed.objects.get().token
    assert new != token
    assert client.get(f"/calendar/{new}.ics").status_code == 200
    member_client.post("/me/calendar/", {"action": "revoke"})
    assert not CalendarFeed.objects.exists()
    assert client.get(f"/calendar/{new}.ics").status_code == 404


def test_another_members_calendar_cannot_be_guessed(client, world):
    for n in range(20):
        assert client.get(f"/calendar/guess-{n}.ics").status_code == 404
    assert client.get("/calendar/guess-21.ics").status_code == 429


def test_the_calendar_page_shows_the_address_only_to_its_member(
    member_client, world, other_member_user, client
):
    _path, token = feed_path(member_client)
    assert token in member_client.get("/me/calendar/").content.decode()
    client.force_login(other_member_user)
    assert token not in client.get("/me/calendar/").content.decode()
    client.post("/me/calendar/", {"action": "revoke"})  # revokes their own (none), not his
    assert CalendarFeed.objects.filter(token=token).exists()


@pytest.mark.parametrize("action", ["", "delete", "create\x00", "<x>"])
def test_an_unknown_calendar_action_changes_nothing(member_client, world, action):
    response = member_client.post("/me/calendar/", {"action": action})
    assert response.status_code == 302
    assert not CalendarFeed.objects.exists()


# My data.


def test_my_data_as_json_holds_everything_about_me_and_nobody_else(
    member_client, world, member_user, year_of_service
):
    response = member_client.post("/me/data.json")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["person"][0]["name"] == "李建华"
    assert data["person"][0]["mobile"] == "13900000001"  # their own: not masked
    assert data["person"][0]["username"] == "sanxia_member"
    titles = {row["activity__title"] for row in data["participations"]}
    assert {"清扫一", "巡逻二", "沿江防汛巡逻"} <= titles and "别人的" not in titles
    assert [row["community__name"] for row in data["registrations"]] == ["胜利一路社区"]
    assert [row["version"] for row in data["privacy_notice_accepted"]] == [
        settings.PRIVACY_NOTICE_VERSION
    ]
    assert "王海燕" not in response.content.decode()
    log = ExportLog.objects.get()
    assert (log.user, log.what, log.format, log.agency) == (member_user, "my_data", "json", None)
    assert log.rows == sum(len(rows) for rows in data.values())


def test_my_data_as_csv_opens_in_excel(member_client, world):
    response = member_client.post("/me/data.csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["# person"] in rows and ["# participations"] in rows
    assert any("李建华" in row for row in rows)
    assert ExportLog.objects.get().format == "csv"


def test_my_data_is_not_offered_by_get_nor_to_others(client, member_client, world, agency_office):
    assert member_client.get("/me/data.json").status_code == 405
    client.force_login(agency_office)
    assert client.post("/me/data.csv").status_code == 403
    assert not ExportLog.objects.exists()
    assert Member.objects.count() == 3
