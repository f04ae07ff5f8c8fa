"""QR check-in (签到 / 签退): the organiser's page with the activity's QR code, printable for the
site, and the page the code opens on a member's phone.

Opening the link checks the member in (signed out, the sign-in comes first and returns here), so
a member checks in by scanning alone; a second opening changes nothing. The session cookie is
SameSite=Lax, so another site cannot open it in the member's name from an image or a form.
Checking out is a button (POST). A link that is not Xiachen's, or another activity's, counts
against the address (communities.throttle.Door) and records nothing.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from communities.throttle import Door, too_often
from members.models import member_of
from members.slips import qr_svg

from ..models import Activity, Participation
from ..services.checkin import (
    BadCode,
    OtherActivityCode,
    check_in_activity_id,
    check_in_closed_reason,
    check_in_opens_at,
    check_in_token,
    participation_check_in,
    participation_check_out,
)
from .common import require_manager

# Bad links one address may open in a window before it is turned away: the signature cannot be
# guessed, this only keeps the page from being hammered.
BAD_CODES_ALLOWED = 20
BAD_CODE_WINDOW = 15 * 60
CHECK_IN_DOOR = Door("check-in", BAD_CODES_ALLOWED, BAD_CODE_WINDOW)


def check_in_url(activity: Activity) -> str:
    """The activity's check-in link, as its QR code holds it."""
    return settings.SITE_URL + reverse(
        "activities:check_in", args=[activity.pk, check_in_token(activity)]
    )


@login_required
@require_safe
def check_in_code(request, pk):
    """The organiser's page: the QR code to show on a phone or print for the site, when it
    works, and how many have checked in."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related("community"), pk=pk
    )
    require_manager(request.user, activity.community)
    closed = check_in_closed_reason(activity)
    shown = activity.takes_place and timezone.now() <= activity.ends_at
    counts = Participation.objects.filter(activity=activity).aggregate(
        checked_in=Count("pk", filter=Q(checked_in_at__isnull=False)),
        checked_out=Count("pk", filter=Q(checked_out_at__isnull=False)),
    )
    url = check_in_url(activity) if shown else ""
    response = render(
        request,
        "activities/checkin_code.html",
        {
            "activity": activity,
            "closed": closed,
            "url": url,
            "qr": qr_svg(url) if shown else "",
            "opens_at": check_in_opens_at(activity),
            "counts": counts,
        },
    )
    response["Cache-Control"] = "no-store"  # the code is the page's secret
    return response


def _refused(request, message, *, status, activity=None):
    response = render(
        request,
        "activities/checkin_refused.html",
        {"message": message, "activity": activity},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def check_in(request, pk, token):
    """The page the QR code opens: checks the member in (GET) or out (POST), and says how
    their attendance stands. The code is checked before the sign-in, so that a bad one counts
    against the address whoever opens it."""
    if CHECK_IN_DOOR.shut(request):
        return too_often(
            request,
            CHECK_IN_DOOR,
            template="activities/checkin_refused.html",
            context={"message": _("Too many invalid check-in codes; try again later.")},
        )
    try:
        check_in_activity_id(token, pk=pk)
    except BadCode:
        CHECK_IN_DOOR.knock(request)
        return _refused(
            request,
            _("This check-in code is not valid. Scan the code the organiser shows again."),
            status=404,
        )
    except OtherActivityCode:
        CHECK_IN_DOOR.knock(request)
        return _refused(
            request,
            _("This check-in code belongs to another activity. Scan the code of this one."),
            status=404,
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    activity = Activity.objects.select_related("community").filter(pk=pk).first()
    if activity is None:
        return _refused(request, _("This activity no longer exists."), status=404)
    member = member_of(request.user)
    if member is None:
        return _refused(
            request,
            _("Only members check in. Sign in with the member's own account."),
            status=403,
            activity=activity,
        )
    service = participation_check_out if request.method == "POST" else participation_check_in
    try:
        done = service(activity=activity, member=member)
    except ValidationError as exc:
        return _refused(request, " ".join(exc.messages), status=409, activity=activity)
    if request.method == "POST":
        if done.changed:
            messages.success(request, _("Checked out. Thank you for your service!"))
        return redirect(request.path)
    return render(
        request,
        "activities/checkin.html",
        {"activity": activity, "record": done.participation, "done": done},
    )
