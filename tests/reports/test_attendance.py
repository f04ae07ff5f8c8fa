"""The attendance report (出勤报表): DESIGN.md's figures on crafted records, the office's members
only, hostile parameters, sorting, links to the records behind each figure, a constant number of
queries, and the export read back."""

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from activities import figures
from activities.models import Activity, Participation
from members.models import Member, Registration
from reports import attendance
from reports.models import ExportLog

Status = Participation.Status
Nature = Activity.Nature
YEAR = 2025
URL = "/attendance/"


def _at(day: dt.date, hour=9):
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day, hour))


@pytest.fixture
def crafted(world):
    """Records of March–April 2025 for both agencies: (member, day, nature, status, hours)."""
    plan = [
        (world.sanxia_member, dt.date(YEAR, 3, 3), Nature.DUTY, Status.PRESENT, Decimal("2")),
        (
            world.sanxia_member,
            dt.date(YEAR, 3, 10),
            Nature.VOLUNTEER,
            Status.PRESENT,
            Decimal("1.5"),
        ),
        (world.sanxia_member, dt.date(YEAR, 3, 12), Nature.DUTY, Status.ABSENT, None),
        (world.sanxia_member, dt.date(YEAR, 3, 15), Nature.VOLUNTEER, Status.LEAVE, None),
        (world.sanxia_member, dt.date(YEAR, 3, 20), Nature.DUTY, Status.SIGNED_UP, None),
        (world.sanxia_member, dt.date(YEAR, 4, 2), Nature.DUTY, Status.PRESENT, Decimal("3")),
        (world.sanxia_member_2, dt.date(YEAR, 3, 31), Nature.VOLUNTEER, Status.ABSENT, None),
        (
            world.sanxia_member_2,
            dt.date(YEAR, 4, 30),
            Nature.VOLUNTEER,
            Status.PRESENT,
            Decimal("4"),
        ),
        (world.yuanlin_member, dt.date(YEAR, 3, 3), Nature.DUTY, Status.PRESENT, Decimal("5")),
    ]
    for member, day, nature, status, hours in plan:
        activity = Activity.objects.create(
            community=world.shengli,
            type=world.patrol,
            title=f"巡逻{day}",
            starts_at=_at(day),
            ends_at=_at(day, 11),
            nature=nature,
        )
        Participation.objects.create(
            activity=activity,
            member=member,
            status=status,
            hours=hours,
            leave_reason="出差" if status == Status.LEAVE else "",
            source=Participation.Source.ROLL_CALL,
        )
    return plan


def expected(plan, member, first, last):
    """DESIGN.md's figures of `member` over [first, last], worked out here from the plan."""
    rows = [row for row in plan if row[0] == member and first <= row[1] <= last]
    present = [row for row in rows if row[3] == Status.PRESENT]
    absent = sum(1 for row in rows if row[3] == Status.ABSENT)
    return {
        "present": len(present),
        "duty_hours": sum((r[4] for r in present if r[2] == Nature.DUTY), Decimal(0)),
        "volunteer_hours": sum((r[4] for r in present if r[2] == Nature.VOLUNTEER), Decimal(0)),
        "absent": absent,
        "leaves": sum(1 for row in rows if row[3] == Status.LEAVE),
        "rate": figures.rate(len(present), len(present) + absent),
        "last_day": max((r[1] for r in present), default=None),
    }


def office_client(user):
    client = Client()
    client.force_login(user)
    return client


PERIODS = [
    ({"period": "month", "year": YEAR, "month": 3}, dt.date(YEAR, 3, 1), dt.date(YEAR, 3, 31)),
    ({"period": "quarter", "year": YEAR, "quarter": 2}, dt.date(YEAR, 4, 1), dt.date(YEAR, 6, 30)),
    ({"period": "half", "year": YEAR, "half": 1}, dt.date(YEAR, 1, 1), dt.date(YEAR, 6, 30)),
    ({"period": "year", "year": YEAR}, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)),
    (
        {"period": "custom", "date_from": f"{YEAR}-03-10", "date_to": f"{YEAR}-04-02"},
        dt.date(YEAR, 3, 10),
        dt.date(YEAR, 4, 2),
    ),
]


