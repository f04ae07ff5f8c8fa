"""Personal data (issue 11 point 5, PIPL): the privacy notice every signed-in person accepts,
the log of who looked at lists of people, and a member deleting their own account.

- **The notice** (隐私政策) is a versioned text in the repo (templates/privacy/); the version in
  force is settings.PRIVACY_NOTICE_VERSION. `PrivacyNoticeMiddleware` sends a signed-in person
  to it, and lets no other page answer, until they accepted that version (a PrivacyAcceptance
  row). The check costs no query on a page: the accepted version is kept in the session, written
  when the person signs in (`remember_acceptance`) or accepts; only a session without it (one
  older than a new version) reads the acceptance once.
- **Views of personal data**: pages listing people are decorated with `personal_data_page`,
  which adds one upsert per view to a row per login, page and day (PersonalDataView); the city
  administrator reads them at /privacy/views/ and in the admin. Exports are logged apart
  (reports.ExportLog).
- **Deleting one's account** (`account_delete`): the login is switched off, the contact fields
  are emptied (also in the member's history and the messages sent to them), the service records
  stay, as the rules keep them for ten years.
"""

from functools import wraps
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.core import checks
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, select_template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from communities.history import ChangeReason
from communities.navigation import next_url
from communities.pagination import Paginator
from communities.permissions import can_see_personal_data_views
from communities.validators import validate_year
from notifications.models import Notification

from .models import ActivationLink, CalendarFeed, Member, PersonalDataView, PrivacyAcceptance

# The version of the notice the session's person accepted.
SESSION_KEY = "privacy_notice_version"

# --- The notice ------------------------------------------------------------------------------


def notice_version() -> str:
    return settings.PRIVACY_NOTICE_VERSION


def notice_template(version: str | None = None):
    """The notice's text in the page's language, else in Chinese (the text that binds)."""
    version = version or notice_version()
    language = translation.get_language() or settings.LANGUAGE_CODE
    return select_template(
        [f"privacy/notice_{version}.{language}.html", f"privacy/notice_{version}.zh-hans.html"]
    )


@checks.register()
def notice_text_exists(app_configs=None, **kwargs):
    """A version without its text would answer every signed-in person with an error."""
    name = f"privacy/notice_{notice_version()}.zh-hans.html"
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return [
            checks.Error(
                f"PRIVACY_NOTICE_VERSION is {notice_version()!r} but templates/{name} is missing.",
                id="members.E001",
            )
        ]
    return []


def has_accepted(user, version: str | None = None) -> bool:
    return PrivacyAcceptance.objects.filter(user=user, version=version or notice_version()).exists()


def privacy_accept(*, user, now=None) -> PrivacyAcceptance:
    """Records that `user` accepted the notice in force (once per version; again is a no-op)."""
    acceptance, _created = PrivacyAcceptance.objects.get_or_create(
        user=user, version=notice_version(), defaults={"accepted_at": now or timezone.now()}
    )
    return acceptance


def privacy_accept_for(*, users, now=None) -> None:
    """The demo's accounts accept the notice in force (one query; those who did are skipped)."""
    now = now or timezone.now()
    PrivacyAcceptance.objects.bulk_create(
        [PrivacyAcceptance(user=user, version=notice_version(), accepted_at=now) for user in users],
        ignore_conflicts=True,
    )


@receiver(user_logged_in)
def remember_acceptance(sender, request, user, **kwargs):
    """At sign-in, the session learns whether its person accepted the notice in force: the
    middleware then asks the session, not the database, on every page."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if has_accepted(user):
        session[SESSION_KEY] = notice_version()
    else:
        session.pop(SESSION_KEY, None)


def _open_paths() -> tuple[str, ...]:
    """Django's pages a person who has not accepted may still open: signing out, the language
    switch, the health check (the notice is marked `privacy_notice_exempt`)."""
    return (
        reverse("logout"),
        reverse("set_language"),
        reverse("healthz"),
    )


def privacy_notice_exempt(view):
    """Marks a view a person may open before accepting the notice (as csrf_exempt does): the
    notice itself, and pages that must come first, such as a second factor's."""
    view.privacy_notice_exempt = True
    return view


