"""The duty rota (排班): the agency office's month filled by rotation or by hand, the quota, leave
and members who left, scope between agencies, the community's read-only view and dashboard, the
reminder it feeds and the duty fulfilment shown beside it."""

import datetime as dt
import itertools
import re
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities import figures, reminders
from activities.models import Activity, DutyAssignment, Participation
from activities.services import rota
from communities.dates import local_midnight
from communities.history import ChangeReason
from communities.models import Agency, Agreement
from members.models import Member, Registration
from notifications.models import Notification

DAY = dt.timedelta(days=1)
MOBILES = itertools.count(1)


def next_month(today=None):
    today = today or timezone.localdate()
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def add_members(world, count, *, agency=None, community=None, prefix="轮值"):
    """`count` members of 三峡 (or `agency`) reported in to 胜利一路社区 (or `community`)."""
    agency = agency or world.sanxia
    community = community or world.shengli
    members = []
    for n in range(count):
        member = Member.objects.create(
            agency=agency, name=f"{prefix}{n:03d}", mobile=f"137{next(MOBILES):08d}"
        )
        Registration.objects.create(
            member=member,
            community=community,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
        members.append(member)
    return members


def month_rows(agreement, month):
    return list(
        DutyAssignment.objects.filter(
            agreement=agreement, date__gte=month, date__lte=rota.month_end(month)
        ).values_list("date", "member")
    )


def approve_leave(world, member, day):
    start = local_midnight(day) + dt.timedelta(hours=9)
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.patrol,
        title="防汛巡逻",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
    )
    Participation.objects.create(
        activity=activity,
        member=member,
        status=Participation.Status.LEAVE,
        leave_reason="出差",
        leave_decision=Participation.LeaveDecision.APPROVED,
        source=Participation.Source.SIGN_UP,
    )


# The rotation ----------------------------------------------------------------------------------


def test_a_month_by_rotation_gives_each_member_an_even_share_within_the_quota(world):
    pool = [world.sanxia_member, *add_members(world, 4)]
    month = next_month()
    result = rota.rota_fill(by=None, agreement=world.agreement, month=month)

    rows = month_rows(world.agreement, month)
    days = rota.month_days(month)
    assert result.added == len(rows) == len(days) * world.agreement.daily_quota
    assert result.short_days == []
    assert Counter(date for date, _m in rows) == {day: 1 for day in days}
    shares = Counter(member for _d, member in rows)
    assert set(shares) == {m.pk for m in pool}
    assert max(shares.values()) - min(shares.values()) <= 1


def test_the_rotation_respects_a_quota_of_two_with_no_one_twice_a_day(world):
    Agreement.objects.filter(pk=world.agreement.pk).update(daily_quota=2)
    world.agreement.refresh_from_db()
    add_members(world, 4)
    month = next_month()
    rota.rota_fill(by=None, agreement=world.agreement, month=month)

    rows = month_rows(world.agreement, month)
    per_day = Counter(date for date, _m in rows)
    assert set(per_day.values()) == {2}
    assert len(set(rows)) == len(rows)


def test_the_rotation_skips_members_on_approved_leave_and_those_who_left(world):
    stays = add_members(world, 2)
    month = next_month()
    away_day = month + 3 * DAY
    approve_leave(world, world.sanxia_member, away_day)
    gone = add_members(world, 1, prefix="已离开")[0]
    gone.status, gone.left_on = Member.Status.LEFT, timezone.localdate()
    gone.save()

    rota.rota_fill(by=None, agreement=world.agreement, month=month)

    rows = month_rows(world.agreement, month)
    assert gone.pk not in {member for _d, member in rows}
    assert (away_day, world.sanxia_member.pk) not in rows
    assert {member for _d, member in rows} == {world.sanxia_member.pk, *(m.pk for m in stays)}
    # Skipped for the leave, the member keeps the turn: the next day is theirs.
    assert (away_day + DAY, world.sanxia_member.pk) in rows