@pytest.mark.parametrize("query, first, last", PERIODS)
def test_each_members_figures_follow_design_md(world, crafted, agency_office, query, first, last):
    response = office_client(agency_office).get(URL, query)
    assert response.status_code == 200
    assert response.context["period"].first == first
    assert response.context["period"].last == last
    rows = {row["pk"]: row for row in response.context["page"].object_list}
    assert set(rows) == {world.sanxia_member.pk, world.sanxia_member_2.pk}
    for member in (world.sanxia_member, world.sanxia_member_2):
        want = expected(crafted, member, first, last)
        got = rows[member.pk]
        assert {key: got[key] for key in want} == want, member.name
    totals = response.context["totals"]
    both = [expected(crafted, m, first, last) for m in (world.sanxia_member, world.sanxia_member_2)]
    for key in ("present", "absent", "leaves", "duty_hours", "volunteer_hours"):
        assert totals[key] == sum(row[key] for row in both)
    present = sum(row["present"] for row in both)
    assert totals["rate"] == figures.rate(present, present + sum(r["absent"] for r in both))
    assert totals["members"] == 2


def test_rate_is_none_for_zero_over_zero_and_shown_as_a_dash(world, crafted, agency_office):
    response = office_client(agency_office).get(URL, {"period": "month", "year": YEAR, "month": 5})
    rows = response.context["page"].object_list
    assert all(row["rate"] is None for row in rows)
    assert "—" in response.content.decode()


def test_another_agencys_members_are_never_shown(
    world, crafted, agency_office, other_agency_office
):
    # Whatever the query says: another agency's member id as a parameter changes nothing.
    query = {"period": "month", "year": YEAR, "month": 3, "agency": world.yuanlin.pk}
    response = office_client(agency_office).get(URL, {**query, "member": world.yuanlin_member.pk})
    ids = {row["pk"] for row in response.context["page"].object_list}
    assert world.yuanlin_member.pk not in ids
    assert "陈思远" not in response.content.decode()
    assert response.context["totals"]["duty_hours"] == Decimal("2.0")
    other = office_client(other_agency_office).get(URL, query)
    assert {row["pk"] for row in other.context["page"].object_list} == {world.yuanlin_member.pk}