class PrivacyNoticeMiddleware:
    """Sends a signed-in person who has not accepted the notice in force to it (any method:
    nothing is written before they accept). After AuthenticationMiddleware in MIDDLEWARE; it
    decides in process_view, so a view marked `privacy_notice_exempt` answers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "privacy_notice_exempt", False) or not self._must_accept(request):
            return None
        notice = reverse("privacy:notice")
        return HttpResponseRedirect(f"{notice}?next={quote(request.get_full_path())}")

    def _must_accept(self, request) -> bool:
        session = getattr(request, "session", None)
        # Nobody signed in (no query: an empty session is not read), or accepted already.
        if session is None or session.get(SESSION_KEY) == notice_version():
            return False
        if BACKEND_SESSION_KEY not in session:
            return False
        if request.path.startswith(_open_paths()):
            return False
        user = request.user
        if not user.is_authenticated:
            return False
        if has_accepted(user):
            session[SESSION_KEY] = notice_version()
            return False
        return True


@privacy_notice_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def notice(request):
    """The privacy notice: public (linked from the sign-in page); a signed-in person who has
    not accepted the version in force accepts it here and goes on to where they were going."""
    user = request.user
    accepted = user.is_authenticated and (
        request.session.get(SESSION_KEY) == notice_version() or has_accepted(user)
    )
    must_accept = user.is_authenticated and not accepted
    default = reverse("reports:dashboard")
    if request.method == "POST":
        if not user.is_authenticated:
            return HttpResponseRedirect(reverse("login"))
        if must_accept:
            privacy_accept(user=user)
            request.session[SESSION_KEY] = notice_version()
            messages.success(request, _("Thank you: you accepted the privacy notice."))
        return HttpResponseRedirect(next_url(request, request.POST.get("next"), default))
    acceptance = None
    if accepted:
        acceptance = PrivacyAcceptance.objects.filter(user=user, version=notice_version()).first()
    return render(
        request,
        "privacy/notice.html",
        {
            "text": notice_template(),
            "version": notice_version(),
            "must_accept": must_accept,
            "acceptance": acceptance,
            "next": next_url(request, request.GET.get("next"), default),
        },
    )


# --- Who viewed lists of people --------------------------------------------------------------


def personal_data_viewed(*, user, page: str, now=None) -> None:
    """Counts one view of `page` by `user` today: one upsert (the row of the login, page and day
    is made by the first view and counted up by the next)."""
    now = now or timezone.now()
    table = connection.ops.quote_name(PersonalDataView._meta.db_table)
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, page, day, views, first_at, last_at) "
            "VALUES (%s, %s, %s, 1, %s, %s) "
            "ON CONFLICT (user_id, page, day) "
            f"DO UPDATE SET views = {table}.views + 1, last_at = excluded.last_at",
            [
                user.pk,
                page,
                ops.adapt_datefield_value(timezone.localdate(now)),
                ops.adapt_datetimefield_value(now),
                ops.adapt_datetimefield_value(now),
            ],
        )


def personal_data_page(page: str):
    """Decorates a view that lists people's personal data: each page it shows (a 200 to GET)
    is counted in the log of views."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if (
                request.method in ("GET", "HEAD")
                and response.status_code == 200
                and request.user.is_authenticated
            ):
                personal_data_viewed(user=request.user, page=page)
            return response

        return wrapped

    return decorator


class ViewLogFilterForm(forms.Form):
    person = forms.CharField(
        label=gettext_lazy("Person"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Name or username")}),
    )
    page = forms.ChoiceField(
        label=gettext_lazy("Page"),
        required=False,
        choices=[("", gettext_lazy("All pages")), *PersonalDataView.Page.choices],
    )
    since = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        validators=[validate_year],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        validators=[validate_year],
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise ValidationError(_("The first day must not be after the last."), code="order")
        return cleaned

    def filter(self, rows):
        data = self.cleaned_data
        person = data.get("person", "").strip()
        if person:
            rows = rows.filter(
                Q(user__username__icontains=person)
                | Q(user__first_name__icontains=person)
                | Q(user__last_name__icontains=person)
            )
        if data.get("page"):
            rows = rows.filter(page=data["page"])
        if data.get("since"):
            rows = rows.filter(day__gte=data["since"])
        if data.get("until"):
            rows = rows.filter(day__lte=data["until"])
        return rows


VIEW_LOG_PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "HEAD"])
def view_log(request):
    """Who looked at which lists of people, per day: the city administrator's."""
    if not can_see_personal_data_views(request.user):
        raise PermissionDenied
    form = ViewLogFilterForm(request.GET or None)
    rows = PersonalDataView.objects.select_related("user").order_by("-day", "-last_at", "-pk")
    if form.is_bound:
        rows = form.filter(rows) if form.is_valid() else rows.none()
    page = Paginator(rows, VIEW_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "privacy/view_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


# --- A member deleting their account ---------------------------------------------------------


@transaction.atomic
def account_delete(*, member: Member, now=None) -> Member:
    """Deletes the member's account at their request: the login is switched off (its sessions
    end: an inactive login with an unusable password signs no session in), the mobile and
    e-mail are emptied — in the member's history and the messages sent to them too — and the
    calendar address and activation links stop working. The member stays on their agency's
    roster as having left, with every service record (participations, report-ins, ratings),
    which the rules keep for ten years; the history says when and by whom."""
    now = now or timezone.now()
    member = Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member.pk)
    if member.deleted_at is not None:
        raise ValidationError(_("This account is already deleted."), code="already_deleted")
    user = member.user
    member.mobile = ""
    member.deleted_at = now
    if member.status == Member.Status.ACTIVE:
        member.status, member.left_on = Member.Status.LEFT, timezone.localdate(now)
    member._history_user = user
    member._change_reason = ChangeReason.ACCOUNT_DELETED
    member.save()
    Member.history.filter(id=member.pk).update(mobile="")
    recipients = Q(recipient_key=f"m{member.pk}")
    if user is not None:
        recipients |= Q(recipient=user)
        user.username = f"deleted-{user.pk}"
        user.email = ""
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["username", "email", "is_active", "password"])
    Notification.objects.filter(recipients).update(recipient_mobile="", address="")
    CalendarFeed.objects.filter(member=member).delete()
    ActivationLink.objects.filter(member=member).live().update(revoked_at=now)
    return member


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label=gettext_lazy(
            "I understand: I can no longer sign in, and my mobile and e-mail are erased."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(_("The password is not right."), code="wrong_password")
        return password


def account_delete_view(request, member: Member):
    """The page of a member asking to delete their account (from 我的记录): confirmed with their
    password; then they are signed out."""
    form = AccountDeleteForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account_delete(member=member)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            logout(request)
            messages.success(
                request,
                _("Your account is deleted. Your service records stay with your agency."),
            )
            return HttpResponseRedirect(reverse("login"))
    return render(request, "privacy/account_delete.html", {"form": form, "member": member})
