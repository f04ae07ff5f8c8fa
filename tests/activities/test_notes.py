"""Work updates (工作动态) and residents' concerns (民情): who may post, the lists, a concern's
way from open to resolved."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Concern, Participation, WorkUpdate
from activities.services.notes import (
    concern_create,
    concern_forward,
    concern_reopen,
    concern_resolve,
    may_post,
    posting_communities,
    work_update_create,
)
from activities.views.notes import person_name
from communities.models import StaffRole
from communities.permissions import scope_of
from members.models import Member, Registration
from notifications.models import Notification, NotificationPreference
from tests.conftest import make_user

UPDATES = reverse("activities:work_update_list")
NEW_UPDATE = reverse("activities:work_update_create")
CONCERNS = reverse("activities:concern_list")
NEW_CONCERN = reverse("activities:concern_create")

State = Concern.State


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


def detail(concern):
    return reverse("activities:concern_detail", args=[concern.pk])


def page(response):
    return response.content.decode()


def raise_concern(world, by, *, title="路灯不亮", grid=None, community=None, age_days=0, **extra):
    """A concern as a manager raises it (no permission check needed), `age_days` old."""
    concern = Concern.objects.create(
        community=community or world.shengli,
        grid=grid,
        title=title,
        reported_by=by,
        **extra,
    )
    if age_days:
        Concern.objects.filter(pk=concern.pk).update(
            created_at=timezone.now() - dt.timedelta(days=age_days)
        )
        concern.refresh_from_db()
    return concern


def post_update(world, author, body="清理了楼道", community=None, **extra):
    return WorkUpdate.objects.create(
        community=community or world.shengli, author=author, body=body, **extra
    )


@pytest.fixture
def pending_member_user(world, django_user_model):
    """A member whose report-in to 胜利一路社区 is still pending: sees it, may not post."""
    user = make_user(django_user_model, "pending_member")
    member = Member.objects.create(
        agency=world.sanxia, name="赵小明", mobile="13900000009", user=user
    )
    Registration.objects.create(
        member=member, community=world.shengli, applied_on=timezone.localdate()
    )
    return user


# --- Who may open what ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [UPDATES, NEW_UPDATE, CONCERNS, NEW_CONCERN])
def test_pages_send_anonymous_visitors_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_posts_send_anonymous_visitors_to_login(client, world, community_staff):
    concern = raise_concern(world, community_staff)
    for url, data in [
        (NEW_UPDATE, {"body": "x"}),
        (NEW_CONCERN, {"title": "x"}),
        (detail(concern), {"action": "resolve", "resolve-resolution": "ok"}),
    ]:
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    assert not WorkUpdate.objects.exists()
    assert Concern.objects.get().state == State.OPEN


def test_the_concern_page_of_another_community_is_404(client, world, other_community_staff):
    concern = raise_concern(world, make_user_for(world))
    client.force_login(other_community_staff)
    assert client.get(detail(concern)).status_code == 404
    response = client.post(detail(concern), {"action": "resolve", "resolve-resolution": "ok"})
    assert response.status_code == 404
    assert Concern.objects.get().state == State.OPEN


def make_user_for(world):
    return world.sanxia_member.user


def test_an_unknown_concern_is_404(client, community_staff):
    client.force_login(community_staff)
    assert client.get("/activities/concerns/999999/").status_code == 404


@pytest.mark.parametrize("url", [NEW_UPDATE, NEW_CONCERN, UPDATES])
def test_another_communitys_activity_is_404(client, world, community_staff, url):
    client.force_login(community_staff)
    response = client.get(url, {"activity": world.shenzhen_activity.pk})
    assert response.status_code == 404


@pytest.mark.parametrize("url", [NEW_UPDATE, NEW_CONCERN])
@pytest.mark.parametrize("query", [{"activity": "abc"}, {"activity": "999999"}, {"community": "x"}])
def test_a_bad_activity_or_community_in_the_link_is_404_not_500(
    client, world, community_staff, url, query
):
    client.force_login(community_staff)
    assert client.get(url, query).status_code == 404


def test_another_communitys_updates_are_not_listed(client, world, community_staff, grid_worker):
    post_update(world, grid_worker, body="胜利一路的动态")
    post_update(world, community_staff, body="深圳路的动态", community=world.shenzhen)
    client.force_login(community_staff)
    html = page(client.get(UPDATES))
    assert "胜利一路的动态" in html
    assert "深圳路的动态" not in html


@pytest.mark.parametrize("persona", ["agency_office", "street_officer", "pending_member_user"])
def test_people_who_may_see_but_not_post_get_403(client, world, request, persona):
    client.force_login(request.getfixturevalue(persona))
    query = {"activity": world.shengli_activity.pk}
    for url in (NEW_UPDATE, NEW_CONCERN):
        assert client.get(url, query).status_code == 403, url
        response = client.post(f"{url}?activity={world.shengli_activity.pk}", {"body": "x"})
        assert response.status_code == 403, url
    assert not WorkUpdate.objects.exists()
    assert not Concern.objects.exists()


@pytest.mark.parametrize("persona", ["member_user", "agency_office", "street_officer"])
def test_only_managers_change_a_concerns_state(client, world, request, persona, grid_worker):
    concern = raise_concern(world, world.sanxia_member.user)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail(concern)).status_code == 200
    for data in (
        {"action": "forward", "forward-forwarded_to": "街道城管科"},
        {"action": "resolve", "resolve-resolution": "已修好"},
    ):
        assert client.post(detail(concern), data).status_code == 403
    concern.refresh_from_db()
    assert concern.state == State.OPEN


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "member_user", "agency_office", "city_admin"]
)
def test_the_lists_open_for_people_in_scope(client, world, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(UPDATES).status_code == 200
    assert client.get(CONCERNS).status_code == 200


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker", "member_user"])
def test_the_forms_open_for_people_who_may_post(client, world, request, persona):
    client.force_login(request.getfixturevalue(persona))
    for url in (NEW_UPDATE, NEW_CONCERN):
        response = client.get(url, {"activity": world.shengli_activity.pk})
        assert response.status_code == 200, url
        assert "沿江防汛巡逻" in page(response)


def test_someone_who_may_post_nowhere_gets_403(client, world, django_user_model):
    client.force_login(make_user(django_user_model, "newcomer"))
    assert client.get(NEW_UPDATE).status_code == 403
    assert client.get(NEW_CONCERN).status_code == 403


def test_posts_without_a_csrf_token_are_forbidden(world, grid_worker):
    concern = raise_concern(world, grid_worker)
    client = Client(enforce_csrf_checks=True)
    client.force_login(grid_worker)
    assert client.post(NEW_UPDATE, {"body": "清理了楼道"}).status_code == 403
    assert client.post(NEW_CONCERN, {"title": "路灯不亮"}).status_code == 403
    response = client.post(detail(concern), {"action": "resolve", "resolve-resolution": "已修好"})
    assert response.status_code == 403
    assert not WorkUpdate.objects.exists()
    assert Concern.objects.count() == 1
    concern.refresh_from_db()
    assert concern.state == State.OPEN


# --- Work updates ---------------------------------------------------------------------------


def test_a_grid_worker_posts_an_update_about_an_activity(client, world, grid_worker):
    client.force_login(grid_worker)
    url = f"{NEW_UPDATE}?activity={world.shengli_activity.pk}"
    form = client.get(url).context["form"]
    assert form["activity"].value() == world.shengli_activity.pk

    response = client.post(
        url, {"activity": world.shengli_activity.pk, "body": "  巡查江堤2公里，无险情  "}
    )
    assert response.status_code == 302
    assert response["Location"] == UPDATES
    update = WorkUpdate.objects.get()
    assert update.author == grid_worker
    assert update.community == world.shengli
    assert update.activity == world.shengli_activity
    assert update.body == "巡查江堤2公里，无险情"
    html = page(client.get(UPDATES))
    assert "巡查江堤2公里，无险情" in html
    assert "shengli_grid" in html  # the author
    assert "沿江防汛巡逻" in html  # the activity


def test_a_reported_in_member_posts_an_update(client, world, member_user):
    client.force_login(member_user)
    response = client.post(NEW_UPDATE, {"body": "走访了3户"})
    assert response.status_code == 302
    update = WorkUpdate.objects.get()
    assert (update.community, update.author, update.activity) == (world.shengli, member_user, None)
    html = page(client.get(UPDATES))
    assert "走访了3户" in html
    assert "李建华" in html and "三峡旅游新区" in html


def test_a_member_who_took_part_may_post_about_that_activity_only(client, world, django_user_model):
    user = make_user(django_user_model, "helper")
    member = Member.objects.create(
        agency=world.sanxia, name="孙志强", mobile="13900000010", user=user
    )
    Participation.objects.create(
        activity=world.shengli_activity,
        member=member,
        status=Participation.Status.PRESENT,
        source=Participation.Source.ROLL_CALL,
    )
    client.force_login(user)
    url = f"{NEW_UPDATE}?activity={world.shengli_activity.pk}"
    response = client.post(url, {"activity": world.shengli_activity.pk, "body": "巡逻完毕"})
    assert response.status_code == 302
    assert WorkUpdate.objects.get().author == user
    # Without an activity there is no community they may post to.
    assert client.get(NEW_UPDATE).status_code == 403
    assert not may_post(user, world.shengli)


def test_the_lists_name_people_as_their_pages_do(
    client, world, community_staff, member_user, django_user_model
):
    """The lists read their rows as values(): each author and reporter is named as
    person_name() names a login — the member's name, else the full name, else the username."""
    named = make_user(django_user_model, "named", first_name="Wei", last_name="Zhang")
    bare = make_user(django_user_model, "bare_login")
    authors = {"member": member_user, "named": named, "bare": bare}
    for key, author in authors.items():
        post_update(world, author, body=key)
        raise_concern(world, author, title=key)
    client.force_login(community_staff)
    updates = {u.body: u for u in client.get(UPDATES).context["page"]}
    concerns = {c.title: c for c in client.get(CONCERNS).context["page"]}
    assert {key: updates[key].author_name for key in authors} == {
        "member": "李建华",
        "named": "Wei Zhang",
        "bare": "bare_login",
    }
    for key, author in authors.items():
        assert updates[key].author_name == concerns[key].reporter_name == person_name(author)
    assert {key: updates[key].author_agency for key in authors} == {
        "member": "三峡旅游新区",
        "named": "",
        "bare": "",
    }


