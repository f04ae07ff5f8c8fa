"""The rules of an activity, each written once on the model or its QuerySet and asked by pages,
reminders and figures alike: its live status, "pending roll call" (待点名) and when the roll
call is due."""

import datetime as dt
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from activities import figures, reminders
from activities.models import Activity, Participation
from communities.models import Community
from members.models import Member

Status = Activity.Status
NOW = timezone.make_aware(dt.datetime(2025, 6, 18, 10, 0))
H = dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)

# Where the clock stands against an activity that runs from 09:00 to 11:00 on NOW's day.
PHASES = {
    "before the start": NOW - 2 * H,
    "at the start": NOW - H,
    "while it runs": NOW,
    "just before the end": NOW + H - US,
    "at the end": NOW + H,
    "after the end": NOW + 5 * H,
}


def make_activity(world, status=Status.RECRUITING, *, starts_at=NOW - H, hours=2, **extra):
    return Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title=f"楼道清理 · {status}",
        starts_at=starts_at,
        ends_at=starts_at + hours * H,
        status=status,
        **extra,
    )


def sign_up(activity, member, status=Participation.Status.SIGNED_UP):
    return Participation.objects.create(
        activity=activity,
        member=member,
        status=status,
        hours=2 if status == Participation.Status.PRESENT else None,
        leave_reason="出差" if status == Participation.Status.LEAVE else "",
        source=Participation.Source.SIGN_UP,
    )


# --- The live status ----------------------------------------------------------------------------


def test_the_sql_and_the_model_give_the_same_live_status_for_every_status_and_phase(
    world, django_assert_num_queries
):
    activities = [make_activity(world, status) for status in Status]
    for phase, now in PHASES.items():
        with django_assert_num_queries(1):
            in_sql = dict(
                Activity.objects.filter(pk__in=[a.pk for a in activities])
                .with_live_status(now)
                .values_list("pk", "live_status")
            )
        for activity in activities:
            assert in_sql[activity.pk] == activity.live_status_at(now), (activity.status, phase)
            finished = Activity.objects.finished(now).filter(pk=activity.pk).exists()
            assert finished == (activity.live_status_at(now) == Status.FINISHED)


@pytest.mark.parametrize(
    ("stored", "phase", "live"),
    [
        (Status.RECRUITING, "before the start", Status.RECRUITING),
        (Status.RECRUITING, "at the start", Status.ONGOING),
        (Status.RECRUITING, "just before the end", Status.ONGOING),
        (Status.RECRUITING, "at the end", Status.FINISHED),
        (Status.DRAFT, "after the end", Status.DRAFT),
        (Status.CANCELLED, "while it runs", Status.CANCELLED),
        (Status.CANCELLED, "after the end", Status.CANCELLED),
        (Status.FINISHED, "before the start", Status.FINISHED),
    ],
)
def test_the_live_status_follows_the_clock_except_for_drafts_and_cancelled_ones(
    world, stored, phase, live
):
    assert make_activity(world, stored).live_status_at(PHASES[phase]) == live


def test_the_activity_list_shows_the_live_status(client, world, community_staff):
    Activity.objects.all().delete()
    now = timezone.now()
    make_activity(world, Status.CANCELLED, starts_at=now - 5 * H)
    make_activity(world, Status.RECRUITING, starts_at=now - 5 * H)
    client.force_login(community_staff)
    html = client.get("/activities/").content.decode()
    assert html.count('data-status="cancelled"') == 1
    assert html.count('data-status="finished"') == 1


# --- Pending roll call (待点名) ----------------------------------------------------------------


@pytest.fixture
def ended(world):
    """Activities that ended at 11:00, an hour before NOW + H, each with one member signed up,
    in every stored status; one more where everyone is recorded."""
    Activity.objects.all().delete()
    made = {status: make_activity(world, status) for status in Status}
    for activity in made.values():
        sign_up(activity, world.sanxia_member)
    recorded = make_activity(world)
    sign_up(recorded, world.sanxia_member, Participation.Status.PRESENT)
    sign_up(recorded, world.sanxia_member_2, Participation.Status.LEAVE)
    return made


def test_pending_roll_call_is_never_a_cancelled_or_draft_activity(world, ended):
    pending = Activity.objects.pending_roll_call(NOW + 2 * H)

    assert set(pending.values_list("status", flat=True)) == {
        Status.RECRUITING,
        Status.ONGOING,
        Status.FINISHED,
    }
    assert Participation.objects.pending_roll_call(NOW + 2 * H).count() == 3


