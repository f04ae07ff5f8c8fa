"""`manage.py load_demo`: the article's figures, the demo accounts, and reruns that change nothing.

Figures, defined exactly as the tests count them:

- activities joined by 三峡旅游新区 cadres = distinct activities with at least one *present*
  participation of a member of 三峡旅游新区管委会: 16;
- members of other agencies reported in to 胜利一路社区 = *active* registrations to 胜利一路社区 of
  members whose agency is not 三峡旅游新区管委会: 70 rows, 70 distinct (active) members;
- the 30 June theme party day: members present + resident volunteers >= 40.
"""

import copy
import datetime as dt
import fnmatch
import itertools
import re
import tomllib
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities import figures, reminders
from activities.models import (
    Activity,
    CallOut,
    CallOutAnswer,
    Concern,
    Dispute,
    DoorToDoorUnit,
    DutyAssignment,
    Need,
    Participation,
    WorkUpdate,
)
from activities.models.callouts import escalate_after
from activities.services.checkin import check_in_closed_reason, participation_check_in
from activities.services.doors import door_coverage
from activities.services.signup import participation_cancel
from communities.models import Agency, Agreement, Community, Grid, StaffRole, Street
from communities.permissions import needs_second_factor, scope_of
from members.models import Member, Registration, mobile_validator
from notifications.models import Notification
from reports.certificates import masked_name
from reports.models import Certificate
from tests.second_factor import code_of_secret
from xiachen import demo
from xiachen.demo import loader

TODAY = dt.date(2026, 11, 27)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
START_OF_TODAY = dt.datetime.combine(TODAY, dt.time(), SHANGHAI)

# Real people the source article names; the demo must not use any of them.
User = get_user_model()

REAL_NAMES = {"李建喜", "许刚", "龙一姣", "王凌云", "朱晶晶", "龙小兵", "乔奇"}


def load(today="2026-11-27"):
    out = StringIO()
    call_command("load_demo", today=today, stdout=out)
    return out.getvalue()


def sanxia():
    return Agency.objects.get(name="三峡旅游新区管委会")


def admin():
    return User.objects.get(username="admin")


def shengli():
    return Community.objects.get(name="胜利一路社区")


# The monthly service summary is rebuilt by every run (new keys, a new time): its figures are
# compared, not its keys.
REBUILT = {
    "reports.ServiceMonth": (
        "month",
        "agency",
        "community",
        "type",
        "nature",
        "present",
        "hours",
        "absent",
        "leave",
    ),
    "reports.SummaryRefresh": ("rows",),
}


def snapshot():
    """Every row of every table (history and many-to-many tables included), field by field."""
    return {
        model._meta.label: list(
            model._base_manager.order_by(*REBUILT[model._meta.label]).values_list(
                *REBUILT[model._meta.label]
            )
            if model._meta.label in REBUILT
            else model._base_manager.order_by("pk").values_list()
        )
        for model in apps.get_models(include_auto_created=True)
    }


def readme_table(heading: str) -> list[list[str]]:
    """The cells of the first table after `heading` in README.md, header row left out."""
    text = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    lines = text.split(f"\n{heading}\n", 1)[1].splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


def demo_figures() -> dict:
    """README's figures as the pages count them: row label → the numbers in the value cell."""
    joined = Activity.objects.filter(
        participations__status=Participation.Status.PRESENT,
        participations__member__agency=sanxia(),
    ).distinct()
    # The 工作台's 已报到成员: members with an active report-in of either kind.
    reported_in = figures.with_month_figures(Community.objects.filter(pk=shengli().pk)).get()
    at_shengli = Registration.objects.filter(community=shengli(), status=Registration.Status.ACTIVE)
    others = dict(
        at_shengli.exclude(member__agency=sanxia())
        .values_list("member__agency__name")
        .annotate(n=Count("member", distinct=True))
    )
    party_day = Activity.objects.get(title="“干干净净迎七一，我是党员我奉献”主题党日")
    present = party_day.participations.present().count()
    doors = DoorToDoorUnit.objects.filter(compound__name="翰林苑小区")
    coverage = door_coverage(doors)
    return {
        "Activities joined by 三峡旅游新区 cadres": [str(joined.count())],
        "Members reported in to 胜利一路社区": [str(reported_in.reported_in)],
        "… of them members of other agencies": [
            str(sum(others.values())),
            str(others["市民宗委"]),
            str(others["市园林和林业局"]),
        ],
        "… of them 三峡旅游新区 cadres": [
            str(at_shengli.filter(member__agency=sanxia()).values("member").distinct().count())
        ],
        "People at the 30 June theme party day": [
            str(present + party_day.resident_volunteers),
            str(present),
            str(party_day.resident_volunteers),
        ],
        "翰林苑小区 door-to-door round": [
            str(coverage.units),
            str(doors.values("member__agency").distinct().count()),
        ],
        "… households reached": numbers(
            f"{coverage.reached} {coverage.households} {figures.format_rate(coverage.rate)}"
        ),
    }


