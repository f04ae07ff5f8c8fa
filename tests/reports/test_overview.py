"""The street and city overviews (issue 9, point 8): their figures against counts made here
independently of the code under test, who may open them, what hostile parameters get, and a
constant number of queries however many rows there are."""

import datetime as dt
import html as htmllib
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from activities import figures
from activities.models import Activity, Concern, Participation
from communities.models import Agency, Agreement, Community, Street
from members.models import Member, Registration
from reports.models import AgencyMonth, OverviewRefresh
from reports.overview import AGREEMENT_PAGE_SIZE
from reports.summaries import overview_refresh

STREET_URL = "/overview/street/"
CITY_URL = "/overview/city/"
PERIOD = {"start": "2025-03", "end": "2025-05"}
Status = Participation.Status


def local(year, month, day, hour=9, minute=0):
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


def in_period(moment):
    first, after = local(2025, 3, 1, 0), local(2025, 6, 1, 0)
    return first <= moment < after


# --- Crafted data -----------------------------------------------------------------------------


@pytest.fixture
def crafted(world, django_user_model):
    """Activities of 2025 around the period March–May in both streets: on its edges (31 May
    23:30 in, 1 June 00:10 out), a draft and a cancelled one, present / absent / leave /
    signed-up rows; report-ins of both kinds, a pending one, a member who left; concerns in
    every state; a duty agreement of 园林局 with 胜利一路社区 for 2025 with a quota of one."""
    w = world
    w.jianshe = Community.objects.create(street=w.wanshouqiao, name="建设社区")
    w.left_member = Member.objects.create(
        agency=w.sanxia,
        name="赵离开",
        mobile="13900000009",
        status=Member.Status.LEFT,
        left_on=dt.date(2025, 1, 1),
    )
    reg = Registration.Status
    for member, community, kind, status in [
        (
            w.sanxia_member,
            w.jianshe,
            Registration.Kind.RESIDENCE,
            reg.ACTIVE,
        ),  # twice in the street
        (w.yuanlin_member, w.shengli, Registration.Kind.LIAISON, reg.ACTIVE),
        (w.left_member, w.shengli, Registration.Kind.LIAISON, reg.ACTIVE),  # left: not counted
        (w.sanxia_member_2, w.jianshe, Registration.Kind.RESIDENCE, reg.RETURNED),
    ]:
        Registration.objects.create(
            member=member,
            community=community,
            kind=kind,
            status=status,
            applied_on=timezone.localdate(),
            return_reason="不在本社区" if status == reg.RETURNED else "",
        )
    w.duty_agreement = Agreement.objects.create(
        agency=w.yuanlin,
        community=w.shengli,
        number="GJ-TEST-2025",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 12, 31),
        status=Agreement.Status.EXPIRED,
        signed_on=dt.date(2024, 12, 20),
        daily_quota=1,
    )
    Agreement.objects.create(  # a draft counts nowhere
        agency=w.yuanlin,
        community=w.jianshe,
        number="GJ-TEST-DRAFT",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 12, 31),
    )
    A = Activity.Status
    plan = [
        # (community, start, status, nature, agreement, [(member, status, hours)])
        (
            w.shengli,
            local(2025, 2, 27),
            A.FINISHED,
            "volunteer",
            None,
            [(w.sanxia_member, Status.PRESENT, 3)],
        ),
        (
            w.shengli,
            local(2025, 3, 1, 0, 5),
            A.FINISHED,
            "duty",
            w.duty_agreement,
            [(w.yuanlin_member, Status.PRESENT, 2), (w.sanxia_member, Status.ABSENT, None)],
        ),
        (
            w.shengli,
            local(2025, 3, 1, 15),
            A.FINISHED,
            "duty",
            w.duty_agreement,
            [(w.yuanlin_member, Status.LEAVE, None)],
        ),
        (
            w.shengli,
            local(2025, 4, 10),
            A.FINISHED,
            "duty",
            w.duty_agreement,
            [
                (w.yuanlin_member, Status.PRESENT, Decimal("1.5")),
                (w.sanxia_member_2, Status.PRESENT, 2),
            ],
        ),
        (
            w.shengli,
            local(2025, 5, 31, 23, 30),
            A.FINISHED,
            "duty",
            w.duty_agreement,
            [(w.yuanlin_member, Status.PRESENT, 1)],
        ),
        (
            w.shengli,
            local(2025, 6, 1, 0, 10),
            A.FINISHED,
            "duty",
            w.duty_agreement,
            [(w.yuanlin_member, Status.PRESENT, 4)],
        ),
        (w.shengli, local(2025, 4, 2), A.CANCELLED, "volunteer", None, []),
        (w.shengli, local(2025, 4, 3), A.DRAFT, "volunteer", None, []),
        (
            w.jianshe,
            local(2025, 3, 20),
            A.FINISHED,
            "volunteer",
            None,
            [
                (w.sanxia_member, Status.PRESENT, Decimal("2.5")),
                (w.sanxia_member_2, Status.SIGNED_UP, None),
                (w.left_member, Status.PRESENT, 1),
            ],
        ),
        (
            w.shenzhen,
            local(2025, 5, 5),
            A.FINISHED,
            "volunteer",
            None,
            [(w.yuanlin_member, Status.PRESENT, 3), (w.sanxia_member_2, Status.ABSENT, None)],
        ),
    ]
    for n, (community, starts, status, nature, agreement, rows) in enumerate(plan):
        activity = Activity.objects.create(
            community=community,
            type=w.patrol,
            title=f"活动{n}",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=2),
            status=status,
            nature=nature,
            agreement=agreement,
        )
        for member, row_status, hours in rows:
            Participation.objects.create(
                activity=activity,
                member=member,
                status=row_status,
                hours=hours,
                leave_reason="出差" if row_status == Status.LEAVE else "",
                source=Participation.Source.ROLL_CALL,
            )
    reporter = django_user_model.objects.create_user(username="reporter", password="x")
    for community, state in [
        (w.shengli, Concern.State.OPEN),
        (w.shengli, Concern.State.FORWARDED),
        (w.shengli, Concern.State.RESOLVED),
        (w.jianshe, Concern.State.OPEN),
        (w.shenzhen, Concern.State.OPEN),
    ]:
        Concern.objects.create(
            community=community,
            title="路灯不亮",
            state=state,
            reported_by=reporter,
            resolution="已修好" if state == Concern.State.RESOLVED else "",
        )
    overview_refresh()
    return w