def test_nothing_is_pending_before_the_end(world, ended):
    assert not Activity.objects.pending_roll_call(NOW + H - US).exists()
    assert Activity.objects.pending_roll_call(NOW + H).count() == 3


def test_the_dashboard_lists_no_cancelled_activity_for_roll_call(client, world, community_staff):
    Activity.objects.all().delete()
    yesterday = timezone.now() - 24 * H
    cancelled = make_activity(world, Status.CANCELLED, starts_at=yesterday)
    waiting = make_activity(world, Status.RECRUITING, starts_at=yesterday)
    for activity in (cancelled, waiting):
        sign_up(activity, world.sanxia_member)
    client.force_login(community_staff)

    html = client.get("/").content.decode()

    assert 'data-figure="pending_roll_call">1<' in html
    assert f"/activities/{waiting.pk}/roll-call/" in html
    assert f"/activities/{cancelled.pk}/roll-call/" not in html


def test_the_board_of_a_cancelled_activity_calls_no_one_pending(client, world, community_staff):
    cancelled = make_activity(world, Status.CANCELLED, starts_at=timezone.now() - 24 * H)
    sign_up(cancelled, world.sanxia_member)
    client.force_login(community_staff)
    roll_call = f'href="/activities/{cancelled.pk}/roll-call/"'
    html = client.get(f"/activities/{cancelled.pk}/board/").content.decode()
    assert "待点名" not in html
    assert roll_call not in html

    Activity.objects.filter(pk=cancelled.pk).update(status=Status.RECRUITING)
    html = client.get(f"/activities/{cancelled.pk}/board/").content.decode()
    assert "待点名" in html
    assert roll_call in html


# --- When the roll call is due ----------------------------------------------------------------


@override_settings(REMINDER_ROLL_CALL_AFTER_HOURS=3)
def test_the_roll_call_is_due_after_the_hours_the_setting_says(world, ended, community_staff):
    end = NOW + H

    assert not Activity.objects.roll_call_due(end + 3 * H - US).exists()
    assert Activity.objects.roll_call_due(end + 3 * H).count() == 3
    assert reminders.roll_call_due(end + 3 * H - US) == 0
    assert reminders.roll_call_due(end + 3 * H) == 3  # one message per activity to the staff


def test_no_reminder_for_a_cancelled_or_draft_activity_with_sign_ups(world, ended, community_staff):
    Activity.objects.exclude(status__in=Activity.NOT_TAKING_PLACE).delete()

    assert reminders.roll_call_due(NOW + 5 * H) == 0


# --- Taking place -----------------------------------------------------------------------------


def test_the_months_figures_leave_out_drafts_and_cancelled_activities(world):
    today = dt.date(2025, 6, 18)
    start, _end = figures.month_bounds(today)
    Activity.objects.all().delete()
    for status in Activity.Status:
        Activity.objects.create(
            community=world.shengli,
            type=world.cleanup,
            title=f"清扫 {status}",
            starts_at=start + dt.timedelta(days=2),
            ends_at=start + dt.timedelta(days=2, hours=2),
            status=status,
        )
    communities = figures.with_month_figures(Community.objects.filter(pk=world.shengli.pk), today)
    # Recruiting, ongoing and finished: a draft is only a plan, a cancelled one did not happen.
    assert communities.get().activities_this_month == 3


def test_the_cancel_page_counts_those_who_will_be_told(client, world, community_staff):
    activity = make_activity(world, starts_at=timezone.now() + 24 * H)
    sign_up(activity, world.sanxia_member)
    sign_up(activity, world.sanxia_member_2)
    Member.objects.filter(pk=world.sanxia_member_2.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    client.force_login(community_staff)
    html = client.get(f"/activities/{activity.pk}/cancel/").content.decode()
    told = re.search(r"data-testid=\"who-is-told\">\D*(\d+)", html).group(1)
    assert told == str(len(activity.signed_up_members())) == "1"


def test_a_note_can_be_about_an_activity_that_takes_place_only(client, world, grid_worker):
    yesterday = timezone.now() - 24 * H
    held = make_activity(world, starts_at=yesterday)
    draft = make_activity(world, Status.DRAFT, starts_at=yesterday)
    cancelled = make_activity(world, Status.CANCELLED, starts_at=yesterday)
    client.force_login(grid_worker)
    choices = client.get("/activities/updates/new/").context["form"].fields["activity"].queryset
    assert held in choices
    assert draft not in choices
    assert cancelled not in choices
