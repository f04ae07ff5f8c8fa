"""Login, logout, language switch, error pages and the role-aware dashboard (工作台)."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.views import defaults

from activities import figures
from activities.models import Activity, Concern, Participation
from communities.models import Agency, Agreement, Community, StaffRole
from members.models import Member, Registration
from tests.conftest import make_user

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def page(response):
    return response.content.decode()


def figure_shown(html, key):
    """The text of the element marked data-figure="key" (a stat tile)."""
    match = re.search(rf'data-figure="{key}">([^<]*)<', html)
    assert match, f"no figure {key} on the page"
    return match.group(1).strip()


def midweek(days=2, hour=9):
    """A time in this calendar week whatever today is, so "this week" tests never flake."""
    monday, _ = figures.week_bounds()
    return monday + dt.timedelta(days=days, hours=hour)


# --- Login, logout and language -------------------------------------------------------------


def test_home_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_login_page_is_in_chinese_by_default(client):
    html = page(client.get("/login/"))
    assert '<html lang="zh-hans">' in html
    # Django's own zh_Hans catalogue: "Log in", the field labels.
    assert "登录" in html
    assert "用户名" in html
    assert "密码" in html
    # The language switch is there before logging in.
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="en"' in html


def test_switching_to_english_and_back_changes_the_page(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    html = page(client.get("/login/"))
    assert '<html lang="en">' in html
    assert "Log in" in html
    assert "登录" not in html

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    html = page(client.get("/login/"))
    assert '<html lang="zh-hans">' in html
    assert "登录" in html


def test_the_language_switch_keeps_the_current_page(client, community_staff):
    client.force_login(community_staff)
    html = page(client.get("/?tab=1"))
    assert '<input type="hidden" name="next" value="/?tab=1">' in html


def test_a_wrong_password_shows_an_error_in_chinese(client, community_staff):
    response = client.post("/login/", {"username": "shengli_staff", "password": "wrong"})
    assert response.status_code == 200
    html = page(response)
    assert "用户名（或手机号）与密码不匹配" in html
    assert "alert" in html
    assert "_auth_user_id" not in client.session


def test_the_right_password_lands_on_the_dashboard(client, community_staff):
    response = client.post("/login/", {"username": "shengli_staff", "password": "pw-shengli_staff"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert page(client.get("/")).count('id="community-work"') == 1


def test_a_logged_in_user_visiting_login_goes_home(client, community_staff):
    client.force_login(community_staff)
    response = client.get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout_is_a_post_form_that_logs_out(client, community_staff):
    client.force_login(community_staff)
    html = page(client.get("/"))
    assert re.search(r'<form method="post" action="/logout/"', html)
    assert re.search(
        r'action="/logout/"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken"', html
    )

    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_logout_by_get_is_refused_and_keeps_the_session(client, community_staff):
    client.force_login(community_staff)
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200


def test_login_without_csrf_token_is_forbidden(community_staff):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "shengli_staff", "password": "pw-shengli_staff"})
    assert response.status_code == 403


# --- Layout and static files ----------------------------------------------------------------


def test_every_static_file_of_the_base_layout_exists():
    source = (TEMPLATES / "base.html").read_text()
    referenced = re.findall(r"{% static '([^']+)' %}", source)
    assert "vendor/bootstrap/css/bootstrap.min.css" in referenced
    assert "vendor/bootstrap/js/bootstrap.bundle.min.js" in referenced
    for path in referenced:
        assert finders.find(path), f"{path} is missing"


def test_vendored_bootstrap_keeps_its_licence():
    css = Path(finders.find("vendor/bootstrap/css/bootstrap.min.css")).read_text()[:300]
    js = Path(finders.find("vendor/bootstrap/js/bootstrap.bundle.min.js")).read_text()[:300]
    assert "Bootstrap  v5.3" in css and "Licensed under MIT" in css
    assert "Bootstrap v5.3" in js and "Licensed under MIT" in js
    assert finders.find("vendor/bootstrap/LICENSE")


def test_no_template_loads_anything_from_a_cdn():
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', source), template


def test_the_layout_is_made_for_phones(client, community_staff):
    client.force_login(community_staff)
    html = page(client.get("/"))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="navbar-toggler"' in html
    assert 'data-bs-target="#main-nav"' in html


def test_the_admin_link_is_for_staff_users_only(client, community_staff, superuser):
    client.force_login(community_staff)
    assert 'href="/admin/"' not in page(client.get("/"))
    client.force_login(superuser)
    assert 'href="/admin/"' in page(client.get("/"))


def test_the_navbar_names_the_user_and_their_roles(client, member_user, agency_office):
    client.force_login(member_user)
    html = page(client.get("/"))
    assert re.search(r'data-testid="current-user">\s*李建华 · ', html)
    client.force_login(agency_office)
    html = page(client.get("/"))
    assert re.search(r'data-testid="current-user">\s*sanxia_office · ', html)


# --- Error pages ----------------------------------------------------------------------------


def test_an_unknown_page_is_a_404_in_the_layout(client, community_staff):
    client.force_login(community_staff)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = page(response)
    assert 'data-testid="error-404"' in html
    assert "<title>" in html and "404" in html
    assert 'action="/logout/"' in html


def test_the_403_page_renders_in_the_layout(db):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    response = defaults.permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert 'data-testid="error-403"' in page(response)


def test_the_500_page_needs_no_context_and_no_database():
    # No `db` fixture: any query would fail the test.
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = page(response)
    assert 'data-testid="error-500"' in html
    assert "vendor/bootstrap/css/bootstrap.min.css" in html


# --- The dashboard, one persona at a time ---------------------------------------------------

SECTIONS = ["city-overview", "street-communities", "community-work", "agency-office", "my-record"]

PERSONAS = [
    # persona, its sections, shown, not shown (another scope's data)
    ("city_admin", ["city-overview"], [], []),
    ("superuser", ["city-overview"], [], []),
    ("street_officer", ["street-communities"], ["胜利一路社区"], ["深圳路社区"]),
    (
        "community_staff",
        ["community-work"],
        ["胜利一路社区", "三峡旅游新区管委会", "GJ-TEST-001"],
        ["翰林苑环境清扫", "深圳路社区", "陈思远"],
    ),
    ("grid_worker", ["community-work"], ["胜利一路社区"], ["翰林苑环境清扫", "深圳路社区"]),
    (
        "other_community_staff",
        ["community-work"],
        ["深圳路社区"],
        ["沿江防汛巡逻", "胜利一路社区", "三峡旅游新区管委会"],
    ),
    (
        "agency_office",
        ["agency-office"],
        ["三峡旅游新区管委会", "王海燕", "GJ-TEST-001"],
        ["陈思远", "市园林和林业局"],
    ),
    ("other_agency_office", ["agency-office"], ["市园林和林业局", "陈思远"], ["李建华", "王海燕"]),
    ("member_user", ["my-record"], ["李建华", "胜利一路社区"], ["陈思远", "翰林苑环境清扫"]),
    (
        "other_member_user",
        ["my-record"],
        ["陈思远", "翰林苑环境清扫", "深圳路社区"],
        ["李建华", "沿江防汛巡逻", "胜利一路社区"],
    ),
]


@pytest.mark.parametrize(("persona", "sections", "shown", "hidden"), PERSONAS)
def test_each_role_sees_its_section_and_nothing_outside_its_scope(
    db, client, request, persona, sections, shown, hidden
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get("/")
    assert response.status_code == 200
    html = page(response)
    for section in SECTIONS:
        assert (f'id="{section}"' in html) == (section in sections), section
    assert 'id="no-role"' not in html
    for text in shown:
        assert text in html, text
    for text in hidden:
        assert text not in html, text


def test_a_user_without_a_role_is_told_to_ask_for_one(client, world, django_user_model):
    client.force_login(make_user(django_user_model, "newcomer"))
    html = page(client.get("/"))
    assert 'id="no-role"' in html
    for section in SECTIONS:
        assert f'id="{section}"' not in html
    for text in ["胜利一路社区", "深圳路社区", "李建华", "陈思远"]:
        assert text not in html


def test_a_person_with_several_roles_sees_each_section(client, world, member_user):
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shengli
    )
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    client.force_login(member_user)
    html = page(client.get("/"))
    for section in ["community-work", "agency-office", "my-record"]:
        assert f'id="{section}"' in html
    assert 'id="street-communities"' not in html


def test_city_figures(client, city_admin, world):
    Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-DRAFT",
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + dt.timedelta(days=365),
    )
    client.force_login(city_admin)
    html = page(client.get("/"))
    expected = {
        "streets": "2",
        "communities": "2",
        "agencies": "2",
        "members": "3",
        "agreements_active": "1",
        "agreements_expiring": "0",
        "agreements_drafts": "1",
    }
    assert {key: figure_shown(html, key) for key in expected} == expected


def test_street_figures(client, street_officer, world):
    client.force_login(street_officer)
    html = page(client.get("/"))
    # 李建华 reported in to 胜利一路社区; 王海燕 is still pending.
    assert figure_shown(html, "reported_in") == "1"
    # The patrol started 3 hours ago: this month unless the month began since.
    patrol_this_month = world.shengli_activity.starts_at >= figures.month_bounds()[0]
    assert figure_shown(html, "activities_this_month") == ("1" if patrol_this_month else "0")
    assert "深圳路社区" not in html


def test_community_figures_and_this_weeks_activities(
    client, community_staff, world, django_user_model
):
    mine = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="紫林苑楼道清理",
        starts_at=midweek(),
        ends_at=midweek() + dt.timedelta(hours=2),
    )
    Activity.objects.create(
        community=world.shenzhen,
        type=world.cleanup,
        title="翰林苑楼道清理",
        starts_at=midweek(),
        ends_at=midweek() + dt.timedelta(hours=2),
    )
    ended = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="已结束待点名",
        starts_at=timezone.now() - dt.timedelta(days=3),
        ends_at=timezone.now() - dt.timedelta(days=3) + dt.timedelta(hours=1),
    )
    Participation.objects.create(
        activity=ended, member=world.sanxia_member_2, source=Participation.Source.SIGN_UP
    )
    # Present, so that it is not waiting for roll call whether or not it is over yet.
    Participation.objects.create(
        activity=mine,
        member=world.sanxia_member_2,
        status=Participation.Status.PRESENT,
        hours=2,
        source=Participation.Source.ROLL_CALL,
    )
    reporter = make_user(django_user_model, "reporter")
    Concern.objects.create(community=world.shengli, title="路灯坏了", reported_by=reporter)
    Concern.objects.create(community=world.shenzhen, title="井盖松动", reported_by=reporter)

    client.force_login(community_staff)
    html = page(client.get("/"))
    assert "紫林苑楼道清理" in html
    assert "翰林苑楼道清理" not in html
    assert figure_shown(html, "pending_roll_call") == "1"
    assert figure_shown(html, "pending_registrations") == "1"  # 王海燕
    assert figure_shown(html, "open_concerns") == "1"


def test_a_grid_worker_sees_their_grids_activities_first_and_marked(client, grid_worker, world):
    for title, grid, day in [
        ("万寿小区门岗", world.wanshou, 0),
        ("紫林苑入户宣传", world.zilinyuan, 5),
    ]:
        Activity.objects.create(
            community=world.shengli,
            grid=grid,
            type=world.cleanup,
            title=title,
            starts_at=midweek(days=day),
            ends_at=midweek(days=day) + dt.timedelta(hours=1),
        )
    client.force_login(grid_worker)
    html = page(client.get("/"))
    assert html.index("紫林苑入户宣传") < html.index("万寿小区门岗")
    items = re.findall(
        r'<li class="list-group-item( xc-mine)?">\s*<div[^>]*>\s*<span[^>]*>([^<]+)<', html
    )
    marked = {title: bool(mine) for mine, title in items}
    assert marked["紫林苑入户宣传"] is True
    assert marked["万寿小区门岗"] is False
    # Marked ones first: once an unmarked item appears no marked one follows.
    flags = [bool(mine) for mine, _title in items]
    assert flags == sorted(flags, reverse=True)


def test_agency_figures(client, agency_office, world):
    client.force_login(agency_office)
    html = page(client.get("/"))
    assert figure_shown(html, "active_members") == "2"
    assert figure_shown(html, "report_in_rate") == "50%"  # 李建华 of 李建华 and 王海燕
    assert figure_shown(html, "inactive_count") == "1"  # 王海燕
    shown_month = (figure_shown(html, "participations_month"), figure_shown(html, "hours_month"))
    patrol_this_month = world.shengli_activity.starts_at >= figures.month_bounds()[0]
    assert shown_month == (("1", "2") if patrol_this_month else ("0", "0"))


def test_an_agency_without_members_shows_a_dash_for_its_rate(client, world, django_user_model):
    empty = Agency.objects.create(name="市民宗委")
    user = make_user(django_user_model, "minzong_office")
    StaffRole.objects.create(user=user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=empty)
    client.force_login(user)
    html = page(client.get("/"))
    assert figure_shown(html, "report_in_rate") == "—"
    assert figure_shown(html, "active_members") == "0"


def test_member_figures(client, member_user, world):
    absent = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="缺席的那次",
        starts_at=timezone.now() - dt.timedelta(days=2),
        ends_at=timezone.now() - dt.timedelta(days=2) + dt.timedelta(hours=1),
    )
    Participation.objects.create(
        activity=absent,
        member=world.sanxia_member,
        status=Participation.Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
    upcoming = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="下周入户宣传",
        starts_at=timezone.now() + dt.timedelta(days=6),
        ends_at=timezone.now() + dt.timedelta(days=6, hours=2),
    )
    Participation.objects.create(
        activity=upcoming, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )
    client.force_login(member_user)
    html = page(client.get("/"))
    assert figure_shown(html, "my_participations") == "1"
    assert figure_shown(html, "my_hours") == "2"
    assert figure_shown(html, "my_attendance_rate") == "50%"
    assert "下周入户宣传" in html
    assert "缺席的那次" not in html  # past, and not a sign-up


def test_a_member_with_no_record_yet_sees_a_dash(client, other_member_user):
    client.force_login(other_member_user)
    html = page(client.get("/"))
    assert figure_shown(html, "my_attendance_rate") == "—"
    assert figure_shown(html, "my_participations") == "0"


# --- A fixed number of queries per role -----------------------------------------------------


def grow(world, n, start):
    """n more of everything a dashboard lists or counts, in every scope."""
    now = timezone.now()
    in_week = midweek()
    communities = Community.objects.bulk_create(
        Community(street=world.wanshouqiao, name=f"新社区{start + i}") for i in range(n)
    )
    sanxia = Member.objects.bulk_create(
        Member(agency=world.sanxia, name=f"三峡{start + i}", mobile=f"1350000{start + i:04d}")
        for i in range(n)
    )
    yuanlin = Member.objects.bulk_create(
        Member(agency=world.yuanlin, name=f"园林{start + i}", mobile=f"1360000{start + i:04d}")
        for i in range(n)
    )
    Registration.objects.bulk_create(
        [
            Registration(
                member=member,
                community=world.shengli,
                status=Registration.Status.ACTIVE if i % 2 else Registration.Status.PENDING,
                applied_on=now.date(),
            )
            for i, member in enumerate(sanxia)
        ]
        + [
            Registration(
                member=member,
                community=world.shenzhen,
                status=Registration.Status.ACTIVE,
                applied_on=now.date(),
            )
            for member in yuanlin
        ]
    )
    agencies = Agency.objects.bulk_create(Agency(name=f"共建单位{start + i}") for i in range(n))
    pairs = [(world.sanxia, community) for community in communities]
    pairs += [(agency, world.shengli) for agency in agencies]
    pairs += [(agency, world.shenzhen) for agency in agencies]
    Agreement.objects.bulk_create(
        Agreement(
            agency=agency,
            community=community,
            number=f"GJ-GROW-{start}-{i}",
            starts_on=now.date() - dt.timedelta(days=10),
            ends_on=now.date() + dt.timedelta(days=20 + i),
            status=Agreement.Status.ACTIVE,
            signed_on=now.date() - dt.timedelta(days=10),
        )
        for i, (agency, community) in enumerate(pairs)
    )

    def activities(community, grid, when):
        return Activity.objects.bulk_create(
            Activity(
                community=community,
                grid=grid if i % 2 else None,
                type=world.cleanup,
                title=f"活动{start + i}",
                starts_at=when + dt.timedelta(minutes=i),
                ends_at=when + dt.timedelta(minutes=i, hours=1),
            )
            for i in range(n)
        )

    week_shengli = activities(world.shengli, world.zilinyuan, in_week)
    past_shengli = activities(world.shengli, world.zilinyuan, now - dt.timedelta(days=3))
    future_shengli = activities(world.shengli, world.wanshou, now + dt.timedelta(days=1))
    past_shenzhen = activities(world.shenzhen, world.hanlinyuan, now - dt.timedelta(days=3))
    future_shenzhen = activities(world.shenzhen, world.hanlinyuan, now + dt.timedelta(days=1))
    present, signed_up = Participation.Status.PRESENT, Participation.Status.SIGNED_UP
    rows = []
    for i in range(n):
        rows += [
            (week_shengli[i], sanxia[i], signed_up),
            (past_shengli[i], sanxia[i], present),
            (past_shengli[i], world.sanxia_member, present if i % 2 else signed_up),
            (future_shengli[i], world.sanxia_member, signed_up),
            (past_shenzhen[i], yuanlin[i], present),
            (past_shenzhen[i], world.yuanlin_member, Participation.Status.ABSENT),
            (future_shenzhen[i], world.yuanlin_member, signed_up),
        ]
    Participation.objects.bulk_create(
        Participation(
            activity=activity,
            member=member,
            status=status,
            hours=2 if status == present else None,
            source=Participation.Source.ROLL_CALL,
        )
        for activity, member, status in rows
    )
    reporter = world.sanxia_member.user
    Concern.objects.bulk_create(
        Concern(community=community, title=f"民情{start + i}", reported_by=reporter)
        for i in range(n)
        for community in (world.shengli, world.shenzhen)
    )


QUERY_PERSONAS = [name for name, *_ in PERSONAS] + ["no_role"]


@pytest.mark.parametrize("persona", QUERY_PERSONAS)
def test_the_dashboard_runs_the_same_queries_for_5_and_for_50_rows(
    db, client, request, world, django_user_model, persona
):
    if persona == "no_role":
        user = make_user(django_user_model, "newcomer")
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    grow(world, 5, start=0)
    small = count_queries()
    grow(world, 45, start=100)
    large = count_queries()
    assert small == large
    assert large <= 16, f"{persona}: {large} queries"


def test_the_health_check_answers_without_login(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"  # each check: tests/xiachen/test_views.py


def test_the_ui_is_chinese_even_for_an_english_browser_until_english_is_chosen(client, db):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "登录" in page and 'lang="zh-hans"' in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="en"' in page
