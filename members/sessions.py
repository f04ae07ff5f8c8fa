"""Sessions (issue 11, point 2): who is signed in where, for how long, and ending it.

Sessions live in the database as Django's do, in a table of our own (`SignedInSession`) that
also names the login, the device, the address and the last time the session was used: a person
lists their own sessions and ends one, and a password change, a member leaving the agency, a
login being deactivated or a role being taken away ends that person's sessions with one DELETE.

What a session needs to be judged (when it began, when it was last used, the role class that
sets its idle timeout) is kept in the session's own data, read with it: the middleware adds no
query to a page. The session is written back at most once a minute while in use, which is also
when the table's columns (last seen, address, device) are refreshed.

Timeouts by role class (settings, README):
- office — city administrators, street officers, agency party offices, community staff: they
  see many people's records from a desk; a short idle timeout (30 minutes) and a working day.
- grid worker — one community's grids, on a phone in the field through an activity that can
  last hours; a longer idle timeout (4 hours) so that the roll call at the end of a patrol does
  not need a new sign-in, and the staff's lifetime.
- member — their own record on their own phone: 7 days idle, 30 days in all.
A person with several roles gets the strictest. The class is read at sign-in and refreshed
from the page's own role query (`scope_read`), so a role granted meanwhile applies at the next
page; a role taken away ends the sessions at once (signals below).
"""

import contextvars
import datetime as dt
import hashlib
import ipaddress
import time
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, get_user_model, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.base_session import AbstractBaseSession, BaseSessionManager
from django.db import connections, models, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from communities.models import StaffRole
from communities.permissions import RoleKind, scope_read

# The session's own record of itself, in its data.
STATE_KEY = "_xiachen_session"
# Seconds between two writes of a session that is only being used.
TOUCH_EVERY = 60
# How long a session that ended by the rules stays stored: the person coming back within it is
# told why they were signed out; then the cleaning deletes it.
ENDED_KEPT = dt.timedelta(days=1)


class RoleClass(models.TextChoices):
    """Never shown: the classes only choose the timeouts."""

    OFFICE = "office"
    GRID_WORKER = "grid_worker"
    MEMBER = "member"


OFFICE_KINDS = frozenset(
    {
        RoleKind.CITY_ADMIN,
        RoleKind.STREET_OFFICER,
        RoleKind.AGENCY_OFFICE,
        RoleKind.COMMUNITY_STAFF,
    }
)


def role_class(kinds, *, superuser: bool = False, staff: bool = False) -> str:
    """The strictest class of these role kinds (a login into Django admin counts as office)."""
    kinds = set(kinds)
    if superuser or staff or kinds & OFFICE_KINDS:
        return RoleClass.OFFICE
    if RoleKind.GRID_WORKER in kinds:
        return RoleClass.GRID_WORKER
    return RoleClass.MEMBER


def idle_seconds(cls: str | None) -> int:
    minutes = {
        RoleClass.MEMBER: settings.SESSION_IDLE_MINUTES_MEMBER,
        RoleClass.GRID_WORKER: settings.SESSION_IDLE_MINUTES_GRID_WORKER,
    }.get(cls, settings.SESSION_IDLE_MINUTES_OFFICE)  # unknown: the strictest
    return minutes * 60


def lifetime_seconds(cls: str | None) -> int:
    if cls == RoleClass.MEMBER:
        return settings.SESSION_LIFETIME_HOURS_MEMBER * 3600
    return settings.SESSION_LIFETIME_HOURS_STAFF * 3600


def ends_at(state: dict) -> int:
    """When a session with this state ends (seconds since the epoch), whichever comes first."""
    cls = state.get("class")
    return min(
        state.get("since", 0) + lifetime_seconds(cls), state.get("seen", 0) + idle_seconds(cls)
    )


# Devices, as a person recognises them in a list: a few words, not the whole header.
_BROWSERS = [
    ("MicroMessenger", "微信"),
    ("DingTalk", "钉钉"),
    ("Edg", "Edge"),
    ("Firefox", "Firefox"),
    ("Chrome", "Chrome"),
    ("CriOS", "Chrome"),
    ("Safari", "Safari"),
]
_SYSTEMS = [
    ("HarmonyOS", "HarmonyOS"),
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
]


def device_summary(user_agent: str) -> str:
    """ "Chrome · Android" from a User-Agent header; empty when nothing is recognised."""
    user_agent = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return " · ".join(part for part in (browser, system) if part)[:80]


