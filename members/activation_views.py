"""Activation pages: the office's buttons on a roster member's page (send, print a slip,
revoke) and the public page the link opens, where the member sets their password.

The office's views start from `Member.objects.on_roster_of(user)`: another agency's member is a
404 whatever id is posted. The public page says the same thing for an unknown, used, revoked or
expired link, so that tokens cannot be probed, and turns away an address that keeps trying
unknown ones.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from communities.throttle import Door, too_often

from .activation import (
    InvalidLink,
    activation_find,
    activation_issue,
    activation_revoke,
    activation_send,
    activation_use,
)
from .roster import _on_roster
from .slips import render_slips

# Failed tries (unknown or spent tokens) one address may make in a window before it is turned
# away: a token has 256 random bits, this only keeps the page from being hammered.
FAILURES_ALLOWED = 20
FAILURE_WINDOW = 15 * 60
ACTIVATION_DOOR = Door("activation", FAILURES_ALLOWED, FAILURE_WINDOW)


def _fail(request, message):
    messages.error(request, message)


@login_required
@require_POST
def activation_send_view(request, pk):
    member = _on_roster(request, pk)
    try:
        issued, notified = activation_send(member=member, by=request.user)
    except ValidationError as exc:
        _fail(request, " ".join(exc.messages))
    else:
        if notified.queued:
            messages.success(
                request,
                _("A new activation link for %(name)s is on its way (valid until %(date)s).")
                % {"name": member.name, "date": _day(issued.link.expires_at)},
            )
        else:
            messages.warning(
                request,
                _(
                    "A new activation link for %(name)s was made, but neither the agency's group "
                    "robot nor e-mail reaches them: print a slip instead."
                )
                % {"name": member.name},
            )
    return redirect(member.get_absolute_url())


@login_required
@require_POST
def activation_slip_view(request, pk):
    """Issues a new link and shows it as a slip to print (the previous link is revoked)."""
    member = _on_roster(request, pk)
    try:
        issued = activation_issue(member=member, by=request.user)
    except ValidationError as exc:
        _fail(request, " ".join(exc.messages))
        return redirect(member.get_absolute_url())
    return render_slips(request, [issued])


@login_required
@require_POST
def activation_revoke_view(request, pk):
    member = _on_roster(request, pk)
    if activation_revoke(member=member, by=request.user):
        messages.success(
            request, _("The activation link of %(name)s is revoked.") % {"name": member.name}
        )
    else:
        messages.info(request, _("%(name)s has no valid link to revoke.") % {"name": member.name})
    return redirect(member.get_absolute_url())


def _day(moment):
    return formats.date_format(timezone.localtime(moment).date(), "SHORT_DATE_FORMAT")


def _invalid(request, status=404):
    response = render(request, "members/activation_invalid.html", status=status)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def activate(request, token):
    """The page the link opens (no sign-in): a form to set the password (GET), and setting it
    (POST), after which the member is signed in. Any link that does not work — unknown, used,
    revoked, expired — gets the same page."""
    if ACTIVATION_DOOR.shut(request):
        return too_often(request, ACTIVATION_DOOR)
    try:
        link = activation_find(token)
    except InvalidLink:
        ACTIVATION_DOOR.knock(request)
        return _invalid(request)
    user = link.member.user
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = activation_use(token=token, password=form.cleaned_data["new_password1"])
        except InvalidLink:
            return _invalid(request)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request, _("Your password is set. Welcome, %(name)s!") % {"name": link.member.name}
        )
        return redirect("reports:dashboard")
    response = render(
        request,
        "members/activation_form.html",
        {"form": form, "member": link.member, "username": user.get_username()},
    )
    # The token is in the address: never sent to another site ("no-referrer" would make the
    # browser send `Origin: null` with the form, which CSRF refuses).
    response["Referrer-Policy"] = "same-origin"
    return response
