"""Persona fixtures: a small Yichang with two of everything, so every scope has an outside."""

import datetime as dt
import fcntl
import importlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver
from django.test import Client
from django.utils import timezone, translation

from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Agreement, Community, Grid, StaffRole, Street
from members.models import Member, PrivacyAcceptance, Registration
from members.two_factor import pass_second_factor

# In CI every service a test needs must be there: a test that would skip fails instead.
REQUIRED_SERVICES = set(filter(None, os.environ.get("XIACHEN_REQUIRE", "").split(",")))


def require_or_skip(service: str, reason: str):
    if service in REQUIRED_SERVICES:
        pytest.fail(f"{service} is required here (XIACHEN_REQUIRE) but {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests are deselected on SQLite (not skipped); in the PostgreSQL leg
    # of CI XIACHEN_REQUIRE=postgres makes a SQLite database an error instead.
    on_postgres = "postgres" in os.environ.get("DATABASE_URL", "").split("://")[0]
    if "postgres" in REQUIRED_SERVICES and not on_postgres:
        raise pytest.UsageError("XIACHEN_REQUIRE has postgres but DATABASE_URL is not PostgreSQL")
    on_redis = os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
    if "redis" in REQUIRED_SERVICES and not on_redis:
        raise pytest.UsageError("XIACHEN_REQUIRE has redis but CELERY_BROKER_URL is not Redis")
    if on_postgres:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("postgres") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _lock_folder() -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return None
    folder = Path(tempfile.gettempdir()) / f"xiachen-tests-{run}"
    folder.mkdir(exist_ok=True)
    return folder


# The room as this process's test holds it (pytest_runtest_protocol), for `alone()`.
_room = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under pytest-xdist (`-n 2`) the test processes share the machine's cores. A test marked
    `alone` holds what it does to a time (a slow robot that holds nothing up): it waits until
    the other processes have finished the test each is in, and they start no other until it is
    done, so that it is timed as in one process. A test that builds its data first and times
    only a part of it uses `alone()` around that part instead.

    Two lock files of the run, which its processes share (PYTEST_XDIST_TESTRUNUID): each test
    holds the room, shared, or exclusively if `alone`; the turnstile, held by an `alone` test
    while it waits for the room, keeps the others from going in before it."""
    global _room
    folder = _lock_folder()
    if folder is None:  # one process: every test runs alone
        return (yield)
    with open(folder / "turnstile", "a") as turnstile, open(folder / "room", "a") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if item.get_closest_marker("alone"):
            fcntl.flock(room, fcntl.LOCK_EX)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(room, fcntl.LOCK_SH)
        _room = room
        try:
            return (yield)
        finally:
            _room = None
            fcntl.flock(room, fcntl.LOCK_UN)


@contextmanager
def alone():
    """The timed part of a test not marked `alone` (the 10,000 reminders within a minute, a
    sweep within a second at city size), run as the marker runs a whole test: the other
    processes finish the test they are in and start no other until the part is over. Their
    tests go on while this one builds its data. The room is let go before the turnstile is
    taken, so that two such parts at once wait for each other, not on each other."""
    folder = _lock_folder()
    if folder is None or _room is None:
        yield
        return
    with open(folder / "turnstile", "a") as turnstile:
        fcntl.flock(_room, fcntl.LOCK_UN)
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(_room, fcntl.LOCK_EX)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(_room, fcntl.LOCK_SH)


@receiver(post_migrate, dispatch_uid="tests.put_back_the_activity_types")
def put_back_the_activity_types(sender, **kwargs):
    """A transactional test (live server, Celery worker) ends by flushing the database, the
    rows of the activity types' data migration with it; flush then sends post_migrate, and the
    rows come back here. Without it, the tests that a process runs after a transactional one
    find no types: with pytest-xdist a process takes file after file, transactional or not,
    not all transactional tests last as a single process does."""
    if sender.label == "activities":
        from django.apps import apps

        from activities.migrations import __name__ as migrations

        importlib.import_module(f"{migrations}.0002_activity_types").create_types(apps, None)


@pytest.fixture(autouse=True)
def no_knocks_counted():
    """The doors without a sign-in (activation links, password reset) count each address's
    tries in the cache, and the tests all come from the same address: each test starts from
    none."""
    cache.clear()
    yield
    cache.clear()


def _accept_privacy_notice(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        PrivacyAcceptance.objects.bulk_create(
            [
                PrivacyAcceptance(
                    user=instance,
                    version=settings.PRIVACY_NOTICE_VERSION,
                    accepted_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,
        )


@pytest.fixture(autouse=True)
def logins_accepted_the_privacy_notice(request):
    """Every login a test makes has accepted the privacy notice in force, as the demo's have,
    so that its pages answer (members.privacy.PrivacyNoticeMiddleware); tests of the notice
    itself ask for `privacy_notice_not_accepted`. One INSERT as the login is created."""
    if "privacy_notice_not_accepted" in request.fixturenames:
        yield
        return
    post_save.connect(
        _accept_privacy_notice, sender=get_user_model(), dispatch_uid="tests-privacy-accepted"
    )
    yield
    post_save.disconnect(sender=get_user_model(), dispatch_uid="tests-privacy-accepted")


@pytest.fixture
def privacy_notice_not_accepted():
    """Logins made in this test have not accepted the privacy notice."""


@pytest.fixture(autouse=True)
def second_factor_passed_at_sign_in(request, monkeypatch):
    """A city administrator, street officer, agency office or admin user signed in by a test
    (`client.force_login`, `client.login`) has also passed the second factor, as if they had
    typed the code (members.two_factor.pass_second_factor): the pages behind it are tested as
    their people see them. Tests of the second factor itself are marked `second_factor` and
    sign in without it."""
    if request.node.get_closest_marker("second_factor"):
        return
    force_login, login = Client.force_login, Client.login

    def force_login_with_factor(self, user, backend=None):
        force_login(self, user, backend)
        pass_second_factor(self, user)

    def login_with_factor(self, **credentials):
        signed_in = login(self, **credentials)
        if signed_in:
            user = get_user_model()._default_manager.get(pk=self.session["_auth_user_id"])
            pass_second_factor(self, user)
        return signed_in

    monkeypatch.setattr(Client, "force_login", force_login_with_factor)
    monkeypatch.setattr(Client, "login", login_with_factor)


@pytest.fixture(autouse=True)
def site_language_after_each_test():
    """A test that switches the language (a page in English, `translation.override` left
    open by a failure) leaves the site's language behind it for the next one."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


def make_user(django_user_model, username, **extra):
    return django_user_model.objects.create_user(
        username=username, password="pw-" + username, **extra
    )


@pytest.fixture
def world(db, django_user_model):
    """Two streets, two communities with grids, two agencies, one active agreement."""
    return make_world(django_user_model)


def make_world(django_user_model):
    """The `world` fixture's rows, for a module that builds them once (django_db_blocker)."""
    today = timezone.localdate()
    w = SimpleNamespace()
    w.wanshouqiao = Street.objects.create(name="万寿桥街道")
    w.dongyuan = Street.objects.create(name="东苑街道")
    w.shengli = Community.objects.create(street=w.wanshouqiao, name="胜利一路社区")
    w.shenzhen = Community.objects.create(street=w.dongyuan, name="深圳路社区")
    w.zilinyuan = Grid.objects.create(community=w.shengli, name="紫林苑网格")
    w.wanshou = Grid.objects.create(community=w.shengli, name="万寿小区网格")
    w.hanlinyuan = Grid.objects.create(community=w.shenzhen, name="翰林苑网格")
    w.sanxia = Agency.objects.create(name="三峡旅游新区管委会", short_name="三峡旅游新区")
    w.yuanlin = Agency.objects.create(name="市园林和林业局", short_name="园林局")
    w.agreement = Agreement.objects.create(
        agency=w.sanxia,
        community=w.shengli,
        number="GJ-TEST-001",
        starts_on=today - dt.timedelta(days=100),
        ends_on=today + dt.timedelta(days=265),
        status=Agreement.Status.ACTIVE,
        signed_on=today - dt.timedelta(days=100),
    )
    # Activity types come from a data migration.
    w.cleanup = ActivityType.objects.get(code=ActivityType.Code.CLEANUP)
    w.patrol = ActivityType.objects.get(code=ActivityType.Code.FLOOD_PATROL)

    def member(agency, name, mobile, username=None):
        user = make_user(django_user_model, username) if username else None
        return Member.objects.create(agency=agency, name=name, mobile=mobile, user=user)

    w.sanxia_member = member(w.sanxia, "李建华", "13900000001", "sanxia_member")
    w.sanxia_member_2 = member(w.sanxia, "王海燕", "13900000002")
    w.yuanlin_member = member(w.yuanlin, "陈思远", "13900000003", "yuanlin_member")
    Registration.objects.create(
        member=w.sanxia_member,
        community=w.shengli,
        status=Registration.Status.ACTIVE,
        applied_on=today,
        grid=w.zilinyuan,
    )
    Registration.objects.create(member=w.sanxia_member_2, community=w.shengli, applied_on=today)
    Registration.objects.create(
        member=w.yuanlin_member,
        community=w.shenzhen,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.ACTIVE,
        applied_on=today,
    )
    now = timezone.now()
    w.shengli_activity = Activity.objects.create(
        community=w.shengli,
        grid=w.zilinyuan,
        type=w.patrol,
        title="沿江防汛巡逻",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
        nature=Activity.Nature.DUTY,
        agreement=w.agreement,
    )
    w.shenzhen_activity = Activity.objects.create(
        community=w.shenzhen,
        type=w.cleanup,
        title="翰林苑环境清扫",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=2),
    )
    w.shengli_participation = Participation.objects.create(
        activity=w.shengli_activity,
        member=w.sanxia_member,
        status=Participation.Status.PRESENT,
        hours=2,
        source=Participation.Source.ROLL_CALL,
    )
    w.shenzhen_participation = Participation.objects.create(
        activity=w.shenzhen_activity,
        member=w.yuanlin_member,
        source=Participation.Source.SIGN_UP,
    )
    return w