# --- Independent counts -------------------------------------------------------------------------


def expected_community(community):
    """The community's figures for PERIOD, counted row by row here."""
    activities = [
        a
        for a in Activity.objects.filter(community=community)
        if in_period(a.starts_at)
        and a.status not in (Activity.Status.DRAFT, Activity.Status.CANCELLED)
    ]
    present = [
        p
        for p in Participation.objects.filter(activity__community=community, status=Status.PRESENT)
        if in_period(p.activity.starts_at)
    ]
    reported = {
        r.member_id
        for r in Registration.objects.filter(community=community, status=Registration.Status.ACTIVE)
        if r.member.status == Member.Status.ACTIVE
    }
    return {
        "reported_in": len(reported),
        "activities": len(activities),
        "present": len(present),
        "hours": sum((p.hours or 0 for p in present), Decimal(0)),
        "open_concerns": sum(
            1
            for c in Concern.objects.filter(community=community)
            if c.state != Concern.State.RESOLVED
        ),
        "agreements": sum(
            1
            for a in Agreement.objects.filter(community=community)
            if a.status in (Agreement.Status.ACTIVE, Agreement.Status.EXPIRED)
            and a.starts_on <= dt.date(2025, 5, 31)
            and a.ends_on >= dt.date(2025, 3, 1)
        ),
    }


