"""Two factors (issue 11): after the password, a city administrator, a street officer, an agency
office (and anyone who may enter the Django admin; `communities.permissions.needs_second_factor`)
types a 6-digit code from an authenticator app (TOTP, RFC 6238), or one of their recovery codes.

django-otp keeps the devices (a TOTP device; a "static" device holding the recovery codes) and
marks a session verified (`django_otp.login`, read back by its OTPMiddleware). This module adds
the pages (enrolment, the code page, one's own page), and `SecondFactorMiddleware`, which sends
a login that needs a factor and has not passed it to enrolment or to the code page, whatever it
asked for: no other page answers it until then.

Wrong codes are counted per login and address (`communities.throttle.Door`), on top of
django-otp's own growing delay per device."""

import base64
import binascii
import logging
import math
import secrets
import time
from functools import cache
from urllib.parse import urlencode

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import connections, router, transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from communities.navigation import next_url
from communities.permissions import needs_second_factor
from communities.throttle import Door

from .slips import qr_svg

logger = logging.getLogger(__name__)

RECOVERY_CODES = 10
# Wrong codes (6-digit or recovery) one login may type from one address in a quarter of an hour.
WRONG_CODES_ALLOWED = 5
WRONG_CODE_WINDOW = 15 * 60
CODE_DOOR = Door("second-factor", WRONG_CODES_ALLOWED, WRONG_CODE_WINDOW)

# Where the authenticator app files the account.
ISSUER = "Xiachen"
DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery codes"

# Pages a signed-in login that still owes its factor may open: the factor's own pages, signing
# out, the language, and the public doors (which answer anyone).
OPEN_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "set_language",
        "healthz",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        # The browser's reports of a blocked resource, from any page (xiachen.security).
        "csp_report",
        # A call-out's answer link (吹哨报到): signed for one member, answered without a sign-in.
        "callout_answer",
    }
)
OPEN_NAMESPACES = frozenset({"two_factor"})


# --- Devices ---------------------------------------------------------------------------------


def authenticators(user):
    return TOTPDevice.objects.devices_for_user(user, confirmed=True)


def is_enrolled(user) -> bool:
    return authenticators(user).exists()


def base32_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed (RFC 4648 base32, no padding)."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def hex_key(secret_base32: str) -> str:
    """A base32 secret (spaces, lower case and missing padding allowed) as django-otp's key."""
    cleaned = "".join(secret_base32.split()).upper()
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return binascii.hexlify(base64.b32decode(cleaned)).decode()
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not a base32 secret: {secret_base32!r}") from error


def otpauth_url(device: TOTPDevice) -> str:
    """The otpauth:// address the QR code holds (Google Authenticator's key URI format)."""
    label = f"{ISSUER}:{device.user.get_username()}"
    query = urlencode({"secret": base32_secret(device), "issuer": ISSUER, "digits": device.digits})
    return f"otpauth://totp/{label}?{query}"