def masked_address(address: str) -> str:
    """The address with its host part hidden: enough to tell the office's network from a
    phone's, not enough to find the person (221.233.*.*, 240e:3a1:*)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if ip.version == 4:
        first, second = str(ip).split(".")[:2]
        return f"{first}.{second}.*.*"
    return ":".join(f"{int(group, 16):x}" for group in ip.exploded.split(":")[:2]) + ":*"


def key_digest(session_key: str) -> str:
    """What the sessions page shows and posts for a session: its key is the cookie's secret."""
    return hashlib.sha256(f"xiachen-session:{session_key}".encode()).hexdigest()[:32]


class SignedInSessionManager(BaseSessionManager):
    use_in_migrations = True


class SignedInSession(AbstractBaseSession):
    """A session, with the login it belongs to and how it is used (SESSION_ENGINE below)."""

    # No constraint in the database: a session saved while its login is being deleted must not
    # fail the request; deleting a login still deletes its sessions (Django cascades).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        db_constraint=False,
        db_index=False,  # the index below starts with it
        related_name="signed_in_sessions",
        verbose_name=_("user"),
    )
    signed_in_at = models.DateTimeField(_("signed in at"), null=True, blank=True)
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    device = models.CharField(_("device"), max_length=80, blank=True)

    objects = SignedInSessionManager()

    class Meta:
        app_label = "members"
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        indexes = [
            # A person's sessions page, and ending a person's sessions.
            models.Index(fields=["user", "ends_at"], name="members_session_user_idx"),
        ]

    def __str__(self):
        return f"{self.user_id or '-'} · {self.device or '?'}"

    @classmethod
    def get_session_store_class(cls):
        return SessionStore

    @property
    def digest(self) -> str:
        return key_digest(self.session_key)

    @property
    def masked_address(self) -> str:
        return masked_address(self.address or "")


def _moment(seconds):
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC) if seconds else None


@cache
def _session_sql(alias: str) -> str:
    """`SignedInSession.objects.get(session_key=…, expire_date__gt=now)`'s data, and the columns
    of the login its row names (none when it names none) — what Django's ModelBackend reads."""
    quote = connections[alias].ops.quote_name
    session, user = SignedInSession._meta, get_user_model()._meta

    def column(meta, name):
        return f"{quote(meta.db_table)}.{quote(meta.get_field(name).column)}"

    columns = ", ".join(
        f"{quote(user.db_table)}.{quote(field.column)}" for field in user.concrete_fields
    )
    return (
        f"SELECT {columns}, {column(session, 'session_data')} AS {quote('xiachen_data')}"
        f" FROM {quote(session.db_table)} LEFT OUTER JOIN {quote(user.db_table)}"
        f" ON ({column(session, 'user')} = {column(user, user.pk.name)})"
        f" WHERE {column(session, 'session_key')} = %s AND {column(session, 'expire_date')} > %s"
    )


class SessionStore(DatabaseSessionStore):
    """Django's database sessions in SignedInSession, its columns filled from the data."""

    @classmethod
    def get_model_class(cls):
        return SignedInSession

    @classmethod
    def clear_expired(cls):
        """Deletes the sessions past their cookie's age and those that ended by the rules a day
        ago or more (kept a day so that a person coming back is told why they were signed
        out). Run by `manage.py clearsessions` and by beat (members.tasks)."""
        now = timezone.now()
        return SignedInSession.objects.filter(
            models.Q(expire_date__lt=now) | models.Q(ends_at__lt=now - ENDED_KEPT)
        ).delete()[0]

    # The login the stored session names, read with its data (AuthenticationMiddleware below);
    # None until the session is read, or when it names none.
    loaded_user = None

    def _get_session_from_db(self):
        """Django's (the session's data if it has not expired, else None and no key), with the
        login its row names read in the same statement, whose SQL is written once per process:
        through the ORM, the session and the login were two reads of every page and 0.7 ms of
        CPU. Django's `load` reads the data alone; the login is `loaded_user`."""
        self.loaded_user = None
        user_model = get_user_model()
        alias = router.db_for_read(SignedInSession)
        connection = connections[alias]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        rows = list(
            user_model._default_manager.db_manager(alias).raw(
                _session_sql(alias), [self.session_key, now]
            )
        )
        if not rows:
            self._session_key = None
            return None
        row = rows[0]
        data = row.__dict__.pop("xiachen_data")
        if row.pk is not None:
            self.loaded_user = row
        return SignedInSession(session_key=self.session_key, session_data=data)

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        user_id = data.get(SESSION_KEY)
        instance.user_id = int(user_id) if str(user_id or "").isdigit() else None
        state = data.get(STATE_KEY) or {}
        instance.signed_in_at = _moment(state.get("since"))
        instance.last_seen = _moment(state.get("seen"))
        instance.address = state.get("address") or None
        instance.device = state.get("device", "")
        if instance.user_id and state:
            instance.ends_at = _moment(ends_at(state))
        return instance


