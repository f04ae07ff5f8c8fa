"""A leave request awaiting a decision was stored as status "leave" before 0020; migrated, it is
a sign-up again (holding its seat, counted as leave nowhere), and a decided leave stays leave."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from activities.models import Participation

BEFORE = [("activities", "0019_dutyassignment_history")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.mark.django_db(transaction=True)
def test_waiting_requests_become_sign_ups_and_decided_leave_stays():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE).loader.project_state(BEFORE).apps
        Street = old.get_model("communities", "Street")
        Community = old.get_model("communities", "Community")
        Agency = old.get_model("communities", "Agency")
        Member = old.get_model("members", "Member")
        ActivityType = old.get_model("activities", "ActivityType")
        Activity = old.get_model("activities", "Activity")
        OldParticipation = old.get_model("activities", "Participation")
        community = Community.objects.create(
            street=Street.objects.create(name="万寿桥街道"), name="胜利一路社区"
        )
        agency = Agency.objects.create(name="三峡旅游新区管委会")
        kind = ActivityType.objects.get_or_create(code="cleanup", defaults={"name": "环境清扫"})[0]
        starts = dt.datetime(2026, 12, 20, 1, tzinfo=dt.UTC)
        activity = Activity.objects.create(
            community=community,
            type=kind,
            title="环境清扫",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=2),
        )
        waiting, approved = (
            Member.objects.create(agency=agency, name=name, mobile=mobile)
            for name, mobile in (("李建华", "13900000001"), ("王海燕", "13900000002"))
        )
        OldParticipation.objects.create(
            activity=activity,
            member=waiting,
            status="leave",
            leave_reason="出差",
            leave_decision="pending",
            source="sign_up",
        )
        OldParticipation.objects.create(
            activity=activity,
            member=approved,
            status="leave",
            leave_reason="病",
            leave_decision="approved",
            source="roll_call",
        )
        _migrate(leaves)
    finally:
        _migrate(leaves)  # whatever happened, later tests find the schema they expect

    rows = {p.member.name: p for p in Participation.objects.select_related("member")}
    assert (rows["李建华"].status, rows["李建华"].leave_decision, rows["李建华"].leave_reason) == (
        Participation.Status.SIGNED_UP,
        Participation.LeaveDecision.PENDING,
        "出差",
    )
    assert rows["李建华"].asks_for_leave
    assert (rows["王海燕"].status, rows["王海燕"].leave_decision) == (
        Participation.Status.LEAVE,
        Participation.LeaveDecision.APPROVED,
    )