def role(django_user_model, username, kind, grids=(), **place):
    user = make_user(django_user_model, username)
    staff_role = StaffRole.objects.create(user=user, kind=kind, **place)
    staff_role.grids.set(grids)
    return user


# The staff personas: (username, role kind, place attribute of `world`, grid attributes).
PERSONAS = {
    "city_admin": ("city_admin", StaffRole.Kind.CITY_ADMIN, None, ()),
    "street_officer": ("street_officer", StaffRole.Kind.STREET_OFFICER, "wanshouqiao", ()),
    "community_staff": ("shengli_staff", StaffRole.Kind.COMMUNITY_STAFF, "shengli", ()),
    "other_community_staff": ("shenzhen_staff", StaffRole.Kind.COMMUNITY_STAFF, "shenzhen", ()),
    "grid_worker": ("shengli_grid", StaffRole.Kind.GRID_WORKER, "shengli", ("zilinyuan",)),
    "agency_office": ("sanxia_office", StaffRole.Kind.AGENCY_OFFICE, "sanxia", ()),
    "other_agency_office": ("yuanlin_office", StaffRole.Kind.AGENCY_OFFICE, "yuanlin", ()),
}


def make_persona(name, world, django_user_model):
    """The staff login of the persona fixture `name` (PERSONAS), with its role."""
    username, kind, place, grids = PERSONAS[name]
    where = {}
    if place:
        obj = getattr(world, place)
        where[obj._meta.model_name] = obj
    return role(
        django_user_model, username, kind, grids=[getattr(world, g) for g in grids], **where
    )


