"""Passing the second factor as a person does: the code their authenticator app shows."""

import time

from django.contrib.auth import SESSION_KEY, get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from communities.permissions import needs_second_factor
from members.two_factor import authenticator_enrol, code_for, hex_key

# The secret the tests' authenticators hold (base32, as a person would type it).
TEST_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(user, secret=TEST_SECRET) -> TOTPDevice:
    return authenticator_enrol(user=user, secret_base32=secret)


def next_code(device: TOTPDevice) -> str:
    """A code the device takes now: the current one, or the next step's when the current one
    was already used (a code works once; the next step is within the tolerance)."""
    device.refresh_from_db()
    now = time.time()
    step_now = int((now - device.t0) // device.step)
    step = max(step_now, device.last_t + 1)
    return code_for(device, at=device.t0 + step * device.step + 1)


def code_of_secret(secret: str, at: float | None = None) -> str:
    """The code an app holding `secret` shows (no device needed: what an outsider computes)."""
    return code_for(TOTPDevice(key=hex_key(secret)), at=at)


def pass_code(client, **request_extra) -> None:
    """After the password: types the code of the login's authenticator (enrolled with the tests'
    secret) on the code page, as a person of a role that needs a second factor does."""
    user = get_user_model()._default_manager.get(pk=client.session[SESSION_KEY])
    if not needs_second_factor(user):
        return
    device = enrol(user)
    response = client.post("/second-factor/", {"otp_token": next_code(device)}, **request_extra)
    assert response.status_code == 302, response.content.decode()[:500]