def test_the_lists_write_moments_on_the_local_day(client, world, community_staff):
    """The lists write their dates in the view (once a day for a page): the day and time are
    Shanghai's, as the template filters wrote them, not UTC's."""
    moment = dt.datetime(2024, 5, 1, 17, 30, tzinfo=dt.UTC)  # 2 May, 01:30 in Shanghai
    concern = raise_concern(world, community_staff, title="深夜的")
    update = post_update(world, community_staff, body="深夜的动态")
    Concern.objects.filter(pk=concern.pk).update(created_at=moment)
    WorkUpdate.objects.filter(pk=update.pk).update(created_at=moment)
    client.force_login(community_staff)
    assert re.search(r"· 05/02/2024\s", page(client.get(CONCERNS)))
    assert '<time datetime="2024-05-02T01:30:00+08:00">' in page(client.get(UPDATES))


def test_an_empty_update_or_an_unknown_activity_is_refused_keeping_the_text(
    client, world, grid_worker
):
    client.force_login(grid_worker)
    response = client.post(NEW_UPDATE, {"body": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["body"]

    response = client.post(NEW_UPDATE, {"activity": "999999", "body": "巡查江堤"})
    assert response.status_code == 200
    assert "activity" in response.context["form"].errors
    assert "巡查江堤" in page(response)

    response = client.post(NEW_UPDATE, {"activity": world.shenzhen_activity.pk, "body": "巡查"})
    assert "activity" in response.context["form"].errors
    assert not WorkUpdate.objects.exists()


def test_the_update_list_is_newest_first_and_paginated(client, world, grid_worker):
    now = timezone.now()
    for i in range(25):
        update = post_update(world, grid_worker, body=f"动态{i:02d}")
        WorkUpdate.objects.filter(pk=update.pk).update(created_at=now - dt.timedelta(hours=i))
    client.force_login(grid_worker)
    first = client.get(UPDATES).context["page"]
    assert [u.body for u in first][:3] == ["动态00", "动态01", "动态02"]
    assert len(first) == 20
    second = client.get(UPDATES, {"page": 2}).context["page"]
    assert [u.body for u in second] == [f"动态{i:02d}" for i in range(20, 25)]


def test_the_update_list_narrows_to_one_activity(client, world, grid_worker):
    post_update(world, grid_worker, body="巡逻动态", activity=world.shengli_activity)
    post_update(world, grid_worker, body="别的动态")
    client.force_login(grid_worker)
    response = client.get(UPDATES, {"activity": world.shengli_activity.pk})
    assert [u.body for u in response.context["page"]] == ["巡逻动态"]


def test_members_see_updates_of_communities_they_reported_in_to(
    client, world, grid_worker, other_community_staff, member_user, other_member_user
):
    post_update(world, grid_worker, body="胜利一路的动态")
    post_update(world, other_community_staff, body="深圳路的动态", community=world.shenzhen)
    client.force_login(member_user)
    assert [u.body for u in client.get(UPDATES).context["page"]] == ["胜利一路的动态"]
    client.force_login(other_member_user)
    assert [u.body for u in client.get(UPDATES).context["page"]] == ["深圳路的动态"]


def test_where_one_may_post_is_found_by_the_member_record_read_with_the_roles(
    world, agency_office, street_officer, member_user, django_assert_num_queries
):
    """The concern and update lists ask it on every page: staff without a member record (an
    agency office, a street officer) may post nowhere without a query; a member's report-ins
    are still found, and so are a staff member's who is also a member."""
    for staff in (agency_office, street_officer):
        scope_of(staff)
        with django_assert_num_queries(0):
            assert not posting_communities(staff).exists()
    scope_of(member_user)
    with django_assert_num_queries(1):
        assert list(posting_communities(member_user)) == [world.shengli]
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    office_member = type(member_user).objects.get(pk=member_user.pk)
    assert list(posting_communities(office_member)) == [world.shengli]


def test_the_update_service_refuses_someone_who_may_not_post(world, agency_office):
    with pytest.raises(ValidationError) as caught:
        work_update_create(author=agency_office, community=world.shengli, body="x")
    assert "胜利一路社区" in caught.value.messages[0]
    assert not WorkUpdate.objects.exists()


# --- Raising concerns -----------------------------------------------------------------------


def test_a_member_raises_a_concern_and_the_grid_worker_hears_of_it(
    client, world, member_user, grid_worker, community_staff
):
    client.force_login(member_user)
    form = client.get(NEW_CONCERN).context["form"]
    assert form["grid"].value() == world.zilinyuan.pk  # the grid the member reported in to

    response = client.post(
        NEW_CONCERN,
        {
            "title": "3栋路灯不亮",
            "description": "晚上看不清台阶",
            "location": "紫林苑3栋",
            "grid": world.zilinyuan.pk,
        },
    )
    concern = Concern.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail(concern)
    assert (concern.state, concern.reported_by, concern.grid) == (
        State.OPEN,
        member_user,
        world.zilinyuan,
    )
    told = Notification.objects.filter(object_id=concern.pk, channel=Notification.Channel.INAPP)
    assert [n.recipient for n in told] == [grid_worker]  # the grid's worker, not all staff
    assert told[0].kind == Notification.Kind.CONCERN_RAISED
    assert told[0].subject == "New resident concern: 3栋路灯不亮"  # the site's language here
    assert told[0].url.endswith(detail(concern))
    # The member sees their own concern.
    assert client.get(detail(concern)).status_code == 200
    assert [c.pk for c in client.get(CONCERNS).context["page"]] == [concern.pk]


def test_a_concern_without_grid_workers_goes_to_the_community_staff(
    world, member_user, community_staff
):
    concern = concern_create(
        reported_by=member_user, community=world.shengli, title="垃圾未清", grid=world.wanshou
    )
    told = Notification.objects.filter(object_id=concern.pk, channel=Notification.Channel.INAPP)
    assert [n.recipient for n in told] == [community_staff]


def test_raising_forwarding_and_resolving_say_who_could_not_be_told(
    client, world, member_user, grid_worker
):
    # The grid worker and the member chose only the group robot; 胜利一路社区 has none.
    for user in (grid_worker, member_user):
        NotificationPreference.objects.create(user=user, inapp=False, email=False, webhook=True)
    not_told = (
        "Not told, as no channel reaches them: {} (chose only the group robot, and there is none "
        "here)."
    )
    client.force_login(member_user)
    response = client.post(NEW_CONCERN, {"title": "3栋路灯不亮", "grid": world.zilinyuan.pk})
    concern = Concern.objects.get()
    html = page(client.get(response["Location"]))
    assert "The concern is recorded" in html
    assert not_told.format("shengli_grid") in html

    client.force_login(grid_worker)
    for action, data in (
        ("forward", {"forward-forwarded_to": "街道城管科"}),
        ("resolve", {"resolve-resolution": "已更换灯泡"}),
    ):
        response = client.post(detail(concern), {"action": action, **data})
        html = page(client.get(response["Location"]))
        assert not_told.format("李建华") in html, action
    unreachable = Notification.objects.filter(state=Notification.State.UNREACHABLE)
    assert sorted(unreachable.values_list("kind", flat=True)) == [
        Notification.Kind.CONCERN_FORWARDED,
        Notification.Kind.CONCERN_RAISED,
        Notification.Kind.CONCERN_RESOLVED,
    ]


def test_a_concern_from_another_communitys_grid_is_refused(client, world, grid_worker):
    client.force_login(grid_worker)
    response = client.post(NEW_CONCERN, {"title": "路灯不亮", "grid": world.hanlinyuan.pk})
    assert response.status_code == 200
    assert "grid" in response.context["form"].errors
    assert "路灯不亮" in page(response)
    assert not Concern.objects.exists()
    with pytest.raises(ValidationError):
        concern_create(
            reported_by=grid_worker, community=world.shengli, title="x", grid=world.hanlinyuan
        )


def test_a_concern_needs_a_title(client, world, grid_worker):
    client.force_login(grid_worker)
    response = client.post(NEW_CONCERN, {"title": "", "location": "紫林苑3栋"})
    assert response.status_code == 200
    assert "title" in response.context["form"].errors
    assert "紫林苑3栋" in page(response)
    assert not Concern.objects.exists()


# --- A concern's states ---------------------------------------------------------------------


def test_forwarding_then_resolving_records_who_where_and_how(
    client, world, grid_worker, community_staff, member_user
):
    concern = raise_concern(world, member_user, grid=world.zilinyuan)
    client.force_login(grid_worker)
    response = client.post(
        detail(concern), {"action": "forward", "forward-forwarded_to": "街道城管科"}
    )
    assert response.status_code == 302
    concern.refresh_from_db()
    assert (concern.state, concern.forwarded_to, concern.handler) == (
        State.FORWARDED,
        "街道城管科",
        grid_worker,
    )

    response = client.post(
        detail(concern),
        {
            "action": "resolve",
            "resolve-resolution": "城管科已更换灯泡",
            "resolve-handler": community_staff.pk,
        },
    )
    assert response.status_code == 302
    concern.refresh_from_db()
    assert concern.state == State.RESOLVED
    assert concern.resolution == "城管科已更换灯泡"
    assert concern.handler == community_staff
    assert concern.resolved_at is not None
    subjects = list(
        Notification.objects.filter(
            recipient=member_user, channel=Notification.Channel.INAPP
        ).values_list("subject", flat=True)
    )
    assert len(subjects) == 2  # the reporter heard of both steps
    html = page(client.get(detail(concern)))
    assert "城管科已更换灯泡" in html
    assert "街道城管科" in html


def test_resolving_without_a_note_is_refused_with_a_clear_message(client, world, grid_worker):
    concern = raise_concern(world, grid_worker)
    client.force_login(grid_worker)
    response = client.post(detail(concern), {"action": "resolve", "resolve-resolution": "  "})
    assert response.status_code == 200
    assert "a resolved concern needs a note" in page(response)
    concern.refresh_from_db()
    assert concern.state == State.OPEN
    with pytest.raises(ValidationError) as caught:
        concern_resolve(concern=concern, by=grid_worker, resolution="")
    assert "resolution" in caught.value.message_dict


def test_forwarding_needs_where_to_and_keeps_the_other_fields(client, world, grid_worker):
    concern = raise_concern(world, grid_worker)
    client.force_login(grid_worker)
    response = client.post(detail(concern), {"action": "forward", "forward-forwarded_to": ""})
    assert response.status_code == 200
    assert "Say where the concern was forwarded to." in page(response)
    concern.refresh_from_db()
    assert concern.state == State.OPEN


def test_a_handler_from_outside_the_community_is_refused(
    client, world, grid_worker, other_community_staff, django_user_model
):
    concern = raise_concern(world, grid_worker)
    client.force_login(grid_worker)
    for handler in (other_community_staff.pk, "999999", "abc"):
        response = client.post(
            detail(concern),
            {"action": "resolve", "resolve-resolution": "已处理", "resolve-handler": handler},
        )
        assert response.status_code == 200
        assert "handler" in response.context["resolve_form"].errors
        assert "已处理" in page(response)  # what was typed is kept
    concern.refresh_from_db()
    assert concern.state == State.OPEN
    with pytest.raises(ValidationError):
        concern_resolve(
            concern=concern, by=grid_worker, resolution="x", handler=other_community_staff
        )


def test_an_unknown_action_is_an_error_not_a_change(client, world, grid_worker):
    concern = raise_concern(world, grid_worker)
    client.force_login(grid_worker)
    response = client.post(detail(concern), {"action": "delete"})
    assert response.status_code == 200
    assert "Choose what to do with the concern." in page(response)
    assert Concern.objects.filter(pk=concern.pk, state=State.OPEN).exists()


def test_the_state_machine(world, grid_worker):
    concern = raise_concern(world, grid_worker)
    # open → resolved directly (settled on the spot)
    concern = concern_resolve(concern=concern, by=grid_worker, resolution="当场解决")
    assert concern.state == State.RESOLVED
    with pytest.raises(ValidationError):
        concern_resolve(concern=concern, by=grid_worker, resolution="again")
    with pytest.raises(ValidationError):
        concern_forward(concern=concern, by=grid_worker, forwarded_to="城管科")
    # resolved → open again (never forwarded), the earlier note kept until the next one
    concern = concern_reopen(concern=concern, by=grid_worker)
    assert (concern.state, concern.resolved_at, concern.resolution) == (
        State.OPEN,
        None,
        "当场解决",
    )
    with pytest.raises(ValidationError):
        concern_reopen(concern=concern, by=grid_worker)
    # open → forwarded → forwarded again → resolved → reopened as forwarded
    concern = concern_forward(concern=concern, by=grid_worker, forwarded_to="城管科")
    concern = concern_forward(concern=concern, by=grid_worker, forwarded_to="街道办")
    assert (concern.state, concern.forwarded_to) == (State.FORWARDED, "街道办")
    concern = concern_resolve(concern=concern, by=grid_worker, resolution="已修")
    concern = concern_reopen(concern=concern, by=grid_worker)
    assert concern.state == State.FORWARDED


def test_reopening_from_the_page(client, world, grid_worker):
    concern = raise_concern(world, grid_worker)
    concern_resolve(concern=concern, by=grid_worker, resolution="已修")
    client.force_login(grid_worker)
    assert client.post(detail(concern), {"action": "reopen"}).status_code == 302
    concern.refresh_from_db()
    assert concern.state == State.OPEN
    # Reopening an open concern is refused with a message, not a 500.
    response = client.post(detail(concern), {"action": "reopen"}, follow=True)
    assert "Only a resolved concern can be reopened." in page(response)


def test_the_state_services_refuse_people_who_do_not_manage(world, grid_worker, member_user):
    concern = raise_concern(world, member_user)
    with pytest.raises(ValidationError):
        concern_forward(concern=concern, by=member_user, forwarded_to="城管科")
    with pytest.raises(ValidationError):
        concern_resolve(concern=concern, by=member_user, resolution="x")


# --- The concern list -----------------------------------------------------------------------


def test_open_concerns_come_first_oldest_first_with_their_age(client, world, community_staff):
    fresh = raise_concern(world, community_staff, title="新的")
    old = raise_concern(world, community_staff, title="三天前的", age_days=3)
    forwarded = raise_concern(world, community_staff, title="转办的", age_days=5)
    concern_forward(concern=forwarded, by=community_staff, forwarded_to="城管科")
    done = raise_concern(world, community_staff, title="解决了的", age_days=10)
    concern_resolve(concern=done, by=community_staff, resolution="已修")
    client.force_login(community_staff)
    response = client.get(CONCERNS)
    rows = list(response.context["page"])
    assert [c.pk for c in rows] == [forwarded.pk, old.pk, fresh.pk, done.pk]
    assert [c.age_days for c in rows[:3]] == [5, 3, 0]
    html = page(response)
    assert re.search(r'data-age="3"[^>]*>\s*3 days\s*<', html)
    assert re.search(r'data-age="0"[^>]*>\s*today\s*<', html)
    assert 'data-testid="took"' in html  # the resolved one shows how long it took instead


def test_the_list_filters_by_state(client, world, community_staff):
    raise_concern(world, community_staff, title="待处理")
    done = raise_concern(world, community_staff, title="已解决")
    concern_resolve(concern=done, by=community_staff, resolution="已修")
    client.force_login(community_staff)
    titles = lambda query: [c.title for c in client.get(CONCERNS, query).context["page"]]  # noqa: E731
    assert titles({"state": "resolved"}) == ["已解决"]
    assert titles({"state": "unresolved"}) == ["待处理"]
    assert titles({"state": "open"}) == ["待处理"]
    response = client.get(CONCERNS, {"state": "bogus"})
    assert response.status_code == 200
    assert response.context["form"].errors["state"]
    assert len(response.context["page"]) == 2  # a bad filter is reported and left out


def test_the_list_is_counted_once_from_its_counts_per_state(client, world, community_staff):
    # The page's size is its counts per state added up (or the chosen state's): a second count
    # of the same rows cost the city's 30,000 concerns as much again.
    raise_concern(world, community_staff, title="待处理")
    done = raise_concern(world, community_staff, title="已解决")
    concern_resolve(concern=done, by=community_staff, resolution="已修")
    client.force_login(community_staff)
    for query, shown in [({}, 2), ({"state": "unresolved"}, 1), ({"state": "resolved"}, 1)]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(CONCERNS, query)
        assert response.context["page"].paginator.count == shown
        counts = [q["sql"] for q in captured if 'FROM "activities_concern"' in q["sql"]]
        counts = [sql for sql in counts if "COUNT(" in sql]
        assert len(counts) == 1 and "GROUP BY" in counts[0], counts


def test_a_grid_workers_list_starts_on_their_grids_and_can_show_all(
    client, world, grid_worker, community_staff
):
    raise_concern(world, community_staff, title="紫林苑的", grid=world.zilinyuan)
    raise_concern(world, community_staff, title="万寿小区的", grid=world.wanshou)
    raise_concern(world, community_staff, title="深圳路的", community=world.shenzhen)
    client.force_login(grid_worker)
    response = client.get(CONCERNS)
    assert [c.title for c in response.context["page"]] == ["紫林苑的"]
    assert 'data-testid="all-grids"' in page(response)
    shown = {c.title for c in client.get(CONCERNS, {"grid": "all"}).context["page"]}
    assert shown == {"紫林苑的", "万寿小区的"}
    one = client.get(CONCERNS, {"grid": world.wanshou.pk}).context["page"]
    assert [c.title for c in one] == ["万寿小区的"]
    # Another community's grid is not a choice: an error, and the default applies.
    response = client.get(CONCERNS, {"grid": world.hanlinyuan.pk})
    assert response.context["form"].errors["grid"]
    assert [c.title for c in response.context["page"]] == ["紫林苑的"]
    # Community staff see the whole community from the start.
    client.force_login(community_staff)
    assert len(client.get(CONCERNS).context["page"]) == 2


def test_the_state_counts_follow_the_grid_filter(client, world, grid_worker, community_staff):
    raise_concern(world, community_staff, grid=world.zilinyuan)
    raise_concern(world, community_staff, grid=world.wanshou)
    client.force_login(grid_worker)
    counts = dict(client.get(CONCERNS).context["state_counts"])
    assert counts[State.OPEN] == 1
    counts = dict(client.get(CONCERNS, {"grid": "all"}).context["state_counts"])
    assert counts[State.OPEN] == 2


# --- Query counts ---------------------------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
    return len(captured), len(response.context["page"])


@pytest.mark.parametrize("viewer", ["grid_worker", "member_user"])
def test_the_update_list_costs_the_same_queries_for_5_and_50_rows(
    client, world, request, viewer, grid_worker, django_user_model
):
    authors = [grid_worker, world.sanxia_member.user]

    def add(count):
        start = WorkUpdate.objects.count()
        for i in range(count):
            author = authors[i % 2] if i % 3 else make_user(django_user_model, f"a{start + i}")
            WorkUpdate.objects.create(
                community=world.shengli,
                author=author,
                activity=world.shengli_activity if i % 2 else None,
                body=f"动态{start + i}",
            )

    client.force_login(request.getfixturevalue(viewer))
    add(5)
    small, shown_small = _queries(client, UPDATES)
    add(45)
    large, shown_large = _queries(client, UPDATES)
    assert (shown_small, shown_large) == (5, 20)
    assert small == large, (small, large)


@pytest.mark.parametrize("viewer", ["grid_worker", "community_staff"])
def test_the_concern_list_costs_the_same_queries_for_5_and_50_rows(
    client, world, request, viewer, grid_worker, member_user
):
    def add(count):
        start = Concern.objects.count()
        for i in range(count):
            concern = raise_concern(
                world,
                member_user if i % 2 else grid_worker,
                title=f"民情{start + i}",
                grid=world.zilinyuan,
                activity=world.shengli_activity,
                age_days=i,
            )
            if i % 3 == 0:
                concern_resolve(concern=concern, by=grid_worker, resolution="已修")

    client.force_login(request.getfixturevalue(viewer))
    add(5)
    small, shown_small = _queries(client, CONCERNS)
    add(45)
    large, shown_large = _queries(client, CONCERNS)
    assert (shown_small, shown_large) == (5, 30)
    assert small == large, (small, large)


def test_the_concern_page_stays_on_a_few_queries(client, world, grid_worker, member_user):
    concern = raise_concern(world, member_user, grid=world.zilinyuan)
    client.force_login(grid_worker)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(detail(concern)).status_code == 200
    assert len(captured) <= 15, [q["sql"] for q in captured]


def test_the_concern_page_reads_its_handlers_once_for_both_forms(
    client, world, grid_worker, member_user
):
    concern = raise_concern(world, member_user, grid=world.zilinyuan)
    client.force_login(grid_worker)
    with CaptureQueriesContext(connection) as captured:
        html = page(client.get(detail(concern)))
    handlers = [q["sql"] for q in captured if 'FROM "communities_staffrole"' in q["sql"]]
    handlers = [sql for sql in handlers if sql.startswith('SELECT "auth_user"')]
    assert len(handlers) == 1, handlers
    # Both forms offer the handlers all the same, the viewer chosen.
    assert html.count(f'<option value="{grid_worker.pk}" selected>') == 2


def test_age_counts_calendar_days_in_local_time(world, grid_worker):
    """A concern raised late yesterday evening is a day old this morning."""
    from activities.views.notes import _age_days

    today = dt.date(2024, 7, 2)
    late_yesterday = timezone.make_aware(dt.datetime(2024, 7, 1, 23, 30))
    assert _age_days(late_yesterday, today) == 1
    assert _age_days(timezone.make_aware(dt.datetime(2024, 6, 29, 8, 0)), today) == 3


def test_only_active_members_with_an_active_report_in_may_post(world, member_user):
    assert may_post(member_user, world.shengli)
    assert not may_post(member_user, world.shenzhen)
    Member.objects.filter(pk=world.sanxia_member.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    member_user.refresh_from_db()
    user = type(member_user).objects.get(pk=member_user.pk)
    assert not may_post(user, world.shengli)


def test_the_activity_menu_offers_recent_activities_of_the_community(client, world, grid_worker):
    old = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="很久以前的清扫",
        starts_at=timezone.now() - dt.timedelta(days=200),
        ends_at=timezone.now() - dt.timedelta(days=200, hours=-2),
    )
    client.force_login(grid_worker)
    choices = client.get(NEW_UPDATE).context["form"].fields["activity"].queryset
    assert world.shengli_activity in choices
    assert world.shenzhen_activity not in choices
    assert old not in choices
    # Linked from an old activity's page, that activity is offered too.
    choices = client.get(NEW_UPDATE, {"activity": old.pk}).context["form"].fields["activity"]
    assert old in choices.queryset


def test_notes_entered_after_the_fact_keep_their_moments_and_tell_nobody(
    world, member_user, grid_worker, community_staff
):
    # The demo enters its July this way: dated as it happened, no message about old news.
    raised = timezone.now() - dt.timedelta(days=10)
    concern = concern_create(
        reported_by=member_user,
        community=world.shengli,
        title="护栏松动",
        grid=world.zilinyuan,
        now=raised,
        tell=False,
    )
    concern_forward(
        concern=concern,
        by=community_staff,
        forwarded_to="街道城建办",
        now=raised + dt.timedelta(days=1),
        tell=False,
    )
    concern_resolve(
        concern=concern,
        by=community_staff,
        resolution="已修复",
        now=raised + dt.timedelta(days=2),
        tell=False,
    )
    update = work_update_create(
        author=member_user, community=world.shengli, body="巡逻两小时", now=raised
    )

    concern.refresh_from_db()
    update.refresh_from_db()
    assert (concern.created_at, concern.resolved_at) == (raised, raised + dt.timedelta(days=2))
    assert concern.forwarded_to == "街道城建办"
    assert update.created_at == raised
    assert not Notification.objects.exists()


def _outside_subqueries(sql: str) -> str:
    """The query's own clauses, its parenthesised parts (subqueries among them) left out."""
    while re.search(r"\([^()]*\)", sql):
        sql = re.sub(r"\([^()]*\)", "", sql)
    return sql


@pytest.mark.parametrize(("url", "table"), [(UPDATES, "workupdate"), (CONCERNS, "concern")])
@pytest.mark.parametrize(
    "viewer", ["city_admin", "street_officer", "agency_office", "member_user", "grid_worker"]
)
def test_the_lists_sort_and_count_their_own_table_and_join_only_the_page(
    client, world, request, url, table, viewer, member_user, grid_worker
):
    """At city size a list sorted after its joins read every joined row for a page of 20,
    and a scope's ORed join to communities or members (a street's, an agency's) kept
    PostgreSQL from its indexes: the counts and the page's order are on the list's table
    alone, its scope's other tables in subqueries, and the joins for the page's rows only."""
    for i in range(3):
        WorkUpdate.objects.create(community=world.shengli, author=member_user, body=f"动态{i}")
        raise_concern(world, member_user, title=f"民情{i}", grid=world.zilinyuan)
    client.force_login(request.getfixturevalue(viewer))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200 and len(response.context["page"]) == 3
    on_table = [
        _outside_subqueries(query["sql"])
        for query in captured
        if f'FROM "activities_{table}"' in query["sql"]
    ]
    counts = [sql for sql in on_table if "COUNT" in sql]
    (page,) = [sql for sql in on_table if "ORDER BY" in sql]
    assert counts and not any("JOIN" in sql for sql in counts), counts
    assert "LIMIT" not in page and "OFFSET" not in page, page


def test_the_communities_to_post_to_link_the_form_found_once(world):
    """A city administrator picks among every community of the city (200 at city size): the
    form's address is found once, not for each."""
    from unittest import mock

    import django.urls
    from django.template.loader import render_to_string

    from communities.models import Community

    choices = list(Community.objects.order_by("name"))
    assert len(choices) > 1
    # {% url %} looks reverse up in django.urls each time it renders.
    with mock.patch.object(django.urls, "reverse", wraps=django.urls.reverse) as reverse_:
        html = render_to_string(
            "activities/work_update_posting_to.html",
            {"choices": choices, "community": choices[0], "url_name": "activities:concern_create"},
        )
    assert reverse_.call_count == 1
    for choice in choices:
        assert f'href="{NEW_CONCERN}?community={choice.pk}"' in html
    assert html.count('aria-current="true"') == 1