def expected_agency(agency):
    members = [m for m in Member.objects.filter(agency=agency) if m.status == Member.Status.ACTIVE]
    reported = [
        m
        for m in members
        if any(
            r.kind == Registration.Kind.LIAISON and r.status == Registration.Status.ACTIVE
            for r in m.registrations.all()
        )
    ]
    rows = [
        p
        for p in Participation.objects.filter(member__agency=agency)
        if in_period(p.activity.starts_at)
    ]
    present = [p for p in rows if p.status == Status.PRESENT]
    absent = [p for p in rows if p.status == Status.ABSENT]
    return {
        "active_members": len(members),
        "reported_in": len(reported),
        "report_in_rate": figures.format_rate(figures.rate(len(reported), len(members))),
        "present": len(present),
        "hours": sum((p.hours or 0 for p in present), Decimal(0)),
        "attendance_rate": figures.format_rate(
            figures.rate(len(present), len(present) + len(absent))
        ),
    }


# --- Reading the page -------------------------------------------------------------------------


def rows_of(html):
    """{row pk: {figure: text}} of the overview table's rows."""
    table = html.split('data-testid="overview-table"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for pk, body in re.findall(r'<tr data-pk="(\d+)">(.*?)</tr>', table, re.S):
        cells = re.findall(r'data-figure="(\w+)">(.*?)</td>', body, re.S)
        rows[int(pk)] = {
            key: htmllib.unescape(re.sub(r"<[^>]+>", "", value)).strip() for key, value in cells
        }
    return rows


def totals_of(html):
    foot = html.split('data-testid="overview-totals"', 1)[1].split("</tfoot>", 1)[0]
    cells = re.findall(r'data-total="(\w+)"[^>]*>(.*?)</td>', foot, re.S)
    return {key: re.sub(r"<[^>]+>", "", value).strip() for key, value in cells}


def shown(value):
    return figures.format_number(value)


def get(client, user, url, data=None):
    client.force_login(user)
    return client.get(url, data or {})


# --- Figures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture_name", ["street_officer", "city_admin"])
def test_a_streets_communities_show_the_periods_figures_counted_independently(
    client, crafted, request, fixture_name
):
    user = request.getfixturevalue(fixture_name)
    response = get(client, user, STREET_URL, {**PERIOD, "street": crafted.wanshouqiao.pk})
    assert response.status_code == 200
    rows = rows_of(response.content.decode())
    assert set(rows) == {crafted.shengli.pk, crafted.jianshe.pk}  # not 深圳路社区 (东苑街道)
    for community in (crafted.shengli, crafted.jianshe):
        expected = expected_community(community)
        assert rows[community.pk] == {key: shown(value) for key, value in expected.items()}
    # The crafted data is not trivial: the period's edges and every kind of row count.
    assert expected_community(crafted.shengli)["present"] == 4
    assert expected_community(crafted.shengli)["activities"] == 4


def test_the_streets_totals_count_each_member_once(client, crafted, street_officer):
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    totals = totals_of(html)
    members = {
        r.member_id
        for r in Registration.objects.filter(
            community__street=crafted.wanshouqiao, status=Registration.Status.ACTIVE
        )
        if r.member.status == Member.Status.ACTIVE
    }
    # 李建华 reported in to both communities of the street: once in the total.
    assert totals["reported_in"] == shown(len(members)) == "2"
    per_community = [expected_community(c) for c in (crafted.shengli, crafted.jianshe)]
    for key in ("activities", "present", "hours", "open_concerns", "agreements"):
        assert totals[key] == shown(sum(row[key] for row in per_community)), key


def test_the_agreements_show_duty_fulfilment_counted_day_by_day(client, crafted, street_officer):
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    agreement = crafted.duty_agreement
    days = set()
    for p in Participation.objects.filter(
        activity__agreement=agreement, activity__nature=Activity.Nature.DUTY, status=Status.PRESENT
    ):
        day = timezone.localtime(p.activity.starts_at).date()
        if p.member.agency_id == agreement.agency_id and dt.date(2025, 3, 1) <= day <= dt.date(
            2025, 5, 31
        ):
            days.add(day)
    period_days = (dt.date(2025, 5, 31) - dt.date(2025, 3, 1)).days + 1
    table = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<tr data-pk="{agreement.pk}">(.*?)</tr>', table, re.S).group(1)
    assert f"{len(days)} / {period_days}" in row
    assert figures.format_rate(figures.rate(len(days), period_days)) in row
    assert len(days) == 3  # 1 March, 10 April, 31 May; 1 June is outside
    # The draft agreement is not listed; the world's agreement began after the period.
    assert "GJ-TEST-DRAFT" not in html


def test_the_city_by_agency_shows_designs_report_in_rate(client, crafted, city_admin):
    html = get(client, city_admin, CITY_URL, {**PERIOD, "by": "agency"}).content.decode()
    rows = rows_of(html)
    for agency in (crafted.sanxia, crafted.yuanlin):
        expected = expected_agency(agency)
        row = rows[agency.pk]
        for key in ("active_members", "reported_in", "present", "hours"):
            assert row[key] == shown(expected[key]), key
        assert row["report_in_rate"] == expected["report_in_rate"]
        assert row["attendance_rate"] == expected["attendance_rate"]
    totals = totals_of(html)
    everyone = [expected_agency(a) for a in Agency.objects.all()]
    active = sum(e["active_members"] for e in everyone)
    reported = sum(e["reported_in"] for e in everyone)
    assert totals["report_in_rate"] == figures.format_rate(figures.rate(reported, active))
    assert totals["present"] == shown(sum(e["present"] for e in everyone))


def test_the_city_by_street_and_by_community(client, crafted, city_admin):
    html = get(client, city_admin, CITY_URL, {**PERIOD, "by": "community"}).content.decode()
    rows = rows_of(html)
    for community in Community.objects.all():
        expected = expected_community(community)
        assert rows[community.pk] == {key: shown(value) for key, value in expected.items()}
    html = get(client, city_admin, CITY_URL, PERIOD).content.decode()
    rows = rows_of(html)
    for street in Street.objects.all():
        communities = [expected_community(c) for c in street.communities.all()]
        for key in ("activities", "present", "hours", "open_concerns", "agreements"):
            assert rows[street.pk][key] == shown(sum(c[key] for c in communities)), key
        assert rows[street.pk]["communities"] == shown(len(communities))
    assert totals_of(html)["reported_in"] == shown(
        Registration.objects.reported_in().values("member").distinct().count()
    )


def test_a_period_is_whole_months_and_this_year_by_default(client, crafted, street_officer):
    rows = rows_of(
        get(
            client, street_officer, STREET_URL, {"start": "2025-06", "end": "2025-06"}
        ).content.decode()
    )
    assert rows[crafted.shengli.pk]["present"] == "1"  # 1 June 00:10 only
    assert rows[crafted.shengli.pk]["hours"] == "4"
    html = get(client, street_officer, STREET_URL).content.decode()
    year = timezone.localdate().year
    assert f"{year}-01" in html and f"{year}-12" in html


def test_a_sort_orders_the_rows_and_a_second_click_turns_it_round(client, crafted, street_officer):
    html = get(client, street_officer, STREET_URL, {**PERIOD, "sort": "-present"}).content.decode()
    order = list(rows_of(html))
    assert order == [crafted.shengli.pk, crafted.jianshe.pk]  # 4 before 2
    assert 'aria-sort="descending"' in html
    html = get(client, street_officer, STREET_URL, {**PERIOD, "sort": "present"}).content.decode()
    assert list(rows_of(html)) == [crafted.jianshe.pk, crafted.shengli.pk]


def test_figures_link_to_the_records_behind_them(client, crafted, street_officer, city_admin):
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    link = (
        f"/activities/?community={crafted.shengli.pk}"
        "&amp;date_from=2025-03-01&amp;date_to=2025-05-31"
    )
    assert link in html
    response = client.get(htmllib.unescape(link))
    assert response.status_code == 200
    # The street officer's concern list is their street's unresolved concerns.
    assert "/activities/concerns/?state=unresolved" in html
    # The report-in desk is the city administrator's, not the street officer's.
    assert "/members/?community=" not in html
    html = get(
        client, city_admin, STREET_URL, {**PERIOD, "street": crafted.wanshouqiao.pk}
    ).content.decode()
    assert f"/members/?community={crafted.shengli.pk}" in html


def test_each_rows_agreements_link_keeps_the_page_and_chooses_its_community(
    client, crafted, street_officer, city_admin
):
    """The rows and the agreements are written by the view: each community's agreement count
    links to the agreements of that community, the list's period and sort kept, the
    agreements' page dropped; staff see each agency linked to the agreement's admin page."""
    params = {**PERIOD, "sort": "-present", "apage": "2", "q": "中 &x"}
    html = get(client, street_officer, STREET_URL, params).content.decode()
    table = html.split('data-testid="overview-table"', 1)[1].split("</tbody>", 1)[0]
    for community in (crafted.shengli, crafted.jianshe):
        row = re.search(rf'<tr data-pk="{community.pk}">(.*?)</tr>', table, re.S).group(1)
        link = re.search(r'data-figure="agreements"><a href="([^"]*)">', row).group(1)
        assert htmllib.unescape(link) == (
            f"?start=2025-03&end=2025-05&sort=-present&q=%E4%B8%AD+%26x&community={community.pk}"
            "#agreements"
        )
    # The street officer may not open the agreements' admin.
    agreements = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    assert crafted.yuanlin.name in agreements and "/admin/" not in agreements
    # Followed, the link lists that community's agreements, chosen in the filter.
    response = client.get(STREET_URL, {**PERIOD, "community": crafted.shengli.pk})
    html = response.content.decode()
    assert f'<option value="{crafted.shengli.pk}" selected>{crafted.shengli.name}</option>' in html
    assert f'<option value="{crafted.jianshe.pk}">{crafted.jianshe.name}</option>' in html
    agreements = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-pk="(\d+)">', agreements) == [str(crafted.duty_agreement.pk)]
    city_admin.is_staff = True
    city_admin.save()
    html = get(
        client, city_admin, STREET_URL, {**PERIOD, "street": crafted.wanshouqiao.pk}
    ).content.decode()
    agreements = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    admin = f"/admin/communities/agreement/{crafted.duty_agreement.pk}/change/"
    assert f'<a href="{admin}">{crafted.yuanlin.name}</a>' in agreements


def test_names_in_the_rows_are_shown_as_written(client, crafted, street_officer):
    """The rows are written in Python: a community's and an agency's name that look like markup
    are escaped in the communities' rows, the agreements' rows and the filter's options."""
    Community.objects.filter(pk=crafted.shengli.pk).update(name='A<b>&"社区"')
    Agency.objects.filter(pk=crafted.yuanlin.pk).update(name="园林<i>局</i>")
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    escaped = "A&lt;b&gt;&amp;&quot;社区&quot;"
    table = html.split('data-testid="overview-table"', 1)[1].split("</tbody>", 1)[0]
    row = re.search(rf'<tr data-pk="{crafted.shengli.pk}">(.*?)</tr>', table, re.S).group(1)
    assert re.search(
        rf'<th scope="row" class="text-nowrap"><a href="[^"]+">{escaped}</a></th>', row
    )
    agreements = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<tr data-pk="{crafted.duty_agreement.pk}">(.*?)</tr>', agreements).group(1)
    assert f'<td class="text-nowrap">{escaped}</td>' in row
    assert '<td class="text-nowrap">园林&lt;i&gt;局&lt;/i&gt;</td>' in row
    assert f'<option value="{crafted.shengli.pk}">{escaped}</option>' in html
    assert "<b>" not in html and "<i>局" not in html


def test_the_agreements_are_paged_by_the_streets_count_or_the_communitys(
    client, crafted, street_officer
):
    """The street's agreements are counted once, in its totals, and paged by that number; a
    community chosen in the filter pages its own."""
    agencies = Agency.objects.bulk_create(
        Agency(name=f"分页单位{n}") for n in range(AGREEMENT_PAGE_SIZE)
    )
    Agreement.objects.bulk_create(
        Agreement(
            agency=agency,
            community=crafted.jianshe,
            number=f"GJ-PAGE-{n:02d}",
            starts_on=dt.date(2025, 1, 1),
            ends_on=dt.date(2025, 12, 31),
            status=Agreement.Status.ACTIVE,
            signed_on=dt.date(2025, 1, 1),
        )
        for n, agency in enumerate(agencies)
    )
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    counted = agreements_of_period_count(crafted)
    assert counted > AGREEMENT_PAGE_SIZE
    assert totals_of(html)["agreements"] == str(counted)
    assert "第 1 / 2 页" in html.split('id="agreements"', 1)[1]
    second = get(client, street_officer, STREET_URL, {**PERIOD, "apage": "2"}).content.decode()
    table = second.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r"<tr data-pk=", table)) == counted - AGREEMENT_PAGE_SIZE
    html = get(
        client, street_officer, STREET_URL, {**PERIOD, "community": crafted.shengli.pk}
    ).content.decode()
    agreements = html.split('id="agreements"', 1)[1]
    assert "第 1 / 2 页" not in agreements and "page-link" not in agreements


