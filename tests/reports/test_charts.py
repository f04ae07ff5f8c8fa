"""Charts (统计图表): the figures by month, nature, activity type and community on crafted
records, the SVG drawn from them, whose figures each role sees, hostile query strings and the
queries a page costs."""

import datetime as dt
import html as htmllib
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from activities.figures import format_number
from activities.models import Activity, ActivityType, Participation
from communities.models import Community
from communities.permissions import ChartLens
from reports.charts import COMMUNITY_BARS, figures_of, participations_of
from reports.svg import round_ticks
from tests.plans import plan_of

Status = Participation.Status
Nature = Activity.Nature
SVG = "{http://www.w3.org/2000/svg}"
URL = "/charts/"


def _year():
    """Last year: offered whatever today's date, and wholly in the past."""
    return timezone.localdate().year - 1


def _at(year, month, day, hour=9, minute=0):
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


@pytest.fixture
def crafted(world):
    """Records of both agencies in both communities across the year: (member, community, type,
    nature, local start, status, hours). The figures below are worked out from this list."""
    year = _year()
    visit = ActivityType.objects.get(code=ActivityType.Code.VISIT)
    specs = [
        (
            world.sanxia_member,
            world.shengli,
            world.patrol,
            Nature.DUTY,
            _at(year, 3, 2),
            Status.PRESENT,
            "2",
        ),
        (
            world.sanxia_member_2,
            world.shenzhen,
            world.cleanup,
            Nature.VOLUNTEER,
            _at(year, 3, 20),
            Status.PRESENT,
            "1.5",
        ),
        (
            world.sanxia_member,
            world.shengli,
            world.cleanup,
            Nature.VOLUNTEER,
            _at(year, 7, 5),
            Status.PRESENT,
            "3",
        ),
        (
            world.sanxia_member_2,
            world.shengli,
            world.cleanup,
            Nature.VOLUNTEER,
            _at(year, 7, 5),
            Status.ABSENT,
            None,
        ),
        (
            world.sanxia_member_2,
            world.shengli,
            visit,
            Nature.DUTY,
            _at(year, 7, 9),
            Status.LEAVE,
            None,
        ),
        (
            world.sanxia_member,
            world.shenzhen,
            visit,
            Nature.DUTY,
            _at(year, 11, 9),
            Status.SIGNED_UP,
            None,
        ),
        (
            world.sanxia_member_2,
            world.shengli,
            visit,
            Nature.DUTY,
            _at(year, 11, 30),
            Status.PRESENT,
            "2.5",
        ),
        (
            world.yuanlin_member,
            world.shengli,
            world.patrol,
            Nature.DUTY,
            _at(year, 3, 2),
            Status.PRESENT,
            "4",
        ),
        (
            world.yuanlin_member,
            world.shenzhen,
            world.patrol,
            Nature.DUTY,
            _at(year, 12, 1),
            Status.PRESENT,
            "1",
        ),
        # Half past midnight on New Year's Day, local time: the year's January (in UTC it is
        # still the last day of the year before).
        (
            world.sanxia_member,
            world.shengli,
            world.patrol,
            Nature.DUTY,
            _at(year, 1, 1, 0, 30),
            Status.PRESENT,
            "1",
        ),
        # Half past eleven on New Year's Eve the year before: none of this year's.
        (
            world.sanxia_member,
            world.shengli,
            world.patrol,
            Nature.DUTY,
            _at(year - 1, 12, 31, 23, 30),
            Status.PRESENT,
            "5",
        ),
    ]
    for member, community, type_, nature, starts_at, status, hours in specs:
        activity = Activity.objects.create(
            community=community,
            type=type_,
            title=f"{type_.name}{starts_at:%m%d}",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
            nature=nature,
        )
        Participation.objects.create(
            activity=activity,
            member=member,
            status=status,
            hours=Decimal(hours) if hours else None,
            source=Participation.Source.ROLL_CALL,
            leave_reason="出差" if status == Status.LEAVE else "",
        )
    return specs


def _expected(specs, keep, key):
    """DESIGN.md's figures worked out from the crafted list: participations and hours of the
    *present* rows this year that `keep` accepts, by `key` and nature."""
    year = _year()
    counts, hours = defaultdict(Decimal), defaultdict(Decimal)
    for spec in specs:
        member, community, type_, nature, starts_at, status, spec_hours = spec
        local = timezone.localtime(starts_at)
        if status != Status.PRESENT or local.year != year or not keep(spec):
            continue
        counts[(key(spec), nature)] += 1
        hours[(key(spec), nature)] += Decimal(spec_hours)
    return counts, hours


