"""The annual evaluation's services (年度评价): who may rate whom, the cap on 优秀, all or
nothing, objections and answers with their messages and history; and the evidence beside a
rating, by DESIGN.md's definitions."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from activities import figures
from activities.models import Activity, Concern, DoorToDoorUnit, Participation
from members.models import Member, Registration
from notifications.models import Notification
from reports.evidence import Period, evidence_of
from reports.models import Evaluation, EvaluationObjection
from reports.services import (
    HistoryReason,
    evaluations_save,
    excellent_allowed,
    objection_answer,
    objection_raise,
    rateable_count,
    rateable_members,
)

Rating = Evaluation.Rating
YEAR = timezone.localdate().year


def reported_in(world, n, community=None, agency=None):
    """`n` members reported in (approved) to `community` (胜利一路社区)."""
    community = community or world.shengli
    first = Member.objects.count()
    members = Member.objects.bulk_create(
        Member(agency=agency or world.sanxia, name=f"成员{i:03d}", mobile=f"1370000{i:04d}")
        for i in range(first, first + n)
    )
    Registration.objects.bulk_create(
        Registration(
            member=m,
            community=community,
            status=Registration.Status.ACTIVE,
            applied_on=timezone.localdate(),
        )
        for m in members
    )
    return members


def save(by, community, ratings, year=YEAR):
    return evaluations_save(by=by, community=community, year=year, ratings=ratings)


def test_staff_rate_a_member_reported_in_with_history(world, community_staff):
    saved = save(community_staff, world.shengli, {world.sanxia_member.pk: (Rating.QUALIFIED, "好")})
    evaluation = Evaluation.objects.get()
    assert saved.created == 1
    assert (evaluation.member, evaluation.community, evaluation.year) == (
        world.sanxia_member,
        world.shengli,
        YEAR,
    )
    assert (evaluation.rating, evaluation.comment, evaluation.rated_by) == (
        Rating.QUALIFIED,
        "好",
        community_staff,
    )
    version = evaluation.history.get()
    assert version.history_user == community_staff
    assert version.history_change_reason == HistoryReason.RATED


def test_saving_the_same_rating_again_writes_nothing(world, community_staff):
    ratings = {world.sanxia_member.pk: (Rating.QUALIFIED, "")}
    save(community_staff, world.shengli, ratings)
    assert save(community_staff, world.shengli, ratings).count == 0
    assert Evaluation.history.count() == 1


def test_a_changed_rating_keeps_who_and_when_in_history(world, community_staff, grid_worker):
    save(community_staff, world.shengli, {world.sanxia_member.pk: (Rating.QUALIFIED, "")})
    save(grid_worker, world.shengli, {world.sanxia_member.pk: (Rating.BASIC, "请假较多")})
    versions = list(Evaluation.history.order_by("history_id"))
    assert [v.rating for v in versions] == [Rating.QUALIFIED, Rating.BASIC]
    assert [v.history_user for v in versions] == [community_staff, grid_worker]


def test_a_member_not_reported_in_is_refused_with_nothing_saved(world, community_staff):
    # 王海燕's report-in to 胜利一路社区 is still pending; 陈思远 reported in to 深圳路社区.
    for member in (world.sanxia_member_2, world.yuanlin_member):
        with pytest.raises(ValidationError):
            save(
                community_staff,
                world.shengli,
                {
                    world.sanxia_member.pk: (Rating.QUALIFIED, ""),
                    member.pk: (Rating.QUALIFIED, ""),
                },
            )
    assert not Evaluation.objects.exists()


def test_a_member_who_left_is_not_rated(world, community_staff):
    Member.objects.filter(pk=world.sanxia_member.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    assert world.sanxia_member not in rateable_members(world.shengli)
    with pytest.raises(ValidationError):
        save(community_staff, world.shengli, {world.sanxia_member.pk: (Rating.QUALIFIED, "")})


@pytest.mark.parametrize("persona", ["other_community_staff", "agency_office", "street_officer"])
def test_only_the_communitys_staff_rate_its_members(request, world, persona):
    with pytest.raises(ValidationError):
        save(
            request.getfixturevalue(persona),
            world.shengli,
            {world.sanxia_member.pk: (Rating.EXCELLENT, "")},
        )
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize("year", [YEAR + 1, 1999, "abc", None])
def test_a_year_that_cannot_be_rated_is_refused(world, community_staff, year):
    with pytest.raises(ValidationError):
        save(community_staff, world.shengli, {world.sanxia_member.pk: ("qualified", "")}, year)
    assert not Evaluation.objects.exists()


def test_an_unknown_rating_or_a_long_comment_is_refused(world, community_staff):
    for rating, comment in [("best", ""), (Rating.QUALIFIED, "长" * 301)]:
        with pytest.raises(ValidationError):
            save(community_staff, world.shengli, {world.sanxia_member.pk: (rating, comment)})
    assert not Evaluation.objects.exists()


def test_excellent_is_capped_at_a_third_of_those_rated(world, community_staff):
    members = reported_in(world, 6)
    too_many = {
        m.pk: (Rating.EXCELLENT if i < 3 else Rating.QUALIFIED, "") for i, m in enumerate(members)
    }
    with pytest.raises(ValidationError) as refused:
        save(community_staff, world.shengli, too_many)
    assert refused.value.code == "excellent_cap"
    assert not Evaluation.objects.exists()
    allowed = {
        m.pk: (Rating.EXCELLENT if i < 2 else Rating.QUALIFIED, "") for i, m in enumerate(members)
    }
    assert save(community_staff, world.shengli, allowed).created == len(members)
    # One more excellent among the same six passes the third again: refused, nothing changed.
    with pytest.raises(ValidationError):
        save(community_staff, world.shengli, {members[-1].pk: (Rating.EXCELLENT, "")})
    assert Evaluation.objects.filter(rating=Rating.EXCELLENT).count() == 2


def test_the_cap_counts_each_community_and_year_alone(
    world, community_staff, other_community_staff
):
    shenzhen = reported_in(world, 3, community=world.shenzhen, agency=world.yuanlin)
    save(
        other_community_staff,
        world.shenzhen,
        {shenzhen[0].pk: (Rating.EXCELLENT, "")}
        | {m.pk: (Rating.QUALIFIED, "") for m in shenzhen[1:]},
    )
    shengli = reported_in(world, 3)
    ratings = {shengli[0].pk: (Rating.EXCELLENT, "")} | {
        m.pk: (Rating.QUALIFIED, "") for m in shengli[1:]
    }
    save(community_staff, world.shengli, ratings, year=YEAR - 1)
    assert save(community_staff, world.shengli, ratings).created == 3


def test_the_share_is_a_setting(world, community_staff, settings):
    settings.EVALUATION_EXCELLENT_SHARE = Fraction(1, 2)
    members = reported_in(world, 4)
    ratings = {
        m.pk: (Rating.EXCELLENT if i < 2 else Rating.QUALIFIED, "") for i, m in enumerate(members)
    }
    assert save(community_staff, world.shengli, ratings).created == 4
    assert excellent_allowed(4) == 2


def test_the_cap_message_is_chinese(world, community_staff):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        save(community_staff, world.shengli, {world.sanxia_member.pk: (Rating.EXCELLENT, "")})
    with translation.override("zh-hans"):
        message = refused.value.messages[0]
    assert "优秀" in message and "未保存" in message


# --- Objections ----------------------------------------------------------------------------


@pytest.fixture
def rated(world, community_staff):
    members = reported_in(world, 2)
    save(
        community_staff,
        world.shengli,
        {world.sanxia_member.pk: (Rating.BASIC, "出勤偏少")}
        | {m.pk: (Rating.QUALIFIED, "") for m in members},
    )
    return Evaluation.objects.get(member=world.sanxia_member)


def test_a_member_objects_and_the_communitys_staff_are_told(
    world, rated, member_user, community_staff
):
    objection = objection_raise(by=member_user, evaluation=rated, reason="我参加了防汛巡逻")
    assert objection.state == EvaluationObjection.State.OPEN
    assert objection.rating_before == Rating.BASIC
    told = Notification.objects.filter(object_id=objection.pk, slot="raised")
    assert set(told.values_list("recipient", flat=True)) == {community_staff.pk}
    assert "李建华" in told.first().subject


def test_one_objection_at_a_time(world, rated, member_user):
    objection_raise(by=member_user, evaluation=rated, reason="一")
    with pytest.raises(ValidationError):
        objection_raise(by=member_user, evaluation=rated, reason="二")
    assert EvaluationObjection.objects.count() == 1


def test_nobody_objects_to_someone_elses_rating(world, rated, other_member_user, community_staff):
    for user in (other_member_user, community_staff):
        with pytest.raises(ValidationError):
            objection_raise(by=user, evaluation=rated, reason="不服")
    with pytest.raises(ValidationError):
        objection_raise(by=world.sanxia_member.user, evaluation=rated, reason="  ")
    assert not EvaluationObjection.objects.exists()


def test_staff_answer_and_change_the_rating_the_member_is_told(
    world, rated, member_user, community_staff
):
    objection = objection_raise(by=member_user, evaluation=rated, reason="我参加了防汛巡逻")
    answered = objection_answer(
        by=community_staff, objection=objection, answer="已核实，改为合格", rating=Rating.QUALIFIED
    )
    rated.refresh_from_db()
    assert rated.rating == Rating.QUALIFIED
    assert (answered.rating_before, answered.rating_after) == (Rating.BASIC, Rating.QUALIFIED)
    assert answered.state == EvaluationObjection.State.ANSWERED
    assert answered.answered_by == community_staff
    last = rated.history.order_by("-history_id").first()
    assert last.history_change_reason == HistoryReason.OBJECTION_ANSWERED
    assert last.history_user == community_staff
    told = Notification.objects.filter(object_id=objection.pk, slot="answered")
    assert list(told.values_list("recipient", flat=True).distinct()) == [member_user.pk]
    # Answered, the member may object again.
    objection_raise(by=member_user, evaluation=rated, reason="仍有异议")


def test_an_answer_keeping_the_rating_changes_no_rating(world, rated, member_user, community_staff):
    objection = objection_raise(by=member_user, evaluation=rated, reason="不服")
    objection_answer(by=community_staff, objection=objection, answer="维持原评价")
    rated.refresh_from_db()
    assert rated.rating == Rating.BASIC and rated.history.count() == 1
    with pytest.raises(ValidationError):
        objection_answer(by=community_staff, objection=objection, answer="再答")


def test_an_answer_is_held_to_the_cap(world, rated, member_user, community_staff):
    objection = objection_raise(by=member_user, evaluation=rated, reason="应为优秀")
    # Three rated: one excellent allowed; make another excellent first.
    other = Evaluation.objects.exclude(pk=rated.pk).first()
    save(community_staff, world.shengli, {other.member_id: (Rating.EXCELLENT, "")})
    with pytest.raises(ValidationError):
        objection_answer(
            by=community_staff, objection=objection, answer="改为优秀", rating=Rating.EXCELLENT
        )
    rated.refresh_from_db()
    objection.refresh_from_db()
    assert rated.rating == Rating.BASIC and objection.answered_at is None


def test_another_communitys_staff_do_not_answer(world, rated, member_user, other_community_staff):
    objection = objection_raise(by=member_user, evaluation=rated, reason="不服")
    with pytest.raises(ValidationError):
        objection_answer(by=other_community_staff, objection=objection, answer="维持")
    objection.refresh_from_db()
    assert objection.answered_at is None


# --- Evidence --------------------------------------------------------------------------------


def test_evidence_follows_designs_definitions_in_the_community(world):
    now = timezone.now()
    member = world.sanxia_member
    volunteer = Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title="清扫",
        starts_at=now - dt.timedelta(days=2),
        ends_at=now - dt.timedelta(days=2) + dt.timedelta(hours=3),
        nature=Activity.Nature.VOLUNTEER,
    )
    absent = Activity.objects.create(
        community=world.shengli,
        type=world.patrol,
        title="巡逻",
        starts_at=now - dt.timedelta(days=3),
        ends_at=now - dt.timedelta(days=3) + dt.timedelta(hours=1),
        nature=Activity.Nature.DUTY,
    )
    elsewhere = Activity.objects.create(
        community=world.shenzhen,
        type=world.cleanup,
        title="别处",
        starts_at=now - dt.timedelta(days=2),
        ends_at=now - dt.timedelta(days=2) + dt.timedelta(hours=2),
    )
    Participation.objects.create(
        activity=volunteer, member=member, status=Participation.Status.PRESENT, hours=Decimal("1.5")
    )
    Participation.objects.create(activity=absent, member=member, status=Participation.Status.ABSENT)
    Participation.objects.create(
        activity=elsewhere, member=member, status=Participation.Status.PRESENT, hours=2
    )
    Concern.objects.create(
        community=world.shengli,
        title="路灯坏了",
        reported_by=member.user,
        state=Concern.State.RESOLVED,
        resolution="已修",
    )
    Concern.objects.create(community=world.shengli, title="垃圾", reported_by=member.user)
    DoorToDoorUnit.objects.create(
        activity=volunteer, building="1栋", households=10, households_reached=8, member=member
    )
    in_shengli = Participation.objects.filter(member=member, activity__community=world.shengli)
    expected = figures.attendance(in_shengli)
    duty = figures.attendance(in_shengli.filter(activity__nature=Activity.Nature.DUTY))

    evidence = evidence_of([member.pk], Period.year(YEAR), world.shengli)[member.pk]

    assert evidence.attendance == expected
    assert evidence.duty_hours == duty.hours
    assert evidence.volunteer_hours == expected.hours - duty.hours
    assert (evidence.concerns, evidence.concerns_resolved) == (2, 1)
    assert evidence.coverage == figures.rate(8, 10)
    everywhere = evidence_of([member.pk], Period.year(YEAR))[member.pk]
    assert everywhere.attendance == figures.attendance(Participation.objects.filter(member=member))
    assert evidence_of([member.pk], Period.year(YEAR - 1), world.shengli) == {}


def test_evidence_costs_the_same_queries_for_5_and_50_members(world, django_assert_num_queries):
    few, many = reported_in(world, 5), reported_in(world, 50)
    Participation.objects.bulk_create(
        Participation(activity=world.shengli_activity, member=m, status="present", hours=2)
        for m in few + many
    )
    with django_assert_num_queries(4):
        evidence_of([m.pk for m in few], Period.year(YEAR), world.shengli)
    with django_assert_num_queries(4):
        found = evidence_of([m.pk for m in many], Period.year(YEAR), world.shengli)
    assert len(found) == len(many)


@pytest.mark.parametrize("value", ["0", "4/3", "-1/3", "abc", "1/0", ""])
def test_settings_refuse_a_share_that_is_no_share(value):
    from django.core.exceptions import ImproperlyConfigured

    from xiachen.settings import _excellent_share

    with pytest.raises(ImproperlyConfigured):
        _excellent_share(value)


@pytest.mark.parametrize("value, share", [("1/3", Fraction(1, 3)), ("0.3", Fraction(3, 10))])
def test_settings_read_a_share_as_a_fraction_or_a_decimal(value, share):
    from xiachen.settings import _excellent_share

    assert _excellent_share(value) == share


def test_the_count_of_members_rated_counts_each_once(world):
    # Counted on the report-ins (reports.services.rateable_count): a member reported in twice
    # (liaison and residence) counts once; one who left, never.
    members = reported_in(world, 3)
    twice, left = members[0], members[1]
    Registration.objects.create(
        member=twice,
        community=world.shengli,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    Member.objects.filter(pk=left.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    rated = rateable_members(world.shengli)
    assert twice in rated and left not in rated
    assert rateable_count(world.shengli) == rated.count() == 3  # 李建华, twice and the third