def agreements_of_period_count(crafted):
    return Agreement.objects.filter(
        community__street=crafted.wanshouqiao,
        status__in=[Agreement.Status.ACTIVE, Agreement.Status.EXPIRED],
        starts_on__lte=dt.date(2025, 5, 31),
        ends_on__gte=dt.date(2025, 3, 1),
    ).count()


# --- The refresh --------------------------------------------------------------------------------


def test_figures_stay_as_refreshed_until_the_next_refresh_and_say_when(
    client, crafted, street_officer
):
    before = rows_of(get(client, street_officer, STREET_URL, PERIOD).content.decode())
    activity = Activity.objects.filter(community=crafted.jianshe).first()
    Participation.objects.create(
        activity=activity,
        member=crafted.yuanlin_member,
        status=Status.PRESENT,
        hours=5,
        source=Participation.Source.BACKFILL,
        backfill_reason="补录",
    )
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    assert rows_of(html) == before
    refresh = OverviewRefresh.objects.latest()
    assert timezone.localtime(refresh.made_at).strftime("%Y-%m-%d %H:%M") in html
    call_command("refresh_overviews", stdout=open("/dev/null", "w"))
    after = rows_of(get(client, street_officer, STREET_URL, PERIOD).content.decode())
    assert after[crafted.jianshe.pk] == {
        key: shown(value) for key, value in expected_community(crafted.jianshe).items()
    }
    assert after[crafted.jianshe.pk] != before[crafted.jianshe.pk]


