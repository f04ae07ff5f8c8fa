"""The outbox moved from the activities app to its own with every row: a database that holds
messages from before the move is migrated, and each message is still there, with its
recipient's name and mobile taken from the member it pointed at."""

import datetime as dt
import importlib

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from notifications.models import Notification, NotificationPreference

BEFORE = [("notifications", None)]  # unapplies the move (and activities.0008 with it)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_moving_the_outbox_keeps_every_message_and_who_it_was_for():
    leaves = _leaves()
    try:
        executor = _migrate(BEFORE)
        old = executor.loader.project_state([("activities", "0007_concern_message_kinds")]).apps
        assert "activities_notification" in connection.introspection.table_names()

        User = old.get_model("auth", "User")
        Street = old.get_model("communities", "Street")
        Community = old.get_model("communities", "Community")
        Agency = old.get_model("communities", "Agency")
        Member = old.get_model("members", "Member")
        OldNotification = old.get_model("activities", "Notification")
        OldPreference = old.get_model("activities", "NotificationPreference")
        OldContentType = old.get_model("contenttypes", "ContentType")

        street = Street.objects.create(name="万寿桥街道")
        Community.objects.create(street=street, name="胜利一路社区")
        agency = Agency.objects.create(name="三峡旅游新区管委会", short_name="三峡旅游新区")
        login = User.objects.create(username="lijianhua")
        staff = User.objects.create(username="shengli_staff")
        with_login = Member.objects.create(
            agency=agency, user=login, name="李建华", mobile="13900000001"
        )
        without = Member.objects.create(agency=agency, name="王海燕", mobile="13900000002")
        about = OldContentType.objects.get_or_create(app_label="members", model="member")[0]
        common = dict(
            kind="inactivity",
            content_type=about,
            slot="2026-W27",
            subject="好久没见到您了",
            body="正文",
            due_at=dt.datetime(2026, 7, 6, 1, tzinfo=dt.UTC),
        )
        OldNotification.objects.create(
            channel="inapp",
            state="sent",
            recipient=login,
            recipient_member=with_login,
            recipient_key=f"u{login.pk}",
            object_id=with_login.pk,
            **common,
        )
        OldNotification.objects.create(
            channel="webhook",
            state="failed",
            recipient_member=without,
            recipient_key=f"m{without.pk}",
            object_id=without.pk,
            address="http://robot.example/hook",
            last_error="URLError",
            **common,
        )
        OldNotification.objects.create(
            channel="inapp",
            state="pending",
            recipient=staff,
            recipient_key=f"u{staff.pk}",
            object_id=without.pk,
            **common,
        )
        OldPreference.objects.create(user=login, email=False, webhook=True)
        old_type = OldContentType.objects.get_or_create(
            app_label="activities", model="notification"
        )[0]

        _migrate(leaves)
    finally:
        _migrate(leaves)  # whatever happened, later tests find the schema they expect

    tables = connection.introspection.table_names()
    assert "notifications_notification" in tables
    assert "activities_notification" not in tables
    rows = {n.recipient_key: n for n in Notification.objects.all()}
    assert len(rows) == 3
    first = rows[f"u{login.pk}"]
    assert (first.recipient_id, first.recipient_name, first.recipient_mobile) == (
        login.pk,
        "李建华",
        "13900000001",
    )
    assert (first.state, first.agency_id) == ("sent", agency.pk)
    second = rows[f"m{without.pk}"]
    assert (second.recipient_id, second.recipient_name, second.recipient_mobile) == (
        None,
        "王海燕",
        "13900000002",
    )
    assert (second.state, second.address, second.last_error) == (
        "failed",
        "http://robot.example/hook",
        "URLError",
    )
    staff_row = rows[f"u{staff.pk}"]
    assert (staff_row.recipient_name, staff_row.recipient_mobile, staff_row.agency_id) == (
        "",
        "",
        None,
    )
    kept = NotificationPreference.objects.get(user_id=login.pk)
    assert (kept.inapp, kept.email, kept.webhook) == (True, False, True)
    moved = ContentType.objects.get(pk=old_type.pk)
    assert (moved.app_label, moved.model) == ("notifications", "notification")


@pytest.mark.django_db
def test_messages_queued_for_a_robot_before_0004_say_whose_robot_posts_them(world):
    from django.apps import apps

    record_robot_owners = importlib.import_module(
        "notifications.migrations.0004_delivery_reasons_and_robot_owner"
    ).record_robot_owners
    common = dict(
        kind=Notification.Kind.UPCOMING,
        content_type=ContentType.objects.get_for_model(world.shengli_activity),
        object_id=world.shengli_activity.pk,
        subject="提醒",
        body="正文",
        recipient_name="王海燕",
    )
    by_community = Notification.objects.create(
        channel="webhook",
        community=world.shengli,
        agency=world.sanxia,
        recipient_key="m1",
        **common,
    )
    by_agency = Notification.objects.create(
        channel="webhook", agency=world.sanxia, recipient_key="m2", **common
    )
    inbox = Notification.objects.create(
        channel="inapp", community=world.shengli, recipient_key="m3", **common
    )
    record_robot_owners(apps, None)
    owners = dict(Notification.objects.values_list("pk", "robot_owner"))
    assert owners == {by_community.pk: "community", by_agency.pk: "agency", inbox.pk: ""}