@pytest.mark.parametrize("persona", ["community_staff", "member_user", "street_officer"])
def test_only_an_agency_office_reads_it(request, world, persona):
    client = office_client(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403
    assert client.get(URL + "export/").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    for url in (URL, URL + "export/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url


@pytest.mark.parametrize(
    "query",
    [
        {"period": "fortnight"},
        {"period": "month", "month": "13"},
        {"period": "month", "month": "0x1"},
        {"period": "year", "year": "99999"},
        {"period": "year", "year": "-1"},
        {"period": "quarter", "quarter": "5"},
        {"period": "half", "half": "3"},
        {"period": "custom"},
        {"period": "custom", "date_from": "2025-03-10", "date_to": "2025-03-01"},
        {"period": "custom", "date_from": "1800-01-01", "date_to": "2025-03-01"},
        {"period": "custom", "date_from": "'; DROP TABLE x;--", "date_to": "\x00"},
        {"sort": "name; DELETE"},
        {"sort": "-mobile"},
        {"page": "NaN"},
        {"page": "-5"},
    ],
)
def test_hostile_parameters_are_reported_not_a_500(world, crafted, agency_office, query):
    client = office_client(agency_office)
    response = client.get(URL, query)
    assert response.status_code == 200
    form = response.context["form"]
    if set(query) - {"page"}:
        assert form.errors
        assert 'data-testid="report-errors"' in response.content.decode()
    # It falls back to this month, whole.
    period = response.context["period"]
    assert period.first <= period.last
    assert client.get(URL + "export/", {**query, "format": "csv"}).status_code == 200


def test_errors_are_translated(world, agency_office):
    client = office_client(agency_office)
    response = client.get(URL, {"period": "custom"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = response.content.decode()
    assert "自定义范围需要" in text


@pytest.mark.parametrize(
    "sort",
    [
        "present",
        "duty_hours",
        "volunteer_hours",
        "absent",
        "leaves",
        "rate",
        "last",
        "reported",
        "name",
    ],
)
def test_it_sorts_by_each_column(world, crafted, agency_office, sort):
    client = office_client(agency_office)
    base = {"period": "year", "year": YEAR}
    for sign in ("", "-"):
        response = client.get(URL, {**base, "sort": f"{sign}{sort}"})
        rows = response.context["page"].object_list
        values = [
            row["attendance"].attendance_rate
            if sort == "rate"
            else row[sort if sort != "last" else "last_day"]
            for row in rows
        ]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=sign == "-")
        # "—" (no figure) always last.
        assert values[: len(present)] == present


def test_every_figure_links_to_the_records_behind_it(world, crafted, agency_office):
    client = office_client(agency_office)
    response = client.get(URL, {"period": "month", "year": YEAR, "month": 3})
    member = world.sanxia_member
    row = next(r for r in response.context["page"].object_list if r["pk"] == member.pk)
    for key, count_of in [
        ("present", lambda w: w["present"]),
        ("absent", lambda w: w["absent"]),
        ("leaves", lambda w: w["leaves"]),
    ]:
        listed = client.get(row["links"][key])
        assert listed.context["page"].paginator.count == count_of(row), key
        assert {p.member_id for p in listed.context["page"].object_list} == {member.pk}
    for key in ("duty_hours", "volunteer_hours"):
        listed = client.get(row["links"][key]).context["page"].object_list
        assert sum(p.hours for p in listed) == row[key]
    # The rate's records: present, absent and leave of the period.
    listed = client.get(row["links"]["rate"]).context["page"]
    assert listed.paginator.count == row["present"] + row["absent"] + row["leaves"]
    last = client.get(row["links"]["last"]).context["page"].object_list
    assert [timezone.localdate(p.activity.starts_at) for p in last] == [row["last_day"]]
    totals = response.context["totals"]
    assert (
        client.get(totals["links"]["present"]).context["page"].paginator.count == totals["present"]
    )
    assert client.get(row["links"]["member"]).status_code == 200
    # The link's member filter never reaches another agency's records.
    foreign = client.get("/review/", {"member": world.yuanlin_member.pk})
    assert foreign.context["page"].paginator.count == 0


def test_the_inactive_are_marked_by_the_dashboards_definition(world, crafted, agency_office):
    response = office_client(agency_office).get(URL, {"period": "year", "year": YEAR})
    members = Member.objects.filter(agency=world.sanxia)
    inactive = set(figures.inactive_members(members).values_list("pk", flat=True))
    shown = {row["pk"] for row in response.context["page"].object_list if row["inactive"]}
    assert shown == inactive
    # 李建华 was present at the world's patrol three hours ago; 王海燕 not for months.
    assert shown == {world.sanxia_member_2.pk}
    assert response.context["totals"]["inactive"] == len(inactive)


def test_a_member_who_left_before_the_period_is_not_listed(world, crafted, agency_office):
    world.sanxia_member_2.status = Member.Status.LEFT
    world.sanxia_member_2.left_on = dt.date(YEAR, 2, 1)
    world.sanxia_member_2.save()
    response = office_client(agency_office).get(URL, {"period": "month", "year": YEAR, "month": 3})
    assert {r["pk"] for r in response.context["page"].object_list} == {world.sanxia_member.pk}
    earlier = office_client(agency_office).get(URL, {"period": "month", "year": YEAR, "month": 1})
    assert world.sanxia_member_2.pk in {r["pk"] for r in earlier.context["page"].object_list}


def _members(world, n):
    Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i:03}", mobile=f"1370000{i:04}") for i in range(n)
    )
    members = list(Member.objects.filter(agency=world.sanxia))
    activity = world.shengli_activity
    Participation.objects.bulk_create(
        Participation(
            activity=activity, member=m, status=Status.ABSENT, source=Participation.Source.ROLL_CALL
        )
        for m in members
        if m.pk != world.sanxia_member.pk
    )


@pytest.mark.parametrize("sort", ["-absent", "name"])
@pytest.mark.parametrize("n", [5, 50])
def test_queries_do_not_grow_with_the_members(
    world, agency_office, django_assert_num_queries, n, sort
):
    _members(world, n)
    client = office_client(agency_office)
    client.get(URL)  # the session, once
    # The same number at 5 members and at 50, sorted by a figure or by the member: the session
    # with its login (one statement), its second factor's device, its roles, the unread
    # messages of the menu; the members counted, the inactive counted, the totals, the rows;
    # the view counted in the privacy log.
    with django_assert_num_queries(9):
        response = client.get(
            URL, {"period": "year", "year": timezone.localdate().year, "sort": sort}
        )
    assert response.status_code == 200


@pytest.mark.parametrize("sort", ["name", "-name", "reported", "-reported"])
def test_pages_by_a_members_column_are_the_full_lists_pages(world, crafted, agency_office, sort):
    """Sorted by the member's name or report-in, a page aggregates its own members only; every
    page (the deep ones read from the end too) holds the rows of the list of every member's
    figures at its place, with the same figures."""
    _members(world, 50)
    query = {"period": "year", "year": YEAR, "sort": sort}
    now = timezone.now()
    period = attendance.ReportForm(query).chosen_period()
    members = attendance.report_members(agency_office, period)
    every = [
        attendance.as_member(row)
        for row in attendance.member_rows(members, period, now=now, sort=sort)
    ]
    assert len(every) > 2 * attendance.PAGE_SIZE
    shown = []
    for number in range(1, len(every) // attendance.PAGE_SIZE + 2):
        page = attendance.report(agency_office, query, now=now, page_number=number)["page"]
        shown += [{key: row[key] for key in every[0]} for row in page.object_list]
    assert shown == every


@pytest.mark.parametrize("sort", ["name", "-present", "rate", "-last", "-reported"])
def test_a_page_aggregates_its_members_only(world, crafted, agency_office, sort):
    """The page's rows query chooses the page's members (LIMIT in the members' subquery) before
    it reads their figures, by whatever it is sorted: at city size, every member's year was
    grouped for a page of 20 sorted by name, and, sorted by a figure, read twice (the members
    with records grouped, united with those without)."""
    _members(world, 30)
    period = attendance.ReportForm({"period": "year", "year": YEAR}).chosen_period()
    members = attendance.report_members(agency_office, period)
    paginator = attendance._paginator(
        members, period, now=timezone.now(), sort=sort, count=members.count()
    )
    rows = paginator.page(1).object_list
    sql = str(rows.query)
    # The members of the page, chosen first; the figures read are theirs.
    assert f"LIMIT {attendance.PAGE_SIZE})" in sql
    assert "UNION" not in sql.upper()
    assert len(list(rows)) == attendance.PAGE_SIZE


def _records_of(members, period):
    """Each member's DESIGN.md figures over the period, worked out here from their records."""
    rows = {
        member.pk: {
            "present": 0,
            "duty_hours": Decimal(0),
            "volunteer_hours": Decimal(0),
            "absent": 0,
            "leaves": 0,
            "last": None,
        }
        for member in members
    }
    records = Participation.objects.filter(
        member__in=members,
        activity__starts_at__gte=period.start,
        activity__starts_at__lt=period.end,
    ).select_related("activity")
    for record in records:
        row = rows[record.member_id]
        if record.status == Status.PRESENT:
            row["present"] += 1
            nature = "duty_hours" if record.activity.nature == Nature.DUTY else "volunteer_hours"
            row[nature] += record.hours or 0
            starts = record.activity.starts_at
            row["last"] = starts if row["last"] is None else max(row["last"], starts)
        elif record.status == Status.ABSENT:
            row["absent"] += 1
        elif record.status == Status.LEAVE:
            row["leaves"] += 1
    for row in rows.values():
        counted = row["present"] + row["absent"]
        row["rate"] = row["present"] / counted if counted else None
    return rows


@pytest.fixture
def many(world, crafted):
    """45 more members of the office's agency, three to a name, with every kind of year: no
    records, present (duty or voluntary service, various hours), absent, on leave, records of
    the year before only, signed up only."""
    Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"成员{i % 15:02}", mobile=f"1370000{i:04}")
        for i in range(45)
    )
    extra = list(Member.objects.filter(name__startswith="成员").order_by("pk"))
    activities = [
        Activity.objects.create(
            community=world.shengli,
            type=world.patrol,
            title=f"活动{n}",
            starts_at=_at(day),
            ends_at=_at(day, 11),
            nature=Nature.DUTY if n % 2 else Nature.VOLUNTEER,
        )
        for n, day in enumerate(
            [dt.date(YEAR, 5, 1), dt.date(YEAR, 6, 1), dt.date(YEAR, 7, 1), dt.date(YEAR - 1, 7, 1)]
        )
    ]
    records = []
    for i, member in enumerate(extra):
        kind = i % 6
        if kind == 0:
            continue
        activity = activities[3] if kind == 3 else activities[i % 3]
        status = {
            1: Status.PRESENT,
            2: Status.ABSENT,
            3: Status.PRESENT,
            4: Status.PRESENT,
            5: Status.SIGNED_UP,
        }[kind]
        hours = Decimal(i % 4 + 1) if status == Status.PRESENT else None
        records.append((activity, member, status, hours))
        if kind == 4:
            records.append((activities[(i + 1) % 3], member, Status.LEAVE, None))
        if kind == 2 and i % 4 == 0:
            records.append((activities[(i + 1) % 3], member, Status.PRESENT, Decimal(1)))
    Participation.objects.bulk_create(
        Participation(
            activity=activity,
            member=member,
            status=status,
            hours=hours,
            leave_reason="出差" if status == Status.LEAVE else "",
            source=Participation.Source.ROLL_CALL,
        )
        for activity, member, status, hours in records
    )
    # One of them reported in, for the report-in sort.
    Registration.objects.create(
        member=extra[7],
        community=world.shengli,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    return extra


@pytest.mark.parametrize("sort", list(attendance.SORTS))
def test_every_sort_pages_through_every_member_in_order(world, many, agency_office, sort):
    """Page after page (the first read from the start, the others from the end), sorted either
    way by each column: every member once, those without records of the period included with
    zeros, in the column's order — a figure with none ("—") last either way — ties by name, then
    by id; each row's figures DESIGN.md's."""
    now = timezone.now()
    query = {"period": "year", "year": YEAR}
    period = attendance.ReportForm(query).chosen_period()
    members = attendance.report_members(agency_office, period)
    by_name = list(members.order_by("name", "pk"))
    figures_of = _records_of(by_name, period)
    reported = set(
        Registration.objects.filter(
            kind=Registration.Kind.LIAISON, status=Registration.Status.ACTIVE
        ).values_list("member", flat=True)
    )
    for member in by_name:
        figures_of[member.pk]["reported"] = member.pk in reported
    assert len(by_name) > 2 * attendance.PAGE_SIZE
    for descending in (False, True):
        if sort == "name":
            # The names as the database orders them (its collation), each name's members by id.
            rank = {}
            for member in by_name:
                rank.setdefault(member.name, len(rank))
            want = sorted(by_name, key=lambda m: rank[m.name], reverse=descending)
        else:
            value = {m.pk: figures_of[m.pk][sort] for m in by_name}
            known = [m for m in by_name if value[m.pk] is not None]
            # A stable sort keeps the members of one value by name, then id, either way.
            want = sorted(known, key=lambda m: value[m.pk], reverse=descending)
            want += [m for m in by_name if value[m.pk] is None]
        shown = []
        for number in range(1, len(by_name) // attendance.PAGE_SIZE + 2):
            page = attendance.report(
                agency_office,
                {**query, "sort": f"{'-' if descending else ''}{sort}"},
                now=now,
                page_number=number,
            )["page"]
            shown += page.object_list
        assert [row["pk"] for row in shown] == [m.pk for m in want], (sort, descending)
        for row in shown:
            expect = figures_of[row["pk"]]
            assert (
                row["present"],
                row["duty_hours"],
                row["volunteer_hours"],
                row["absent"],
                row["leaves"],
                row["last_day"],
                row["attendance"].attendance_rate,
                bool(row["reported"]),
            ) == (
                expect["present"],
                expect["duty_hours"],
                expect["volunteer_hours"],
                expect["absent"],
                expect["leaves"],
                timezone.localdate(expect["last"]) if expect["last"] else None,
                figures.rate(expect["present"], expect["present"] + expect["absent"]),
                expect["reported"],
            ), row["name"]


def test_the_xlsx_export_holds_the_report(world, crafted, agency_office):
    client = office_client(agency_office)
    query = {"period": "month", "year": YEAR, "month": 3, "sort": "-present"}
    response = client.get(URL + "export/", query)
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "2025" in rows[0][0] and "2025-03-01" in rows[0][0]
    assert sheet.freeze_panes == "A3"
    page = office_client(agency_office).get(URL, query).context
    body, total = rows[2:-1], rows[-1]
    assert [r[0] for r in body] == [r["name"] for r in page["page"].object_list]
    for line, row in zip(body, page["page"].object_list, strict=True):
        assert line[1] == Member.objects.get(pk=row["pk"]).masked_mobile
        assert (line[2], Decimal(str(line[3])), Decimal(str(line[4])), line[5], line[6]) == (
            row["present"],
            row["duty_hours"],
            row["volunteer_hours"],
            row["absent"],
            row["leaves"],
        )
        assert line[7] == figures.format_rate(row["rate"])
    totals = page["totals"]
    assert (total[2], total[5], total[6]) == (totals["present"], totals["absent"], totals["leaves"])
    log = ExportLog.objects.get()
    assert (log.what, log.format, log.rows, log.full_mobiles) == ("attendance", "xlsx", 2, False)
    assert log.agency == world.sanxia and log.filters["date_from"] == "2025-03-01"


def test_full_mobiles_only_when_asked_and_logged(world, crafted, agency_office):
    client = office_client(agency_office)
    response = client.get(
        URL + "export/", {"format": "csv", "full": "1", "period": "year", "year": YEAR}
    )
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert world.sanxia_member.mobile in {line[1] for line in lines[2:]}
    assert "陈思远" not in text
    assert ExportLog.objects.get().full_mobiles is True


def test_the_export_log_shows_the_reports_period(world, crafted, agency_office):
    client = office_client(agency_office)
    client.get(URL + "export/", {"period": "year", "year": YEAR})
    page = client.get("/exports/")
    assert page.status_code == 200
    entry = page.context["page"].object_list[0]
    assert ("从", "2025-01-01") in entry.filters_shown and (
        "统计周期",
        "年度",
    ) in entry.filters_shown


def test_the_menu_offers_the_report_to_offices(world, agency_office, community_staff):
    assert URL in office_client(agency_office).get("/").content.decode()
    assert URL not in office_client(community_staff).get("/").content.decode()


def test_periods_cover_their_days():
    assert attendance.period_of("half", year=2024, number=2).first == dt.date(2024, 7, 1)
    assert attendance.period_of("month", year=2024, number=2).last == dt.date(2024, 2, 29)
    assert attendance.period_of("quarter", year=2024, number=4).last == dt.date(2024, 12, 31)


def test_a_large_report_is_written_by_a_worker_with_the_same_rows(
    world, crafted, agency_office, settings
):
    from django.urls import reverse

    from reports import jobs
    from reports.models import ExportJob

    client = office_client(agency_office)
    query = {"period": "month", "year": YEAR, "month": 3, "sort": "-present"}
    at_once = openpyxl.load_workbook(io.BytesIO(client.get(URL + "export/", query).content))
    settings.EXPORT_SYNC_MAX_ROWS = 0
    response = client.get(URL + "export/", query)
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response.url == job.get_absolute_url()
    assert job.what == "attendance" and job.filters["date_from"] == "2025-03-01"
    assert jobs.run_job(job.pk) == "done"
    download = client.get(reverse("reports:export_download", args=[job.pk]))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    worker_rows = list(sheet.active.iter_rows(min_row=2, values_only=True))
    assert worker_rows == list(at_once.active.iter_rows(min_row=2, values_only=True))