# The session of the request being served, so that ending a person's sessions from their own
# request (their own password change) keeps the one they are using.
_current = contextvars.ContextVar("xiachen_current_session", default=(None, None))


def _client(request) -> dict:
    from communities.throttle import client_address

    address = client_address(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        address = ""
    return {
        "address": address,
        "device": device_summary(request.META.get("HTTP_USER_AGENT", "")),
    }


def sessions_end(*, user_id, keep_current: bool = True) -> int:
    """Ends every session of the login `user_id`, except the one of the request being served
    when it is that login's own (and `keep_current`). Returns how many were ended."""
    if not user_id:
        return 0
    sessions = SignedInSession.objects.filter(user_id=user_id)
    current_user, current_key = _current.get()
    if keep_current and current_key and str(current_user) == str(user_id):
        sessions = sessions.exclude(session_key=current_key)
    return sessions.delete()[0]


def sessions_of(user):
    """The login's sessions that are still running, the latest used first."""
    return SignedInSession.objects.filter(user=user, ends_at__gt=timezone.now()).order_by(
        "-last_seen", "-signed_in_at"
    )


def _duration(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 120:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    days = hours // 24
    return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}


def user_of_session(request):
    """django.contrib.auth.get_user(request), taking the login the session store read with the
    session (`SessionStore.loaded_user`) instead of reading it again, when the session was
    signed in through ModelBackend's `get_user` (ours: ModelBackend, MobileBackend) and its row
    names the same login as its data. The checks are Django's 5.2, in the same order: the
    backend is still configured; the login may sign in (`user_can_authenticate`: active); the
    session's hash matches the login's password (else the session is flushed, or its key cycled
    when an old SECRET_KEY_FALLBACKS key matches). Anything else is Django's own."""
    from django.contrib import auth
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import AnonymousUser
    from django.utils.crypto import constant_time_compare

    session = request.session
    user = getattr(session, "loaded_user", None)
    backend_path = session.get(auth.BACKEND_SESSION_KEY)
    if (
        user is None
        or backend_path not in settings.AUTHENTICATION_BACKENDS
        or str(session.get(SESSION_KEY)) != str(user.pk)
    ):
        return auth.get_user(request)
    backend = auth.load_backend(backend_path)
    if type(backend).get_user is not ModelBackend.get_user:
        return auth.get_user(request)
    if not backend.user_can_authenticate(user):
        return AnonymousUser()
    session_hash = session.get(auth.HASH_SESSION_KEY)
    session_auth_hash = user.get_session_auth_hash()
    if session_hash and constant_time_compare(session_hash, session_auth_hash):
        return user
    if session_hash and any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    ):
        session.cycle_key()
        session[auth.HASH_SESSION_KEY] = session_auth_hash
        return user
    session.flush()
    return AnonymousUser()