EXPECTED_ACCOUNTS = {
    "admin": (StaffRole.Kind.CITY_ADMIN, None),
    "wanshouqiao_street": (StaffRole.Kind.STREET_OFFICER, "万寿桥街道"),
    "dongyuan_street": (StaffRole.Kind.STREET_OFFICER, "东苑街道"),
    "shengli_staff": (StaffRole.Kind.COMMUNITY_STAFF, "胜利一路社区"),
    "shenzhen_staff": (StaffRole.Kind.COMMUNITY_STAFF, "深圳路社区"),
    "shengli_grid": (StaffRole.Kind.GRID_WORKER, "胜利一路社区"),
    "shenzhen_grid": (StaffRole.Kind.GRID_WORKER, "深圳路社区"),
    "sanxia_office": (StaffRole.Kind.AGENCY_OFFICE, "三峡旅游新区管委会"),
    "yuanlin_office": (StaffRole.Kind.AGENCY_OFFICE, "市园林和林业局"),
    "sanxia_member": (None, "三峡旅游新区管委会"),
    "yuanlin_member": (None, "市园林和林业局"),
    "minzong_member": (None, "市民宗委"),
}
MEMBER_ACCOUNTS = [u for u, (kind, _) in EXPECTED_ACCOUNTS.items() if kind is None]
GRID_OF = {"shengli_grid": "紫林苑网格", "shenzhen_grid": "翰林苑网格"}