def test_a_refresh_run_twice_gives_the_same_rows(crafted):
    first = sorted(
        AgencyMonth.objects.values_list("agency", "month", "present", "absent", "leaves", "hours")
    )
    overview_refresh()
    assert (
        sorted(
            AgencyMonth.objects.values_list(
                "agency", "month", "present", "absent", "leaves", "hours"
            )
        )
        == first
    )
    assert OverviewRefresh.objects.count() == 2


def test_before_any_refresh_the_page_says_the_figures_are_coming(client, world, street_officer):
    html = get(client, street_officer, STREET_URL).content.decode()
    assert "尚未" in html or "not been computed" in html


# --- Who may open them ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [STREET_URL, CITY_URL])
def test_anonymous_visitors_are_sent_to_log_in(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response.url


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "agency_office", "member_user"]
)
def test_other_roles_may_open_neither_overview(client, world, request, persona):
    user = request.getfixturevalue(persona)
    for url in (STREET_URL, CITY_URL):
        assert get(client, user, url).status_code == 403


def test_a_street_officer_sees_only_their_street(client, crafted, street_officer):
    assert get(client, street_officer, CITY_URL).status_code == 403
    for street in (str(crafted.dongyuan.pk), "abc", "99999999999999999999", "-1"):
        assert get(client, street_officer, STREET_URL, {"street": street}).status_code == 404
    html = get(client, street_officer, STREET_URL, PERIOD).content.decode()
    assert crafted.shenzhen.name not in html
    # Another street's community as the agreements' filter shows none of its agreements.
    Agreement.objects.create(
        agency=crafted.sanxia,
        community=crafted.shenzhen,
        number="GJ-OTHER-STREET",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 12, 31),
        status=Agreement.Status.ACTIVE,
        signed_on=dt.date(2025, 1, 1),
    )
    response = get(client, street_officer, STREET_URL, {**PERIOD, "community": crafted.shenzhen.pk})
    assert response.status_code == 200
    assert "GJ-OTHER-STREET" not in response.content.decode()
    assert crafted.shenzhen.name not in rows_of(response.content.decode())


