"""The figures of DESIGN.md, with exact numbers, one query each."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import figures
from activities.models import Activity, Participation
from communities.models import Agency, Agreement, Community
from members.models import Member, Registration
from xiachen.templatetags.xiachen import figure, percent

NOW = timezone.make_aware(dt.datetime(2025, 6, 18, 10, 0))  # a Wednesday
TODAY = NOW.date()


def activity(world, starts_at, *, community=None, hours=2, **extra):
    return Activity.objects.create(
        community=community or world.shengli,
        type=world.cleanup,
        title=f"清扫 {starts_at:%m-%d %H:%M}",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=hours),
        **extra,
    )


def take_part(member, act, status, hours=None):
    extra = {"leave_reason": "出差"} if status == Participation.Status.LEAVE else {}
    return Participation.objects.create(
        activity=act,
        member=member,
        status=status,
        hours=hours,
        source=Participation.Source.ROLL_CALL,
        **extra,
    )


def new_member(agency, n, **extra):
    return Member.objects.create(agency=agency, name=f"成员{n}", mobile=f"1370000{n:04d}", **extra)


def test_a_number_is_written_in_the_language_of_the_page_each_time():
    # Numbers are remembered once written (figures._number_text): per language, since the
    # decimal separator is the language's.
    from django.utils import translation

    for _ in range(2):
        with translation.override("de"):
            assert figures.format_number(Decimal("1.50")) == "1,5"
        with translation.override("zh-hans"):
            assert figures.format_number(Decimal("1.50")) == "1.5"
            assert figures.format_number(2) == "2"
            assert figures.format_number("x") == figures.NO_FIGURE


@pytest.fixture
def agency(db):
    return Agency.objects.create(name="市民宗委")


class TestRate:
    def test_it_is_none_for_zero_over_zero(self):
        assert figures.rate(0, 0) is None

    def test_it_rounds_to_four_places(self):
        assert figures.rate(2, 3) == Decimal("0.6667")
        assert figures.rate(0, 5) == Decimal("0")

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (None, "—"),
            (Decimal("0.6667"), "66.7%"),
            (Decimal("0.5"), "50%"),
            (Decimal("1"), "100%"),
            (Decimal("0"), "0%"),
        ],
    )
    def test_percent_shows_a_dash_for_no_rate(self, value, shown):
        assert percent(value) == shown

    def test_figure_drops_a_useless_decimal(self):
        assert figure(Decimal("3.0")) == "3"
        assert figure(Decimal("3.5")) == "3.5"
        assert figure(None) == "—"


class TestAttendance:
    def test_it_counts_present_only_for_participations_and_hours(
        self, world, django_assert_num_queries
    ):
        member = new_member(world.sanxia, 1)
        statuses = [
            (Participation.Status.PRESENT, Decimal("2")),
            (Participation.Status.PRESENT, Decimal("1.5")),
            (Participation.Status.PRESENT, None),
            (Participation.Status.ABSENT, Decimal("4")),
            (Participation.Status.LEAVE, Decimal("4")),
            (Participation.Status.LEAVE, None),
            (Participation.Status.SIGNED_UP, Decimal("4")),
        ]
        for day, (status, hours) in enumerate(statuses):
            take_part(member, activity(world, NOW - dt.timedelta(days=day + 1)), status, hours)

        with django_assert_num_queries(1):
            totals = figures.attendance(Participation.objects.filter(member=member))

        assert totals.participations == 3
        assert totals.hours == Decimal("3.5")
        assert totals.absent == 1
        assert totals.leaves == 2
        # present ÷ (present + absent): the two leaves are left out.
        assert totals.attendance_rate == Decimal("0.75")

    def test_leave_alone_gives_no_rate(self, world):
        member = new_member(world.sanxia, 1)
        take_part(member, activity(world, NOW), Participation.Status.LEAVE)
        totals = figures.attendance(Participation.objects.filter(member=member))
        assert (totals.participations, totals.hours, totals.leaves) == (0, Decimal("0.0"), 1)
        assert totals.attendance_rate is None
        assert percent(totals.attendance_rate) == "—"

    def test_nothing_at_all_is_zero_and_no_rate(self, world):
        totals = figures.attendance(Participation.objects.none())
        assert totals.participations == 0
        assert totals.hours == Decimal("0.0")
        assert totals.attendance_rate is None


class TestReportIn:
    def test_it_divides_active_liaison_report_ins_by_active_members(
        self, world, agency, django_assert_num_queries
    ):
        liaison = new_member(agency, 1)
        residence_only = new_member(agency, 2)
        pending = new_member(agency, 3)
        returned = new_member(agency, 4)
        left = new_member(agency, 5, status=Member.Status.LEFT, left_on=TODAY)

        def register(member, status=Registration.Status.ACTIVE, **extra):
            Registration.objects.create(
                member=member,
                community=world.shengli,
                status=status,
                applied_on=TODAY,
                **extra,
            )

        register(liaison)
        # Both report-ins of 双报到 to one community count once.
        register(liaison, kind=Registration.Kind.RESIDENCE)
        register(residence_only, kind=Registration.Kind.RESIDENCE)
        register(pending, status=Registration.Status.PENDING)
        register(returned, status=Registration.Status.RETURNED, return_reason="不是本单位")
        register(left)

        with django_assert_num_queries(1):
            result = figures.report_in(Member.objects.filter(agency=agency))

        assert (result.reported_in, result.active_members) == (1, 4)
        assert result.rate == Decimal("0.25")
        assert percent(result.rate) == "25%"

    def test_it_probes_each_member_s_report_ins_without_reading_the_member_again(
        self, world, agency
    ):
        # At city size an office has thousands of active members, each probed once for a
        # liaison report-in; joining the member back in doubled the probes.
        with CaptureQueriesContext(connection) as queries:
            figures.report_in(Member.objects.filter(agency=agency))
        (sql,) = [query["sql"] for query in queries.captured_queries]
        assert 'JOIN "members_member"' not in sql, sql

    def test_an_agency_without_members_has_no_rate(self, agency):
        result = figures.report_in(Member.objects.filter(agency=agency))
        assert (result.reported_in, result.active_members, result.rate) == (0, 0, None)
        assert percent(result.rate) == "—"


class TestInactiveMembers:
    @pytest.fixture
    def members(self, world, agency):
        m = {
            name: new_member(agency, n)
            for n, name in enumerate(
                ["recent", "long_ago", "absent", "leave", "signed_up", "future", "never"]
            )
        }
        m["left"] = new_member(agency, 99, status=Member.Status.LEFT, left_on=TODAY)
        present = Participation.Status.PRESENT
        take_part(m["recent"], activity(world, NOW - dt.timedelta(days=10)), present, 2)
        take_part(m["long_ago"], activity(world, NOW - dt.timedelta(days=31)), present, 2)
        take_part(m["absent"], activity(world, NOW - dt.timedelta(days=2)), "absent")
        take_part(m["leave"], activity(world, NOW - dt.timedelta(days=3)), "leave")
        take_part(m["signed_up"], activity(world, NOW - dt.timedelta(days=4)), "signed_up")
        # Marked present ahead of time: it does not count until it has happened.
        take_part(m["future"], activity(world, NOW + dt.timedelta(days=1)), present, 2)
        return m

    def test_it_lists_active_members_without_a_recent_present(
        self, members, agency, django_assert_num_queries
    ):
        with django_assert_num_queries(1):
            inactive = set(
                figures.inactive_members(Member.objects.filter(agency=agency), NOW).values_list(
                    "name", flat=True
                )
            )
        expected = {"long_ago", "absent", "leave", "signed_up", "future", "never"}
        assert inactive == {members[key].name for key in expected}

    def test_the_period_is_a_setting(self, members, agency, settings):
        settings.INACTIVE_AFTER_DAYS = 5
        inactive = figures.inactive_members(Member.objects.filter(agency=agency), NOW)
        assert members["recent"] in inactive
        assert inactive.count() == 7


class TestAgreementCounts:
    def test_it_counts_by_effective_status(self, world, django_assert_num_queries):
        # world.agreement: signed for a term that starts after TODAY, so it counts nowhere yet.
        Agreement.objects.filter(pk=world.agreement.pk).update(
            starts_on=TODAY + dt.timedelta(days=10), ends_on=TODAY + dt.timedelta(days=375)
        )
        other = Community.objects.create(street=world.dongyuan, name="建设社区")
        third = Community.objects.create(street=world.dongyuan, name="东山花园社区")

        def agreement(number, community, status, ends_in, **extra):
            signed = {} if status == Agreement.Status.DRAFT else {"signed_on": TODAY}
            return Agreement.objects.create(
                agency=world.yuanlin,
                community=community,
                number=number,
                status=status,
                starts_on=TODAY - dt.timedelta(days=300),
                ends_on=TODAY + dt.timedelta(days=ends_in),
                **signed,
                **extra,
            )

        agreement("A-expiring", world.shengli, Agreement.Status.ACTIVE, 30)
        agreement("A-past-end", other, Agreement.Status.ACTIVE, -1)  # expired in effect
        agreement("A-next-month", third, Agreement.Status.ACTIVE, 31)
        agreement("D-1", world.shenzhen, Agreement.Status.DRAFT, 100)
        agreement(
            "T-1",
            world.shenzhen,
            Agreement.Status.TERMINATED,
            10,
            termination_reason="单位撤并",
        )

        with django_assert_num_queries(1):
            counts = figures.agreement_counts(Agreement.objects.all(), TODAY)

        assert counts == {"active": 2, "expiring": 1, "drafts": 1}


class TestCommunityMonthFigures:
    def test_it_counts_reported_members_and_this_months_activities(
        self, world, django_assert_num_queries
    ):
        today = dt.date(2025, 6, 18)
        start, end = figures.month_bounds(today)
        assert (start.day, end.month, end.day) == (1, 7, 1)
        # world: 李建华 active (liaison) in 胜利一路社区, 王海燕 pending there.
        Registration.objects.create(
            member=world.sanxia_member,
            community=world.shengli,
            kind=Registration.Kind.RESIDENCE,
            status=Registration.Status.ACTIVE,
            applied_on=today,
        )
        Registration.objects.create(
            member=world.yuanlin_member,
            community=world.shengli,
            status=Registration.Status.ACTIVE,
            applied_on=today,
        )
        Activity.objects.all().delete()
        activity(world, start)
        activity(world, end - dt.timedelta(hours=3))
        activity(world, start + dt.timedelta(days=3), status=Activity.Status.CANCELLED)
        activity(world, start - dt.timedelta(hours=3))  # last month
        activity(world, end)  # next month
        activity(world, start + dt.timedelta(days=2), community=world.shenzhen)

        with django_assert_num_queries(1):
            rows = {
                c.name: (c.reported_in, c.activities_this_month)
                for c in figures.with_month_figures(Community.objects.all(), today)
            }

        assert rows == {"胜利一路社区": (2, 2), "深圳路社区": (1, 1)}


class TestPendingRollCall:
    def test_it_finds_ended_activities_with_signed_up_rows(self, world):
        ended_waiting = activity(world, NOW - dt.timedelta(hours=5))
        ended_done = activity(world, NOW - dt.timedelta(hours=5))
        upcoming = activity(world, NOW + dt.timedelta(hours=5))
        take_part(world.sanxia_member, ended_waiting, Participation.Status.SIGNED_UP)
        take_part(world.sanxia_member_2, ended_waiting, Participation.Status.SIGNED_UP)
        take_part(world.sanxia_member, ended_done, Participation.Status.PRESENT, 2)
        take_part(world.sanxia_member, upcoming, Participation.Status.SIGNED_UP)

        pending = Activity.objects.pending_roll_call(NOW)

        assert list(pending) == [ended_waiting]


def test_week_bounds_run_from_monday_to_monday():
    start, end = figures.week_bounds(dt.date(2025, 6, 22))  # a Sunday
    assert timezone.localtime(start).date() == dt.date(2025, 6, 16)
    assert timezone.localtime(end).date() == dt.date(2025, 6, 23)
    assert timezone.localtime(start).hour == 0


class TestDutyFulfilment:
    """Days with at least the quota of the agency's members present on duty activities that
    count toward the agreement ÷ days in the period (from the later of the agreement's start
    and the period's start to the earliest of its end and today)."""

    JUNE_1 = dt.date(2025, 6, 1)

    @staticmethod
    def at(day, hour=9, minute=0):
        return timezone.make_aware(dt.datetime(2025, 6, day, hour, minute))

    @pytest.fixture
    def agreement(self, world):
        # world.agreement is dated from the real today; this one sits around NOW.
        world.agreement.delete()
        Activity.objects.all().delete()
        return Agreement.objects.create(
            agency=world.sanxia,
            community=world.shengli,
            number="GJ-DUTY-1",
            starts_on=self.JUNE_1,
            ends_on=dt.date(2026, 5, 31),
            status=Agreement.Status.ACTIVE,
            signed_on=self.JUNE_1,
        )

    @pytest.fixture
    def duties(self, world, agreement):
        """June 2–18 (18 days with June 1): who was present on which kind of activity."""
        duty = {"nature": Activity.Nature.DUTY, "agreement": agreement}
        present = Participation.Status.PRESENT
        li, wang, chen = world.sanxia_member, world.sanxia_member_2, world.yuanlin_member
        # June 2: one member on duty.
        take_part(li, activity(world, self.at(2), **duty), present, 2)
        # June 3: two members on duty (two activities).
        take_part(li, activity(world, self.at(3), **duty), present, 2)
        take_part(wang, activity(world, self.at(3, 15), **duty), present, 2)
        # June 4: one member at two duties the same day: one member, not two.
        take_part(li, activity(world, self.at(4), **duty), present, 2)
        take_part(li, activity(world, self.at(4, 15), **duty), present, 2)
        # June 5: two present, but at a volunteer activity.
        volunteer = activity(
            world, self.at(5), nature=Activity.Nature.VOLUNTEER, agreement=agreement
        )
        take_part(li, volunteer, present, 2)
        take_part(wang, volunteer, present, 2)
        # June 6: another agency's member on duty.
        take_part(chen, activity(world, self.at(6), **duty), present, 2)
        # June 7: on duty, but on leave and absent.
        on_duty = activity(world, self.at(7), **duty)
        take_part(li, on_duty, Participation.Status.LEAVE)
        take_part(wang, on_duty, Participation.Status.ABSENT)
        # June 8: two present on duty in another community.
        elsewhere = activity(
            world, self.at(8), community=world.shenzhen, nature=Activity.Nature.DUTY
        )
        take_part(li, elsewhere, present, 2)
        take_part(wang, elsewhere, present, 2)
        # June 11: two present on a duty of the community that counts toward no agreement
        # (计入协议 = 无), and June 12 on one that counts toward another agreement.
        uncounted = activity(world, self.at(11), nature=Activity.Nature.DUTY)
        take_part(li, uncounted, present, 2)
        take_part(wang, uncounted, present, 2)
        other = Agreement.objects.create(
            agency=world.sanxia,
            community=world.shengli,
            number="GJ-2024-DUTY",
            starts_on=dt.date(2024, 6, 1),
            ends_on=dt.date(2025, 5, 31),
            status=Agreement.Status.EXPIRED,
            signed_on=dt.date(2024, 6, 1),
        )
        take_part(
            li,
            activity(world, self.at(12), nature=Activity.Nature.DUTY, agreement=other),
            present,
            2,
        )
        # June 9 23:30 and June 10 00:30, local time: two days here, one day in UTC.
        take_part(li, activity(world, self.at(9, 23, 30), hours=1, **duty), present, 1)
        take_part(wang, activity(world, self.at(10, 0, 30), hours=1, **duty), present, 1)
        # June 19 and later: after "today".
        take_part(li, activity(world, self.at(19), **duty), present, 2)
        take_part(wang, activity(world, self.at(19, 15), **duty), present, 2)

    def test_quota_one_counts_each_day_with_anyone_on_duty_once(
        self, agreement, duties, django_assert_num_queries
    ):
        with django_assert_num_queries(1):
            result = figures.duty_fulfilment(agreement, today=TODAY)
        # June 2, 3, 4, 9 and 10: 5 days of June 1–18.
        assert (result.days_met, result.days) == (5, 18)
        assert result.rate == Decimal("0.2778")
        assert percent(result.rate) == "27.8%"

    def test_quota_two_needs_two_different_members_on_one_local_day(self, agreement, duties):
        agreement.daily_quota = 2
        agreement.save()
        result = figures.duty_fulfilment(agreement, today=TODAY)
        # Only June 3: June 4 is one member twice, June 9/10 are two local days.
        assert (result.days_met, result.days) == (1, 18)
        assert result.rate == Decimal("0.0556")

    def test_the_period_is_cut_to_the_agreement_and_to_today(self, agreement, duties):
        # From June 3: June 3, 4, 9, 10 of 16 days.
        june_3 = figures.duty_fulfilment(agreement, start=dt.date(2025, 6, 3), today=TODAY)
        assert (june_3.first, june_3.last, june_3.days_met, june_3.days) == (
            dt.date(2025, 6, 3),
            TODAY,
            4,
            16,
        )
        # A period starting before the agreement starts from the agreement.
        may = figures.duty_fulfilment(agreement, start=dt.date(2025, 5, 1), today=TODAY)
        assert (may.first, may.days_met, may.days) == (self.JUNE_1, 5, 18)
        # An end before today: June 1–4.
        first_days = figures.duty_fulfilment(agreement, end=dt.date(2025, 6, 4), today=TODAY)
        assert (first_days.days_met, first_days.days) == (3, 4)
        # After the agreement ended, days after its end count in neither part.
        agreement.ends_on = dt.date(2025, 6, 9)
        agreement.save()
        ended = figures.duty_fulfilment(agreement, today=dt.date(2025, 6, 30))
        assert (ended.last, ended.days_met, ended.days) == (dt.date(2025, 6, 9), 4, 9)

    def test_duties_counting_toward_no_agreement_or_another_count_nowhere(self, agreement, duties):
        # June 11: two members on a duty counted toward no agreement (计入协议 = 无); June 12:
        # one on a duty counted toward the agency's earlier agreement. Neither day is met.
        result = figures.duty_fulfilment(
            agreement, start=dt.date(2025, 6, 11), end=dt.date(2025, 6, 12), today=TODAY
        )
        assert (result.days_met, result.days, result.rate) == (0, 2, Decimal("0"))
        assert percent(result.rate) == "0%"

    def test_an_agreement_not_begun_has_no_figure(self, agreement, duties):
        result = figures.duty_fulfilment(agreement, today=dt.date(2025, 5, 20))
        assert (result.days_met, result.days, result.rate) == (0, 0, None)
        assert percent(result.rate) == "—"

    def test_several_agreements_and_periods_in_one_query(
        self, world, agreement, duties, django_assert_num_queries
    ):
        second = Agreement.objects.create(
            agency=world.yuanlin,
            community=world.shengli,
            number="GJ-DUTY-2",
            starts_on=self.JUNE_1,
            ends_on=dt.date(2026, 5, 31),
            status=Agreement.Status.ACTIVE,
            signed_on=self.JUNE_1,
        )
        # 陈思远's duty on June 6 counts toward 园林局's agreement.
        Activity.objects.filter(starts_at=self.at(6)).update(agreement=second)
        agreements = figures.with_duty_fulfilment(
            Agreement.objects.filter(number__startswith="GJ-DUTY-").order_by("number"),
            name="recent",
            start=dt.date(2025, 6, 4),
            today=TODAY,
        )
        agreements = figures.with_duty_fulfilment(agreements, name="total", today=TODAY)
        with django_assert_num_queries(1):
            rows = {
                a.number: (
                    figures.annotated_duty_fulfilment(a, "recent").days_met,
                    figures.annotated_duty_fulfilment(a, "total").days_met,
                    figures.annotated_duty_fulfilment(a, "total").days,
                )
                for a in agreements
            }
        assert rows == {"GJ-DUTY-1": (3, 5, 18), "GJ-DUTY-2": (1, 1, 18)}
