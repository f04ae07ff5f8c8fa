"""The rows the role matrix and the hostile forms walk: the `world` of tests/conftest.py, its
personas, and one object of each kind a URL takes on each side — side A (胜利一路社区, 万寿桥街道,
三峡旅游新区) and side B (深圳路社区, 东苑街道, 园林局) — built once per module.

A role named `other_…` is the side-B twin of the side-A role of the same name."""

import datetime as dt
import hashlib
from contextlib import contextmanager
from types import SimpleNamespace

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import (
    Activity,
    CallOut,
    Concern,
    DoorToDoorUnit,
    Need,
    Participation,
)
from activities.models.participation import Dispute
from activities.services.callouts import callout_raise
from communities.models import Agreement, StaffRole
from members.models import Member, PrivacyAcceptance, Registration
from members.two_factor import pass_second_factor
from notifications.models import Notification
from reports.certificates import issue
from reports.models import Evaluation, EvaluationObjection, ExportJob
from tests.conftest import PERSONAS, make_persona, make_world, role

SIDE_A = ("city", "street", "staff", "grid", "office", "member")
SIDE_B = ("other_street", "other_staff", "other_office", "other_member")
ROLES = ("anonymous", *SIDE_A, *SIDE_B)
FIXTURE_OF = {
    "city": "city_admin",
    "street": "street_officer",
    "staff": "community_staff",
    "grid": "grid_worker",
    "office": "agency_office",
    "other_staff": "other_community_staff",
    "other_office": "other_agency_office",
}
assert set(FIXTURE_OF.values()) <= set(PERSONAS)


def side_of(role_name: str) -> str | None:
    """ "A", "B", or None for the anonymous visitor and the city (who is in every scope)."""
    if role_name in ("anonymous", "city"):
        return None
    return "B" if role_name.startswith("other_") else "A"


def base_of(role_name: str) -> str:
    return role_name.removeprefix("other_")


