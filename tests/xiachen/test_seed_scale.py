"""`manage.py seed_scale`: a small city (--scale 0.01) around the demo, on PostgreSQL.

At scale 0.01 the city has 3 streets, 8 communities (3 grids each but the demo's), 10 agencies,
about 600 members, 1,500 activities, 15,000 participations and 2,000 notifications besides the
demo; the demo's accounts sit in the biggest scopes."""

import datetime as dt
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.urls import reverse

from activities.models import (
    Activity,
    AgencyActivity,
    Concern,
    Dispute,
    DoorToDoorUnit,
    DutyAssignment,
    Participation,
    WorkUpdate,
)
from communities.models import Agency, Agreement, CitySeed, Community, Street
from members.models import Member, Registration
from notifications.models import Notification
from xiachen import demo

TODAY = "2026-11-27"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
SCALE = 0.01


def seed_scale(*args):
    out = StringIO()
    call_command("seed_scale", *args, stdout=out)
    return out.getvalue()


def sign_in(client, username):
    return client.post("/login/", {"username": username, "password": demo.DEMO_PASSWORD})


def test_refuses_sqlite_with_a_clear_message(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'city.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    ran = subprocess.run(
        [sys.executable, "manage.py", "seed_scale", "--scale", "0.01"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "seed_scale needs PostgreSQL" in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_refuses_a_database_with_data_other_than_the_demo(world):
    with pytest.raises(CommandError, match="data other than the demo"):
        seed_scale("--scale", str(SCALE))
    assert not CitySeed.objects.exists()


@pytest.fixture(scope="module")
def city(django_db_setup, django_db_blocker):
    """The demo, then the city seeded twice from it (the first rolled back): the checksums of
    both, and the output of the second, which the tests read. All rolled back after them."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_demo", today=TODAY, stdout=StringIO())
        first = transaction.savepoint()
        seed_scale("--scale", str(SCALE), "--today", TODAY)
        checksum = CitySeed.objects.get().checksum
        transaction.savepoint_rollback(first)
        output = seed_scale("--scale", str(SCALE), "--today", TODAY)
        yield {"output": output, "first_checksum": checksum}
        transaction.set_rollback(True)


@pytest.mark.postgres
class TestASmallCity:
    # Every test here reads the seeded city through `db` (autouse), not through the module
    # fixture's unblocked database, which a transactional test elsewhere blocks again.
    @pytest.fixture(autouse=True)
    def seeded(self, city, db):
        return city

    def test_same_seed_and_day_make_the_same_city(self, seeded):
        assert CitySeed.objects.get().checksum == seeded["first_checksum"]

    def test_counts_are_the_scaled_city_within_tolerance(self, seeded):
        record = CitySeed.objects.get()
        assert record.scale == SCALE and record.counts["members_member"] == 600
        assert (Street.objects.count(), Community.objects.count(), Agency.objects.count()) == (
            3,
            8,
            10,
        )
        new_communities = Community.objects.exclude(name__in=["胜利一路社区", "建设社区"])
        new_communities = new_communities.exclude(name__in=["东山花园社区", "深圳路社区"])
        assert all(c.grids.count() == 3 for c in new_communities)
        expected = {
            Member: 600,
            Registration: 900,
            Activity: 1_500,
            Participation: 15_000,
            Notification: 2_000,
        }
        for model, count in expected.items():
            assert 0.85 * count <= model.objects.count() <= 1.2 * count + 200, model
        for model in (Concern, WorkUpdate, DoorToDoorUnit, DutyAssignment):
            assert model.objects.count() > 50, model
        assert "activities_participation" in seeded["output"]
        assert "Seeded in" in seeded["output"]

    def test_the_pairs_of_agencies_and_activities_are_counted_and_then_kept(self):
        # Counted once after the COPY (the triggers off meanwhile), then kept by them again.
        def pairs():
            return {
                (agency, activity): (participations, by_agreement)
                for agency, activity, participations, by_agreement in (
                    AgencyActivity.objects.values_list(
                        "agency", "activity", "participations", "by_agreement"
                    )
                )
            }

        def counted():
            found = {
                (agency, activity): (n, False)
                for agency, activity, n in Participation.objects.values_list(
                    "member__agency", "activity"
                )
                .order_by()
                .annotate(n=Count("pk"))
            }
            for agency, activity in Activity.objects.filter(agreement__isnull=False).values_list(
                "agreement__agency", "pk"
            ):
                found[(agency, activity)] = (found.get((agency, activity), (0, False))[0], True)
            return found

        assert len(pairs()) > 1000 and pairs() == counted()
        assert any(by_agreement for _, by_agreement in pairs().values())
        row = Participation.objects.order_by("pk").first()
        Participation.objects.filter(pk=row.pk).delete()
        marked = Activity.objects.filter(agreement__isnull=False).order_by("pk").first()
        Activity.objects.filter(pk=marked.pk).update(agreement=None)
        assert pairs() == counted()

    def test_the_door_units_agency_and_start_are_filled_and_then_kept(self):
        # Filled in one statement after the COPY (the triggers off meanwhile), then kept.
        def kept():
            return set(DoorToDoorUnit.objects.values_list("pk", "agency", "starts_at"))

        def expected():
            return set(
                DoorToDoorUnit.objects.values_list("pk", "member__agency", "activity__starts_at")
            )

        assert kept() == expected()
        assert DoorToDoorUnit.objects.filter(agency__isnull=False).count() > 50
        unit = DoorToDoorUnit.objects.filter(member__isnull=False).order_by("pk").first()
        other = Agency.objects.exclude(pk=unit.agency_id).order_by("pk").first()
        Member.objects.filter(pk=unit.member_id).update(agency=other)
        assert DoorToDoorUnit.objects.get(pk=unit.pk).agency_id == other.pk
        assert kept() == expected()

    def test_every_report_in_has_its_members_agency_and_keeps_it(self):
        # Filled once after the COPY (members.models.AGENCY_FILL, the triggers off meanwhile),
        # then kept by them again.
        def wrong():
            return Registration.objects.exclude(agency=F("member__agency")).count()

        assert Registration.objects.count() > 1000
        assert not Registration.objects.filter(agency__isnull=True).exists()
        assert wrong() == 0
        member = Member.objects.filter(registrations__isnull=False).order_by("pk").first()
        other = Agency.objects.exclude(pk=member.agency_id).order_by("pk").first()
        Member.objects.filter(pk=member.pk).update(agency=other)
        assert set(member.registrations.values_list("agency", flat=True)) == {other.pk}
        assert wrong() == 0

    def test_attendance_has_every_status_and_hours_on_present_rows(self):
        statuses = dict(
            Participation.objects.values_list("status").annotate(n=Count("pk")).order_by()
        )
        assert set(statuses) == set(Participation.Status.values)
        total = sum(statuses.values())
        assert statuses["present"] > 0.75 * total
        present = Participation.objects.filter(status="present")
        assert not present.filter(hours=None).exists()
        assert not Participation.objects.exclude(status="present").exclude(hours=None).exists()
        # Hours are the activity's length unless someone edited them (a few).
        row = present.select_related("activity").filter(source="roll_call").first()
        assert row.hours in (row.activity.duration_hours, row.activity.duration_hours - 1)
        # Sign-ups are on activities still to come, or waiting for their roll call.
        assert Participation.objects.filter(status="signed_up").exists()
        # Requests for leave awaiting the organizer: still signed up, before the start.
        assert Participation.objects.filter(
            status="signed_up", leave_decision="pending", activity__starts_at__gt=F("recorded_at")
        ).exists()
        assert not Participation.objects.filter(status="leave", leave_decision="pending").exists()

    def test_waitlists_are_behind_full_coming_activities_only(self):
        taking = Participation.TAKING_A_PLACE
        seats = Count("participations", filter=Q(participations__status__in=taking))
        waiting = Count("participations", filter=Q(participations__status="waitlisted"))
        start = dt.datetime.combine(dt.date.fromisoformat(TODAY), dt.time(), SHANGHAI)
        coming = Activity.objects.filter(starts_at__gte=start, capacity__isnull=False)
        coming = coming.annotate(seats=seats, waiting=waiting)
        # No coming activity holds more sign-ups than seats; a waitlist only where all are taken.
        assert not coming.filter(seats__gt=F("capacity")).exists()
        queued = coming.filter(waiting__gt=0)
        assert queued.exists()
        assert not queued.exclude(seats=F("capacity")).exists()
        assert not queued.exclude(status=Activity.Status.RECRUITING).exists()
        assert not Activity.objects.filter(
            Q(starts_at__lt=start) | Q(capacity=None),
            participations__status="waitlisted",
        ).exists()
        line = Participation.objects.filter(status="waitlisted")
        # Besides the demo's (members with 13900 mobiles), the seeded city's own.
        assert line.exclude(member__mobile__startswith="13900").exists()
        assert not line.filter(waitlisted_at=None).exists()
        assert not line.exclude(hours=None).exists()
        # Each in line could have signed up: reported in to the community by then.
        assert not line.exclude(
            member__registrations__community=F("activity__community"),
            member__registrations__status="active",
        ).exists()
        first = line.with_waitlist_position().filter(waitlist_position=1)
        assert first.count() == queued.count()

    def test_rules_the_database_cannot_state_hold_too(self):
        assert not Activity.objects.exclude(grid=None).exclude(grid__community=F("community"))
        assert not Activity.objects.exclude(agreement=None).exclude(
            agreement__community=F("community")
        )
        assert not Registration.objects.exclude(grid=None).exclude(grid__community=F("community"))
        assert not DutyAssignment.objects.exclude(member__agency=F("agreement__agency"))
        assert not Participation.objects.filter(member__left_on__lt=F("activity__starts_at__date"))
        assert not Member.objects.exclude(mobile__regex=r"^1[3-9]\d{9}$")
        # Seeded members take part only once they have joined (the demo's were all there).
        assert not Participation.objects.exclude(member__mobile__startswith="13900").filter(
            activity__starts_at__lt=F("member__created_at")
        )
        # The outbox's rows about a community's activities are its staff's to see.
        assert not Notification.objects.filter(
            kind=Notification.Kind.UPCOMING, community=None
        ).exists()
        assert Member.objects.values("mobile").distinct().count() == Member.objects.count()
        for model in (Member, Registration, Agreement, Activity, Participation, Notification):
            for row in model.objects.order_by("?")[:5]:
                row.full_clean()

    def test_the_outbox_has_every_state_and_channel(self):
        assert set(Notification.objects.values_list("state", flat=True)) == set(
            Notification.State.values
        )
        assert set(Notification.objects.values_list("channel", flat=True)) == set(
            Notification.Channel.values
        )
        # A member without a login is named by the row itself (shown masked in the outbox).
        unnamed = Notification.objects.filter(recipient=None)
        assert unnamed.exists()
        assert not unnamed.filter(Q(recipient_name="") | Q(recipient_mobile=""))

    def test_history_is_there_where_the_admin_shows_it(self):
        for model in (Agreement, Registration, Participation):
            history = model.history.model.objects
            assert history.count() >= model.objects.count(), model
        participation = Participation.objects.filter(source="roll_call", review="unreviewed").last()
        assert participation.history.get().history_change_reason == "roll call"

    def test_every_disputed_record_has_the_offices_dispute_some_answered(self):
        disputed = Participation.objects.filter(review="disputed")
        assert disputed.exists()
        # Each disputed record (the demo's and the city's) has its dispute with a reason,
        # raised when the record was reviewed, by the office that reviewed it.
        assert not disputed.exclude(disputes__isnull=False).exists()
        seeded = Dispute.objects.exclude(participation__member__mobile__startswith="13900")
        assert seeded.exists()
        assert not seeded.filter(reason="").exists()
        assert not seeded.exclude(raised_at=F("participation__reviewed_at")).exists()
        assert not seeded.exclude(raised_by=F("participation__reviewed_by")).exists()
        # Answered ones (the list's "answered by the community") and ones still open.
        answered = seeded.exclude(answered_at=None)
        assert answered.exists() and seeded.filter(answered_at=None).exists()
        assert not answered.filter(Q(answer="") | Q(answered_by=None)).exists()
        assert not answered.filter(answered_at__lte=F("raised_at")).exists()
        assert Participation.objects.answered().exists()
        assert Participation.objects.awaiting_answer().exists()
        history = Participation.history.filter(id__in=seeded.values("participation"))
        assert not history.exclude(history_change_reason="review disputed").exists()
        for row in seeded.order_by("?")[:5]:
            row.full_clean()

    def test_no_login_of_a_seeded_member_has_a_usable_password(self):
        seeded = Member.objects.exclude(user=None).exclude(
            user__username__in=[a[0] for a in demo.DEMO_ACCOUNTS]
        )
        assert seeded.exists()
        assert not any(m.user.has_usable_password() for m in seeded.select_related("user")[:50])

    def test_the_demo_accounts_sign_in_and_see_the_biggest_scopes(self, client):
        by_community = (
            Activity.objects.values_list("community__name").annotate(n=Count("pk")).order_by("-n")
        )
        assert by_community[0][0] == "胜利一路社区"
        by_street = (
            Activity.objects.values_list("community__street__name")
            .annotate(n=Count("pk"))
            .order_by("-n")
        )
        assert by_street[0][0] == "万寿桥街道"
        by_agency = Agency.objects.annotate(n=Count("members")).order_by("-n")
        assert [a.name for a in by_agency[:2]] == ["三峡旅游新区管委会", "市园林和林业局"]

        assert sign_in(client, "shengli_staff").status_code == 302
        assert client.get(reverse("reports:dashboard")).status_code == 200
        staff = get_user_model().objects.get(username="shengli_staff")
        assert Activity.objects.visible_to(staff).count() == by_community[0][1]

        assert sign_in(client, "sanxia_member").status_code == 302
        assert client.get(reverse("reports:dashboard")).status_code == 200
        member = Member.objects.get(user__username="sanxia_member")
        assert member.participations.count() > 30

    def test_reuse_does_nothing_the_second_time(self, seeded):
        before = Participation.objects.count(), Notification.objects.count()
        output = seed_scale("--scale", str(SCALE), "--reuse")
        assert "already here" in output and "nothing to do" in output
        assert (Participation.objects.count(), Notification.objects.count()) == before
        assert CitySeed.objects.count() == 1

    def test_refuses_to_seed_over_a_city(self, seeded):
        with pytest.raises(CommandError, match="already holds a city seeded at scale 0.01"):
            seed_scale("--scale", str(SCALE))
        with pytest.raises(CommandError, match="already holds a city"):
            seed_scale("--scale", "0.02", "--reuse")