@pytest.fixture(scope="class")
def loaded_once(django_db_setup, django_db_blocker):
    """One load shared by the tests of a class, rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield load()
        transaction.set_rollback(True)


class TestTheLoadedDemo:
    """Tests that only read the demo share one load."""

    @pytest.fixture
    def output(self, loaded_once, db):
        """The command's output; each test's own writes roll back to a savepoint."""
        return loaded_once

    def test_sanxia_cadres_joined_exactly_16_activities(self, output):
        joined = Activity.objects.filter(
            participations__status=Participation.Status.PRESENT,
            participations__member__agency=sanxia(),
        ).distinct()

        assert joined.count() == 16
        # Not counted: an activity of theirs where nobody came, a cancelled one, and the ones whose
        # roll call is still to come.
        ran_without_them = Activity.objects.filter(
            participations__member__agency=sanxia(),
            participations__status__in=[Participation.Status.ABSENT, Participation.Status.LEAVE],
        ).exclude(pk__in=joined)
        assert ran_without_them.exists()
        assert Activity.objects.filter(status=Activity.Status.CANCELLED).exists()

    def test_exactly_70_members_of_other_agencies_reported_in_to_shengli(self, output):
        reported_in = Registration.objects.filter(
            community=shengli(), status=Registration.Status.ACTIVE
        ).exclude(member__agency=sanxia())

        assert reported_in.count() == 70
        assert reported_in.values("member").distinct().count() == 70
        assert not reported_in.exclude(member__status=Member.Status.ACTIVE).exists()
        # They live there (双报到) and still report in to their own agency's paired community.
        assert set(reported_in.values_list("kind", flat=True)) == {Registration.Kind.RESIDENCE}
        by_agency = dict(reported_in.values_list("member__agency__name").annotate(n=Count("pk")))
        assert by_agency == {"市民宗委": 30, "市园林和林业局": 40}
        members = Member.objects.filter(registrations__in=reported_in)
        assert members.filter(residence_community=shengli()).count() == 70
        without_liaison = members.exclude(
            registrations__kind=Registration.Kind.LIAISON,
            registrations__status=Registration.Status.ACTIVE,
        )
        assert not without_liaison.exists()

    def test_sanxia_has_about_20_members_in_shenglis_grids(self, output):
        liaison = Registration.objects.filter(
            member__agency=sanxia(),
            community=shengli(),
            kind=Registration.Kind.LIAISON,
            status=Registration.Status.ACTIVE,
        )

        assert liaison.count() == 20
        assert not liaison.filter(grid__isnull=True).exists()
        assert not liaison.exclude(grid__community=shengli()).exists()

    def test_the_30_june_theme_party_day_had_more_than_40_people(self, output):
        day = Activity.objects.get(title="“干干净净迎七一，我是党员我奉献”主题党日")
        present = day.participations.filter(status=Participation.Status.PRESENT).count()

        assert day.starts_at.astimezone(SHANGHAI).date() == dt.date(2026, 6, 30)
        assert day.community == shengli()
        assert day.grid.name == "万寿小区网格"
        assert present >= 15
        assert present + day.resident_volunteers >= 40

    def test_the_30_june_agreement_is_active_with_a_quota_of_one(self, output):
        agreement = Agreement.objects.get(agency=sanxia(), community=shengli())

        assert agreement.status == Agreement.Status.ACTIVE
        assert agreement.daily_quota == 1
        assert agreement.signed_on == agreement.starts_on == dt.date(2026, 6, 30)
        assert agreement.ends_on == dt.date(2029, 6, 29)
        assert agreement.signed_by.username == "admin"
        assert "每天安排一名党员或干部下沉" in agreement.commitments
        assert Agreement.objects.in_force(TODAY).filter(pk=agreement.pk).exists()
        pairs = set(
            Agreement.objects.filter(status=Agreement.Status.ACTIVE).values_list(
                "agency__name", "community__name"
            )
        )
        assert pairs == {
            ("三峡旅游新区管委会", "胜利一路社区"),
            ("市民宗委", "建设社区"),
            ("市园林和林业局", "东山花园社区"),
        }
        draft = Agreement.objects.get(status=Agreement.Status.DRAFT)
        assert draft.signed_on is None
        assert draft.starts_on > TODAY

    def test_past_attendance_mixes_present_absent_and_leave(self, output):
        past = Participation.objects.filter(activity__ends_at__lt=START_OF_TODAY)
        assert {
            Participation.Status.PRESENT,
            Participation.Status.ABSENT,
            Participation.Status.LEAVE,
        } <= set(past.values_list("status", flat=True))

        for row in Participation.objects.present().select_related("activity"):
            assert row.hours == row.activity.duration_hours
            assert row.source == Participation.Source.ROLL_CALL
            # Taken by the organizer; where there is none, by the city administrator.
            assert row.recorded_by == (row.activity.organizer or admin())
        past_leave = past.filter(status=Participation.Status.LEAVE)
        assert past_leave.count() >= 3
        assert not past_leave.filter(leave_reason="").exists()
        assert set(past_leave.values_list("leave_decision", flat=True)) == {
            Participation.LeaveDecision.APPROVED
        }
        reviews = set(Participation.objects.present().values_list("review", flat=True))
        assert reviews == set(Participation.Review)
        reviewed = Participation.objects.exclude(review=Participation.Review.UNREVIEWED)
        assert not reviewed.filter(reviewed_by__isnull=True).exists()
        # Each record is confirmed or disputed by the party office of the member's own agency.
        assert not reviewed.exclude(reviewed_by__staff_roles__agency=F("member__agency")).exists()

    def test_both_demo_offices_have_records_confirmed_disputed_and_to_review(self, output):
        for office in ("sanxia_office", "yuanlin_office"):
            agency = StaffRole.objects.get(user__username=office).agency
            records = Participation.objects.filter(member__agency=agency)
            by_review = set(records.values_list("review", flat=True))
            assert by_review == set(Participation.Review), office
            disputed = records.filter(review=Participation.Review.DISPUTED)
            assert disputed.count() == Dispute.objects.filter(participation__in=disputed).count()
            # One answered by the community, one still to answer.
            assert disputed.answered().exists(), office
            assert disputed.awaiting_answer().exists(), office

    def test_yesterdays_activity_waits_for_roll_call_and_next_week_is_recruiting(self, output):
        pending = Participation.objects.pending_roll_call(now=START_OF_TODAY)

        assert pending.count() == 5
        assert {p.activity.title for p in pending} == {"紫林苑楼道堆物清理"}
        ended_on = pending.first().activity.ends_at.astimezone(SHANGHAI).date()
        assert ended_on == TODAY - dt.timedelta(days=1)

        next_week = Activity.objects.filter(
            starts_at__gte=START_OF_TODAY, starts_at__lt=START_OF_TODAY + dt.timedelta(days=8)
        )
        assert next_week.count() >= 3
        assert set(next_week.values_list("status", flat=True)) == {Activity.Status.RECRUITING}
        assert not next_week.annotate(n=Count("participations")).filter(n=0).exists()
        tomorrow = next_week.get(
            nature=Activity.Nature.DUTY,
            starts_at__date=TODAY + dt.timedelta(days=1),
        )
        assert tomorrow.agreement.agency == sanxia()
        signed_up = tomorrow.participations.get()
        assert signed_up.status == Participation.Status.SIGNED_UP
        assert signed_up.member.user.username == "sanxia_member"
        assert next_week.filter(
            participations__leave_decision=Participation.LeaveDecision.PENDING
        ).exists()

    def test_shengli_staff_have_sanxia_members_leave_request_to_decide(self, output):
        from activities.services.leave import pending_leave_requests

        staff = StaffRole.objects.get(user__username="shengli_staff").user
        (request,) = pending_leave_requests(staff).filter(member__user__username="sanxia_member")
        assert request.activity.community == shengli()
        assert request.activity.starts_at > START_OF_TODAY + dt.timedelta(days=1)
        assert (request.status, request.leave_reason) == (
            Participation.Status.SIGNED_UP,
            "单位临时安排到武汉出差",
        )
        # Asked through the member's leave service, after signing up.
        assert request.history.latest().history_change_reason == "leave requested"
        assert request.history.latest().history_user == request.member.user

    def test_shenglis_sanxia_activities_count_toward_the_30_june_agreement(self, output):
        agreement = Agreement.objects.get(agency=sanxia(), community=shengli())
        duty = Activity.objects.filter(community=shengli(), nature=Activity.Nature.DUTY)

        assert duty.count() >= 10
        assert set(duty.values_list("agreement", flat=True)) == {agreement.pk}
        assert set(duty.values_list("type__code", flat=True)) == {"flood_patrol", "gate_duty"}
        assert (
            not Activity.objects.exclude(agreement=None)
            .exclude(agreement__community=F("community"))
            .exists()
        )
        organizers = set(
            Activity.objects.filter(community=shengli()).values_list(
                "organizer__username", flat=True
            )
        )
        assert organizers == {"shengli_grid", "shengli_staff"}
        for community, title in [
            ("建设社区", "清理铁路沿线白色垃圾"),
            ("东山花园社区", "园林局党员走进东山花园社区主题党日"),
            ("深圳路社区", "入户宣传垃圾分类、文明创建和养犬登记"),
        ]:
            activity = Activity.objects.get(community__name=community, title=title)
            assert activity.participations.present().count() >= 6

    def test_the_30_june_agreement_has_one_member_on_duty_a_day_in_turn(self, output):
        agreement = Agreement.objects.get(agency=sanxia(), community=shengli())
        roster = DutyAssignment.objects.all()

        days = [TODAY + dt.timedelta(days=n) for n in range(-7, 15)]
        assert agreement.daily_quota == 1
        assert sorted(roster.values_list("date", flat=True)) == days
        assert set(roster.values_list("agreement", flat=True)) == {agreement.pk}
        on_duty = Member.objects.filter(duty_assignments__in=roster)
        assert not on_duty.exclude(agency=sanxia(), status=Member.Status.ACTIVE).exists()
        assert not on_duty.exclude(
            registrations__community=shengli(),
            registrations__kind=Registration.Kind.LIAISON,
            registrations__status=Registration.Status.ACTIVE,
        ).exists()
        # In turn: 22 days through the 20 members reported in, nobody twice in a row.
        assert on_duty.distinct().count() == 20
        members = list(roster.order_by("date").values_list("member", flat=True))
        assert all(a != b for a, b in zip(members, members[1:], strict=False))

    def test_tomorrows_duty_is_the_sanxia_member_accounts_and_is_reminded(self, output):
        tomorrow = TODAY + dt.timedelta(days=1)
        duty = DutyAssignment.objects.get(date=tomorrow)

        assert duty.member.user.username == "sanxia_member"
        # The same member has signed up for tomorrow's gate duty.
        assert duty.member.participations.filter(
            activity__starts_at__date=tomorrow, activity__type__code="gate_duty"
        ).exists()
        evening = dt.datetime.combine(TODAY, dt.time(17), SHANGHAI)
        assert reminders.duty_roster(evening) >= 1
        assert set(
            Notification.objects.filter(kind=Notification.Kind.DUTY_ROSTER).values_list(
                "recipient__username", "object_id"
            )
        ) == {("sanxia_member", duty.pk)}

    def test_review_lists_members_and_notes_have_content(self, output):
        at_shengli = Registration.objects.filter(community=shengli())
        assert at_shengli.filter(status=Registration.Status.PENDING).count() >= 2
        returned = at_shengli.get(status=Registration.Status.RETURNED)
        assert returned.return_reason and returned.reviewer.username == "shengli_staff"

        left = Member.objects.filter(status=Member.Status.LEFT)
        assert left.count() == 3
        assert not left.filter(left_on__isnull=True).exists()
        assert not Registration.objects.filter(
            member__in=left, status__in=Registration.LIVE_STATUSES
        ).exists()

        assert set(Concern.objects.values_list("state", flat=True)) == set(Concern.State)
        assert Concern.objects.get(state=Concern.State.RESOLVED).resolution
        assert Concern.objects.get(state=Concern.State.FORWARDED).forwarded_to
        assert WorkUpdate.objects.count() >= 2
        assert not WorkUpdate.objects.filter(created_at__date__gt=TODAY).exists()

    def test_the_demo_queues_no_message_about_its_past(self, output):
        # Report-ins approved in June, concerns handled in July: old news, told to nobody now.
        assert not Notification.objects.exists()
        # What is due now the reminder rules find in the demo's data, as in a real installation.
        evening = dt.datetime.combine(TODAY, dt.time(17), SHANGHAI)
        assert reminders.duty_roster(evening) >= 1

    def test_report_ins_were_reviewed_at_the_communitys_desk(self, output):
        decided = Registration.objects.exclude(status=Registration.Status.PENDING)
        for registration in decided.select_related("member__agency"):
            versions = list(registration.history.order_by("history_date", "history_id"))
            # Asked for (pending) on the day applied, then decided by the reviewer when reviewed.
            assert versions[0].status == Registration.Status.PENDING
            assert versions[0].history_date.astimezone(SHANGHAI).date() == (registration.applied_on)
            decision = next(v for v in versions if v.status != Registration.Status.PENDING)
            assert decision.history_user == registration.reviewer
            assert decision.history_date == registration.reviewed_at
        reviewers = set(
            decided.filter(community=shengli()).values_list("reviewer__username", flat=True)
        )
        assert reviewers == {"shengli_staff"}

    def test_attendance_was_taken_at_the_roll_call_after_each_activity(self, output):
        recorded = Participation.objects.exclude(
            status__in=Participation.SIGNED_UP_OR_WAITING
        ).exclude(leave_decision=Participation.LeaveDecision.PENDING)
        assert recorded.count() >= 90
        needs = set(Need.objects.values_list("activity", flat=True))
        calls = set(CallOut.objects.values_list("activity", flat=True))
        for row in recorded.select_related("activity"):
            first = row.history.earliest("history_date")
            if row.activity_id in calls:
                # Those who answered a call-out "coming" were signed up by their answer; the
                # roll call after the end recorded them.
                assert first.history_change_reason == "signed up"
                assert first.history_user == row.member.user
                first = row.history.filter(history_change_reason="roll call").get()
            # A resident need's service is recorded when the community verifies it.
            reason = "need verified" if row.activity_id in needs else "roll call"
            assert first.history_change_reason == reason
            assert first.history_user == row.recorded_by
            assert first.history_date == row.recorded_at > row.activity.ends_at
        signed_up = Participation.objects.filter(status__in=Participation.SIGNED_UP_OR_WAITING)
        assert set(signed_up.values_list("source", flat=True)) == {Participation.Source.SIGN_UP}
        assert not signed_up.filter(recorded_at__gte=START_OF_TODAY).exists()

    def test_shengli_has_an_open_need_and_a_verified_one_counted_as_service(self, output):
        needs = Need.objects.filter(community=shengli())
        assert needs.filter(state=Need.State.OPEN, deadline__gt=START_OF_TODAY).count() == 1
        verified = needs.get(state=Need.State.VERIFIED)
        claim = verified.claims.get()
        assert claim.member.user.username == "minzong_member"
        record = claim.participation
        assert record.status == Participation.Status.PRESENT and record.hours == claim.hours
        assert record.activity.nature == Activity.Nature.VOLUNTEER

    def test_both_communities_have_open_needs_their_residents_members_may_claim(self, output):
        from activities.services.needs import may_claim

        open_needs = Need.objects.filter(state=Need.State.OPEN, deadline__gt=START_OF_TODAY)
        assert set(open_needs.values_list("community__name", flat=True)) == {
            "胜利一路社区",
            "深圳路社区",
        }
        shenzhen_need = open_needs.get(community__name="深圳路社区")
        assert not shenzhen_need.claims.exists()
        # 市园林和林业局's member lives in 深圳路社区 (双报到): one to claim there.
        yuanlin = User.objects.get(username="yuanlin_member")
        assert may_claim(yuanlin, shenzhen_need)

    def test_sanxia_office_issued_its_member_a_certificate_that_verifies(self, output, client):
        certificate = Certificate.objects.get()
        assert certificate.member.user.username == "sanxia_member"
        assert certificate.issued_by.username == "sanxia_office"
        assert certificate.holder_agency == "三峡旅游新区管委会"
        assert certificate.duty_hours + certificate.voluntary_hours > 0
        assert certificate.issued_at < START_OF_TODAY
        assert certificate.number.startswith(f"XC-{certificate.issued_at.year}-")
        page = client.get(reverse("reports:certificate_verify"), {"number": certificate.number})
        assert page.status_code == 200
        assert masked_name(certificate.holder_name) in page.content.decode()

    def test_the_flood_call_out_needed_20_escalated_once_and_was_filled(self, output):
        call = CallOut.objects.get()
        assert call.community == shengli() and call.raised_by.username == "shengli_staff"
        assert call.needed == 20 and call.state == CallOut.State.FILLED
        # Escalated to the offices once, when the need had waited the set time; not to the
        # street: the answer that met the need came first.
        assert call.escalation_level == CallOut.Level.OFFICES
        assert call.escalated_at == call.created_at + escalate_after()
        assert call.escalated_to_street_at is None
        answers = call.answers.all()
        coming = answers.filter(answer=CallOutAnswer.Answer.COMING)
        assert coming.count() == 20
        assert coming.filter(answered_at__lt=call.escalated_at).count() == 14
        assert call.closed_at == max(coming.values_list("answered_at", flat=True))
        cannot = answers.filter(answer=CallOutAnswer.Answer.CANNOT)
        assert cannot.count() == 2 and all(a.reason for a in cannot)
        # Everyone reported in there was called; most had not answered when it was filled.
        reported_in = Registration.objects.reported_in().filter(community=shengli())
        assert set(answers.values_list("member", flat=True)) == set(
            reported_in.filter(member__status=Member.Status.ACTIVE).values_list("member", flat=True)
        )
        assert answers.filter(answer=CallOutAnswer.Answer.PENDING).count() > 50
        # Those coming were there: the roll call recorded all 20, and the offices confirmed.
        present = call.activity.participations.filter(status=Participation.Status.PRESENT)
        assert set(present.values_list("member", flat=True)) == set(
            coming.values_list("member", flat=True)
        )
        assert call.activity.ends_at < START_OF_TODAY
        assert present.filter(member__agency=sanxia(), review=Participation.Review.CONFIRMED)
        assert not Notification.objects.filter(kind__startswith="call_out").exists()

    def test_agreements_were_signed_at_the_signing_desk_on_their_day(self, output):
        for agreement in Agreement.objects.exclude(status=Agreement.Status.DRAFT):
            signing = agreement.history.latest("history_date")
            assert signing.history_change_reason == "signed"
            assert signing.history_user.username == "admin"
            assert agreement.signed_at.astimezone(SHANGHAI).date() == agreement.signed_on

    def test_concerns_and_updates_are_dated_as_they_happened(self, output):
        forwarded = Concern.objects.get(state=Concern.State.FORWARDED)
        resolved = Concern.objects.get(state=Concern.State.RESOLVED)

        assert forwarded.created_at.astimezone(SHANGHAI) == dt.datetime(
            2026, 7, 6, 21, 40, tzinfo=SHANGHAI
        )
        assert forwarded.reported_by.username == "sanxia_member"
        assert forwarded.handler.username == "shengli_staff"
        assert resolved.resolved_at.astimezone(SHANGHAI).date() == dt.date(2026, 7, 3)
        assert resolved.created_at < resolved.resolved_at
        assert not WorkUpdate.objects.filter(created_at__gte=START_OF_TODAY).exists()

    def test_hanlinyuan_has_a_door_to_door_round_not_yet_complete(self, output):
        units = DoorToDoorUnit.objects.filter(
            activity__community__name="深圳路社区", compound__name="翰林苑小区"
        )
        coverage = door_coverage(units)

        assert coverage.units >= 10
        assert 0 < coverage.reached < coverage.households  # some households not yet reached
        assert not coverage.complete
        # Each member covers one building or stairwell; members of two agencies share the round.
        assert not units.filter(member__isnull=True).exists()
        assert units.values("member").distinct().count() == coverage.units
        agencies = set(units.values_list("member__agency__name", flat=True))
        assert agencies == {"市园林和林业局", "市民宗委"}
        # Those present recorded their households (a member with a login did it himself); the
        # stairwell of the member on leave is still to do.
        activity = units.first().activity
        present = activity.participations.present().values("member")
        assert not units.filter(member__in=present, recorded_at__isnull=True).exists()
        assert units.filter(recorded_by__username="yuanlin_member").exists()
        on_leave = units.exclude(member__in=present).get()
        assert on_leave.households_reached == 0 and on_leave.recorded_at is None
        assert activity.participations.get(member=on_leave.member).status == (
            Participation.Status.LEAVE
        )

    def test_every_member_login_has_upcoming_sign_ups(self, output):
        for username in MEMBER_ACCOUNTS:
            mine = Participation.objects.filter(
                member__user__username=username,
                status__in=Participation.SIGNED_UP_OR_WAITING,
                activity__starts_at__gte=START_OF_TODAY,
            )
            assert mine.exists(), username

    def test_a_full_activity_has_a_waitlist_with_a_member_login_first_in_line(self, output):
        waiting = Participation.objects.filter(status=Participation.Status.WAITLISTED)
        (activity,) = Activity.objects.filter(participations__in=waiting).distinct()

        seats = activity.participations.filter(status__in=Participation.TAKING_A_PLACE)
        assert activity.capacity is not None and seats.count() == activity.capacity
        assert activity.starts_at > START_OF_TODAY + dt.timedelta(days=1)
        line = list(activity.participations.waitlist().select_related("member__user"))
        assert len(line) >= 2
        assert line[0].member.user.username == "minzong_member"
        assert [p.waitlisted_at for p in line] == sorted({p.waitlisted_at for p in line})
        # Each in line may sign up there (reported in to the community) and holds no seat.
        for p in line:
            assert p.member.registrations.reported_in().filter(community=activity.community)
            assert p.hours is None
        # A member with a login holds a seat: cancelling it promotes minzong_member, told so.
        sitting = seats.get(member__user__username="sanxia_member")
        before_start = activity.starts_at - dt.timedelta(days=1)
        participation_cancel(activity=activity, member=sitting.member, now=before_start)
        promoted = Participation.objects.get(pk=line[0].pk)
        assert promoted.status == Participation.Status.SIGNED_UP
        assert Notification.objects.filter(
            kind=Notification.Kind.SEAT_FREED, recipient__username="minzong_member"
        ).exists()

    @pytest.mark.parametrize("hhmm", ["00:00", "07:30", "12:00", "18:45", "23:58"])
    def test_a_check_in_code_works_at_any_time_of_the_day_of_the_load(self, output, hhmm):
        moment = dt.datetime.combine(TODAY, dt.time.fromisoformat(hhmm), SHANGHAI)
        today = Activity.objects.filter(starts_at__lte=moment, ends_at__gt=moment).exclude(
            status=Activity.Status.CANCELLED
        )
        open_now = [a for a in today if check_in_closed_reason(a, moment) is None]
        (activity,) = open_now
        assert activity.community == shengli() and activity.organizer.username == "shengli_grid"
        # The member of the demo login is on it and checks in by the link.
        member = Member.objects.get(user__username="sanxia_member")
        assert activity.participations.filter(
            member=member, status=Participation.Status.SIGNED_UP
        ).exists()
        done = participation_check_in(activity=activity, member=member, now=moment)
        assert done.changed and done.participation.status == Participation.Status.PRESENT
        # Nothing the clock has not reached is recorded: the roll call is still to take.
        assert (
            not activity.participations.exclude(member=member)
            .exclude(status=Participation.Status.SIGNED_UP)
            .exists()
        )

    def test_the_readme_says_how_to_try_each_member_feature(self, output):
        text = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
        section = text.split("### Members on a phone", 1)[1].split("\n#", 1)[0]
        waiting = Participation.objects.filter(status=Participation.Status.WAITLISTED)
        full = Activity.objects.filter(participations__in=waiting).distinct().get()
        today = Activity.objects.get(starts_at=START_OF_TODAY)
        for needed in [*MEMBER_ACCOUNTS, full.title, today.title, "/activities/join/", "/me/"]:
            assert needed in section, needed

    def test_readme_states_the_demos_figures(self, output):
        rows = readme_table("### The demo's figures")
        actual = {label: numbers(value) for label, value, _ in rows}

        assert actual == demo_figures()

    def test_readme_lists_the_demo_accounts(self, output):
        rows = readme_table("## Demo accounts")
        assert [username.strip("`") for username, *_ in rows] == [
            username for username, _, _ in demo.DEMO_ACCOUNTS
        ]
        assert {password.strip("`") for _, password, *_ in rows} == {demo.DEMO_PASSWORD}

    def test_the_readme_totp_column_passes_the_second_factor_through_the_pages(self, output):
        """Every account signs in as an outsider would with README's table alone: the password
        form, then (where the `totp` column has a secret) a form with one code field."""
        for cells in readme_table("## Demo accounts"):
            username, password, secret = (cell.strip("`") for cell in cells[:3])
            user = User.objects.get(username=username)
            assert bool(secret) == needs_second_factor(user), username
            client = Client()
            response = client.post("/login/", {"username": username, "password": password})
            assert response.status_code == 302, username
            if secret:
                page = client.get(response["Location"], follow=True)
                assert page.redirect_chain[-1][0] == "/second-factor/", username
                assert page.content.decode().count('name="otp_token"') == 1
                response = client.post("/second-factor/", {"otp_token": code_of_secret(secret)})
                assert response.status_code == 302, username
            assert client.get("/").status_code == 200, username
            if user.is_staff:
                assert client.get("/admin/").status_code == 200, username

    def test_the_members_mobiles_the_readme_gives_sign_in(self, output, client):
        text = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
        stated = re.findall(r"`(\w+_member)` is\s+`(1\d{10})`", text)
        assert {username for username, _ in stated} == set(MEMBER_ACCOUNTS)
        for username, mobile in stated:
            response = client.post("/login/", {"username": mobile, "password": "xiachen-demo"})
            assert response.status_code == 302, username
            assert client.session["_auth_user_id"] == str(
                Member.objects.get(user__username=username).user_id
            )
            client.logout()

    def test_every_row_passes_model_validation(self, output):
        models = (
            Agreement,
            Member,
            Registration,
            Activity,
            Participation,
            Concern,
            DutyAssignment,
            DoorToDoorUnit,
        )
        for model in models:
            for obj in model.objects.all():
                obj.full_clean()
        for member in Member.objects.all():
            mobile_validator(member.mobile)

    def test_the_demo_accounts_are_the_ones_listed(self, output):
        assert [username for username, _, _ in demo.DEMO_ACCOUNTS] == list(EXPECTED_ACCOUNTS)
        for username, role, scope in demo.DEMO_ACCOUNTS:
            assert f"{username} " in output
            assert role in output and scope in output
        assert demo.DEMO_PASSWORD in output

    @pytest.mark.parametrize("username", EXPECTED_ACCOUNTS)
    def test_every_demo_account_logs_in_with_its_role_and_scope(
        self, output, client, django_user_model, username
    ):
        kind, place = EXPECTED_ACCOUNTS[username]

        # django-axes checks every login against the request it came with.
        assert client.login(request=HttpRequest(), username=username, password="xiachen-demo")
        user = django_user_model.objects.get(username=username)
        assert user.first_name and not user.first_name.isascii()
        scope = scope_of(user)
        if kind is None:
            assert not scope.is_staff_of_any_place
            assert user.member.agency.name == place
            assert user.member.status == Member.Status.ACTIVE
            assert user.member.registrations.filter(
                kind=Registration.Kind.LIAISON, status=Registration.Status.ACTIVE
            ).exists()
            assert user.member.name == user.first_name
            return
        assert scope.kinds == {kind}
        if kind == StaffRole.Kind.CITY_ADMIN:
            assert scope.city and user.is_staff and user.is_superuser
            return
        assert not scope.city and not user.is_superuser
        if kind == StaffRole.Kind.STREET_OFFICER:
            assert scope.street_ids == {Street.objects.get(name=place).pk}
        elif kind == StaffRole.Kind.AGENCY_OFFICE:
            assert scope.agency_ids == {Agency.objects.get(name=place).pk}
        else:
            assert scope.community_ids == {Community.objects.get(name=place).pk}
        if kind == StaffRole.Kind.GRID_WORKER:
            assert scope.grid_ids == {Grid.objects.get(name=GRID_OF[username]).pk}

    @pytest.mark.parametrize("username", EXPECTED_ACCOUNTS)
    def test_every_demo_account_accepted_the_privacy_notice_and_reaches_its_home(
        self, output, client, django_user_model, username
    ):
        # Loaded before this test's logins would accept it (conftest): the loader's own record.
        user = django_user_model.objects.get(username=username)
        assert user.privacy_acceptances.filter(version=settings.PRIVACY_NOTICE_VERSION).exists()
        assert client.login(request=HttpRequest(), username=username, password="xiachen-demo")
        response = client.get("/")
        assert response.status_code in (200, 302)
        assert not response.get("Location", "").startswith(reverse("privacy:notice"))

    def test_no_demo_person_has_a_real_name_from_the_article(self, output, django_user_model):
        names = set(Member.objects.values_list("name", flat=True))
        names |= set(django_user_model.objects.values_list("first_name", flat=True))
        for side in ("agency_contact", "community_contact"):
            names |= set(Agreement.objects.values_list(side, flat=True))

        assert Member.objects.count() == len(set(Member.objects.values_list("name", flat=True)))
        assert not names & REAL_NAMES
        assert not any(real in name for name in names for real in REAL_NAMES)
        assert demo.ARTICLE_NAMES >= REAL_NAMES


@pytest.mark.parametrize(
    "today, anchor",
    [
        ("2026-11-27", "2026-06-30"),
        ("2027-06-29", "2026-06-30"),
        ("2027-01-01", "2026-06-30"),
        ("2026-07-26", "2026-06-30"),
        # The July story would still be to come: the year before.
        ("2026-07-10", "2025-06-30"),
        ("2026-06-30", "2025-06-30"),
    ],
)
def test_the_anchor_is_the_latest_30_june_whose_story_is_over(today, anchor):
    assert demo.anchor_for(dt.date.fromisoformat(today)) == dt.date.fromisoformat(anchor)


@pytest.mark.parametrize("today", ["2026-11-27", "2026-07-26", "2026-07-03"])
def test_no_attendance_is_recorded_for_a_day_still_to_come(db, today):
    load(today)
    start_of_today = dt.datetime.combine(dt.date.fromisoformat(today), dt.time(), SHANGHAI)
    recorded = Participation.objects.exclude(status__in=Participation.SIGNED_UP_OR_WAITING).exclude(
        leave_decision=Participation.LeaveDecision.PENDING
    )
    assert recorded.exists()
    assert not recorded.filter(activity__ends_at__gt=start_of_today).exists()
    # Stored as the planning page stores them: ongoing and finished come from the clock.
    assert set(Activity.objects.values_list("status", flat=True)) == {
        Activity.Status.RECRUITING,
        Activity.Status.CANCELLED,
    }


def test_a_second_run_creates_and_changes_nothing(db):
    load()
    before = snapshot()

    again = load()
    later = load("2027-08-15")

    assert snapshot() == before
    assert "Nothing to create" in again
    assert "Nothing to create" in later
    assert "2026-06-30" in later  # the later run keeps the first run's dates


def test_a_rerun_completes_missing_rows_and_leaves_the_rest(db):
    load()
    counts = {m: m.objects.count() for m in (Activity, Participation, Concern, Member)}
    deleted = Activity.objects.get(title="走访慰问独居老人")
    kept = list(Participation.objects.exclude(activity=deleted).order_by("pk").values_list())
    deleted.delete()
    Concern.objects.filter(state=Concern.State.OPEN).delete()
    tomorrows_duty = DutyAssignment.objects.get(date=TODAY + dt.timedelta(days=1))
    tomorrows_duty.delete()

    output = load("2027-01-10")

    assert {m: m.objects.count() for m in counts} == counts
    assert re.search(r"activities\.Activity +1\n", output)
    assert re.search(r"activities\.Participation +2\n", output)
    assert re.search(r"activities\.Concern +2\n", output)
    assert re.search(r"activities\.DutyAssignment +1\n", output)
    # The roster, too, keeps the first load's days.
    restored_duty = DutyAssignment.objects.get(date=TODAY + dt.timedelta(days=1))
    assert restored_duty.member == tomorrows_duty.member
    assert DutyAssignment.objects.count() == 22
    restored = Activity.objects.get(title="走访慰问独居老人")
    # The story keeps the first load's dates; "next week" is the new run's.
    assert restored.starts_at.astimezone(SHANGHAI).date() == dt.date(2027, 1, 15)
    assert "2026-06-30" in output
    others = Participation.objects.exclude(activity=restored).order_by("pk").values_list()
    assert list(others) == kept


@pytest.mark.parametrize("today", ["27/11/2026", "2026-02-30", "tomorrow", ""])
def test_an_invalid_today_is_a_clear_command_error(db, today):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("load_demo", "--today", today, stdout=StringIO())
    assert not Member.objects.exists()


def test_today_defaults_to_the_local_date(db):
    call_command("load_demo", stdout=StringIO())

    anchor = demo.anchor_for(timezone.localdate())
    assert Agreement.objects.get(agency=sanxia(), community=shengli()).signed_on == anchor
    assert Activity.objects.filter(
        Q(starts_at__date=timezone.localdate() + dt.timedelta(days=1)),
        nature=Activity.Nature.DUTY,
    ).exists()
    assert Decimal("2.5") in set(Participation.objects.values_list("hours", flat=True))


def test_the_demo_data_ships_with_the_app():
    """`make run` loads the demo outside the dev extras, and an installed package has the file."""
    project = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())
    requirements = " ".join(project["project"]["dependencies"])

    assert "PyYAML" in requirements
    shipped = project["tool"]["setuptools"]["package-data"]["xiachen"]
    assert any(fnmatch.fnmatch("demo/demo.yaml", pattern) for pattern in shipped)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"waitlisted": ["minzong 0"], "signed_up": ["sanxia 0"]}, "a waitlist but seats left"),
        ({"signed_up": ["sanxia 0-4"]}, "more sign-ups than seats"),
    ],
)
def test_demo_sign_ups_must_hold_to_the_capacity(db, monkeypatch, change, message):
    """The sign-up page's rule holds in the data file too: a mistake there stops the load."""
    changed = copy.deepcopy(loader.data())
    (full,) = [a for a in changed["activities"] if "waitlisted" in a]
    full.update(change)
    monkeypatch.setattr(loader, "data", lambda: changed)

    with pytest.raises(ValueError, match=message):
        loader.load(today=TODAY)
    assert not Participation.objects.exists()