def build():
    """Every row of the matrix: `d.users[role]`, `d.a.<kind>` and `d.b.<kind>`."""
    User = get_user_model()
    w = make_world(User)
    today = timezone.localdate()
    now = timezone.now()
    d = SimpleNamespace(world=w, users={"anonymous": None})
    for name, fixture in FIXTURE_OF.items():
        d.users[name] = make_persona(fixture, w, User)
    d.users["other_street"] = role(
        User, "dongyuan_officer", StaffRole.Kind.STREET_OFFICER, street=w.dongyuan
    )
    d.users["member"] = w.sanxia_member.user
    d.users["other_member"] = w.yuanlin_member.user

    a = SimpleNamespace(community=w.shengli, agency=w.sanxia, member=w.sanxia_member)
    b = SimpleNamespace(community=w.shenzhen, agency=w.yuanlin, member=w.yuanlin_member)
    a.agreement = w.agreement
    b.agreement = Agreement.objects.create(
        agency=w.yuanlin,
        community=w.shenzhen,
        number="GJ-TEST-002",
        starts_on=today - dt.timedelta(days=100),
        ends_on=today + dt.timedelta(days=265),
        status=Agreement.Status.ACTIVE,
        signed_on=today - dt.timedelta(days=100),
    )
    for side in (a, b):
        side.agreement.scan.save("scan.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=True)
    # A past activity with the side's member present (roll call, board, doors, review) and a
    # coming one (sign-up).
    a.past = w.shengli_activity
    b.past = Activity.objects.create(
        community=w.shenzhen,
        type=w.cleanup,
        title="深圳路清扫",
        starts_at=now - dt.timedelta(hours=5),
        ends_at=now - dt.timedelta(hours=4),
        nature=Activity.Nature.DUTY,
        agreement=b.agreement,
    )
    a.coming = Activity.objects.create(
        community=w.shengli,
        type=w.cleanup,
        title="胜利一路清扫",
        starts_at=now + dt.timedelta(days=2),
        ends_at=now + dt.timedelta(days=2, hours=2),
        capacity=20,
    )
    b.coming = w.shenzhen_activity
    a.record = w.shengli_participation
    b.record = Participation.objects.create(
        activity=b.past,
        member=w.yuanlin_member,
        status=Participation.Status.PRESENT,
        hours=1,
        source=Participation.Source.ROLL_CALL,
    )
    for side in (a, b):
        # The record is disputed by its member, an open dispute the community answers.
        Participation.objects.filter(pk=side.record.pk).update(review=Participation.Review.DISPUTED)
        Dispute.objects.create(
            participation=side.record, reason="我到场了", raised_by=side.member.user
        )
    # A confirmed record the community may backfill: a second past activity of each side.
    for side, community, agreement in ((a, w.shengli, a.agreement), (b, w.shenzhen, b.agreement)):
        earlier = Activity.objects.create(
            community=community,
            type=w.patrol,
            title=f"{community.name}早前巡逻",
            starts_at=now - dt.timedelta(days=3, hours=3),
            ends_at=now - dt.timedelta(days=3, hours=1),
            nature=Activity.Nature.DUTY,
            agreement=agreement,
        )
        side.confirmed = Participation.objects.create(
            activity=earlier,
            member=side.member,
            status=Participation.Status.PRESENT,
            hours=2,
            source=Participation.Source.ROLL_CALL,
            review=Participation.Review.CONFIRMED,
        )
        side.door = DoorToDoorUnit.objects.create(
            activity=side.past, building="1栋", households=6, member=side.member
        )
        staff = d.users["staff" if side is a else "other_staff"]
        side.concern = Concern.objects.create(
            community=community, reported_by=staff, title=f"{community.name}民情"
        )
        side.need = Need.objects.create(
            community=community,
            title=f"{community.name}微心愿",
            deadline=now + dt.timedelta(days=3),
            hours=1,
            published_by=staff,
        )
        # An open call-out of the side's community, escalated to the offices (both sides'
        # agencies have an agreement in force there): its member is called.
        side.callout = callout_raise(
            by=staff,
            community=community,
            title=f"{community.name}吹哨",
            place="江堤",
            starts_at=now + dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(hours=5),
            needed=5,
        )
        CallOut.objects.filter(pk=side.callout.pk).update(
            escalation_level=CallOut.Level.OFFICES, escalated_at=now
        )
        side.evaluation = Evaluation.objects.create(
            member=side.member,
            community=community,
            year=today.year,
            rating=Evaluation.Rating.BASIC,
            rated_by=staff,
            rated_at=now,
        )
        side.objection = EvaluationObjection.objects.create(
            evaluation=side.evaluation,
            reason="我参加了巡逻",
            raised_by=side.member.user,
            raised_at=now,
            rating_before=side.evaluation.rating,
        )
        office = d.users["office" if side is a else "other_office"]
        side.export_job = ExportJob.objects.create(
            user=office, agency=side.agency, what="roster", format="xlsx"
        )
        side.export_job.file.save("roster.xlsx", ContentFile(b"PK\x03\x04"), save=False)
        side.export_job.state = ExportJob.State.DONE
        side.export_job.finished_at = now
        side.export_job.save()
        side.certificate = issue(
            member=side.member,
            first=today - dt.timedelta(days=30),
            last=today,
            issuer=side.agency,
            contact="",
            by=office,
        )
        side.message = _message(side.member, community, side.agency, Notification.State.SENT)
        side.failed = _message(
            side.member, community, side.agency, Notification.State.FAILED, slot="retry"
        )
    # A pending report-in of each side: 王海燕 at 胜利一路社区 (the world's), and another
    # 园林局 member at 深圳路社区. Each side's member has a pending one of their own to withdraw.
    a.registration = Registration.objects.get(member=w.sanxia_member_2)
    b.member_2 = Member.objects.create(agency=w.yuanlin, name="赵丽娟", mobile="13900000004")
    b.registration = Registration.objects.create(
        member=b.member_2, community=w.shenzhen, applied_on=today
    )
    a.own_registration = Registration.objects.create(
        member=w.sanxia_member, community=w.shenzhen, applied_on=today
    )
    b.own_registration = Registration.objects.create(
        member=w.yuanlin_member, community=w.shengli, applied_on=today
    )
    # The other agency's members at each side's activity, so that the office's and members'
    # pages of it have someone to leave out: 陈思远 (园林局) absent at 胜利一路's patrol with a door
    # unit, 王海燕 (三峡) present at 深圳路's clean-up with one.
    for activity, member in ((a.past, w.yuanlin_member), (b.past, w.sanxia_member_2)):
        Participation.objects.create(
            activity=activity,
            member=member,
            status=Participation.Status.ABSENT,
            source=Participation.Source.ROLL_CALL,
        )
        DoorToDoorUnit.objects.create(
            activity=activity, building="2栋", households=4, member=member
        )
    d.a, d.b = a, b
    return d


def _message(member, community, agency, state, slot=""):
    from django.contrib.contenttypes.models import ContentType

    return Notification.objects.create(
        kind=Notification.Kind.MESSAGE,
        channel=Notification.Channel.INAPP,
        state=state,
        recipient=member.user,
        recipient_name=member.name,
        recipient_key=f"u{member.user_id}",
        community=community,
        agency=agency,
        content_type=ContentType.objects.get_for_model(Member),
        object_id=member.pk,
        slot=slot,
        subject="通知",
        body="请参加活动",
        sent_at=timezone.now() if state == Notification.State.SENT else None,
        failure=Notification.Failure.OTHER if state == Notification.State.FAILED else "",
    )


@contextmanager
def built_once(django_db_blocker):
    """`build()` inside a transaction that is rolled back when the module is done: the tests'
    own transactions (the `db` fixture) are savepoints within it."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def project_tables() -> list[str]:
    """The tables of the project's own apps and of the logins (not sessions, not caches)."""
    labels = {"activities", "communities", "members", "notifications", "reports", "auth"}
    return sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in labels and not model._meta.proxy and model._meta.managed
    )


