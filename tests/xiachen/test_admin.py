"""Every admin page opens, and the busy changelists cost the same queries at any length."""

import datetime as dt
import itertools
import re

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Concern, DutyAssignment, Participation, WorkUpdate
from communities.models import Agreement, Compound, StaffRole
from members.models import Member, PersonalDataView, Registration
from members.privacy import personal_data_viewed
from notifications.models import Notification, NotificationPreference
from reports.certificates import issue
from reports.models import Evaluation, EvaluationObjection, ExportLog

OUR_APPS = {"communities", "members", "activities", "reports"}


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def everything(world, superuser, community_staff, grid_worker, agency_office):
    """The world plus one row of each of our models it lacks."""
    Compound.objects.create(community=world.shengli, name="紫林苑")
    WorkUpdate.objects.create(
        community=world.shengli,
        activity=world.shengli_activity,
        author=community_staff,
        body="沿江巡逻两小时，未发现险情。",
    )
    Concern.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        activity=world.shengli_activity,
        title="楼道灯坏了",
        reported_by=grid_worker,
        handler=community_staff,
    )
    DutyAssignment.objects.create(
        agreement=world.agreement, date=timezone.localdate(), member=world.sanxia_member
    )
    NotificationPreference.objects.create(user=world.sanxia_member.user)
    Notification.objects.create(
        kind=Notification.Kind.UPCOMING,
        channel=Notification.Channel.INAPP,
        recipient=world.sanxia_member.user,
        recipient_name=world.sanxia_member.name,
        recipient_key=f"u{world.sanxia_member.user_id}",
        content_type=ContentType.objects.get_for_model(Activity),
        object_id=world.shengli_activity.pk,
        subject="胜利一路社区：明天防汛巡逻",
        body="明天 9:00 沿江防汛巡逻。",
    )
    ExportLog.objects.create(
        user=agency_office,
        agency=world.sanxia,
        what=ExportLog.What.ROSTER,
        format=ExportLog.Format.XLSX,
        filters={"q": "海燕"},
        rows=1,
    )
    personal_data_viewed(user=agency_office, page=PersonalDataView.Page.ROSTER)
    evaluation = Evaluation.objects.create(
        member=world.sanxia_member,
        community=world.shengli,
        year=timezone.localdate().year,
        rating=Evaluation.Rating.BASIC,
        rated_by=community_staff,
        rated_at=timezone.now(),
    )
    EvaluationObjection.objects.create(
        evaluation=evaluation,
        reason="我参加了巡逻",
        raised_by=world.sanxia_member.user,
        raised_at=timezone.now(),
        rating_before=evaluation.rating,
    )
    issue(
        member=world.sanxia_member,
        first=dt.date(2026, 1, 1),
        last=dt.date(2026, 6, 30),
        issuer=world.sanxia,
        contact="0717-1234567",
        by=agency_office,
    )
    return world


def url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_every_changelist_opens(everything, staff_client):
    assert len(registered()) > 10
    for model, _model_admin in registered():
        response = staff_client.get(url(model, "changelist"))
        assert response.status_code == 200, model._meta.label


def test_every_add_page_opens(everything, staff_client, superuser):
    request = RequestFactory().get("/")
    request.user = superuser
    for model, model_admin in registered():
        response = staff_client.get(url(model, "add"))
        # Some rows are only ever written by code (the notification outbox).
        expected = 200 if model_admin.has_add_permission(request) else 403
        assert response.status_code == expected, model._meta.label


def test_every_change_page_opens(everything, staff_client, city_admin):
    seen = set()
    # The demo's administrator: a superuser who is also the city's administrator.
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save(update_fields=["is_staff", "is_superuser"])
    site = Client()
    site.force_login(city_admin)
    closed = []
    for model, _model_admin in registered():
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        response = staff_client.get(url(model, "change", obj.pk))
        assert response.status_code == 200, model._meta.label
        seen.add(model._meta.app_label + "." + model.__name__)
        # Its "view on site" opens for the administrator (a member's roster page would not).
        on_site = re.search(r'<a href="([^"]+)" class="viewsitelink"', response.content.decode())
        if on_site:
            opened = site.get(on_site.group(1), follow=True)
            if opened.status_code != 200:
                closed.append(f"{model._meta.label}: {opened.redirect_chain} {opened.status_code}")
    ours = {
        model._meta.app_label + "." + model.__name__
        for model, _ in registered()
        if model._meta.app_label in OUR_APPS
    }
    assert ours <= seen, "every model of ours has a row to open"
    assert closed == []


def test_history_pages_open(everything, staff_client):
    for obj in (everything.agreement, everything.shengli_participation):
        assert staff_client.get(url(type(obj), "history", obj.pk)).status_code == 200
    registration = Registration.objects.first()
    assert staff_client.get(url(Registration, "history", registration.pk)).status_code == 200