def code_for(device: TOTPDevice, at: float | None = None) -> str:
    """The device's code at `at` (now by default): what the app shows."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"


@transaction.atomic
def authenticator_enrol(*, user, secret_base32: str) -> TOTPDevice:
    """A confirmed authenticator with this fixed secret (the demo's accounts); safe to run again:
    a device with this key is kept as it is."""
    key = hex_key(secret_base32)
    device = authenticators(user).filter(key=key).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, key=key, confirmed=True)
    return device


def pending_authenticator(user) -> TOTPDevice:
    """The unconfirmed device the enrolment page shows (the same secret on every visit until a
    code confirms it)."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def recovery_device(user) -> StaticDevice | None:
    return StaticDevice.objects.devices_for_user(user, confirmed=True).first()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _new_recovery_code() -> str:
    # 8 characters of an alphabet without look-alikes (0/o, 1/l/i), read in two groups of four.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def shown_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@transaction.atomic
def recovery_codes_issue(*, user) -> list[str]:
    """New recovery codes, replacing any left: each works once. Returned to be shown once; the
    same device is kept, so a session verified by an old code stays so."""
    device = recovery_device(user)
    if device is None:
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    device.token_set.all().delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [shown_code(code) for code in codes]


@transaction.atomic
def second_factor_reset(*, user, by) -> int:
    """Removes the login's authenticators and recovery codes: their next page is enrolment, and
    a session verified by a removed device is no longer verified. Logged."""
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        count, _detail = model.objects.filter(user=user).delete()
        removed += count
    logger.warning(
        "second factor reset",
        extra={"user_id": user.pk, "username": user.get_username(), "by": by.get_username()},
    )
    return removed


def pass_second_factor(client, user) -> None:
    """For Django's test client (tests, the bench walking pages): marks the client's session as
    having passed the second factor, as the code page does, enrolling the login first when it
    is not. Never used by a page."""
    fresh = type(user)._default_manager.get(pk=user.pk)  # no scope cached on the caller's object
    if not needs_second_factor(fresh):
        return
    device = authenticators(fresh).first() or TOTPDevice.objects.create(
        user=fresh, name=DEVICE_NAME, confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


# --- Checking a code -------------------------------------------------------------------------


def _typed(code: str) -> str:
    return "".join(str(code).split()).replace("-", "").lower()


class Throttled(Exception):
    """django-otp holds the device back after wrong codes (1 s, 2 s, 4 s … after each)."""

    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = seconds


def _check_allowed(device) -> None:
    allowed, detail = device.verify_is_allowed()
    if not allowed:
        locked_until = (detail or {}).get("locked_until")
        seconds = (locked_until - timezone.now()).total_seconds() if locked_until else 1
        raise Throttled(max(1, math.ceil(seconds)))


def device_accepting(user, code: str, devices=None):
    """The device that accepts this code (a 6-digit code from an authenticator, or a recovery
    code, spent by the check), or None. `devices`: the authenticators to try (all confirmed).
    Raises Throttled while django-otp holds the device back after wrong codes."""
    typed = _typed(code)
    if typed.isdigit() and len(typed) == 6:
        devices = list(authenticators(user) if devices is None else devices)
        for device in devices:
            _check_allowed(device)
        for device in devices:
            if device.verify_token(typed):
                return device
        return None
    if devices is None and 4 <= len(typed) <= 16 and typed.isalnum():
        device = recovery_device(user)
        if device is not None:
            _check_allowed(device)
            if device.verify_token(typed):
                return device
    return None


class CodeForm(forms.Form):
    """One field: what the authenticator app shows, or a recovery code."""

    otp_token = forms.CharField(label=_("Code"), max_length=20, strip=True)

    def __init__(self, *args, request, devices=None, recovery=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.devices = devices
        self.device = None
        widget = self.fields["otp_token"].widget
        widget.attrs.update(
            {"autocomplete": "one-time-code", "autofocus": True, "data-testid": "otp-token"}
        )
        if not recovery:
            widget.attrs.update({"inputmode": "numeric", "pattern": r"[0-9 ]*"})
        if devices is not None:
            self.fields["otp_token"].help_text = _("The 6-digit code your app shows now.")
        else:
            self.fields["otp_token"].help_text = _(
                "The 6-digit code your authenticator app shows, or one of your recovery codes."
            )

    def clean_otp_token(self):
        code = self.cleaned_data["otp_token"]
        user = self.request.user
        about = str(user.pk)
        if CODE_DOOR.shut(self.request, about):
            raise forms.ValidationError(
                _("Too many wrong codes. Wait a quarter of an hour and try again."),
                code="throttled",
            )
        try:
            self.device = device_accepting(user, code, self.devices)
        except Throttled as throttled:
            raise forms.ValidationError(
                _("Too many wrong codes in a row: wait %(seconds)d seconds and try again."),
                code="throttled",
                params={"seconds": throttled.seconds},
            ) from None
        if self.device is None:
            CODE_DOOR.knock(self.request, about)
            raise forms.ValidationError(
                _("That code is not right, or was already used. Type the code your app shows now."),
                code="invalid",
            )
        return code


# --- Pages -----------------------------------------------------------------------------------


def _home() -> str:
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _next(request) -> str:
    return next_url(request, request.POST.get("next") or request.GET.get("next"), _home())


def _with_next(name: str, nxt: str) -> str:
    url = reverse(name)
    return f"{url}?{urlencode({'next': nxt})}" if nxt and nxt != _home() else url


def _passed(request, device) -> None:
    # A new session key once the second factor is passed, as at the password.
    request.session.cycle_key()
    otp_login(request, device)
    logger.info("second factor passed", extra={"user_id": request.user.pk})


@login_required
def verify(request):
    """The code page, after the password."""
    user = request.user
    nxt = _next(request)
    if not needs_second_factor(user) or user.is_verified():
        return HttpResponseRedirect(nxt)
    if not is_enrolled(user):
        return redirect(_with_next("two_factor:enrol", nxt))
    recovery = request.GET.get("recovery") == "1" or request.POST.get("recovery") == "1"
    form = CodeForm(request.POST or None, request=request, recovery=recovery)
    if request.method == "POST" and form.is_valid():
        _passed(request, form.device)
        return HttpResponseRedirect(nxt)
    return render(
        request,
        "two_factor/verify.html",
        {"form": form, "next": nxt, "recovery": recovery},
    )


@login_required
def enrol(request):
    """Enrolment: the QR code (drawn here, SVG) and the secret to type, confirmed by a code;
    then the recovery codes, shown once."""
    user = request.user
    nxt = _next(request)
    if not needs_second_factor(user):
        return redirect("two_factor:account")
    if is_enrolled(user):
        return redirect(_with_next("two_factor:verify", nxt))
    device = pending_authenticator(user)
    form = CodeForm(request.POST or None, request=request, devices=[device])
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.devices_for_user(user, confirmed=False).delete()
            codes = recovery_codes_issue(user=user)
        _passed(request, device)
        logger.info("second factor enrolled", extra={"user_id": user.pk})
        return render(
            request,
            "two_factor/recovery_codes.html",
            {"codes": codes, "next": nxt, "enrolled": True},
        )
    secret = base32_secret(device)
    return render(
        request,
        "two_factor/enrol.html",
        {
            "form": form,
            "next": nxt,
            "qr": qr_svg(otpauth_url(device)),
            "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
            "secret": secret,
        },
    )


@login_required
def account(request):
    """One's own second factor: whether one is needed, since when it is set up, when last used,
    how many recovery codes are left; new recovery codes on request."""
    user = request.user
    device = authenticators(user).order_by("created_at").first()
    return render(
        request,
        "two_factor/account.html",
        {
            "needed": needs_second_factor(user),
            "device": device,
            "codes_left": recovery_codes_left(user) if device else 0,
        },
    )


@login_required
@require_POST
def recovery_codes_regenerate(request):
    user = request.user
    # The middleware holds back a login that has not passed its factor; this checks it here too.
    if not is_enrolled(user) or not user.is_verified():
        return redirect("two_factor:account")
    codes = recovery_codes_issue(user=user)
    logger.info("recovery codes regenerated", extra={"user_id": user.pk})
    return render(
        request,
        "two_factor/recovery_codes.html",
        {"codes": codes, "next": reverse("two_factor:account"), "enrolled": False},
    )


# --- Enforcement -----------------------------------------------------------------------------


def _is_open(request) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.url_name in OPEN_URL_NAMES or bool(set(match.namespaces) & OPEN_NAMESPACES)


@cache
def _device_sql(model, alias: str) -> str:
    meta = model._meta
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(field.column) for field in meta.concrete_fields)
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"


class DeviceMiddleware(OTPMiddleware):
    """django-otp's OTPMiddleware (request.user.otp_device and is_verified(): the device the
    session passed, still the login's own and confirmed), reading that device in SQL written
    once per process: django-otp's `Device.from_persistent_id` built the same query through the
    ORM on every page of a city administrator, street officer or agency office, half a
    millisecond of CPU. What it does with the device is django-otp's own."""

    def _device_from_persistent_id(self, persistent_id: str):
        persistent_id = self._normalize_persistent_id(persistent_id)
        try:  # as Device.from_persistent_id: a malformed id or an unknown model is no device
            model_label, device_id = persistent_id.rsplit("/", 1)
            model = apps.get_model(model_label)
            device_id = int(device_id)
        except (ValueError, LookupError):
            return None
        if not issubclass(model, Device):
            return None
        alias = router.db_for_read(model)
        found = list(
            model._default_manager.using(alias).raw(_device_sql(model, alias), [device_id])
        )
        return found[0] if found else None


class SecondFactorMiddleware:
    """Sends a signed-in login that needs a second factor and has not passed it to the code page
    (or to enrolment), keeping the page it asked for as `next`. After django-otp's
    OTPMiddleware, which reads the verified device from the session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and needs_second_factor(user)
            and not _is_open(request)
        ):
            nxt = request.get_full_path() if request.method in ("GET", "HEAD") else ""
            nxt = next_url(request, nxt, "")
            name = "two_factor:verify" if is_enrolled(user) else "two_factor:enrol"
            return HttpResponseRedirect(_with_next(name, nxt))
        return self.get_response(request)


# --- Django admin ----------------------------------------------------------------------------


class SecondFactorAdminSite(admin.AdminSite):
    """Django's admin, open only to a session that passed the second factor (as django-otp's
    OTPAdminSite), signing in through the site's own pages rather than the admin's form."""

    def has_permission(self, request):
        verified = getattr(request.user, "is_verified", None)
        return super().has_permission(request) and bool(verified and verified())

    def login(self, request, extra_context=None):
        nxt = next_url(request, request.GET.get("next"), reverse("admin:index"))
        if request.user.is_authenticated and request.user.is_active:
            if request.user.is_staff and not request.user.is_verified():
                return redirect(_with_next("two_factor:verify", nxt))
            return super().login(request, extra_context)
        return redirect_to_login(nxt, reverse(settings.LOGIN_URL))
