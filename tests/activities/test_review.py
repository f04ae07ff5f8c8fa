"""Attendance review (考勤审核), the services: confirm (one UPDATE, scoped to the office), dispute →
the community is told → answer (explain or correct) → the office is told and confirms; the lock
on confirmed records on every path that changes attendance; the backfill (补录) with its reason,
who and when; records overdue for review."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import reminders
from activities.models import Activity, Participation
from activities.services.review import (
    Correction,
    participation_backfill,
    participation_confirm,
    participation_dispute,
    participation_dispute_answer,
    reviewable_by,
)
from activities.services.rollcall import RollCallRow, participation_roll_call
from communities.history import ChangeReason
from notifications.models import Notification

Review = Participation.Review
Status = Participation.Status


def _notices(kind, obj):
    return Notification.objects.filter(
        kind=kind,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=obj.pk,
    )


# --- Confirm ----------------------------------------------------------------------------------


def test_the_office_reviews_only_its_own_members_recorded_attendance(
    world, agency_office, yuanlin_record
):
    signed_up = Participation.objects.create(
        activity=world.shenzhen_activity,
        member=world.sanxia_member_2,
        source=Participation.Source.SIGN_UP,
    )
    records = set(reviewable_by(agency_office))
    assert world.shengli_participation in records
    assert yuanlin_record not in records
    assert signed_up not in records  # a sign-up is not a record yet


def test_bulk_confirm_leaves_another_agencys_records_as_they_are(
    world, agency_office, yuanlin_record
):
    mine = world.shengli_participation
    confirmed = participation_confirm(by=agency_office, ids=[mine.pk, yuanlin_record.pk])
    assert confirmed == 1
    mine.refresh_from_db()
    yuanlin_record.refresh_from_db()
    assert mine.review == Review.CONFIRMED
    assert mine.reviewed_by == agency_office and mine.reviewed_at is not None
    assert yuanlin_record.review == Review.UNREVIEWED
    assert yuanlin_record.reviewed_by is None
    assert yuanlin_record.history.count() == 1  # only its creation


def test_someone_who_is_not_an_office_confirms_nothing(world, community_staff):
    assert participation_confirm(by=community_staff, ids=[world.shengli_participation.pk]) == 0
    world.shengli_participation.refresh_from_db()
    assert world.shengli_participation.review == Review.UNREVIEWED


def _records(world, n):
    activities = Activity.objects.bulk_create(
        Activity(
            community=world.shengli,
            type=world.patrol,
            title=f"巡逻{i}",
            starts_at=world.shengli_activity.starts_at - dt.timedelta(days=i + 1),
            ends_at=world.shengli_activity.ends_at - dt.timedelta(days=i + 1),
        )
        for i in range(n)
    )
    return Participation.objects.bulk_create(
        Participation(
            activity=a,
            member=world.sanxia_member_2,
            status=Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
        )
        for a in activities
    )


@pytest.mark.parametrize("n", [1, 30])
def test_bulk_confirm_is_one_update_and_one_history_insert_however_many(world, agency_office, n):
    ids = [p.pk for p in _records(world, n)]
    with CaptureQueriesContext(connection) as queries:
        assert participation_confirm(by=agency_office, ids=ids) == n
    sql = [q["sql"] for q in queries.captured_queries]
    updates = [s for s in sql if s.startswith("UPDATE")]
    assert len(updates) == 1 and "activities_participation" in updates[0]
    inserts = [s for s in sql if s.startswith("INSERT")]
    assert len(inserts) == 1 and "historicalparticipation" in inserts[0]
    assert Participation.objects.filter(pk__in=ids, review=Review.CONFIRMED).count() == n
    version = Participation.history.filter(id=ids[0]).latest("history_date")
    assert version.history_change_reason == ChangeReason.REVIEW_CONFIRMED
    assert version.history_user == agency_office
    assert version.review == Review.CONFIRMED


def test_confirming_twice_changes_nothing_the_second_time(world, agency_office):
    pk = world.shengli_participation.pk
    assert participation_confirm(by=agency_office, ids=[pk]) == 1
    assert participation_confirm(by=agency_office, ids=[pk]) == 0
    assert Participation.history.filter(id=pk).count() == 2


# --- Dispute, answer, confirm -------------------------------------------------------------


def test_dispute_answer_and_confirm(world, agency_office, community_staff, grid_worker):
    record = world.shengli_participation
    dispute = participation_dispute(
        by=agency_office, participation=record, reason="本人当天在单位值班"
    )
    record.refresh_from_db()
    assert record.review == Review.DISPUTED
    assert dispute.reason == "本人当天在单位值班" and dispute.raised_by == agency_office
    assert list(Participation.objects.awaiting_answer()) == [record]
    # The community's staff are told, with a link to answer.
    told = _notices(Notification.Kind.ATTENDANCE_DISPUTED, dispute)
    assert {n.recipient for n in told} == {community_staff}
    assert all(f"/activities/records/{record.pk}/answer/" in n.url for n in told)
    assert "本人当天在单位值班" in told[0].body

    # A grid worker of the community answers by correcting the record.
    answered = participation_dispute_answer(
        by=grid_worker,
        participation=record,
        answer="经核实，当天请假",
        correction=Correction(status=Status.LEAVE, leave_reason="单位值班"),
    )
    assert answered.pk == dispute.pk and answered.corrected
    assert answered.answered_by == grid_worker
    record.refresh_from_db()
    assert record.is_answered
    assert list(Participation.objects.answered()) == [record]
    assert record.status == Status.LEAVE and record.hours is None
    assert record.leave_reason == "单位值班"
    assert record.recorded_by == grid_worker
    # The office is told.
    told = _notices(Notification.Kind.DISPUTE_ANSWERED, dispute)
    assert {n.recipient for n in told} == {agency_office}
    assert f"/review/{record.pk}/" in told[0].url

    assert participation_confirm(by=agency_office, ids=[record.pk]) == 1
    record.refresh_from_db()
    assert record.review == Review.CONFIRMED
    assert record.disputes.get().answer == "经核实，当天请假"
    reasons = list(
        Participation.history.filter(id=record.pk)
        .order_by("history_date", "history_id")
        .values_list("history_change_reason", flat=True)
    )
    assert reasons[-3:] == [
        ChangeReason.REVIEW_DISPUTED,
        ChangeReason.DISPUTE_ANSWERED,
        ChangeReason.REVIEW_CONFIRMED,
    ]


def test_the_office_keeps_its_dispute_with_a_new_reason(world, agency_office, community_staff):
    record = world.shengli_participation
    first = participation_dispute(by=agency_office, participation=record, reason="第一次")
    # Not again before the community answers.
    with pytest.raises(ValidationError):
        participation_dispute(by=agency_office, participation=record, reason="催一下")
    participation_dispute_answer(by=community_staff, participation=record, answer="记录无误")
    kept = participation_dispute(by=agency_office, participation=record, reason="仍有异议")
    record.refresh_from_db()
    assert record.review == Review.DISPUTED and not record.is_answered
    assert [d.reason for d in record.disputes.all()] == ["仍有异议", "第一次"]
    # Told again: each dispute is its own message.
    assert _notices(Notification.Kind.ATTENDANCE_DISPUTED, first).count() == 1
    assert _notices(Notification.Kind.ATTENDANCE_DISPUTED, kept).count() == 1


def test_a_dispute_needs_a_reason(world, agency_office):
    with pytest.raises(ValidationError) as error:
        participation_dispute(
            by=agency_office, participation=world.shengli_participation, reason=" "
        )
    assert "reason" in error.value.message_dict


def test_another_office_cannot_dispute_a_record(world, other_agency_office):
    with pytest.raises(ValidationError):
        participation_dispute(
            by=other_agency_office, participation=world.shengli_participation, reason="不对"
        )
    world.shengli_participation.refresh_from_db()
    assert world.shengli_participation.review == Review.UNREVIEWED


def test_a_confirmed_record_cannot_be_disputed(world, agency_office):
    participation_confirm(by=agency_office, ids=[world.shengli_participation.pk])
    with pytest.raises(ValidationError):
        participation_dispute(
            by=agency_office, participation=world.shengli_participation, reason="不对"
        )


def test_another_community_cannot_answer_a_dispute(world, agency_office, other_community_staff):
    record = world.shengli_participation
    participation_dispute(by=agency_office, participation=record, reason="不对")
    with pytest.raises(ValidationError):
        participation_dispute_answer(
            by=other_community_staff,
            participation=record,
            answer="改了",
            correction=Correction(status=Status.ABSENT),
        )
    record.refresh_from_db()
    assert record.status == Status.PRESENT and not record.is_answered
    assert record.disputes.get().answered_at is None


def test_only_a_disputed_record_is_answered(world, community_staff):
    with pytest.raises(ValidationError):
        participation_dispute_answer(
            by=community_staff, participation=world.shengli_participation, answer="无"
        )


# --- The lock and the backfill ----------------------------------------------------------


@pytest.fixture
def confirmed(world, agency_office):
    participation_confirm(by=agency_office, ids=[world.shengli_participation.pk])
    world.shengli_participation.refresh_from_db()
    return world.shengli_participation


def test_the_roll_call_refuses_a_confirmed_record_with_a_clear_message(
    world, community_staff, confirmed
):
    with pytest.raises(ValidationError) as error:
        participation_roll_call(
            activity=world.shengli_activity,
            by=community_staff,
            rows=[RollCallRow(member_id=confirmed.member_id, status=Status.ABSENT)],
            resident_volunteers=0,
        )
    assert error.value.messages == [str(Participation.LOCKED)]
    confirmed.refresh_from_db()
    assert confirmed.status == Status.PRESENT


def test_a_backfill_changes_a_confirmed_record_with_reason_who_and_when(
    world, community_staff, confirmed
):
    at = timezone.now()
    record = participation_backfill(
        by=community_staff,
        participation=confirmed,
        correction=Correction(status=Status.PRESENT, hours=Decimal("1.5")),
        reason="巡逻提前结束，据签到表补录",
        now=at,
    )
    record.refresh_from_db()
    assert record.hours == Decimal("1.5")
    assert record.source == Participation.Source.BACKFILL
    assert record.backfill_reason == "巡逻提前结束，据签到表补录"
    assert record.recorded_by == community_staff and record.recorded_at == at
    # Back to the office, which put its name to the old figures.
    assert record.review == Review.UNREVIEWED
    version = record.history.latest("history_date")
    assert version.history_user == community_staff
    assert version.history_date == at
    assert version.history_change_reason == ChangeReason.BACKFILL
    assert version.backfill_reason == "巡逻提前结束，据签到表补录"
    assert version.hours == Decimal("1.5")
    # The version the office confirmed is still there.
    assert record.history.filter(review=Review.CONFIRMED, hours=2).exists()


def test_a_backfill_needs_a_reason_and_a_confirmed_record(world, community_staff, confirmed):
    with pytest.raises(ValidationError) as error:
        participation_backfill(
            by=community_staff,
            participation=confirmed,
            correction=Correction(status=Status.ABSENT),
            reason="",
        )
    assert "reason" in error.value.message_dict
    other = Participation.objects.create(
        activity=world.shengli_activity,
        member=world.sanxia_member_2,
        status=Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
    with pytest.raises(ValidationError):
        participation_backfill(
            by=community_staff,
            participation=other,
            correction=Correction(status=Status.PRESENT),
            reason="漏记",
        )


def test_another_community_cannot_backfill(world, other_community_staff, confirmed):
    with pytest.raises(ValidationError):
        participation_backfill(
            by=other_community_staff,
            participation=confirmed,
            correction=Correction(status=Status.ABSENT),
            reason="漏记",
        )
    confirmed.refresh_from_db()
    assert confirmed.status == Status.PRESENT and confirmed.is_locked


def test_the_admin_refuses_to_change_a_confirmed_records_attendance(world, staff_client, confirmed):
    url = f"/admin/activities/participation/{confirmed.pk}/change/"
    form = {
        "activity": confirmed.activity_id,
        "member": confirmed.member_id,
        "status": Status.ABSENT,
        "hours": "",
        "leave_reason": "",
        "leave_decision": "",
        "source": confirmed.source,
        "recorded_at_0": timezone.localtime(confirmed.recorded_at).strftime("%Y-%m-%d"),
        "recorded_at_1": timezone.localtime(confirmed.recorded_at).strftime("%H:%M:%S"),
        "backfill_reason": "",
    }
    response = staff_client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert "补录" in response.content.decode()
    confirmed.refresh_from_db()
    assert confirmed.status == Status.PRESENT


def test_the_activity_admins_inline_refuses_it_too(world, confirmed):
    from django.forms import modelform_factory

    from activities.admin import ParticipationInline

    # The inline's rows are this form with the inline's fields.
    Form = modelform_factory(
        Participation,
        form=ParticipationInline.form,
        fields=[
            f for f in ParticipationInline.fields if f not in ParticipationInline.readonly_fields
        ],
    )
    data = {"member": confirmed.member_id, "status": Status.ABSENT, "source": confirmed.source}
    form = Form(data=data, instance=confirmed)
    assert not form.is_valid()
    assert Participation.LOCKED in form.non_field_errors()


# --- Overdue ------------------------------------------------------------------------------


def test_records_unreviewed_for_the_setting_are_overdue(world, settings, yuanlin_record):
    settings.REVIEW_OVERDUE_DAYS = 14
    now = timezone.now()
    Participation.objects.filter(pk=world.shengli_participation.pk).update(
        recorded_at=now - dt.timedelta(days=15)
    )
    Participation.objects.filter(pk=yuanlin_record.pk).update(
        recorded_at=now - dt.timedelta(days=13)
    )
    assert list(Participation.objects.review_overdue(now)) == [world.shengli_participation]
    settings.REVIEW_OVERDUE_DAYS = 10
    assert Participation.objects.review_overdue(now).count() == 2


def test_the_weekly_digest_tells_the_office_of_overdue_records(world, agency_office, settings):
    settings.LANGUAGE_CODE = "en"
    now = timezone.localtime()
    Participation.objects.filter(pk=world.shengli_participation.pk).update(
        recorded_at=now - dt.timedelta(days=30)
    )
    days_ahead = (settings.REMINDER_WEEKLY_WEEKDAY - now.weekday()) % 7 or 7
    slot = (now + dt.timedelta(days=days_ahead)).replace(
        hour=settings.REMINDER_WEEKLY_HOUR, minute=5
    )
    assert reminders.agency_digest(slot) == 1
    digest = Notification.objects.get(kind=Notification.Kind.AGENCY_DIGEST)
    assert digest.recipient == agency_office
    assert "1 records unreviewed for more than 14 days." in digest.body
