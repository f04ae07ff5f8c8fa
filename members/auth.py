"""Signing in with a mobile number (issue 10): members know their mobile better than the
username their agency's office made for them. The sign-in form takes either; the lockout after
wrong passwords (django-axes) counts both against the same login.

A mobile is unique within an agency, not across agencies, so one number can belong to more than
one login; the password then decides, and a number that two logins share with the same password
signs nobody in."""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.utils.translation import gettext_lazy as _

from communities.throttle import Door, too_often

# Failed sign-ins from one address in a window, whatever logins were tried, before the address is
# turned away: django-axes locks one login after a few wrong passwords; this stops one address
# from trying a few passwords on every login. Generous, because an agency's offices share one
# address behind their gateway.
SIGN_IN_FAILURES_PER_ADDRESS = 100
SIGN_IN_WINDOW = 15 * 60
SIGN_IN_DOOR = Door("sign-in", SIGN_IN_FAILURES_PER_ADDRESS, SIGN_IN_WINDOW)

# What people type for a mainland mobile: spaces or dashes between the groups, a +86 or 0086
# in front.
MOBILE_TYPED = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")


def typed_mobile(text) -> str | None:
    """The 11-digit mobile in `text` as people type one, or None."""
    if not isinstance(text, str):
        return None
    match = MOBILE_TYPED.match(re.sub(r"[\s\-]", "", text))
    return match.group(1) if match else None


def logins_with_mobile(mobile: str):
    """The active logins of members with this mobile."""
    return get_user_model().objects.filter(member__mobile=mobile, is_active=True)


class MobileBackend(ModelBackend):
    """Signs in the login of the member whose mobile was typed as the username. Usernames are
    tried first (Django's ModelBackend, listed before this one)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        mobile = typed_mobile(username)
        if mobile is None or password is None:
            return None
        matches = [
            user
            for user in logins_with_mobile(mobile)
            if user.check_password(password) and self.user_can_authenticate(user)
        ]
        if not matches:
            # The same work as a wrong password, so that a number with no login cannot be told
            # apart by the time the answer takes (as ModelBackend does for unknown usernames).
            get_user_model()().set_password(password)
            return None
        return matches[0] if len(matches) == 1 else None


def lockout_username(request, credentials) -> str | None:
    """The name django-axes counts wrong passwords under: the login's username when a mobile
    of exactly one login was typed, so that switching between the two gains no tries."""
    typed = (credentials or {}).get("username")
    mobile = typed_mobile(typed)
    if mobile is None:
        return typed
    usernames = list(logins_with_mobile(mobile).values_list("username", flat=True)[:2])
    return usernames[0] if len(usernames) == 1 else mobile


class SignInForm(AuthenticationForm):
    """Django's sign-in form asking for a username or a mobile."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The username or mobile and the password do not match."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = _("Username or mobile")
        field.widget.attrs["autocomplete"] = "username"


class SignInView(LoginView):
    """Django's sign-in (which gives the session a new key) with SignInForm, counting failed
    sign-ins against the address (SIGN_IN_DOOR)."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if SIGN_IN_DOOR.shut(request):
            return too_often(request, SIGN_IN_DOOR)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        SIGN_IN_DOOR.knock(self.request)
        return super().form_invalid(form)