def _month(spec):
    return timezone.localtime(spec[4]).month


def _sanxia(world):
    return lambda spec: spec[0].agency_id == world.sanxia.pk


def test_the_figures_follow_the_design_definitions(world, crafted, agency_office):
    figures = figures_of(
        participations_of(agency_office, ChartLens.AGENCY), year=_year(), months=(1, 12)
    )
    counts, hours = _expected(crafted, _sanxia(world), _month)
    assert len(figures["months"]) == 12
    pairs = zip(figures["months"], figures["hours"], strict=True)
    for number, (row, hour_row) in enumerate(pairs, start=1):
        assert row.duty == counts[(number, Nature.DUTY)]
        assert row.volunteer == counts[(number, Nature.VOLUNTEER)]
        assert hour_row.duty == hours[(number, Nature.DUTY)]
        assert hour_row.volunteer == hours[(number, Nature.VOLUNTEER)]
    assert sum(row.total for row in figures["months"]) == sum(counts.values())
    # The local month: New Year's Day at 00:30 is January's, New Year's Eve the year before's.
    assert figures["months"][0].duty == 1

    by_type, type_hours = _expected(crafted, _sanxia(world), lambda spec: spec[2].name)
    assert {row.label for row in figures["types"]} == {name for name, _n in by_type}
    for row in figures["types"]:
        assert row.duty == by_type[(row.label, Nature.DUTY)]
        assert row.volunteer == by_type[(row.label, Nature.VOLUNTEER)]
        assert (
            row.hours
            == type_hours[(row.label, Nature.DUTY)] + type_hours[(row.label, Nature.VOLUNTEER)]
        )

    by_place, place_hours = _expected(crafted, _sanxia(world), lambda spec: spec[1].name)
    assert {row.label for row in figures["communities"]} == {name for name, _n in by_place}
    for row in figures["communities"]:
        assert (
            row.total
            == by_place[(row.label, Nature.DUTY)] + by_place[(row.label, Nature.VOLUNTEER)]
        )
        assert (
            row.hours
            == place_hours[(row.label, Nature.DUTY)] + place_hours[(row.label, Nature.VOLUNTEER)]
        )


def test_a_period_keeps_to_its_months(world, crafted, agency_office):
    figures = figures_of(
        participations_of(agency_office, ChartLens.AGENCY), year=_year(), months=(7, 9)
    )
    counts, _hours = _expected(crafted, lambda s: _sanxia(world)(s) and 7 <= _month(s) <= 9, _month)
    assert [row.label for row in figures["months"]] == [
        row.label
        for row in figures_of(Participation.objects.none(), year=_year(), months=(7, 9))["months"]
    ]
    assert len(figures["months"]) == 3
    assert sum(row.total for row in figures["months"]) == sum(counts.values())
    assert sum(row.total for row in figures["types"]) == sum(counts.values())