def test_the_city_administrator_opens_any_street(client, crafted, city_admin):
    response = get(client, city_admin, STREET_URL, {"street": crafted.dongyuan.pk, **PERIOD})
    assert set(rows_of(response.content.decode())) == {crafted.shenzhen.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"start": "abc"},
        {"end": "2025-13"},
        {"start": "1900-01"},
        {"start": "2025-05", "end": "2025-03"},
        {"sort": "password"},
        {"sort": "-hours;drop table"},
        {"page": "x"},
        {"page": "-5"},
        {"apage": "1e9"},
        {"community": "abc"},
        {"start": "2025-03\x00"},
    ],
)
def test_hostile_parameters_get_a_clear_message_never_a_500(
    client, crafted, street_officer, city_admin, params
):
    response = get(client, street_officer, STREET_URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    if not set(params) <= {"page", "apage"}:
        assert 'data-testid="overview-errors"' in html or 'data-testid="agreement-errors"' in html
    for by in ("street", "agency", "community"):
        response = get(client, city_admin, CITY_URL, {**params, "by": by})
        assert response.status_code == 200


def test_an_unknown_city_breakdown_is_reported_in_chinese(client, world, city_admin):
    html = get(client, city_admin, CITY_URL, {"by": "<script>"}).content.decode()
    assert "<script>" not in html.split('data-testid="overview-title"')[1]
    assert "无法按此方式显示" in html


def test_the_menu_offers_each_overview_to_its_role(
    client, world, street_officer, city_admin, community_staff
):
    assert "/overview/street/" in get(client, street_officer, "/").content.decode()
    assert "/overview/city/" not in get(client, street_officer, "/").content.decode()
    html = get(client, city_admin, "/").content.decode()
    assert "/overview/city/" in html and "/overview/street/" in html
    assert "/overview/" not in get(client, community_staff, "/").content.decode()


# --- Queries ----------------------------------------------------------------------------------


def _grow(world, communities, agencies):
    """More communities in 万寿桥街道, agencies with members and agreements, and months."""
    made = Community.objects.bulk_create(
        Community(street=world.wanshouqiao, name=f"新社区{n}") for n in range(communities)
    )
    new_agencies = Agency.objects.bulk_create(Agency(name=f"新单位{n}") for n in range(agencies))
    Member.objects.bulk_create(
        Member(agency=agency, name=f"党员{n}", mobile=f"137{n:08d}")
        for n, agency in enumerate(new_agencies)
    )
    Agreement.objects.bulk_create(
        Agreement(
            agency=agency,
            community=made[n % len(made)],
            number=f"GJ-GROW-{n}",
            starts_on=dt.date(2025, 1, 1),
            ends_on=dt.date(2025, 12, 31),
            status=Agreement.Status.ACTIVE,
            signed_on=dt.date(2025, 1, 1),
        )
        for n, agency in enumerate(new_agencies)
    )
    overview_refresh()


PAGES = [
    ("street_officer", STREET_URL, {}),
    ("street_officer", STREET_URL, {"sort": "-present", "page": "2"}),
    ("city_admin", CITY_URL, {}),
    ("city_admin", CITY_URL, {"by": "agency", "sort": "-attendance_rate"}),
    ("city_admin", CITY_URL, {"by": "agency", "page": "999"}),
    ("city_admin", CITY_URL, {"by": "community", "sort": "-hours"}),
]


@pytest.mark.parametrize("persona, url, params", PAGES)
def test_the_overviews_cost_the_same_queries_at_any_size(
    client, crafted, request, django_assert_max_num_queries, persona, url, params
):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    params = {**PERIOD, **params}
    client.get(url, params)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url, params).status_code == 200
    _grow(crafted, communities=60, agencies=120)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url, params)
    assert response.status_code == 200
    assert len(large) == len(small) <= 15
    # The large city pages: 62 communities and 122 agencies at 50 a page.
    if "agency" in params.get("by", "") or url == STREET_URL:
        assert "page-link" in response.content.decode()
