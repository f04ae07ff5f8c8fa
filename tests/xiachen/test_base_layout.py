"""What every page pays before and around its own work: the session, the login, the second factor,
the scope and the navbar's unread count. Each is one statement whose SQL is written once per
process (an ORM query built on every page cost 0.3–1 ms of CPU, more than the database spent on
it); these tests pin the statements a minimal page sends and check that each reads what the ORM
query it replaced reads."""

import datetime as dt

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.contenttypes.models import ContentType
from django.db.models import F
from django.db.models.sql.compiler import SQLCompiler
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from communities import permissions
from communities.models import StaffRole
from members.models import Member
from members.sessions import SessionStore, SignedInSession
from notifications.models import Notification
from xiachen.templatetags.xiachen import unread_count

# A page every signed-in person may ask for and none but the city administrator may see: its
# answer (403, the base layout with the navbar) is the least any page costs.
FORBIDDEN = "/privacy/views/"


@pytest.fixture
def orm_statements(monkeypatch):
    """The statements built by the ORM's compiler from here on (a raw cursor's are not)."""
    built = []
    as_sql = SQLCompiler.as_sql

    def counted(self, *args, **kwargs):
        sql, params = as_sql(self, *args, **kwargs)
        if not getattr(self.query, "subquery", False):
            built.append(sql)
        return sql, params

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)
    return built


@pytest.mark.django_db
@pytest.mark.parametrize(
    "persona, queries, orm",
    [
        # The session with its login, the scope, the unread count.
        ("community_staff", 3, 0),
        # … and the device that passed the second factor.
        ("agency_office", 4, 0),
        # … the street's communities, with the scope.
        ("street_officer", 5, 0),
        # A member: the session with its login, the scope (no role), the member record (the
        # navbar's name), the unread count.
        ("member_user", 4, 1),
    ],
)
def test_a_minimal_page_costs_one_statement_per_thing_it_reads(
    client, request, django_assert_num_queries, orm_statements, persona, queries, orm
):
    """A member's record is the only statement the ORM builds on a 403; the others are written
    once per process."""
    user = request.getfixturevalue(persona)
    client.force_login(user)
    assert client.get(FORBIDDEN).status_code == 403  # the session's first page
    orm_statements.clear()
    with django_assert_num_queries(queries):
        response = client.get(FORBIDDEN)
    assert response.status_code == 403
    assert 'data-testid="bell"' in response.content.decode()
    assert len(orm_statements) == orm, orm_statements


def _orm_scope(user):
    rows = list(
        user.staff_roles.values(
            "kind",
            "street_id",
            "community_id",
            "agency_id",
            grid_id=F("grids__id"),
            member_pk=F("user__member__id"),
        )
    )

    def ids(column):
        return frozenset(row[column] for row in rows if row[column])

    return {
        "kinds": frozenset(row["kind"] for row in rows),
        "street_ids": ids("street_id"),
        "community_ids": ids("community_id"),
        "grid_ids": ids("grid_id"),
        "agency_ids": ids("agency_id"),
        # The login's member record, with roles or without (a member's login has none).
        "member_ids": frozenset(Member.objects.filter(user=user).values_list("pk", flat=True)),
    }


@pytest.mark.django_db
def test_the_scope_reads_what_the_orm_query_reads(
    world,
    django_user_model,
    city_admin,
    street_officer,
    grid_worker,
    agency_office,
    other_member_user,
):
    member = world.sanxia_member.user
    grid_role = StaffRole.objects.create(
        user=member, kind=StaffRole.Kind.GRID_WORKER, community=world.shengli
    )
    grid_role.grids.set([world.zilinyuan, world.wanshou])
    StaffRole.objects.create(user=member, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.yuanlin)
    roleless = django_user_model.objects.create_user("no_roles")
    for login in (
        city_admin,
        street_officer,
        grid_worker,
        agency_office,
        member,
        roleless,
        other_member_user,
    ):
        login = django_user_model.objects.get(pk=login.pk)
        scope = permissions.scope_of(login)
        assert {name: getattr(scope, name) for name in _orm_scope(login)} == _orm_scope(login)
    officer = django_user_model.objects.get(pk=street_officer.pk)
    assert permissions.scope_of(officer).street_community_ids == {world.shengli.pk}


