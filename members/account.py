"""A person's own sign-ins (issue 11, point 2): "我的登录设备" lists the sessions of their login,
this one marked, and ends any other one or all others; and changing their own password, which
ends the others (members.sessions)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .sessions import key_digest, sessions_end, sessions_of

ALL_OTHERS = "others"


@never_cache
@login_required
def my_sessions(request):
    current = request.session.session_key
    sessions = list(sessions_of(request.user))
    for session in sessions:
        session.is_current = session.session_key == current
    sessions.sort(key=lambda session: not session.is_current)  # this one first
    return render(
        request,
        "members/session_list.html",
        {
            "sessions": sessions,
            "others": sum(not session.is_current for session in sessions),
            "all_others": ALL_OTHERS,
        },
    )


@login_required
@require_POST
def session_end(request):
    """Ends one of the person's other sessions (`session`: its digest, as the page shows it) or
    all of them (`session=others`). The current one is ended by signing out."""
    chosen = str(request.POST.get("session", ""))
    current = request.session.session_key
    if chosen == ALL_OTHERS:
        ended = sessions_end(user_id=request.user.pk)
        if ended:
            messages.success(
                request,
                ngettext(
                    "%(count)d other device is signed out.",
                    "%(count)d other devices are signed out.",
                    ended,
                )
                % {"count": ended},
            )
        else:
            messages.info(request, _("No other device is signed in."))
        return redirect("members:my_sessions")
    others = sessions_of(request.user).exclude(session_key=current)
    # A person has a few sessions: their digests are compared here, never a key in a form.
    keys = others.values_list("session_key", flat=True)
    keys = [key for key in keys if key_digest(key) == chosen]
    if keys:
        others.filter(session_key__in=keys).delete()
        messages.success(request, _("That device is signed out."))
    else:
        messages.info(request, _("That device was already signed out."))
    return redirect("members:my_sessions")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in Chinese; the person's other sessions end with the old
    password (members.sessions), this one goes on under a new key."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("members:my_sessions")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request, _("Your password is changed. Your other devices are signed out.")
        )
        return response
