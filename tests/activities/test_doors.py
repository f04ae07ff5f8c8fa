"""Door-to-door publicity (入户宣传): listing buildings, assigning them, recording households
reached, and the coverage that says "not one household missed" (一户不落)."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.forms.doors import expand
from activities.models import Activity, ActivityType, DoorToDoorUnit, Participation
from activities.services.doors import (
    door_coverage,
    door_unit_assign,
    door_unit_record,
    door_units_add,
    unit_label,
)
from communities.models import Compound
from members.models import Member, Registration
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def doors_activity(world):
    """A door-to-door publicity activity in 胜利一路社区 that 李建华 signed up for."""
    now = timezone.now()
    activity = Activity.objects.create(
        community=world.shengli,
        grid=world.zilinyuan,
        type=ActivityType.objects.get(code=ActivityType.Code.DOOR_TO_DOOR),
        title="防汛知识入户宣传",
        starts_at=now - dt.timedelta(hours=2),
        ends_at=now + dt.timedelta(hours=1),
    )
    Participation.objects.create(
        activity=activity, member=world.sanxia_member, source=Participation.Source.SIGN_UP
    )
    return activity


@pytest.fixture
def zilinyuan(world):
    return Compound.objects.create(community=world.shengli, name="紫林苑")


def doors(activity):
    return reverse("activities:door_units", args=[activity.pk])


def record_url(unit):
    return reverse("activities:door_unit_record", args=[unit.pk])


def remove_url(unit):
    return reverse("activities:door_unit_remove", args=[unit.pk])


def page(response):
    return response.content.decode()


def add_units(activity, count=3, households=12, building="3", member=None, compound=None):
    units = DoorToDoorUnit.objects.bulk_create(
        DoorToDoorUnit(
            activity=activity,
            compound=compound,
            building=building,
            stairwell=str(n),
            households=households,
            member=member,
        )
        for n in range(1, count + 1)
    )
    return units


def reached(unit):
    unit.refresh_from_db()
    return unit.households_reached


# --- Who may open what ----------------------------------------------------------------------


def test_the_page_and_its_posts_send_anonymous_visitors_to_login(client, doors_activity):
    (unit,) = add_units(doors_activity, 1)
    response = client.get(doors(doors_activity))
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={doors(doors_activity)}"
    for url in (doors(doors_activity), record_url(unit), remove_url(unit)):
        response = client.post(url, {"action": "add", "households_reached": "3"})
        assert response["Location"].startswith("/login/?next="), url
    assert reached(unit) == 0
    assert DoorToDoorUnit.objects.count() == 1


@pytest.mark.parametrize("persona", ["other_community_staff", "other_member_user"])
def test_another_communitys_activity_and_units_are_404(client, request, doors_activity, persona):
    (unit,) = add_units(doors_activity, 1)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(doors(doors_activity)).status_code == 404
    data = {"action": "add", "building": "5", "households": "10"}
    assert client.post(doors(doors_activity), data).status_code == 404
    assert client.post(record_url(unit), {"households_reached": "5"}).status_code == 404
    assert client.post(remove_url(unit)).status_code == 404
    assert reached(unit) == 0
    assert DoorToDoorUnit.objects.count() == 1


def test_unknown_activities_and_units_are_404(client, community_staff):
    client.force_login(community_staff)
    assert client.get("/activities/999999/doors/").status_code == 404
    assert client.post("/activities/doors/999999/record/", {"all": "1"}).status_code == 404


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "street_officer", "city_admin"]
)
def test_those_who_oversee_the_community_see_every_unit(client, request, doors_activity, persona):
    add_units(doors_activity, 2)
    client.force_login(request.getfixturevalue(persona))
    response = client.get(doors(doors_activity))
    assert response.status_code == 200
    assert "防汛知识入户宣传" in page(response)
    assert len(response.context["page"]) == 2


def test_an_agency_office_and_a_member_see_only_their_own_peoples_units(
    client, world, doors_activity, agency_office, member_user
):
    """Seen when tried: the page showed an agency office and a member other agencies' members
    by name, with their assignments and households reached."""
    mine, colleagues, other_agency, nobodys = add_units(doors_activity, 4)
    DoorToDoorUnit.objects.filter(pk=mine.pk).update(member=world.sanxia_member)
    DoorToDoorUnit.objects.filter(pk=colleagues.pk).update(member=world.sanxia_member_2)
    DoorToDoorUnit.objects.filter(pk=other_agency.pk).update(
        member=world.yuanlin_member, households_reached=7
    )
    expected = {agency_office: {mine.pk, colleagues.pk}, member_user: {mine.pk}}
    for viewer, units in expected.items():
        client.force_login(viewer)
        response = client.get(doors(doors_activity))
        assert response.status_code == 200
        assert {unit.pk for unit in response.context["page"]} == units
        html = page(response)
        assert world.yuanlin_member.name not in html, "another agency's member by name"
        shown = {row["member__name"] for row in response.context["by_member"]}
        assert world.yuanlin_member.name not in shown
        # The activity's coverage is one figure without names: all four units count.
        coverage = response.context["coverage"]
        assert (coverage.households, coverage.reached) == (48, 7)
        assert other_agency.pk not in {u.pk for u in DoorToDoorUnit.objects.visible_to(viewer)}, (
            "the scope itself, not only the page"
        )


@pytest.mark.parametrize("persona", ["member_user", "agency_office", "street_officer"])
def test_only_managers_add_assign_and_remove(client, world, request, doors_activity, persona):
    (unit,) = add_units(doors_activity, 1)
    client.force_login(request.getfixturevalue(persona))
    add = {"action": "add", "building": "5", "stairwells": "1-2", "households": "10"}
    assert client.post(doors(doors_activity), add).status_code == 403
    assign = {"action": "assign", "units": [unit.pk], "member": world.sanxia_member.pk}
    assert client.post(doors(doors_activity), assign).status_code == 403
    # A unit nobody of theirs covers is outside a member's or an agency's scope: not found.
    expected = 403 if persona == "street_officer" else 404
    assert client.post(remove_url(unit)).status_code == expected
    unit.refresh_from_db()
    assert unit.member is None
    assert DoorToDoorUnit.objects.count() == 1


def test_a_member_records_only_their_own_units(client, world, doors_activity, member_user):
    mine, theirs, nobodys = add_units(doors_activity, 3)
    door_unit_assign(units=[mine], member=world.sanxia_member, by=make_staff(world))
    Registration.objects.filter(member=world.sanxia_member_2).update(
        status=Registration.Status.ACTIVE
    )
    DoorToDoorUnit.objects.filter(pk=theirs.pk).update(member=world.sanxia_member_2)
    client.force_login(member_user)
    # Others' units are outside a member's scope: not found, as if they did not exist.
    assert client.post(record_url(theirs), {"households_reached": "5"}).status_code == 404
    assert client.post(record_url(nobodys), {"households_reached": "5"}).status_code == 404
    assert client.post(record_url(mine), {"households_reached": "5"}).status_code == 302
    assert (reached(mine), reached(theirs), reached(nobodys)) == (5, 0, 0)
    mine.refresh_from_db()
    assert mine.recorded_by == member_user and mine.recorded_at is not None


def make_staff(world):
    from communities.models import StaffRole

    user = make_user(type(world.sanxia_member.user), "doors_staff")
    StaffRole.objects.create(
        user=user, kind=StaffRole.Kind.COMMUNITY_STAFF, community=world.shengli
    )
    return user


def test_posts_without_a_csrf_token_are_forbidden(world, doors_activity, community_staff):
    (unit,) = add_units(doors_activity, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(community_staff)
    add = {"action": "add", "building": "5", "households": "10"}
    assert client.post(doors(doors_activity), add).status_code == 403
    assign = {"action": "assign", "units": [unit.pk], "member": world.sanxia_member.pk}
    assert client.post(doors(doors_activity), assign).status_code == 403
    assert client.post(record_url(unit), {"households_reached": "5"}).status_code == 403
    assert client.post(remove_url(unit)).status_code == 403
    unit.refresh_from_db()
    assert (unit.member, unit.households_reached) == (None, 0)
    assert DoorToDoorUnit.objects.count() == 1


def test_record_and_remove_take_posts_only(client, doors_activity, community_staff):
    (unit,) = add_units(doors_activity, 1)
    client.force_login(community_staff)
    assert client.get(record_url(unit)).status_code == 405
    assert client.get(remove_url(unit)).status_code == 405


# --- Adding buildings and stairwells --------------------------------------------------------


def test_a_manager_adds_three_stairwells_in_one_go(client, doors_activity, grid_worker, zilinyuan):
    client.force_login(grid_worker)
    response = client.post(
        doors(doors_activity),
        {
            "action": "add",
            "compound": zilinyuan.pk,
            "building": "3",
            "stairwells": "1-3",
            "households": "12",
        },
    )
    assert response.status_code == 302
    units = DoorToDoorUnit.objects.order_by("stairwell")
    assert [(u.compound, u.building, u.stairwell, u.households) for u in units] == [
        (zilinyuan, "3", "1", 12),
        (zilinyuan, "3", "2", 12),
        (zilinyuan, "3", "3", 12),
    ]
    assert unit_label(units[0]) == "紫林苑 Building 3 Stairwell 1"
    html = page(client.get(doors(doors_activity)))
    assert html.count('data-testid="door-unit"') == 3


def test_names_as_typed_are_kept(world, doors_activity, community_staff):
    units = door_units_add(
        activity=doors_activity,
        by=community_staff,
        units=[("3栋", "东单元"), ("A座", "")],
        households=8,
    )
    assert [unit_label(u) for u in units] == ["3栋 东单元", "A座"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("1-4", ["1", "2", "3", "4"]),
        ("1 - 3单元", ["1单元", "2单元", "3单元"]),
        ("A1-A2", ["A1", "A2"]),
        ("1、2，5单元", ["1", "2", "5单元"]),
        ("2至3", ["2", "3"]),
        ("1,1,2", ["1", "2"]),
        ("", []),
    ],
)
def test_the_quick_notation_expands(text, names):
    assert expand(text) == names


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"building": "3", "households": "twelve"}, "households"),
        ({"building": "3", "households": "0"}, "households"),
        ({"building": "3", "households": ""}, "households"),
        ({"building": "", "households": "12"}, "building"),
        ({"building": "3", "stairwells": "4-1", "households": "12"}, "stairwells"),
        ({"building": "1-20", "stairwells": "1-20", "households": "12"}, "__all__"),
        ({"building": "3", "households": "12", "compound": "999999"}, "compound"),
    ],
)
def test_bad_input_when_adding_is_refused_and_kept(
    client, doors_activity, community_staff, zilinyuan, data, field
):
    client.force_login(community_staff)
    response = client.post(doors(doors_activity), {"action": "add", **data})
    assert response.status_code == 200
    form = response.context["add_form"]
    assert field in form.errors, form.errors
    assert form["building"].value() == data["building"]  # what was typed is shown again
    assert not DoorToDoorUnit.objects.exists()


def test_a_unit_already_listed_is_refused_with_its_name(client, doors_activity, community_staff):
    add_units(doors_activity, 2)
    client.force_login(community_staff)
    response = client.post(
        doors(doors_activity),
        {"action": "add", "building": "3", "stairwells": "2-4", "households": "12"},
    )
    assert response.status_code == 200
    assert "Already on the list: Building 3 Stairwell 2." in page(response)
    assert DoorToDoorUnit.objects.count() == 2  # none of the three added


def test_another_communitys_compound_is_refused(world, doors_activity, community_staff):
    elsewhere = Compound.objects.create(community=world.shenzhen, name="翰林苑")
    with pytest.raises(ValidationError):
        door_units_add(
            activity=doors_activity,
            by=community_staff,
            units=[("1", "")],
            households=5,
            compound=elsewhere,
        )


def test_a_member_may_not_add_through_the_service(world, doors_activity, member_user):
    with pytest.raises(ValidationError):
        door_units_add(activity=doors_activity, by=member_user, units=[("1", "")], households=5)


# --- Assigning ------------------------------------------------------------------------------


def test_a_manager_assigns_ticked_units_to_a_member(client, world, doors_activity, grid_worker):
    first, second, third = add_units(doors_activity, 3)
    client.force_login(grid_worker)
    response = client.post(
        doors(doors_activity),
        {"action": "assign", "units": [first.pk, second.pk], "member": world.sanxia_member.pk},
    )
    assert response.status_code == 302
    assigned = dict(DoorToDoorUnit.objects.values_list("pk", "member"))
    assert assigned == {first.pk: world.sanxia_member.pk, second.pk: world.sanxia_member.pk,
                        third.pk: None}  # fmt: skip
    # Choosing nobody takes a unit back.
    client.post(doors(doors_activity), {"action": "assign", "units": [second.pk], "member": ""})
    second.refresh_from_db()
    assert second.member is None


def test_the_member_menu_offers_those_on_the_activity_or_reported_in(
    client, world, doors_activity, community_staff
):
    add_units(doors_activity, 1)
    client.force_login(community_staff)
    offered = set(
        client.get(doors(doors_activity)).context["assign_form"].fields["member"].queryset
    )
    # 李建华: signed up and reported in; 王海燕: report-in still pending; 陈思远: elsewhere.
    assert offered == {world.sanxia_member}


def picked_names(html):
    """The people the picker offers, in order (radio buttons named "member")."""
    return re.findall(
        r'<input[^>]*type="radio" name="member" value="\d+"[^>]*>\s*<label[^>]*>([^<]+?) <small',
        html,
    )


def test_the_picker_lists_those_signed_up_first_then_the_others_each_by_pinyin(
    client, world, doors_activity, community_staff
):
    """Code-point order would be 安 张 曾 李 白 赵; people look names up as in a contact list."""
    add_units(doors_activity, 1)
    today = timezone.localdate()
    names = {}
    # Each name ends in 华 like 李建华's, so that one search finds them all.
    for name, mobile in [
        ("张伟华", "13600000001"),
        ("赵敏华", "13600000002"),
        ("安静华", "13600000003"),
        ("曾国强华", "13600000004"),
        ("白云华", "13600000005"),
        ("李娜华", "13600000006"),
        ("孙丽华", "13600000007"),
    ]:
        member = Member.objects.create(agency=world.yuanlin, name=name, mobile=mobile)
        Registration.objects.create(
            member=member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=today,
        )
        names[name] = member
    for name, status in [("赵敏华", "signed_up"), ("白云华", "present"), ("孙丽华", "leave")]:
        Participation.objects.create(
            activity=doors_activity,
            member=names[name],
            status=status,
            leave_reason="外出" if status == "leave" else "",
            source="sign_up",
        )
    client.force_login(community_staff)
    # Before any search: those who take a place on the activity (孙丽华 is on leave).
    assert picked_names(page(client.get(doors(doors_activity)))) == ["白云华", "李建华", "赵敏华"]
    found = picked_names(page(client.get(doors(doors_activity), {"member_q": "华"})))
    assert found == [
        *["白云华", "李建华", "赵敏华"],  # signed up for this activity
        *["安静华", "李娜华", "孙丽华", "曾国强华", "张伟华"],  # others reported in
    ]


@pytest.fixture
def crowd(world, doors_activity):
    """Thirty members reported in to 胜利一路社区, none of them on the activity."""
    today = timezone.localdate()
    members = Member.objects.bulk_create(
        Member(agency=world.yuanlin, name=f"队员{i:02d}", mobile=f"1370000{i:04d}")
        for i in range(30)
    )
    Registration.objects.bulk_create(
        Registration(
            member=m, community=world.shengli, status=Registration.Status.ACTIVE, applied_on=today
        )
        for m in members
    )
    return members


def test_the_page_does_not_list_everyone_who_could_be_assigned(
    client, doors_activity, community_staff, crowd
):
    add_units(doors_activity, 1)
    client.force_login(community_staff)
    html = page(client.get(doors(doors_activity)))
    assert not [m.name for m in crowd if m.name in html]
    assert "<select" not in html.split('id="assign-form"')[1].split("</form>")[0]
    assert picked_names(html) == ["李建华"]


@pytest.mark.parametrize("query", ["队员07", "员07", "0007", "13700000007"])
def test_a_search_by_name_or_mobile_tail_finds_the_member(
    client, doors_activity, community_staff, crowd, query
):
    add_units(doors_activity, 1)
    client.force_login(community_staff)
    url = reverse("activities:door_assignees", args=[doors_activity.pk])
    found = client.get(url, {"member_q": query}).json()["results"]
    assert [(r["name"], r["mobile"], r["on_activity"]) for r in found] == [
        ("队员07", "137****0007", False)
    ]
    assert picked_names(page(client.get(doors(doors_activity), {"member_q": query}))) == ["队员07"]


def test_a_search_shows_ten_and_says_there_are_more(client, doors_activity, community_staff, crowd):
    client.force_login(community_staff)
    url = reverse("activities:door_assignees", args=[doors_activity.pk])
    answer = client.get(url, {"member_q": "队员"}).json()
    assert len(answer["results"]) == 10 and answer["more"]
    add_units(doors_activity, 1)
    html = page(client.get(doors(doors_activity), {"member_q": "队员"}))
    assert len(picked_names(html)) == 10
    assert "More people match: type more of the name." in html


def test_a_search_finds_no_one_outside_the_activity_and_its_community(
    client, world, doors_activity, community_staff
):
    """陈思远 reported in to 深圳路社区, not here; three digits are too few to search by."""
    client.force_login(community_staff)
    url = reverse("activities:door_assignees", args=[doors_activity.pk])
    assert client.get(url, {"member_q": "陈思远"}).json()["results"] == []
    answer = client.get(url, {"member_q": "001"}).json()
    assert answer["results"] == []
    assert answer["errors"] == ["Type at least the last 4 digits of the mobile."]


def test_the_search_answers_managers_only(client, world, request, doors_activity):
    url = reverse("activities:door_assignees", args=[doors_activity.pk])
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(request.getfixturevalue("member_user"))
    assert client.get(url, {"member_q": "李"}).status_code == 403
    client.force_login(request.getfixturevalue("other_community_staff"))
    assert client.get(url, {"member_q": "李"}).status_code == 404


def test_find_without_script_keeps_the_ticks_and_offers_the_matches(
    client, world, doors_activity, community_staff, crowd
):
    first, second = add_units(doors_activity, 2)
    client.force_login(community_staff)
    response = client.post(
        doors(doors_activity), {"action": "find", "units": [second.pk], "member_q": "队员12"}
    )
    assert response.status_code == 200
    html = page(response)
    assert picked_names(html) == ["队员12"]
    assert re.search(rf'id="tick-{second.pk}" checked', html)
    assert not re.search(rf'id="tick-{first.pk}" checked', html)
    assert 'data-testid="assign-member-errors"' not in html
    assert DoorToDoorUnit.objects.filter(member__isnull=False).count() == 0
    # Then the pick and "Assign".
    response = client.post(
        doors(doors_activity),
        {"action": "assign", "units": [second.pk], "member": crowd[12].pk},
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.member == crowd[12]


def test_assigning_without_picking_anyone_is_an_error_not_a_take_back(
    client, world, doors_activity, community_staff
):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    client.force_login(community_staff)
    response = client.post(doors(doors_activity), {"action": "assign", "units": [unit.pk]})
    assert response.status_code == 200
    assert response.context["assign_form"].errors["member"] == [
        "Find the member to assign them to, or choose nobody to take them back."
    ]
    unit.refresh_from_db()
    assert unit.member == world.sanxia_member


def test_a_member_of_another_community_is_refused(client, world, doors_activity, community_staff):
    (unit,) = add_units(doors_activity, 1)
    client.force_login(community_staff)
    for member in (world.yuanlin_member.pk, "999999", "abc"):
        response = client.post(
            doors(doors_activity), {"action": "assign", "units": [unit.pk], "member": member}
        )
        assert response.status_code == 200
        assert response.context["assign_form"].errors["member"] == [
            "This person cannot be given buildings here: find the member by name and pick them "
            "from the results."
        ]
        assert "checked" in page(response)  # the ticked unit stays ticked
    unit.refresh_from_db()
    assert unit.member is None
    with pytest.raises(ValidationError) as caught:
        door_unit_assign(units=[unit], member=world.yuanlin_member, by=community_staff)
    assert "陈思远" in str(caught.value) and "胜利一路社区" in str(caught.value)


@pytest.mark.parametrize("units", [[], ["999999"], ["abc"]])
def test_assigning_without_a_valid_tick_is_a_clear_error(
    client, world, doors_activity, community_staff, units
):
    add_units(doors_activity, 1)
    client.force_login(community_staff)
    response = client.post(
        doors(doors_activity),
        {"action": "assign", "units": units, "member": world.sanxia_member.pk},
    )
    assert response.status_code == 200
    assert response.context["assign_form"].errors["units"]
    assert not DoorToDoorUnit.objects.filter(member__isnull=False).exists()


def test_another_activitys_unit_cannot_be_assigned_here(
    client, world, doors_activity, community_staff
):
    (elsewhere,) = add_units(world.shengli_activity, 1)
    client.force_login(community_staff)
    response = client.post(
        doors(doors_activity),
        {"action": "assign", "units": [elsewhere.pk], "member": world.sanxia_member.pk},
    )
    assert response.status_code == 200
    assert response.context["assign_form"].errors["units"]
    elsewhere.refresh_from_db()
    assert elsewhere.member is None


def test_an_unknown_action_is_an_error(client, doors_activity, community_staff):
    client.force_login(community_staff)
    response = client.post(doors(doors_activity), {"action": "explode"})
    assert response.status_code == 200
    assert "Choose what to do" in page(response)


# --- Recording ------------------------------------------------------------------------------


def test_more_reached_than_there_are_households_is_refused_and_kept(
    client, world, doors_activity, member_user
):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    client.force_login(member_user)
    response = client.post(record_url(unit), {"households_reached": "13"})
    assert response.status_code == 200
    html = page(response)
    assert "13 households reached is more than the 12 households of Building 3 Stairwell 1." in html
    assert re.search(r'name="households_reached" value="13"', html)
    assert reached(unit) == 0
    with pytest.raises(ValidationError):
        door_unit_record(unit=unit, households_reached=13, by=member_user)


@pytest.mark.parametrize("value", ["abc", "-1", "", "1.5"])
def test_a_count_that_is_not_a_whole_number_is_refused(
    client, world, doors_activity, member_user, value
):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    client.force_login(member_user)
    response = client.post(record_url(unit), {"households_reached": value})
    assert response.status_code == 200
    assert "Enter the number of households reached, e.g. 12." in page(response)
    assert reached(unit) == 0


def test_the_all_button_records_every_household(client, world, doors_activity, member_user):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    client.force_login(member_user)
    response = client.post(record_url(unit), {"households_reached": "", "all": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"{doors(doors_activity)}#unit-{unit.pk}"
    assert reached(unit) == 12


def test_a_manager_records_for_a_member_without_a_login(
    client, world, doors_activity, community_staff
):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member_2)
    client.force_login(community_staff)
    assert client.post(record_url(unit), {"households_reached": "7"}).status_code == 302
    assert reached(unit) == 7
    # Recording again corrects it.
    client.post(record_url(unit), {"households_reached": "9"})
    assert reached(unit) == 9


# --- Removing -------------------------------------------------------------------------------


def test_a_unit_entered_by_mistake_is_removed_unless_recorded(
    client, doors_activity, community_staff
):
    empty, recorded = add_units(doors_activity, 2)
    door_unit_record(unit=recorded, households_reached=3, by=community_staff)
    client.force_login(community_staff)
    assert client.post(remove_url(empty)).status_code == 302
    response = client.post(remove_url(recorded), follow=True)
    assert "stays on the list" in page(response)
    assert list(DoorToDoorUnit.objects.all()) == [recorded]


# --- Coverage -------------------------------------------------------------------------------


def test_coverage_shows_the_share_of_households_reached(client, world, doors_activity, grid_worker):
    first, second = add_units(doors_activity, 2, households=10, member=world.sanxia_member)
    door_unit_record(unit=first, households_reached=10, by=grid_worker)
    door_unit_record(unit=second, households_reached=5, by=grid_worker)
    client.force_login(grid_worker)
    response = client.get(doors(doors_activity))
    html = page(response)
    assert re.search(r'data-figure="coverage">75%<', html)
    assert "15 of 20 households reached" in html
    assert "Not one household missed" not in html
    assert 'max="100" value="75.0"' in html
    (row,) = response.context["by_member"]
    assert (row["member__name"], row["units"], row["households"], row["reached"]) == (
        "李建华",
        2,
        20,
        15,
    )


def test_every_household_reached_says_not_one_missed(
    client, world, doors_activity, community_staff, member_user
):
    mine = add_units(doors_activity, 2, member=world.sanxia_member)
    (theirs,) = add_units(doors_activity, 1, building="4", member=world.sanxia_member_2)
    client.force_login(member_user)
    for unit in mine:
        client.post(record_url(unit), {"all": "1"})
    html = page(client.get(doors(doors_activity)))
    assert "Not one household missed" not in html
    client.force_login(community_staff)
    client.post(record_url(theirs), {"households_reached": "12"})
    response = client.get(doors(doors_activity))
    html = page(response)
    assert re.search(r'data-figure="coverage">100%<', html)
    assert 'data-testid="not-one-missed"' in html
    assert "Not one household missed" in html
    totals = {
        row["member__name"]: (row["reached"], row["households"])
        for row in response.context["by_member"]
    }
    assert totals == {"李建华": (24, 24), "王海燕": (12, 12)}


def test_a_members_own_units_come_first_for_them(client, world, doors_activity, member_user):
    add_units(doors_activity, 2, building="1")
    (mine,) = add_units(doors_activity, 1, building="9", member=world.sanxia_member)
    client.force_login(member_user)
    rows = list(client.get(doors(doors_activity)).context["page"])
    assert rows[0].pk == mine.pk and rows[0].mine and rows[0].can_record
    assert not any(row.can_record for row in rows[1:])


def test_buildings_sort_by_number_not_by_text(client, doors_activity, community_staff):
    for building in ("10", "2", "1"):
        add_units(doors_activity, 1, building=building)
    client.force_login(community_staff)
    rows = client.get(doors(doors_activity)).context["page"]
    assert [row.building for row in rows] == ["1", "2", "10"]


def test_coverage_is_one_aggregate_query(world, doors_activity, django_assert_num_queries):
    add_units(doors_activity, 50, households=4)
    DoorToDoorUnit.objects.filter(stairwell__in=["1", "2"]).update(households_reached=4)
    with django_assert_num_queries(1):
        coverage = door_coverage(DoorToDoorUnit.objects.filter(activity=doors_activity))
    assert (coverage.units, coverage.households, coverage.reached) == (50, 200, 8)
    assert str(coverage.rate) == "0.0400"
    assert not coverage.complete
    empty = door_coverage(DoorToDoorUnit.objects.none())
    assert (empty.rate, empty.complete) == (None, False)


@pytest.mark.parametrize("viewer", ["community_staff", "member_user"])
def test_the_page_costs_the_same_queries_for_5_and_50_units(
    client, world, request, doors_activity, viewer
):
    members = [world.sanxia_member, world.sanxia_member_2, None]
    staff = make_staff(world)

    def add(count):
        start = DoorToDoorUnit.objects.count()
        units = DoorToDoorUnit.objects.bulk_create(
            DoorToDoorUnit(
                activity=doors_activity,
                building=str(start + i),
                households=10,
                member=members[i % 3],
            )
            for i in range(count)
        )
        for unit in units[::2]:
            door_unit_record(unit=unit, households_reached=5, by=staff)

    client.force_login(request.getfixturevalue(viewer))

    def count():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(doors(doors_activity))
            assert response.status_code == 200
        return len(captured), len(response.context["page"])

    def rows(total):
        # Community staff see every unit; a member only their own (every third one).
        return total if viewer == "community_staff" else len(range(0, total, 3))

    add(5)
    small, shown_small = count()
    add(45)
    large, shown_large = count()
    assert (shown_small, shown_large) == (rows(5), rows(50))
    assert small == large, (small, large)


def test_the_list_is_counted_from_the_per_member_totals(client, world, doors_activity):
    # The per-member totals count the viewer's units already: the page is not counted again,
    # and the assign form's people are not built for a GET.
    add_units(doors_activity, 4, member=world.sanxia_member)
    add_units(doors_activity, 3, building="5")
    client.force_login(make_staff(world))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(doors(doors_activity))
    assert response.context["page"].paginator.count == 7
    on_units = [q["sql"] for q in captured if 'FROM "activities_doortodoorunit"' in q["sql"]]
    assert not [sql for sql in on_units if 'COUNT(*) AS "__count"' in sql], on_units
    assert response.context["assign_form"].fields["member"].make is not None


def test_units_of_members_who_left_keep_their_records(world, doors_activity, community_staff):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    door_unit_record(unit=unit, households_reached=6, by=community_staff)
    Member.objects.filter(pk=world.sanxia_member.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    coverage = door_coverage(DoorToDoorUnit.objects.filter(activity=doors_activity))
    assert coverage.reached == 6


def test_households_recorded_after_the_round_keep_the_moment_given(
    world, doors_activity, community_staff
):
    (unit,) = add_units(doors_activity, 1, member=world.sanxia_member)
    when = doors_activity.ends_at + dt.timedelta(hours=1)

    door_unit_record(unit=unit, households_reached=10, by=community_staff, now=when)

    unit.refresh_from_db()
    assert (unit.households_reached, unit.recorded_at, unit.recorded_by) == (
        10,
        when,
        community_staff,
    )


def test_the_managers_page_stays_within_15_queries_with_many_people_to_pick_from(
    client, world, doors_activity, community_staff, zilinyuan, crowd
):
    """The bench's ceiling for every page: the picker asks for the few it shows, whoever could
    be assigned."""
    add_units(doors_activity, count=12, compound=zilinyuan)
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(doors(doors_activity))
    assert response.status_code == 200
    assert len(ctx.captured_queries) <= 15


def _row(html, unit):
    match = re.search(rf'<li[^>]*data-pk="{unit.pk}".*?</li>', html, re.S)
    assert match, f"no row for unit {unit.pk}"
    return re.sub(r"\s+", " ", match.group(0))


@pytest.mark.parametrize(
    "language, words",
    [
        (
            "en",
            [
                "Mine",
                "Not assigned",
                "Households reached",
                "Save",
                "All 12 reached",
                "Remove from the list",
            ],
        ),
        ("zh-hans", ["我的", "未分配", "已入户数", "保存", "全部 12 户已入户", "移出名单"]),
    ],
)
def test_each_row_says_what_it_offers_in_the_page_language(
    client, world, doors_activity, community_staff, language, words
):
    from django.conf import settings

    mine, unassigned, reached_label, save, all_reached, remove = words
    done, open_unit, nobodys = add_units(doors_activity, count=3, member=world.sanxia_member)
    DoorToDoorUnit.objects.filter(pk=done.pk).update(households_reached=12)
    DoorToDoorUnit.objects.filter(pk=nobodys.pk).update(member=None)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.force_login(community_staff)
    html = page(client.get(doors(doors_activity)))
    for unit in (done, open_unit, nobodys):
        row = _row(html, unit)
        assert f">{reached_label}</label>" in row and f">{save}</button>" in row
        assert (f">{all_reached}</button>" in row) is (unit != done)  # none left to reach
        assert (f">{remove}</button>" in row) is (unit != done)  # a recorded unit stays
        assert (unassigned in row) is (unit == nobodys)
        assert mine not in row
    client.force_login(world.sanxia_member.user)
    html = page(client.get(doors(doors_activity)))
    assert f'<span class="badge text-bg-warning">{mine}</span>' in _row(html, open_unit)


# --- What the page costs ---------------------------------------------------------------------


def _coverage_queries(captured):
    return [q["sql"] for q in captured if '"households"), 0) AS "households"' in q["sql"]]


@pytest.mark.parametrize(
    "persona", ["community_staff", "grid_worker", "street_officer", "city_admin"]
)
def test_who_sees_every_unit_has_the_coverage_added_up_from_the_member_rows(
    client, world, request, doors_activity, persona
):
    mine = add_units(doors_activity, 2, households=10, member=world.sanxia_member)
    add_units(doors_activity, 1, building="4", households=6, member=world.yuanlin_member)
    add_units(doors_activity, 1, building="5", households=4)
    DoorToDoorUnit.objects.filter(pk=mine[0].pk).update(households_reached=10)
    client.force_login(request.getfixturevalue(persona))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(doors(doors_activity))
    coverage = response.context["coverage"]
    assert (coverage.units, coverage.households, coverage.reached) == (4, 30, 10)
    assert "10 of 30 households reached · 4 buildings or stairwells" in page(response)
    assert not _coverage_queries(captured), "summed again in the database"


def test_coverage_with_no_units_is_empty_for_those_who_see_every_unit(
    client, doors_activity, community_staff
):
    client.force_login(community_staff)
    coverage = client.get(doors(doors_activity)).context["coverage"]
    assert (coverage.units, coverage.households, coverage.reached) == (0, 0, 0)
    assert (coverage.rate, coverage.complete) == (None, False)


def test_who_sees_some_units_has_the_coverage_of_them_all_from_the_database(
    client, world, doors_activity, agency_office
):
    add_units(doors_activity, 1, households=10, member=world.sanxia_member)
    add_units(doors_activity, 1, building="4", households=6, member=world.yuanlin_member)
    client.force_login(agency_office)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(doors(doors_activity))
    coverage = response.context["coverage"]
    assert (coverage.units, coverage.households) == (2, 16)
    assert len(_coverage_queries(captured)) == 1


def test_the_add_form_reads_the_compounds_once(client, world, doors_activity, community_staff):
    Compound.objects.create(community=world.shengli, name="阳光小区")
    Compound.objects.create(community=world.shengli, name="<b>紫林苑</b>")
    client.force_login(community_staff)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(doors(doors_activity))
    on_compounds = [q["sql"] for q in captured if 'FROM "communities_compound"' in q["sql"]]
    assert len(on_compounds) == 1, on_compounds
    html = page(response)
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>', html)
    by_name = Compound.objects.filter(community=world.shengli).order_by("name")
    escaped = {"<b>紫林苑</b>": "&lt;b&gt;紫林苑&lt;/b&gt;", "阳光小区": "阳光小区"}
    assert options == [("", "— none —")] + [
        (str(compound.pk), escaped[compound.name]) for compound in by_name
    ]


def test_a_community_without_compounds_has_no_compound_menu(
    client, doors_activity, community_staff
):
    client.force_login(community_staff)
    response = client.get(doors(doors_activity))
    assert "compound" not in response.context["add_form"].fields
    assert 'name="compound"' not in page(response)


def test_the_rows_show_names_that_look_like_markup_as_written(
    client, world, doors_activity, community_staff
):
    """The list's rows and the per-member totals are written in Python (door_rows): every name
    is escaped as the template escaped it."""
    compound = Compound.objects.create(community=world.shengli, name='<i>"紫林苑"</i>')
    (unit,) = add_units(doors_activity, 1, building="A&B", compound=compound)
    DoorToDoorUnit.objects.filter(pk=unit.pk).update(member=world.sanxia_member)
    Member.objects.filter(pk=world.sanxia_member.pk).update(name="<b>李建华</b>")
    client.force_login(community_staff)
    response = client.post(record_url(unit), {"households_reached": "<script>"})
    assert response.status_code == 200
    row = _row(page(response), unit)
    assert "<i>" not in row and "<b>" not in row and "<script>" not in row
    label = "&lt;i&gt;&quot;紫林苑&quot;&lt;/i&gt; A&amp;B Stairwell 1"
    assert f'data-testid="unit-label">{label}</label>' in row
    assert f'aria-label="{label}"' in row
    assert '<span data-testid="unit-member">&lt;b&gt;李建华&lt;/b&gt;</span>' in row
    assert 'name="households_reached" value="&lt;script&gt;"' in row
    assert 'class="form-control is-invalid"' in row
    assert 'data-testid="record-error">Enter the number of households reached' in row
    (total,) = re.findall(r'<li[^>]*data-testid="member-total".*?</li>', page(response), re.S)
    assert "<b>" not in total
    assert '<span class="fw-semibold">&lt;b&gt;李建华&lt;/b&gt;</span>' in total
    assert 'aria-label="&lt;b&gt;李建华&lt;/b&gt;"' in total