def test_the_next_month_continues_the_rotation_where_the_last_one_stopped(world):
    pool = [world.sanxia_member, *add_members(world, 3)]
    first = next_month()
    rota.rota_fill(by=None, agreement=world.agreement, month=first)
    last_day = rota.month_end(first)
    order = [m.pk for m in sorted(pool, key=lambda m: (m.name, m.pk))]
    last_member = DutyAssignment.objects.get(agreement=world.agreement, date=last_day).member_id

    second = last_day + DAY
    rota.rota_fill(by=None, agreement=world.agreement, month=second)

    following = order[(order.index(last_member) + 1) % len(order)]
    assert DutyAssignment.objects.get(agreement=world.agreement, date=second).member_id == (
        following
    )


def test_a_day_the_pool_cannot_fill_stays_under_quota_and_is_reported(world):
    Agreement.objects.filter(pk=world.agreement.pk).update(daily_quota=2)
    world.agreement.refresh_from_db()
    month = next_month()
    result = rota.rota_fill(by=None, agreement=world.agreement, month=month)

    assert result.short_days == rota.month_days(month)
    assert result.added == len(rota.month_days(month))


def test_filling_keeps_a_hand_made_day_and_replacing_rewrites_it(world):
    other = add_members(world, 2)
    month = next_month()
    rota.rota_day_set(by=None, agreement=world.agreement, day=month, member_ids=[other[1].pk])

    rota.rota_fill(by=None, agreement=world.agreement, month=month)
    assert list(
        DutyAssignment.objects.filter(agreement=world.agreement, date=month).values_list(
            "member", flat=True
        )
    ) == [other[1].pk]

    result = rota.rota_fill(by=None, agreement=world.agreement, month=month, replace=True)
    assert result.removed == len(rota.month_days(month))
    assert len(month_rows(world.agreement, month)) == len(rota.month_days(month))


def test_past_days_are_kept_by_fill_and_clear(world):
    add_members(world, 2)
    today = timezone.localdate()
    month = today.replace(day=1)
    past = DutyAssignment.objects.create(
        agreement=world.agreement, date=today - 40 * DAY, member=world.sanxia_member
    )
    rota.rota_fill(by=None, agreement=world.agreement, month=today - 40 * DAY)
    assert not DutyAssignment.objects.exclude(pk=past.pk).exists()

    rota.rota_fill(by=None, agreement=world.agreement, month=month)
    assert set(d for d, _m in month_rows(world.agreement, month)) == {
        day for day in rota.month_days(month) if day >= today
    }
    removed = rota.rota_clear(by=None, agreement=world.agreement, month=month)
    assert removed == len(rota.month_days(month)) - (today.day - 1)
    assert DutyAssignment.objects.filter(pk=past.pk).exists()


def test_the_rotation_runs_the_same_queries_for_few_members_and_many(world):
    month = next_month()
    counts = []
    for size in (3, 40):
        DutyAssignment.objects.all().delete()
        add_members(world, size, prefix=f"组{size}")
        with CaptureQueriesContext(connection) as queries:
            rota.rota_fill(by=None, agreement=world.agreement, month=month, replace=True)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# A day by hand ---------------------------------------------------------------------------------


def test_a_day_refuses_more_than_the_quota_and_writes_nothing(world):
    others = add_members(world, 2)
    day = next_month()
    with pytest.raises(Exception, match="每天最多安排 1 人"):
        rota.rota_day_set(
            by=None, agreement=world.agreement, day=day, member_ids=[m.pk for m in others]
        )
    assert not DutyAssignment.objects.exists()


def test_a_day_refuses_a_member_on_approved_leave(world):
    day = next_month() + 2 * DAY
    approve_leave(world, world.sanxia_member, day)
    with pytest.raises(Exception, match=world.sanxia_member.name):
        rota.rota_day_set(
            by=None, agreement=world.agreement, day=day, member_ids=[world.sanxia_member.pk]
        )
    assert not DutyAssignment.objects.exists()


# Pages -----------------------------------------------------------------------------------------


def month_url(world, month):
    return reverse("activities:rota_month", args=[world.agreement.pk]) + f"?month={month:%Y-%m}"


def day_url(world):
    return reverse("activities:rota_day", args=[world.agreement.pk])


