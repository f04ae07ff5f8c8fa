"""The community staff's and grid workers' dashboard (工作台): what needs doing (roll calls,
report-ins, concerns), the community's figures and each agreement's duty fulfilment."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.models import Activity, Concern, DutyAssignment, Participation
from communities.models import Agency, Agreement, StaffRole
from members.models import Member, Registration
from tests.conftest import make_user
from xiachen.templatetags.xiachen import percent


def page(response):
    return response.content.decode()


def figure_shown(html, key):
    match = re.search(rf'data-figure="{key}">([^<]*)<', html)
    assert match, f"no figure {key} on the page"
    return match.group(1).strip()


def section(html, testid):
    """The markup of the list marked data-testid=testid."""
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</ul>", start)]


def local(day, hour=0, minute=30):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_the_pending_report_ins_figure_opens_the_review_desk(client, community_staff, world):
    client.force_login(community_staff)
    html = page(client.get("/"))
    assert figure_shown(html, "pending_registrations") == "1"  # 王海燕
    assert 'href="/members/report-ins/" data-testid="review-link"' in html
    assert 'href="/members/" data-testid="member-list-link"' in html


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_members_reported_in_are_counted_per_agency(client, request, world, persona):
    # 李建华 (三峡) is reported in; two of 园林局 join him, one of them with both kinds (双报到),
    # which counts once. 陈思远 (园林局) reported in to another community.
    for name, mobile in [("孙丽", "13700000012"), ("钱伟", "13700000013")]:
        member = Member.objects.create(agency=world.yuanlin, name=name, mobile=mobile)
        for kind in Registration.Kind:
            Registration.objects.create(
                member=member,
                community=world.shengli,
                kind=kind,
                status=Registration.Status.ACTIVE,
                applied_on=timezone.localdate(),
            )
    client.force_login(request.getfixturevalue(persona))
    html = page(client.get("/"))
    assert figure_shown(html, "reported_in") == "3"
    rows = section(html, "reported-in-by-agency")
    assert f'data-agency-count="{world.yuanlin.pk}">2<' in rows
    assert f'data-agency-count="{world.sanxia.pk}">1<' in rows
    # The bigger agency first; each opens the member list filtered to it.
    assert rows.index("市园林和林业局") < rows.index("三峡旅游新区管委会")
    assert f'href="/members/?agency={world.yuanlin.pk}&amp;grid="' in rows


def test_agencies_with_as_many_members_reported_in_are_listed_by_name_up_to_the_limit(
    client, community_staff, world
):
    # 李建华 (三峡) is reported in; agencies A…U (21, past the list's 20) each have one member
    # reported in, another who left, and one whose report-in is pending: all tie with 三峡 at 1.
    today = timezone.localdate()
    for i, letter in enumerate("UTSRQPONMLKJIHGFEDCBA"):
        agency = Agency.objects.create(name=f"{letter} agency")
        for j, status in enumerate([Member.Status.ACTIVE, Member.Status.LEFT, None]):
            member = Member.objects.create(
                agency=agency,
                name=f"{letter}{j}",
                mobile=f"136{i:04d}{j:04d}",
                status=status or Member.Status.ACTIVE,
                left_on=today if status == Member.Status.LEFT else None,
            )
            Registration.objects.create(
                member=member,
                community=world.shengli,
                status=Registration.Status.ACTIVE if status else Registration.Status.PENDING,
                applied_on=today,
            )
    client.force_login(community_staff)
    rows = section(page(client.get("/")), "reported-in-by-agency")
    shown = re.findall(r'data-agency-count="(\d+)">(\d+)<', rows)
    names = dict(Agency.objects.values_list("pk", "name"))
    assert [(names[int(pk)], count) for pk, count in shown] == [
        (f"{letter} agency", "1") for letter in "ABCDEFGHIJKLMNOPQRST"
    ]
    assert rows.rstrip().endswith("…</li>")


def test_activities_this_month_and_this_year(client, community_staff, world):
    Activity.objects.all().delete()
    today = timezone.localdate()
    month_start, _ = figures.month_bounds(today)
    year_start = timezone.make_aware(dt.datetime(today.year, 1, 1))

    def plan(starts_at, community=world.shengli, **extra):
        Activity.objects.create(
            community=community,
            type=world.cleanup,
            title="清扫",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=1),
            **extra,
        )

    plan(month_start)
    plan(month_start + dt.timedelta(hours=2), status=Activity.Status.CANCELLED)
    plan(month_start, community=world.shenzhen)
    plan(year_start)
    plan(year_start - dt.timedelta(hours=1))  # last year
    client.force_login(community_staff)
    html = page(client.get("/"))
    january = month_start == year_start
    assert figure_shown(html, "activities_this_month") == ("2" if january else "1")
    assert figure_shown(html, "activities_this_year") == "2"


def test_activities_waiting_for_roll_call_are_listed_with_links(client, community_staff, world):
    now = timezone.now()

    def ended(title, status):
        activity = Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title=title,
            starts_at=now - dt.timedelta(days=1, hours=2),
            ends_at=now - dt.timedelta(days=1),
        )
        Participation.objects.create(
            activity=activity,
            member=world.sanxia_member_2,
            status=status,
            hours=1 if status == Participation.Status.PRESENT else None,
            source=Participation.Source.SIGN_UP,
        )
        return activity

    waiting = ended("昨天的清扫", Participation.Status.SIGNED_UP)
    ended("已点名的清扫", Participation.Status.PRESENT)
    client.force_login(community_staff)
    html = page(client.get("/"))
    assert figure_shown(html, "pending_roll_call") == "1"
    rows = section(html, "pending-roll-calls")
    assert f'href="/activities/{waiting.pk}/"' in rows
    assert "已点名的清扫" not in rows


def test_all_activities_waiting_for_roll_call_are_counted_and_the_oldest_listed(
    english, community_staff, world
):
    # The figure and the list come from one query: the figure counts them all, the list shows
    # the oldest few and says that more wait.
    now = timezone.now()
    waiting = []
    for n in range(7):
        activity = Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title=f"待点名{n}",
            starts_at=now - dt.timedelta(days=n + 1, hours=2),
            ends_at=now - dt.timedelta(days=n + 1),
        )
        Participation.objects.create(
            activity=activity,
            member=world.sanxia_member_2,
            status=Participation.Status.SIGNED_UP,
            source=Participation.Source.SIGN_UP,
        )
        waiting.append(activity)
    english.force_login(community_staff)
    html = page(english.get("/"))
    assert figure_shown(html, "pending_roll_call") == "7"
    rows = section(html, "pending-roll-calls")
    listed = [a for a in waiting if f'href="/activities/{a.pk}/"' in rows]
    assert listed == waiting[-5:]  # the five that ended first
    assert "More activities are waiting" in rows


def test_each_activity_of_the_week_opens_its_page(client, community_staff, world):
    monday, _ = figures.week_bounds()
    activity = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑楼道清理",
        starts_at=monday + dt.timedelta(days=2, hours=9),
        ends_at=monday + dt.timedelta(days=2, hours=11),
    )
    client.force_login(community_staff)
    rows = section(page(client.get("/")), "week-activities")
    assert f'href="/activities/{activity.pk}/"' in rows


class TestDutyFulfilmentOnTheDashboard:
    @pytest.fixture
    def on_duty(self, world):
        """world.agreement (三峡 with 胜利一路社区, quota 1) began 100 days ago: members present on
        duty under it today and 40 days ago; a volunteer activity, another agency and a duty
        counted toward no agreement (计入协议 = 无) do not count."""
        Activity.objects.all().delete()
        today = timezone.localdate()

        def duty(day, member, nature=Activity.Nature.DUTY, agreement=world.agreement):
            activity = Activity.objects.create(
                community=world.shengli,
                type=world.patrol,
                title="沿江防汛巡逻",
                starts_at=local(day),
                ends_at=local(day, 2),
                nature=nature,
                agreement=agreement,
            )
            Participation.objects.create(
                activity=activity,
                member=member,
                status=Participation.Status.PRESENT,
                hours=2,
                source=Participation.Source.ROLL_CALL,
            )

        duty(today, world.sanxia_member)
        duty(today, world.sanxia_member_2)  # the same day: counts once
        duty(today - dt.timedelta(days=40), world.sanxia_member)
        duty(today - dt.timedelta(days=41), world.sanxia_member, Activity.Nature.VOLUNTEER)
        duty(today - dt.timedelta(days=42), world.yuanlin_member)
        duty(today - dt.timedelta(days=43), world.sanxia_member, agreement=None)
        return today

    def test_it_shows_this_month_and_since_the_start(self, english, community_staff, on_duty):
        english.force_login(community_staff)
        html = page(english.get("/"))
        row = section(html, "agreements-in-force")
        month_days, total_days = on_duty.day, 101
        month = re.search(r'data-fulfilment="month">([^<]+)<', row).group(1)
        total = re.search(r'data-fulfilment="total">([^<]+)<', row).group(1)
        assert month == percent(figures.rate(1, month_days))
        assert total == percent(figures.rate(2, total_days)) == "2.0%"  # 1.98%
        assert f"1/{month_days} days" in row
        assert f"2/{total_days} days" in row

    def test_a_higher_quota_counts_only_days_that_reach_it(
        self, english, community_staff, world, on_duty
    ):
        world.agreement.daily_quota = 2
        world.agreement.save()
        english.force_login(community_staff)
        row = section(page(english.get("/")), "agreements-in-force")
        assert "1/101 days" in row  # today, with two members


# --- A fixed number of queries --------------------------------------------------------------


def grow(world, n, start):
    """n more of everything the community section lists or counts."""
    now = timezone.now()
    today = timezone.localdate()
    monday, _ = figures.week_bounds()
    agencies = Agency.objects.bulk_create(Agency(name=f"共建单位{start + i}") for i in range(n))
    Agreement.objects.bulk_create(
        Agreement(
            agency=agency,
            community=world.shengli,
            number=f"GJ-DASH-{start + i}",
            starts_on=today - dt.timedelta(days=30),
            ends_on=today + dt.timedelta(days=300),
            status=Agreement.Status.ACTIVE,
            signed_on=today - dt.timedelta(days=30),
        )
        for i, agency in enumerate(agencies)
    )
    members = Member.objects.bulk_create(
        Member(agency=agency, name=f"成员{start + i}", mobile=f"1350000{start + i:04d}")
        for i, agency in enumerate(agencies)
    )
    Registration.objects.bulk_create(
        Registration(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE if i % 2 else Registration.Status.PENDING,
            applied_on=today,
        )
        for i, member in enumerate(members)
    )
    activities = Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            grid=world.zilinyuan if i % 2 else None,
            type=world.patrol,
            title=f"巡逻{start + i}",
            nature=Activity.Nature.DUTY,
            starts_at=when,
            ends_at=when + dt.timedelta(hours=1),
        )
        for i in range(n)
        for when in (
            now - dt.timedelta(days=i % 25, hours=3),  # ended: duty days, roll calls
            monday + dt.timedelta(days=i % 7, hours=8),  # this week
        )
    )
    Participation.objects.bulk_create(
        Participation(
            activity=activity,
            member=members[i // 2],
            status=Participation.Status.PRESENT if i % 4 else Participation.Status.SIGNED_UP,
            source=Participation.Source.ROLL_CALL,
        )
        for i, activity in enumerate(activities)
    )
    reporter = make_user(world.sanxia_member.user.__class__, f"reporter{start}")
    Concern.objects.bulk_create(
        Concern(community=world.shengli, title=f"民情{start + i}", reported_by=reporter)
        for i in range(n)
    )


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker"])
def test_the_dashboard_runs_the_same_queries_for_5_and_for_50_rows(
    db, client, request, world, persona
):
    client.force_login(request.getfixturevalue(persona))

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/")
        assert response.status_code == 200
        return len(queries), page(response)

    grow(world, 5, start=0)
    small, html = count_queries()
    assert 'data-agreement="GJ-DASH-4"' in html
    grow(world, 45, start=100)
    large, html = count_queries()
    assert 'data-agreement="GJ-DASH-104"' in html or "…" in html
    assert small == large
    assert large <= 11, large


def test_an_offices_dashboard_counts_its_figures_in_a_fixed_few_queries(
    client, world, agency_office
):
    # The overdue reviews and the inactive members are counted in the query that reads the
    # office's agency names (tests/xiachen/test_pages.py: the same at 5 rows and at 50).
    client.force_login(agency_office)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    assert 'data-figure="inactive_count"' in page(response)
    assert len(queries) <= 10, [query["sql"][:60] for query in queries.captured_queries]


def test_an_offices_month_of_attendance_is_its_members_records_of_the_months_activities(
    client, agency_office, world
):
    # Read from the figures the database keeps per agency and activity (AgencyActivity), not by
    # joining the month's participations to the agency's 8,000 members (8–10 ms at city size):
    # the same figures as counting the records themselves.
    month_start, month_end = figures.month_bounds()

    def activity(title, starts_at):
        return Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title=title,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
        )

    hour = dt.timedelta(hours=1)
    first, last = activity("月初清扫", month_start), activity("月末清扫", month_end - hour)
    before, after = activity("上月清扫", month_start - hour), activity("下月清扫", month_end)
    status = Participation.Status
    for activity_, member, status_, hours in [
        (first, world.sanxia_member, status.PRESENT, Decimal("1.5")),
        (first, world.sanxia_member_2, status.PRESENT, None),
        (last, world.sanxia_member, status.ABSENT, None),
        (last, world.sanxia_member_2, status.SIGNED_UP, None),
        (first, world.yuanlin_member, status.PRESENT, Decimal("3")),  # another agency
        (before, world.sanxia_member, status.PRESENT, Decimal("4")),
        (after, world.sanxia_member, status.PRESENT, Decimal("5")),
    ]:
        Participation.objects.create(
            activity=activity_, member=member, status=status_, hours=hours, source="roll_call"
        )
    counted = figures.attendance(
        Participation.objects.filter(
            member__agency=world.sanxia,
            activity__starts_at__gte=month_start,
            activity__starts_at__lt=month_end,
        )
    )
    # The world's patrol (2 hours, 3 hours ago) counts when this month began before it.
    patrol = int(world.shengli_activity.starts_at >= month_start)
    assert (counted.present, counted.hours) == (2 + patrol, Decimal("1.5") + 2 * patrol)
    client.force_login(agency_office)
    with CaptureQueriesContext(connection) as queries:
        html = page(client.get("/"))
    assert figure_shown(html, "participations_month") == str(counted.present)
    assert figure_shown(html, "hours_month") == figures.format_number(counted.hours)
    assert not [
        query["sql"]
        for query in queries.captured_queries
        if 'FROM "activities_participation"' in query["sql"] and '"hours"' in query["sql"]
    ]


# Columns no dashboard shows: a list read as model instances with their related rows fetched
# them for every row (a staff dashboard read 150-odd columns of 30 rows to show 60 cells).
UNSHOWN_COLUMNS = [
    '"activities_activity"."description"',
    '"activities_activity"."cancel_reason"',
    '"communities_agreement"."commitments"',
    '"communities_community"."robot_webhook_url"',
    '"communities_agency"."address"',
    '"members_registration"."return_reason"',
]


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "agency_office", "street_officer", "member_user"]
)
def test_the_dashboard_reads_only_the_columns_it_shows(client, request, world, persona):
    DutyAssignment.objects.create(
        agreement=world.agreement, date=timezone.localdate(), member=world.sanxia_member
    )
    Participation.objects.create(
        activity=Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title="楼道清理",
            starts_at=timezone.now() + dt.timedelta(days=1),
            ends_at=timezone.now() + dt.timedelta(days=1, hours=2),
            status=Activity.Status.RECRUITING,
        ),
        member=world.sanxia_member,
    )
    client.force_login(request.getfixturevalue(persona))
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    read = [
        (column, query["sql"][:80])
        for query in queries.captured_queries
        for column in UNSHOWN_COLUMNS
        if column in query["sql"]
    ]
    assert not read, read


def test_staff_of_several_communities_see_each_rows_community(client, community_staff, world):
    # Rows are read as values() with the community's name only when there are several to tell
    # apart: every list of the section names it then.
    StaffRole.objects.create(
        user=community_staff, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shenzhen
    )
    today = timezone.localdate()
    monday, _ = figures.week_bounds()
    Activity.objects.create(
        community=world.shenzhen,
        type=world.cleanup,
        title="翰林苑楼道清理",
        starts_at=monday + dt.timedelta(days=2, hours=9),
        ends_at=monday + dt.timedelta(days=2, hours=11),
    )
    ended = Activity.objects.create(
        community=world.shenzhen,
        type=world.cleanup,
        title="翰林苑昨天的清扫",
        starts_at=timezone.now() - dt.timedelta(days=1, hours=2),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )
    Participation.objects.create(
        activity=ended, member=world.yuanlin_member, source=Participation.Source.SIGN_UP
    )
    agreement = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-TEST-SZ",
        starts_on=today - dt.timedelta(days=10),
        ends_on=today + dt.timedelta(days=100),
        status=Agreement.Status.ACTIVE,
        signed_on=today - dt.timedelta(days=10),
    )
    DutyAssignment.objects.create(agreement=agreement, date=today, member=world.yuanlin_member)
    client.force_login(community_staff)
    html = page(client.get("/"))
    title = html[html.index('id="community-work-title"') :]
    title = title[: title.index("</h2>")]
    assert "胜利一路社区" in title and "深圳路社区" in title and "、" in title
    assert "深圳路社区" in section(html, "week-activities")
    assert "深圳路社区" in section(html, "pending-roll-calls")
    assert f'href="/activities/{ended.pk}/roll-call/"' in section(html, "pending-roll-calls")
    agreements = section(html, "agreements-in-force")
    assert "GJ-TEST-SZ · 深圳路社区" in agreements and "市园林和林业局" in agreements
    on_duty = html[html.index('data-testid="on-duty-today"') :]
    on_duty = on_duty[: on_duty.index("</ul>")]
    assert world.yuanlin_member.name in on_duty and "园林局 · 深圳路社区" in on_duty


def test_an_office_of_several_agencies_sees_each_rows_agency(client, agency_office, world):
    StaffRole.objects.create(
        user=agency_office, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin
    )
    client.force_login(agency_office)
    html = page(client.get("/"))
    inactive = section(html, "inactive-members")
    assert f'href="{reverse("reports:roster_member", args=[world.yuanlin_member.pk])}"' in inactive
    assert "市园林和林业局" in inactive and "三峡旅游新区管委会" in inactive
    assert f"{world.agreement.number} · 三峡旅游新区管委会" in section(html, "agency-agreements")