@pytest.mark.django_db
def test_a_role_taken_away_or_granted_takes_effect_at_the_next_page(client, world, community_staff):
    """The scope is read on every page (nothing of it is kept between requests): a role granted
    applies at the next page (an agency office's owes a second factor at once); one taken away
    ends the sessions (members.sessions)."""
    client.force_login(community_staff)
    roster = reverse("roster:list")
    assert client.get(roster).status_code == 403
    role = StaffRole.objects.create(
        user=community_staff, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    assert client.get(roster)["Location"].startswith(reverse("two_factor:enrol"))
    client.force_login(community_staff)  # and passes the factor (tests/conftest.py)
    assert client.get(roster).status_code == 200
    role.delete()
    assert client.get(roster)["Location"].startswith(reverse("login"))
    client.force_login(community_staff)
    assert client.get(roster).status_code == 403


@pytest.mark.django_db
def test_the_unread_count_is_the_inbox_count(world, member_user, community_staff):
    now = timezone.now()

    def message(user, n, **fields):
        return Notification.objects.create(
            kind=Notification.Kind.UPCOMING,
            recipient=user,
            recipient_key=f"u{user.pk}",
            channel=fields.pop("channel", Notification.Channel.INAPP),
            state=fields.pop("state", Notification.State.SENT),
            content_type=ContentType.objects.get_for_model(user),
            object_id=user.pk,
            slot=f"slot-{n}",
            subject="提醒",
            body="正文",
            due_at=now,
            **fields,
        )

    message(member_user, 1)
    message(member_user, 2)
    message(member_user, 3, read_at=now)
    message(member_user, 4, state=Notification.State.PENDING)
    message(member_user, 5, channel=Notification.Channel.EMAIL)
    message(community_staff, 6)
    for user in (member_user, community_staff):
        expected = Notification.objects.inbox(user, read_at__isnull=True).count()
        assert unread_count(user) == expected
    assert unread_count(member_user) == 2


@pytest.mark.django_db
def test_a_session_past_its_expiry_is_not_read(community_staff):
    store = SessionStore()
    store[SESSION_KEY] = str(community_staff.pk)
    store.create()
    assert SessionStore(store.session_key).get(SESSION_KEY) == str(community_staff.pk)
    SignedInSession.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    expired = SessionStore(store.session_key)
    assert expired.get(SESSION_KEY) is None
    assert expired.session_key is None  # as Django's: a new key at the next save


@pytest.mark.django_db
def test_the_second_factor_holds_only_while_its_device_does(client, agency_office):
    """DeviceMiddleware reads the session's device itself: a removed device, another login's or
    an unconfirmed one, or a malformed id, leaves the session unverified (the code page)."""
    client.force_login(agency_office)
    dashboard = reverse("reports:dashboard")
    assert client.get(dashboard).status_code == 200
    device = TOTPDevice.objects.get(user=agency_office)
    device.confirmed = False
    device.save()
    assert client.get(dashboard)["Location"].startswith(reverse("two_factor:enrol"))
    for persistent_id in (
        "otp_totp.totpdevice/not-a-number",
        "no-such-app.device/1",
        "auth.user/1",
        "nonsense",
    ):
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = persistent_id
        session.save()
        assert client.get(dashboard).status_code == 302
        assert DEVICE_ID_SESSION_KEY not in client.session


@pytest.mark.django_db
def test_a_device_of_another_login_or_removed_verifies_nothing(
    client, agency_office, other_agency_office
):
    client.force_login(agency_office)
    dashboard = reverse("reports:dashboard")
    other = StaticDevice.objects.create(user=other_agency_office, name="codes", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = other.persistent_id
    session.save()
    assert client.get(dashboard)["Location"].startswith(reverse("two_factor:verify"))
    own = StaticDevice.objects.create(user=agency_office, name="codes", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = own.persistent_id
    session.save()
    assert client.get(dashboard).status_code == 200  # a recovery-code device verifies too
    own.delete()
    assert client.get(dashboard)["Location"].startswith(reverse("two_factor:verify"))


@pytest.mark.django_db
def test_the_login_is_read_with_the_session(client, community_staff, django_assert_num_queries):
    client.force_login(community_staff)
    store = SessionStore(client.session.session_key)
    with django_assert_num_queries(1):
        assert store.get(SESSION_KEY) == str(community_staff.pk)
        assert store.loaded_user == community_staff
        assert store.loaded_user.username == "shengli_staff"
        assert store.loaded_user.is_active is True  # converted as the ORM would
        assert store.loaded_user.date_joined == community_staff.date_joined
    anonymous = SessionStore()
    anonymous["anything"] = 1
    anonymous.create()
    store = SessionStore(anonymous.session_key)
    assert store.get("anything") == 1 and store.loaded_user is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        # Another password set without the signals that end sessions: the session's hash no
        # longer matches (Django flushes the session).
        {"password": "pbkdf2_sha256$1$changed$x"},
        # Deactivated without the signals: ModelBackend's user_can_authenticate says no.
        {"is_active": False},
    ],
)
def test_the_login_read_with_the_session_is_checked_as_django_checks_it(
    client, community_staff, change
):
    client.force_login(community_staff)
    dashboard = reverse("reports:dashboard")
    assert client.get(dashboard).status_code == 200
    type(community_staff).objects.filter(pk=community_staff.pk).update(**change)
    assert client.get(dashboard)["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_a_session_whose_row_names_another_login_is_read_as_its_data_says(
    client, community_staff, agency_office
):
    """The login read with the row serves only when the row and the data name the same login;
    else Django reads the login the data names."""
    client.force_login(community_staff)
    key = client.session.session_key
    SignedInSession.objects.filter(session_key=key).update(user=agency_office)
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    assert response.wsgi_request.user == community_staff


@pytest.mark.django_db
def test_a_session_signed_in_through_a_backend_no_longer_listed_is_anonymous(
    client, community_staff, settings
):
    client.force_login(community_staff)
    settings.AUTHENTICATION_BACKENDS = ["members.auth.MobileBackend"]
    assert client.get(reverse("reports:dashboard"))["Location"].startswith(reverse("login"))