class SessionPolicyMiddleware:
    """Signs out a session idle for longer than its role class allows, or older than its
    lifetime, and sends the person to the sign-in with `next` back to the page; keeps the
    session's record of itself up to date, writing it at most once a minute.

    After AuthenticationMiddleware and MessageMiddleware (it signs out and says why). It reads
    only the session's data, which the page reads anyway: no query of its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        user_id = session.get(SESSION_KEY)
        if user_id is None:
            return self.get_response(request)
        now = int(time.time())
        state = session.get(STATE_KEY)
        if state is None:  # a session from before this module, or made without a sign-in
            state = _new_state(request, now, None)
            session[STATE_KEY] = state
        cls = state.get("class")
        if now - state.get("since", now) >= lifetime_seconds(cls):
            return self._sign_out(
                request,
                _("You have been signed in for %(duration)s, the longest a sign-in lasts.")
                % {"duration": _duration(lifetime_seconds(cls))},
            )
        if now - state.get("seen", now) >= idle_seconds(cls):
            return self._sign_out(
                request,
                _("You were signed out after %(duration)s without activity.")
                % {"duration": _duration(idle_seconds(cls))},
            )
        token = _current.set((user_id, session.session_key))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        self._touch(request, now)
        return response

    def _sign_out(self, request, reason):
        from django.contrib.auth.views import redirect_to_login  # its forms read the user model

        logout(request)
        messages.warning(request, _("%(reason)s Sign in again to go on.") % {"reason": reason})
        response = redirect_to_login(request.get_full_path())
        response["Cache-Control"] = "no-store"
        return response

    def _touch(self, request, now):
        session = request.session
        state = session.get(STATE_KEY)
        if state is None or session.get(SESSION_KEY) is None:  # signed out meanwhile
            return
        changed = {}
        if now - state.get("seen", 0) >= TOUCH_EVERY:
            changed.update(seen=now, **_client(request))
        # The role class from the roles the page read anyway (a role granted meanwhile): read
        # only when the page has loaded the login and its scope, never a query of its own.
        user = getattr(request, "_cached_user", None)
        scope = scope_read(user) if user is not None and user.is_authenticated else None
        if scope is not None:
            cls = role_class(scope.kinds, superuser=scope.city, staff=user.is_staff)
            if cls != state.get("class"):
                changed["class"] = cls
        if changed:
            session[STATE_KEY] = {**state, **changed}


def _new_state(request, now, cls) -> dict:
    return {"since": now, "seen": now, "class": cls, **_client(request)}


def on_sign_in(sender, request, user, **kwargs):
    """A new session (Django's login has already given it a new key): its start, device and
    role class (one query, not through scope_of, so as to cache nothing on `user`)."""
    if request is None or not hasattr(request, "session"):
        return
    kinds = user.staff_roles.values_list("kind", flat=True)
    cls = role_class(kinds, superuser=user.is_superuser, staff=user.is_staff)
    request.session[STATE_KEY] = _new_state(request, int(time.time()), cls)


def remember_activity(sender, instance, **kwargs):
    instance._xiachen_was_active = instance.is_active


def on_user_saved(sender, instance, created, **kwargs):
    """A new password, or a login deactivated: the person's other sessions end. A password set
    by its owner keeps the session they set it from (Django then gives it a new key)."""
    if created:
        return
    password_changed = getattr(instance, "_password", None) is not None
    deactivated = getattr(instance, "_xiachen_was_active", False) and not instance.is_active
    if password_changed or deactivated:
        sessions_end(user_id=instance.pk)
    instance._xiachen_was_active = instance.is_active


def on_role_changed(sender, instance, created=False, **kwargs):
    """A role taken away or changed: the person signs in again under what is left. A role
    granted takes effect at once (the scope is read on every page) and sets the idle timeout
    from the next page."""
    if not created:
        sessions_end(user_id=instance.user_id)


def on_grids_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """Grids taken from a grid worker's role: as a role changed."""
    if not reverse and action in ("post_remove", "post_clear"):
        sessions_end(user_id=instance.user_id)
    elif reverse and action in ("post_remove", "pre_clear"):  # from the grid's side
        roles = instance.grid_workers.all()
        if action == "post_remove":
            roles = StaffRole.objects.filter(pk__in=pk_set or ())
        for user_id in set(roles.values_list("user", flat=True)):
            sessions_end(user_id=user_id)


def connect():
    user_model = get_user_model()
    user_logged_in.connect(on_sign_in, dispatch_uid="xiachen_session_sign_in")
    models.signals.post_init.connect(
        remember_activity, sender=user_model, dispatch_uid="xiachen_session_user_init"
    )
    models.signals.post_save.connect(
        on_user_saved, sender=user_model, dispatch_uid="xiachen_session_user_saved"
    )
    models.signals.post_save.connect(
        on_role_changed, sender=StaffRole, dispatch_uid="xiachen_session_role_saved"
    )
    models.signals.post_delete.connect(
        on_role_changed, sender=StaffRole, dispatch_uid="xiachen_session_role_deleted"
    )
    models.signals.m2m_changed.connect(
        on_grids_changed, sender=StaffRole.grids.through, dispatch_uid="xiachen_session_grids"
    )