def test_anonymous_visitors_are_sent_to_log_in(world, client):
    for name in ("rota", "rota_month", "rota_day", "rota_fill", "rota_clear"):
        args = [] if name == "rota" else [world.agreement.pk]
        response = client.get(reverse(f"activities:{name}", args=args))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_the_office_fills_a_month_through_the_confirmation(world, client, agency_office):
    add_members(world, 3)
    client.force_login(agency_office)
    month = next_month()
    fill = reverse("activities:rota_fill", args=[world.agreement.pk])

    page = client.get(fill + f"?month={month:%Y-%m}")
    assert page.status_code == 200
    assert not DutyAssignment.objects.exists()

    response = client.post(fill, {"month": f"{month:%Y-%m}", "replace": "0"})
    assert response.status_code == 302
    assert response.url == month_url(world, month)
    assert len(month_rows(world.agreement, month)) == len(rota.month_days(month))

    shown = client.get(month_url(world, month))
    assert shown.status_code == 200
    for member in Member.objects.filter(duty_assignments__isnull=False).distinct():
        assert member.name in shown.content.decode()


def test_the_office_sets_one_day_by_hand(world, client, agency_office):
    others = add_members(world, 2)
    client.force_login(agency_office)
    day = next_month() + 4 * DAY
    assert client.get(day_url(world) + f"?date={day}").status_code == 200

    response = client.post(day_url(world), {"date": day.isoformat(), "members": [others[0].pk]})

    assert response.status_code == 302
    assert list(DutyAssignment.objects.values_list("date", "member")) == [(day, others[0].pk)]


def test_a_member_of_another_agency_posted_into_a_day_is_refused(world, client, agency_office):
    client.force_login(agency_office)
    day = next_month()
    response = client.post(
        day_url(world), {"date": day.isoformat(), "members": [world.yuanlin_member.pk]}
    )
    assert response.status_code == 400
    assert "只能安排本单位已向该社区报到" in response.content.decode()
    assert world.yuanlin_member.name not in response.content.decode()
    assert not DutyAssignment.objects.exists()


def test_more_than_the_quota_on_a_day_is_refused_with_the_quota_named(world, client, agency_office):
    others = add_members(world, 2)
    client.force_login(agency_office)
    response = client.post(
        day_url(world), {"date": next_month().isoformat(), "members": [m.pk for m in others]}
    )
    assert response.status_code == 400
    assert "按此协议每天最多安排 1 人" in response.content.decode()
    assert not DutyAssignment.objects.exists()


def test_a_past_day_cannot_be_changed(world, client, agency_office):
    client.force_login(agency_office)
    yesterday = timezone.localdate() - DAY
    response = client.post(
        day_url(world), {"date": yesterday.isoformat(), "members": [world.sanxia_member.pk]}
    )
    assert response.status_code == 400
    assert not DutyAssignment.objects.exists()


@pytest.mark.parametrize("date", ["NaN", "2026-02-30", "99999-01-01", "0001-01-01", "9999-12-31"])
def test_a_day_that_is_no_date_is_not_found(world, client, agency_office, date):
    client.force_login(agency_office)
    assert client.get(day_url(world) + f"?date={date}").status_code == 404


@pytest.mark.parametrize(
    "month", ["", "NaN", "2026-13", "0-0", "x-y-z", "0001-01", "9999-12", "-1-1"]
)
def test_a_month_that_is_no_month_shows_this_month(world, client, agency_office, month):
    client.force_login(agency_office)
    response = client.get(
        reverse("activities:rota_month", args=[world.agreement.pk]), {"month": month}
    )
    assert response.status_code == 200
    assert response.context["month"] == timezone.localdate().replace(day=1)
    for name in ("activities:rota_fill", "activities:rota_clear", "reports:rota_export"):
        url = reverse(name, args=[world.agreement.pk])
        assert client.get(url, {"month": month}).status_code == 200


