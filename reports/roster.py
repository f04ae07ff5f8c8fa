"""The roster's pages that read attendance: a member's page (their report-ins, this year's
record, the roster's history of them) and the roster's export. The list and the changes are
members.roster's; both start from `Member.objects.on_roster_of(user)`, so a member of another
agency is a 404 and an export holds the viewer's agencies' members only, whatever is asked."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from activities import figures
from activities.models import Participation
from communities.dates import local_midnight
from communities.history import NOTHING, change_reason_label
from communities.permissions import can_keep_roster, sees_full_mobiles
from members.forms import MemberForm
from members.models import ActivationLink, Member, PersonalDataView, Registration
from members.privacy import personal_data_page

from .exports import RosterExporter
from .jobs import export

# The roster's history of a member shown on their page, newest first.
HISTORY_LIMIT = 20
# The fields the office edits (members.forms.MemberForm) and those leaving changes.
TRACKED = [*MemberForm.Meta.fields, "status", "left_on"]


def _require_office(request):
    if not can_keep_roster(request.user):
        raise PermissionDenied


def _history(member):
    """The member's last versions with what changed in each, from one query."""
    versions = list(
        member.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : HISTORY_LIMIT + 1
        ]
    )
    shown = versions[:HISTORY_LIMIT]
    for newer, older in zip(shown, versions[1:] + [None], strict=False):
        newer.reason = change_reason_label(newer.history_change_reason)
        user = newer.history_user
        newer.who = (user.get_full_name() or user.get_username()) if user else NOTHING
        newer.changes = []
        if older is None or newer.history_type != "~":
            continue
        for name in TRACKED:
            attribute = f"{name}_id" if name == "residence_community" else name
            if getattr(older, attribute) != getattr(newer, attribute):
                newer.changes.append(Member._meta.get_field(name).verbose_name)
    return shown


def _activation(member, link, now) -> dict:
    """The member's login and activation link as the page shows them: whether they can sign in
    already, the last link's state (ActivationLink.state) and what the office may do."""
    activated = bool(member.user_id and member.user.has_usable_password())
    state = link.state(now) if link else None
    return {
        "activated": activated,
        "link": link,
        "state": state,
        "state_label": ActivationLink.State(state).label if state else "",
        "live": state == ActivationLink.State.ACTIVE,
        "can_issue": not activated and member.status == Member.Status.ACTIVE,
        # The agency's group robot or the login's e-mail (members.activation._queue).
        "can_send": bool(member.agency.robot_webhook_url or (member.user_id and member.user.email)),
    }


@login_required
@personal_data_page(PersonalDataView.Page.ROSTER_MEMBER)
def roster_member(request, pk):
    _require_office(request)
    member = get_object_or_404(
        Member.objects.on_roster_of(request.user).select_related(
            "agency", "residence_community", "user"
        ),
        pk=pk,
    )
    now = timezone.now()
    link = ActivationLink.objects.filter(member=member).order_by("-issued_at", "-pk").first()
    today = timezone.localdate()
    year_start = local_midnight(dt.date(today.year, 1, 1))
    year_end = local_midnight(dt.date(today.year + 1, 1, 1))
    this_year = figures.attendance(
        Participation.objects.filter(
            member=member, activity__starts_at__gte=year_start, activity__starts_at__lt=year_end
        )
    )
    registrations = list(
        Registration.objects.filter(member=member)
        .select_related("community", "grid")
        .order_by("-applied_on", "-pk")
    )
    return render(
        request,
        "reports/roster_member.html",
        {
            "member": member,
            "year": today.year,
            "this_year": this_year,
            "registrations": registrations,
            "history": _history(member),
            "activation": _activation(member, link, now),
            "full_mobile": sees_full_mobiles(request.user, agency=member.agency),
        },
    )


@login_required
def roster_export(request):
    """The roster as .xlsx (`?format=xlsx`, the default) or .csv, narrowed by the list's
    filters, of the agency chosen (`agency=`, an office of several) or all of the office's;
    mobiles masked unless `full=1`. A large roster is written by a worker (reports.jobs)."""
    _require_office(request)
    return export(request, RosterExporter)