def test_search_and_every_filter_choice_open(everything, staff_client):
    for model, _model_admin in registered():
        if model._meta.app_label not in OUR_APPS:
            continue
        changelist = url(model, "changelist")
        searched = staff_client.get(changelist, {"q": "胜利"})
        assert searched.status_code == 200, model._meta.label
        counted = staff_client.get(changelist, {"_facets": "True"})
        assert counted.status_code == 200, model._meta.label
        cl = staff_client.get(changelist).context["cl"]
        for spec in cl.filter_specs:
            for choice in spec.choices(cl):
                response = staff_client.get(changelist + choice["query_string"])
                assert response.status_code == 200, (model._meta.label, choice["query_string"])
                assert "e=1" not in response.get("Location", "")


def test_bad_filter_values_do_not_crash(everything, staff_client):
    for params in (
        {"effective_status": "nonsense"},
        {"term": "nonsense"},
        {"starts_on__year": "abc"},
    ):
        response = staff_client.get(url(Agreement, "changelist"), params)
        assert response.status_code in (200, 302), params


# Query counts: rows are added in bulk between two loads of the same changelist.

TODAY = timezone.localdate()


def add_agreements(world, start, count):
    statuses = itertools.cycle(
        [Agreement.Status.DRAFT, Agreement.Status.EXPIRED, Agreement.Status.TERMINATED]
    )
    Agreement.objects.bulk_create(
        Agreement(
            agency=world.yuanlin if i % 2 else world.sanxia,
            community=world.shenzhen if i % 3 else world.shengli,
            number=f"BULK-{i:04d}",
            starts_on=TODAY - dt.timedelta(days=30),
            ends_on=TODAY + dt.timedelta(days=i + 1),
            status=(status := next(statuses)),
            signed_on=None if status == Agreement.Status.DRAFT else TODAY - dt.timedelta(30),
            termination_reason="merged" if status == Agreement.Status.TERMINATED else "",
        )
        for i in range(start, start + count)
    )


def add_members(world, start, count):
    return Member.objects.bulk_create(
        Member(
            agency=world.yuanlin if i % 2 else world.sanxia,
            name=f"成员{i}",
            mobile=f"137{i:08d}",
            residence_community=world.shenzhen,
        )
        for i in range(start, start + count)
    )


def add_registrations(world, start, count):
    members = add_members(world, start, count)
    Registration.objects.bulk_create(
        Registration(
            member=member,
            community=world.shengli,
            grid=world.zilinyuan if i % 2 else world.wanshou,
            applied_on=TODAY,
        )
        for i, member in enumerate(members)
    )


def add_activities(world, start, count):
    now = timezone.now()
    Activity.objects.bulk_create(
        Activity(
            community=world.shengli if i % 2 else world.shenzhen,
            type=world.cleanup if i % 3 else world.patrol,
            title=f"活动{i}",
            starts_at=now - dt.timedelta(hours=i + 2),
            ends_at=now - dt.timedelta(hours=i),
            agreement=world.agreement if i % 2 else None,
            grid=world.zilinyuan if i % 2 else None,
        )
        for i in range(start, start + count)
    )


def add_participations(world, start, count):
    members = add_members(world, start, count)
    Participation.objects.bulk_create(
        Participation(
            activity=world.shengli_activity if i % 2 else world.shenzhen_activity,
            member=member,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )
        for i, member in enumerate(members)
    )


@pytest.mark.parametrize(
    "model, add",
    [
        (Agreement, add_agreements),
        (Member, add_members),
        (Registration, add_registrations),
        (Activity, add_activities),
        (Participation, add_participations),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_changelist_queries_do_not_grow_with_rows(world, staff_client, model, add):
    changelist = url(model, "changelist")
    staff_client.get(changelist)  # warm caches (content types, session) out of the count

    add(world, 0, 10)
    with CaptureQueriesContext(connection) as at_10:
        shown_10 = len(staff_client.get(changelist).context["cl"].result_list)
    add(world, 10, 90)
    with CaptureQueriesContext(connection) as at_100:
        shown_100 = len(staff_client.get(changelist).context["cl"].result_list)

    # Lists of tables that grow with the city show 50 a page (communities.admin.CitySizeList).
    per_page = admin.site.get_model_admin(model).list_per_page
    assert shown_10 >= 10 and shown_100 == min(100, per_page)
    assert len(at_100) == len(at_10), "\n".join(q["sql"] for q in at_100.captured_queries)


def test_staff_roles_list_its_places(everything, staff_client):
    response = staff_client.get(url(StaffRole, "changelist"))
    content = response.content.decode()
    assert "胜利一路社区" in content and "三峡旅游新区管委会" in content


def test_member_list_masks_mobiles(everything, staff_client):
    content = staff_client.get(url(Member, "changelist")).content.decode()
    assert "139****0001" in content
    assert "13900000001" not in content


def test_admin_pages_name_the_sites_icon(everything, staff_client):
    """Else the browser asks for /favicon.ico, which is not there: a 404 in the console of
    every admin page."""
    for page in (reverse("admin:index"), url(Member, "changelist"), reverse("admin:login")):
        assert 'rel="icon"' in staff_client.get(page, follow=True).content.decode(), page