def test_another_agencys_office_finds_no_rota_and_changes_nothing(
    world, client, other_agency_office
):
    add_members(world, 2)
    month = next_month()
    rota.rota_fill(by=None, agreement=world.agreement, month=month)
    before = sorted(month_rows(world.agreement, month))
    client.force_login(other_agency_office)
    pk = world.agreement.pk
    for name in ("rota_month", "rota_day", "rota_fill", "rota_clear"):
        url = reverse(f"activities:{name}", args=[pk])
        assert client.get(url, {"month": f"{month:%Y-%m}", "date": month}).status_code == 404
        posted = client.post(
            url,
            {
                "month": f"{month:%Y-%m}",
                "date": month.isoformat(),
                "replace": "1",
                "members": [world.yuanlin_member.pk],
            },
        )
        assert posted.status_code == (405 if name == "rota_month" else 404)
    assert sorted(month_rows(world.agreement, month)) == before
    listed = client.get(reverse("activities:rota"))
    assert world.agreement.number not in listed.content.decode()


def test_the_community_reads_the_rota_and_cannot_change_it(
    world, client, community_staff, grid_worker
):
    add_members(world, 2)
    month = next_month()
    rota.rota_fill(by=None, agreement=world.agreement, month=month)
    before = sorted(month_rows(world.agreement, month))
    for user in (community_staff, grid_worker):
        client.force_login(user)
        page = client.get(month_url(world, month))
        assert page.status_code == 200
        assert page.context["keeps"] is False
        assert b'data-testid="rota-day-link"' not in page.content
        assert b'data-testid="rota-fill"' not in page.content
        for name in ("rota_day", "rota_fill", "rota_clear"):
            url = reverse(f"activities:{name}", args=[world.agreement.pk])
            assert client.get(url, {"date": month}).status_code == 403
            assert client.post(url, {"month": f"{month:%Y-%m}", "replace": "1"}).status_code == 403
    assert sorted(month_rows(world.agreement, month)) == before


def test_another_community_and_a_member_do_not_see_the_rota(
    world, client, other_community_staff, member_user
):
    client.force_login(other_community_staff)
    assert client.get(month_url(world, next_month())).status_code == 404
    client.force_login(member_user)
    assert client.get(reverse("activities:rota")).status_code == 403
    assert client.get(month_url(world, next_month())).status_code == 403


def test_posts_without_a_csrf_token_are_forbidden(world, agency_office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_office)
    month = next_month()
    for name in ("rota_day", "rota_fill", "rota_clear"):
        url = reverse(f"activities:{name}", args=[world.agreement.pk])
        response = client.post(url, {"month": f"{month:%Y-%m}", "date": month.isoformat()})
        assert response.status_code == 403
    assert not DutyAssignment.objects.exists()


def test_the_month_shows_days_under_quota(world, client, agency_office):
    Agreement.objects.filter(pk=world.agreement.pk).update(daily_quota=2)
    month = next_month()
    DutyAssignment.objects.create(agreement=world.agreement, date=month, member=world.sanxia_member)
    client.force_login(agency_office)
    response = client.get(month_url(world, month))
    assert response.context["short_days"] == len(rota.month_days(month))
    assert response.content.decode().count("data-short") == len(rota.month_days(month))


def test_the_month_page_shows_the_months_duty_fulfilment(world, client, agency_office):
    today = timezone.localdate()
    month = today.replace(day=1)
    client.force_login(agency_office)
    response = client.get(month_url(world, month))
    expected = figures.duty_fulfilment(
        world.agreement, start=month, end=rota.month_end(month), today=today
    )
    assert response.context["fulfilment"] == expected
    # The world's duty patrol today, with its member present, meets today's quota.
    assert expected.days_met == 1
    assert figures.format_rate(expected.rate) in response.content.decode()