@pytest.mark.parametrize(
    ("persona", "lens", "keep"),
    [
        ("agency_office", ChartLens.AGENCY, lambda w: lambda s: s[0].agency_id == w.sanxia.pk),
        (
            "other_agency_office",
            ChartLens.AGENCY,
            lambda w: lambda s: s[0].agency_id == w.yuanlin.pk,
        ),
        ("community_staff", ChartLens.PLACES, lambda w: lambda s: s[1] == w.shengli),
        ("other_community_staff", ChartLens.PLACES, lambda w: lambda s: s[1] == w.shenzhen),
        ("grid_worker", ChartLens.PLACES, lambda w: lambda s: s[1] == w.shengli),
        (
            "street_officer",
            ChartLens.PLACES,
            lambda w: lambda s: s[1].street_id == w.wanshouqiao.pk,
        ),
        ("city_admin", ChartLens.CITY, lambda w: lambda s: True),
    ],
)
def test_each_role_sees_the_figures_of_its_own_scope(
    client, request, world, crafted, persona, lens, keep
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(URL, {"year": _year()})
    assert response.status_code == 200
    counts, _hours = _expected(crafted, keep(world), _month)
    months = response.context["charts"][0]
    assert months.total.total == sum(counts.values())
    assert response.context["form"].chosen_lens == lens


@pytest.mark.parametrize(
    "query",
    [
        {"lens": "city"},  # not the office's: its own figures instead
        {"lens": "places"},
        {"lens": "<script>"},
        {"year": "1900"},
        {"year": "abc"},
        {"year": "99999999999999999999"},
        {"year": str(timezone.now().year + 1)},
        {"period": "q9"},
        {"period": "h1", "year": "-1"},
        {"year": ["x", "2024"], "lens": ["agency", "city"]},
    ],
)
def test_hostile_parameters_are_reported_and_never_widen_the_scope(
    client, world, crafted, agency_office, query
):
    client.force_login(agency_office)
    response = client.get(URL, query)
    assert response.status_code == 200
    assert b'data-testid="chart-errors"' in response.content
    form = response.context["form"]
    assert form.chosen_lens == ChartLens.AGENCY
    # The office's own members' figures for the period shown, never another agency's.
    first, last = form.chosen_months
    shown = Participation.objects.filter(
        member__agency=world.sanxia,
        status=Status.PRESENT,
        activity__starts_at__year=form.chosen_year,
        activity__starts_at__month__gte=first,
        activity__starts_at__month__lte=last,
    )
    assert response.context["charts"][0].total.total == shown.count()


def test_a_lens_the_viewer_lacks_shows_nothing(world, crafted, agency_office, community_staff):
    assert not participations_of(agency_office, ChartLens.CITY).exists()
    assert not participations_of(agency_office, ChartLens.PLACES).exists()
    assert not participations_of(community_staff, ChartLens.AGENCY).exists()
    assert not participations_of(agency_office, "anything").exists()


def test_the_errors_are_translated(client, world, agency_office):
    client.force_login(agency_office)
    response = client.get(URL, {"year": "abc"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = response.content.decode()
    assert response.status_code == 200
    assert "选择一个有效的选项" in text or "选择有效的选项" in text
    assert "默认" in text


def test_a_period_without_anyone_present_says_so(client, world, crafted, agency_office):
    client.force_login(agency_office)
    empty = client.get(URL, {"year": _year(), "period": "q2"})  # no one present in April–June
    assert b'data-testid="no-figures"' in empty.content
    assert not _bars(_svgs(empty)["months"], Nature.DUTY)
    full = client.get(URL, {"year": _year()})
    assert b'data-testid="no-figures"' not in full.content


def test_the_months_are_named_in_the_viewers_language(client, world, crafted, agency_office):
    client.force_login(agency_office)
    client.cookies["django_language"] = "en"
    # The request switches this thread to English; the block puts Chinese back for the tests
    # that follow.
    with translation.override(settings.LANGUAGE_CODE):
        response = client.get(URL, {"year": _year()}, HTTP_ACCEPT_LANGUAGE="en")
    assert [row.label for row in response.context["charts"][0].rows][:3] == ["Jan", "Feb", "Mar"]
    assert "Participations by month" in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response.url


def test_a_member_without_a_role_may_not_open_the_charts(client, world, member_user):
    client.force_login(member_user)
    assert client.get(URL).status_code == 403


def test_a_post_is_not_allowed(client, world, agency_office):
    client.force_login(agency_office)
    assert client.post(URL).status_code == 405


def test_the_menu_offers_the_charts_to_staff_only(
    client, world, agency_office, community_staff, member_user
):
    for user, offered in ((agency_office, True), (community_staff, True), (member_user, False)):
        client.force_login(user)
        assert (b'href="/charts/"' in client.get("/").content) is offered


# --- The drawing ------------------------------------------------------------------------


SECTION = re.compile(
    r'<section class="xc-chart[^>]*data-testid="chart-(\w+)".*?(<svg class="xc-chart-svg.*?</svg>)',
    re.S,
)


def _svgs(response) -> dict:
    """The charts' SVG elements, parsed as XML, by chart id."""
    text = response.content.decode()
    return {found.group(1): ET.fromstring(found.group(2)) for found in SECTION.finditer(text)}


def _bars(element, nature):
    return [rect for rect in element.iter(f"{SVG}rect") if f"xc-bar-{nature}" in rect.get("class")]


def test_the_svg_is_well_formed_with_a_bar_for_each_figure(client, world, crafted, agency_office):
    client.force_login(agency_office)
    response = client.get(URL, {"year": _year()}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    charts = _svgs(response)
    assert set(charts) == {"months", "hours", "types", "communities"}
    figures = {chart.id: chart for chart in response.context["charts"]}
    for chart_id, element in charts.items():
        assert element.get("role") == "img" and element.get("aria-label")
        assert element.find(f"{SVG}title").text
        rows = figures[chart_id].rows
        for nature in (Nature.DUTY, Nature.VOLUNTEER):
            rects = _bars(element, nature)
            values = [getattr(row, nature) for row in rows if getattr(row, nature)]
            assert [Decimal(rect.get("data-value")) for rect in rects] == values
        # Heights (or widths, lying down) in proportion to the figures, to the drawing's 0.1.
        side = "height" if figures[chart_id].drawing.kind == "columns" else "width"
        rects = _bars(element, Nature.DUTY) + _bars(element, Nature.VOLUNTEER)
        scales = [Decimal(rect.get(side)) / Decimal(rect.get("data-value")) for rect in rects]
        assert scales and max(scales) - min(scales) < Decimal("0.1")
        # The tallest bar fits under the top tick.
        ticks = [Decimal(t.text) for t in element.iter(f"{SVG}text") if "xc-tick" in t.get("class")]
        assert max(row.total for row in rows) <= max(ticks)
    # Chinese labels: the months, the natures in the tables.
    months = charts["months"]
    labels = [t.text for t in months.iter(f"{SVG}text") if "xc-label" in t.get("class")]
    assert labels[0] == "1月" and len(labels) == 12
    assert "下沉任务" in response.content.decode() and "志愿服务" in response.content.decode()


def test_the_tables_hold_the_charts_numbers_with_totals(client, world, crafted, agency_office):
    client.force_login(agency_office)
    response = client.get(URL, {"year": _year()})
    text = response.content.decode()
    for chart in response.context["charts"]:
        table = re.search(rf'data-testid="table-{chart.id}".*?</table>', text, re.S).group(0)
        assert table.count("<tr") == len(chart.rows) + 2  # header, rows, totals
        assert chart.total.total == sum(row.total for row in chart.rows)


def test_names_are_escaped_in_the_drawing_and_the_table(client, world, crafted, agency_office):
    """The drawings and the tables are written in Python (svg.markup, Chart.table_rows): a
    community's name that looks like markup is shown as it is written, the SVG stays XML."""
    name = 'A<b>&"社区"'
    Community.objects.filter(pk=world.shengli.pk).update(name=name)
    client.force_login(agency_office)
    response = client.get(URL, {"year": _year()})
    chart = {chart.id: chart for chart in response.context["charts"]}["communities"]
    row = next(row for row in chart.rows if row.label == name)
    element = _svgs(response)["communities"]
    groups = [g for g in element.iter(f"{SVG}g") if g.find(f"{SVG}title").text.startswith("A<")]
    assert [g.find(f"{SVG}title").text for g in groups] == [f"{name}: {row.total}"]
    (label,) = [t.text for t in groups[0].iter(f"{SVG}text") if "xc-label" in t.get("class")]
    assert label == name[:6] + "…"
    table = re.search(
        r'data-testid="table-communities".*?</table>', response.content.decode(), re.S
    )
    cells = [
        htmllib.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.search(
            r'<th scope="row" class="fw-normal text-break">A&lt;b&gt;&amp;&quot;社区&quot;</th>'
            r"(.*?)</tr>",
            table.group(0),
            re.S,
        )
        .group(1)
        .split("</td>")[:-1]
    ]
    assert cells == [
        format_number(value) for value in (row.duty, row.volunteer, row.total, row.hours)
    ]


def test_the_community_chart_folds_the_quietest_into_one_bar(world, city_admin):
    year = _year()
    communities = Community.objects.bulk_create(
        Community(street=world.dongyuan, name=f"测试{i:02d}社区") for i in range(COMMUNITY_BARS + 3)
    )
    for i, community in enumerate(communities):
        activity = Activity.objects.create(
            community=community,
            type=world.cleanup,
            title="清扫",
            starts_at=_at(year, 5, 1),
            ends_at=_at(year, 5, 1, 11),
        )
        Participation.objects.bulk_create(
            Participation(
                activity=activity,
                member=member,
                status=Status.PRESENT,
                hours=1,
                source=Participation.Source.ROLL_CALL,
            )
            for member in [world.sanxia_member, world.sanxia_member_2, world.yuanlin_member][
                : 1 + i % 3
            ]
        )
    figures = figures_of(participations_of(city_admin, ChartLens.CITY), year=year, months=(1, 12))
    rows = figures["communities"]
    assert len(rows) == COMMUNITY_BARS
    assert (
        sum(row.total for row in rows)
        == Participation.objects.filter(
            status=Status.PRESENT, activity__starts_at__year=year
        ).count()
    )
    assert rows[-1].label == _("Other communities (%(count)d)") % {"count": 4}


@pytest.mark.parametrize(
    ("maximum", "whole", "expected"),
    [
        (0, True, ["0", "1"]),
        (3, True, ["0", "1", "2", "3"]),
        (7, True, ["0", "2", "4", "6", "8"]),
        (95, True, ["0", "50", "100"]),
        (1234, True, ["0", "500", "1000", "1500"]),
        ("0.7", False, ["0", "0.2", "0.4", "0.6", "0.8"]),
    ],
)
def test_the_ticks_are_round(maximum, whole, expected):
    assert [
        format(t.normalize(), "f") for t in round_ticks(Decimal(maximum), whole=whole)
    ] == expected


# --- Queries ----------------------------------------------------------------------------


def _records(world, n):
    year = _year()
    types = list(ActivityType.objects.all())
    communities = [world.shengli, world.shenzhen]
    activities = Activity.objects.bulk_create(
        Activity(
            community=communities[i % 2],
            type=types[i % len(types)],
            title=f"活动{i}",
            starts_at=_at(year, 1 + i % 12, 1 + i % 28),
            ends_at=_at(year, 1 + i % 12, 1 + i % 28, 11),
            nature=Nature.DUTY if i % 3 else Nature.VOLUNTEER,
        )
        for i in range(n)
    )
    Participation.objects.bulk_create(
        Participation(
            activity=a,
            member=world.sanxia_member,
            status=Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )
        for a in activities
    )


@pytest.mark.parametrize("n", [5, 50])
@pytest.mark.parametrize(
    "persona", ["agency_office", "community_staff", "street_officer", "city_admin"]
)
def test_the_page_costs_the_same_queries_with_5_or_50_records(
    request, world, django_assert_num_queries, n, persona
):
    _records(world, n)
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    # The session with its login (one statement), the second factor's device (not for community
    # staff), roles (a street officer's: and the street's communities), the bell, the member
    # record, the summary's time (never refreshed here), the figures counted live.
    queries = 5 + (persona == "street_officer") + (persona != "community_staff")
    with django_assert_num_queries(queries):
        response = client.get(URL, {"year": _year()})
    shown = response.context["charts"][0].total.total
    if persona in ("community_staff", "street_officer"):
        assert shown == sum(1 for i in range(n) if i % 2 == 0)  # 胜利一路社区's activities
    else:
        assert shown == n


@pytest.mark.postgres
@pytest.mark.parametrize(("persona", "lens"), [("agency_office", "agency"), ("city_admin", "city")])
def test_the_figures_are_read_from_the_present_index_alone(request, world, crafted, persona, lens):
    # participation_present holds the hours: a year's present records are counted and summed
    # from the index, never read from the table (at city size, 1.5 million rows). Sequential
    # scans priced out, as tests/xiachen/test_query_plans.py reads plans, so that a few rows
    # stand in for the city.
    with CaptureQueriesContext(connection) as queries:
        figures_of(
            participations_of(request.getfixturevalue(persona), lens), year=_year(), months=(1, 12)
        )
    (sql,) = [q["sql"] for q in queries.captured_queries if "activities_participation" in q["sql"]]
    # Read as a set, as a year of an office's or the city's records is: a few test rows (or
    # statistics that earlier tests left) make a probe per member of its (member, status)
    # rows as cheap (tests/plans.py).
    plan = plan_of(sql, nested_loops=False, bitmaps=False)
    scans = [
        line for line in plan.splitlines() if "Scan" in line and "activities_participation" in line
    ]
    assert scans and all("Index Only Scan using participation_present" in line for line in scans), (
        plan
    )