# A signed-in session (members.sessions) is marked seen at most once a minute by any page, in
# its data, expiry and last_seen: a test running past that minute on a busy machine saw its
# refused request "write" the sessions. Which sessions there are, and whose, is what counts.
SESSION_COLUMNS = {"members_signedinsession": "session_key, user_id, signed_in_at"}


def checksum() -> dict[str, str]:
    """A digest of every row of every project table, by table: compared before and after a
    refused request, it names the tables a refusal wrote to."""
    sums = {}
    with connection.cursor() as cursor:
        for table in project_tables():
            columns = SESSION_COLUMNS.get(table, "*")
            cursor.execute(f"SELECT {columns} FROM {connection.ops.quote_name(table)} ORDER BY 1")
            sums[table] = hashlib.sha1(repr(cursor.fetchall()).encode()).hexdigest()
    return sums


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(table for table in before if before[table] != after.get(table))


def rows_and_clients(django_db_blocker):
    """For a module fixture: the rows, and a client per role (`d.clients`) that enforces
    CSRF, signed in, with its own session's CSRF token, built once; `d.rows` the checksum of
    every table, the same before each request of a test that rolls each back."""
    with built_once(django_db_blocker) as built:
        with django_db_blocker.unblock():
            # Every login has accepted the privacy notice in force, as the demo's have.
            PrivacyAcceptance.objects.bulk_create(
                [
                    PrivacyAcceptance(
                        user=user,
                        version=settings.PRIVACY_NOTICE_VERSION,
                        accepted_at=timezone.now(),
                    )
                    for user in get_user_model().objects.all()
                ],
                ignore_conflicts=True,
            )
            built.clients = {}
            for name in ROLES:
                client = Client(enforce_csrf_checks=True)
                if built.users[name] is not None:
                    client.force_login(built.users[name])
                    # Built once for the module, outside the tests' own fixture that passes
                    # it: the roles that need a second factor have passed it.
                    pass_second_factor(client, built.users[name])
                # A page with a form (the sign-in's, or the sign-out's in the menu) sets the
                # cookie.
                client.get(reverse("login" if built.users[name] is None else "reports:dashboard"))
                built.clients[name] = client
            built.rows = checksum()
        yield built