@pytest.fixture
def city_admin(world, django_user_model):
    return make_persona("city_admin", world, django_user_model)


@pytest.fixture
def street_officer(world, django_user_model):
    return make_persona("street_officer", world, django_user_model)


@pytest.fixture
def community_staff(world, django_user_model):
    return make_persona("community_staff", world, django_user_model)


@pytest.fixture
def other_community_staff(world, django_user_model):
    return make_persona("other_community_staff", world, django_user_model)


@pytest.fixture
def grid_worker(world, django_user_model):
    return make_persona("grid_worker", world, django_user_model)


@pytest.fixture
def agency_office(world, django_user_model):
    return make_persona("agency_office", world, django_user_model)


@pytest.fixture
def other_agency_office(world, django_user_model):
    return make_persona("other_agency_office", world, django_user_model)


@pytest.fixture
def member_user(world):
    return world.sanxia_member.user


@pytest.fixture
def other_member_user(world):
    return world.yuanlin_member.user


@pytest.fixture
def staff_client(client, superuser):
    """The test client signed in as a superuser, for the admin's pages."""
    client.force_login(superuser)
    return client


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", password="pw-root", email="root@example.org"
    )


@pytest.fixture
def yuanlin_record(world):
    """A record of 陈思远 (园林局) at 胜利一路社区's patrol: another agency's than 三峡's."""
    return Participation.objects.create(
        activity=world.shengli_activity,
        member=world.yuanlin_member,
        status=Participation.Status.ABSENT,
        source=Participation.Source.ROLL_CALL,
    )