@pytest.mark.parametrize("viewer", ["agency_office", "community_staff"])
def test_the_month_page_runs_the_same_queries_for_a_small_and_a_big_rota(
    world, client, request, viewer
):
    client.force_login(request.getfixturevalue(viewer))
    month = next_month()
    counts = []
    for size in (1, 30):
        DutyAssignment.objects.all().delete()
        add_members(world, size, prefix=f"组{size}")
        Agreement.objects.filter(pk=world.agreement.pk).update(daily_quota=min(size, 3))
        rota.rota_fill(by=None, agreement=Agreement.objects.get(pk=world.agreement.pk), month=month)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(month_url(world, month)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15


def test_the_day_page_runs_the_same_queries_for_few_members_and_many(world, client, agency_office):
    client.force_login(agency_office)
    day = next_month()
    counts = []
    for size in (1, 30):
        add_members(world, size, prefix=f"组{size}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(day_url(world), {"date": day}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15


def test_the_day_page_ticks_who_is_on_duty_marks_leave_and_escapes_names(
    world, client, agency_office
):
    on_duty, away, odd = add_members(world, 3)
    odd.name = '<b>"林&晓"</b>'
    odd.save()
    day = next_month() + 6 * DAY
    rota.rota_day_set(by=None, agreement=world.agreement, day=day, member_ids=[on_duty.pk])
    approve_leave(world, away, day)
    client.force_login(agency_office)

    page = client.get(day_url(world), {"date": day}).content.decode()

    boxes = dict(re.findall(r'<input[^>]* name="members" value="(\d+)"( checked)?>', page))
    assert boxes[str(on_duty.pk)] == " checked"
    assert boxes[str(away.pk)] == boxes[str(odd.pk)] == ""
    assert "&lt;b&gt;&quot;林&amp;晓&quot;&lt;/b&gt;" in page and "<b>" not in page
    row = page[page.index(f'value="{away.pk}"') :].split("</label>")[0]
    assert "已请假" in row
    assert "badge" not in page[page.index(f'value="{on_duty.pk}"') :].split("</label>")[0]


def test_the_menu_offers_the_rota_to_offices_and_communities(
    world, client, agency_office, community_staff, member_user
):
    link = reverse("activities:rota")
    for user, shown in ((agency_office, True), (community_staff, True), (member_user, False)):
        client.force_login(user)
        assert (f'href="{link}"' in client.get(reverse("reports:dashboard")).content.decode()) is (
            shown
        )


# The community's dashboard and the reminder ----------------------------------------------------


def test_the_dashboard_shows_who_is_on_duty_today_and_tomorrow(
    world, client, community_staff, other_community_staff
):
    today = timezone.localdate()
    second = add_members(world, 1)[0]
    DutyAssignment.objects.create(agreement=world.agreement, date=today, member=world.sanxia_member)
    DutyAssignment.objects.create(agreement=world.agreement, date=today + DAY, member=second)
    DutyAssignment.objects.create(
        agreement=world.agreement, date=today + 2 * DAY, member=world.sanxia_member_2
    )
    client.force_login(community_staff)
    response = client.get(reverse("reports:dashboard"))
    days = response.context["on_duty"]["days"]
    assert [[row["member"] for row in day["rows"]] for day in days] == [
        [world.sanxia_member.name],
        [second.name],
    ]
    html = response.content.decode()
    assert world.sanxia_member_2.name not in html.split('id="on-duty"')[1]

    client.force_login(other_community_staff)
    other = client.get(reverse("reports:dashboard"))
    assert [day["rows"] for day in other.context["on_duty"]["days"]] == [[], []]


def test_the_dashboard_shows_each_days_duty_under_the_agreements_in_force_that_day(
    world, client, community_staff
):
    # One agreement ends today, another begins tomorrow: each day shows only the duty of the
    # agreements in force on it, though each agreement has a duty on both days.
    today = timezone.localdate()
    ending, starting = (
        Agreement.objects.create(
            agency=Agency.objects.create(name=name),
            community=world.shengli,
            number=number,
            starts_on=starts_on,
            ends_on=ends_on,
            status=Agreement.Status.ACTIVE,
            signed_on=today - 30 * DAY,
        )
        for name, number, starts_on, ends_on in [
            ("市交通局", "GJ-END", today - 30 * DAY, today),
            ("市水利局", "GJ-START", today + DAY, today + 30 * DAY),
        ]
    )
    for agreement in (ending, starting):
        members = add_members(world, 2, agency=agreement.agency, prefix=agreement.number)
        for day, member in zip([today, today + DAY], members, strict=True):
            DutyAssignment.objects.create(agreement=agreement, date=day, member=member)
    client.force_login(community_staff)
    days = client.get(reverse("reports:dashboard")).context["on_duty"]["days"]
    assert [[row["member"] for row in day["rows"]] for day in days] == [
        ["GJ-END000"],
        ["GJ-START001"],
    ]


def test_a_day_set_on_the_grid_brings_the_duty_reminder(world, client, agency_office):
    client.force_login(agency_office)
    today = timezone.localdate()
    tomorrow = today + DAY
    response = client.post(
        day_url(world), {"date": tomorrow.isoformat(), "members": [world.sanxia_member.pk]}
    )
    assert response.status_code == 302

    evening = local_midnight(today) + dt.timedelta(hours=23)
    assert reminders.duty_roster(evening) == 1
    reminder = Notification.objects.get(kind=Notification.Kind.DUTY_ROSTER)
    assert reminder.recipient == world.sanxia_member.user
    assert reminder.slot == tomorrow.isoformat()


def test_the_street_officer_reads_the_rotas_of_the_streets_communities(
    world, client, street_officer
):
    client.force_login(street_officer)
    page = client.get(month_url(world, next_month()))
    assert page.status_code == 200
    assert page.context["keeps"] is False
    fill = reverse("activities:rota_fill", args=[world.agreement.pk])
    assert client.post(fill, {"month": f"{next_month():%Y-%m}"}).status_code == 403
    assert not DutyAssignment.objects.exists()


def test_every_change_of_the_rota_is_in_its_history_with_who_and_why(world, client, agency_office):
    others = add_members(world, 2)
    client.force_login(agency_office)
    month = next_month()
    fill = reverse("activities:rota_fill", args=[world.agreement.pk])
    client.post(fill, {"month": f"{month:%Y-%m}", "replace": "0"})
    first_on_duty = DutyAssignment.objects.get(date=month).member
    other = next(m for m in [world.sanxia_member, *others] if m != first_on_duty)
    client.post(day_url(world), {"date": month.isoformat(), "members": [other.pk]})
    client.post(
        reverse("activities:rota_clear", args=[world.agreement.pk]), {"month": f"{month:%Y-%m}"}
    )
    assert not DutyAssignment.objects.exists()

    days = len(rota.month_days(month))
    history = DutyAssignment.history.all()
    assert Counter((h.history_type, h.history_change_reason, h.history_user) for h in history) == {
        ("+", ChangeReason.ROTA_FILLED, agency_office): days,
        ("-", ChangeReason.ROTA_SET, agency_office): 1,
        ("+", ChangeReason.ROTA_SET, agency_office): 1,
        ("-", ChangeReason.ROTA_CLEARED, agency_office): days,
    }
    first_day = history.filter(date=month).order_by("history_date", "history_id")
    assert [(h.history_type, h.member_id) for h in first_day] == [
        ("+", first_on_duty.pk),
        ("-", first_on_duty.pk),
        ("+", other.pk),
        ("-", other.pk),
    ]
    page = client.get(day_url(world), {"date": month})
    assert [(h.history_type, h.member_id) for h in page.context["history"]] == [
        ("-", other.pk),
        ("+", other.pk),
        ("-", first_on_duty.pk),
        ("+", first_on_duty.pk),
    ]


def test_the_list_of_rotas_runs_the_same_queries_for_one_agreement_and_a_page_of_them(
    world, client, community_staff
):
    client.force_login(community_staff)
    counts = []
    for extra in (0, 30):
        today = timezone.localdate()
        for n in range(extra):
            agency = Agency.objects.create(name=f"单位{n}")
            Agreement.objects.create(
                agency=agency,
                community=world.shengli,
                number=f"GJ-R-{n}",
                starts_on=today - 10 * DAY,
                ends_on=today + 100 * DAY,
                status=Agreement.Status.ACTIVE,
                signed_on=today - 10 * DAY,
            )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("activities:rota"))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15
    assert len(response.context["page"].object_list) == 20
