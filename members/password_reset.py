"""Forgotten passwords (issue 10): a login with an e-mail address gets a link that sets a new
password; a member without one asks their agency's office for a new activation link, which the
pages say. Django's reset views and tokens do the work; this module asks for a mobile as well as
an address, writes the links with SITE_URL, and turns away an address that asks too often.

The answer never tells whether an account exists: the same page follows every request."""

from axes.utils import reset as reset_lockout
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from communities.throttle import Door, too_often

from .auth import typed_mobile

# Requests one address may make in an hour, and requests for one address or mobile.
ASKS_PER_ADDRESS = 10
ASKS_PER_ACCOUNT = 3
ASK_WINDOW = 60 * 60
# Wrong or spent links opened from one address in a quarter of an hour.
BAD_LINKS_ALLOWED = 20
BAD_LINK_WINDOW = 15 * 60

ASK_DOOR = Door("password-reset", ASKS_PER_ADDRESS, ASK_WINDOW)
ACCOUNT_DOOR = Door("password-reset-account", ASKS_PER_ACCOUNT, ASK_WINDOW)
LINK_DOOR = Door("password-reset-link", BAD_LINKS_ALLOWED, BAD_LINK_WINDOW)


class ResetRequestForm(PasswordResetForm):
    """Django's form, asking for the login's e-mail address or the member's mobile. The link
    always goes to the address on record, never to what was typed."""

    email = forms.CharField(
        label=_("E-mail address or mobile"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def clean_email(self):
        typed = self.cleaned_data["email"].strip()
        mobile = typed_mobile(typed)
        if mobile:
            return mobile
        try:
            validate_email(typed)
        except ValidationError:
            raise ValidationError(
                _("Enter an e-mail address or an 11-digit mobile number."), code="invalid"
            ) from None
        return typed

    def get_users(self, email):
        mobile = typed_mobile(email)
        users = get_user_model()._default_manager.filter(is_active=True).exclude(email="")
        users = users.filter(member__mobile=mobile) if mobile else users.filter(email__iexact=email)
        return (user for user in users if user.has_usable_password())

    def save(self, **kwargs):
        # Links are written with the site's own address, whatever Host the request came with.
        scheme, _sep, domain = settings.SITE_URL.partition("://")
        kwargs.update(domain_override=domain, use_https=scheme == "https")
        return super().save(**kwargs)


class ResetRequestView(auth_views.PasswordResetView):
    form_class = ResetRequestForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def post(self, request, *args, **kwargs):
        typed = str(request.POST.get("email", "")).strip().lower()[:254]
        account = typed_mobile(typed) or typed
        if ASK_DOOR.shut(request):
            return too_often(request, ASK_DOOR)
        if ACCOUNT_DOOR.shut(request, account):
            return too_often(request, ACCOUNT_DOOR, account)
        ASK_DOOR.knock(request)
        ACCOUNT_DOOR.knock(request, account)
        return super().post(request, *args, **kwargs)


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"

    def dispatch(self, *args, **kwargs):
        if LINK_DOOR.shut(self.request):
            return too_often(self.request, LINK_DOOR)
        response = super().dispatch(*args, **kwargs)
        if not self.validlink:
            LINK_DOOR.knock(self.request)
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        # Wrong passwords typed before the reset no longer hold the login locked.
        reset_lockout(username=form.user.get_username())
        return response


class ResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(hours=settings.PASSWORD_RESET_TIMEOUT // 3600, **kwargs)


class ResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
