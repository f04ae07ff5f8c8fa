"""A member reporting in (报到, 双报到), and the community's report-in poster.

A member reports in to a liaison community (offered from their agency's agreements in force)
and to the community they live in (any community, found by street and name); each waits for
the community's review (members.views). Every community has a report-in link, printed on an A4
poster with its QR code: opening it signed out goes through the sign-in and lands on that
community's report-in.

Only a member's own report-ins are theirs to see or withdraw: another's is a 404. The poster is
the community's (its staff and grid workers, the city administrator: the report-in desk's).
"""

import io

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communities.models import Agency, Community, Street
from communities.navigation import next_url
from communities.throttle import Door, too_often

from .models import Registration, member_of
from .services import liaison_communities, registration_apply, registration_withdraw
from .views import _desk

# Communities a search shows at most (a city has about 200).
SEARCH_LIMIT = 30
# Report-in links to no community one address may open in a window before it is turned away
# (a poster's link is public; this keeps the door from being walked through every number).
BAD_LINKS_ALLOWED = 20
BAD_LINK_WINDOW = 15 * 60
REPORT_IN_DOOR = Door("report-in", BAD_LINKS_ALLOWED, BAD_LINK_WINDOW)


def _member(request):
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    # Read now: the pages name the agency in some states, and so cost the same in all.
    member.agency = Agency.objects.get(pk=member.agency_id)
    return member


def report_in_url(community) -> str:
    """The community's report-in link, as the poster prints it."""
    return settings.SITE_URL + reverse("members:report_in_community", args=[community.pk])


def _kinds_open(member, community, live, liaison_ids) -> list[str]:
    """The kinds of report-in the member may still make to `community`."""
    kinds = []
    if community.pk in liaison_ids and not any(
        reg.community_id == community.pk and reg.kind == Registration.Kind.LIAISON for reg in live
    ):
        kinds.append(Registration.Kind.LIAISON)
    if not any(reg.kind == Registration.Kind.RESIDENCE for reg in live):
        kinds.append(Registration.Kind.RESIDENCE)
    return kinds


def _state(member):
    """The member's report-ins (newest first), the live ones, and their liaison communities."""
    registrations = list(
        Registration.objects.filter(member=member)
        .select_related("community__street", "grid")
        .order_by("-applied_on", "-pk")
    )
    live = [reg for reg in registrations if reg.status in Registration.LIVE_STATUSES]
    liaisons = list(liaison_communities(member).select_related("street").order_by("name"))
    return registrations, live, liaisons


@login_required
def my_report_ins(request):
    """The member's report-ins and where they may report in: their agency's liaison
    communities, and the community they live in (searched by street and name)."""
    member = _member(request)
    registrations, live, liaisons = _state(member)
    liaison_ids = {community.pk for community in liaisons}
    offered = [
        community
        for community in liaisons
        if Registration.Kind.LIAISON in _kinds_open(member, community, live, liaison_ids)
    ]
    home = next((reg for reg in live if reg.kind == Registration.Kind.RESIDENCE), None)
    streets = list(Street.objects.order_by("name"))
    street_id = request.GET.get("street", "")
    # NUL cannot reach PostgreSQL in a string; nobody types one.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:50]
    results, searched = [], bool(street_id or query)
    if searched and home is None:
        found = Community.objects.select_related("street").order_by("street__name", "name")
        if street_id:
            if not street_id.isdigit() or int(street_id) not in {s.pk for s in streets}:
                messages.error(request, _("Choose a street from the list."))
                found = found.none()
            else:
                found = found.filter(street=int(street_id))
        if query:
            found = found.filter(name__icontains=query)
        results = list(found[: SEARCH_LIMIT + 1])
    return render(
        request,
        "members/report_in.html",
        {
            "member": member,
            "registrations": registrations,
            "offered": offered,
            "home": home,
            "streets": streets,
            "street_id": street_id,
            "query": query,
            "searched": searched,
            "results": results[:SEARCH_LIMIT],
            "more": len(results) > SEARCH_LIMIT,
        },
    )


def community_report_in(request, pk):
    """The page a community's poster opens: report in here (POST `kind`). A link to no
    community counts against the address, signed in or not."""
    if REPORT_IN_DOOR.shut(request):
        return too_often(request, REPORT_IN_DOOR)
    community = Community.objects.select_related("street").filter(pk=pk).first()
    if community is None:
        REPORT_IN_DOOR.knock(request)
        raise Http404
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    member = _member(request)
    registrations, live, liaisons = _state(member)
    liaison_ids = {c.pk for c in liaisons}
    kinds = _kinds_open(member, community, live, liaison_ids)
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind not in Registration.Kind.values:
            messages.error(request, _("Choose how you report in: liaison or residence."))
        else:
            try:
                registration_apply(member=member, community=community, kind=kind)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _(
                        "You have reported in to %(community)s as %(kind)s. The community "
                        "reviews it; you will be told."
                    )
                    % {
                        "community": community.name,
                        "kind": Registration.Kind(kind).label,
                    },
                )
                return redirect(
                    next_url(request, request.POST.get("next"), reverse("members:report_in"))
                )
        return redirect(request.path)
    here = [reg for reg in registrations if reg.community_id == community.pk]
    return render(
        request,
        "members/report_in_community.html",
        {
            "member": member,
            "community": community,
            "kinds": kinds,
            "here": here,
            "is_liaison": community.pk in liaison_ids,
            "home": next((reg for reg in live if reg.kind == Registration.Kind.RESIDENCE), None),
        },
    )


@login_required
@require_POST
def report_in_withdraw(request, pk):
    member = _member(request)
    registration = get_object_or_404(Registration, pk=pk, member=member)
    try:
        registration_withdraw(registration=registration, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Your report-in to %(community)s is withdrawn.")
            % {"community": registration.community.name},
        )
    return redirect("members:report_in")


def _qr(url: str):
    return segno.make(url, error="q")


@login_required
def report_in_poster(request):
    """The community's A4 report-in poster (the report-in desk's community)."""
    desk = _desk(request)
    url = report_in_url(desk.community)
    svg = _qr(url).svg_inline(scale=10, border=2, omitsize=True)
    return render(
        request,
        "members/report_in_poster.html",
        {
            "desk": desk,
            "url": url,
            "qr": mark_safe(svg),  # noqa: S308 — segno's own markup of a URL we built
        },
    )


@login_required
def report_in_poster_svg(request):
    """The poster's QR code alone, as an .svg file to place in a leaflet or a group chat."""
    desk = _desk(request)
    output = io.BytesIO()
    _qr(report_in_url(desk.community)).save(
        output, kind="svg", scale=10, border=2, title=desk.community.name
    )
    response = HttpResponse(output.getvalue(), content_type="image/svg+xml")
    response["Content-Disposition"] = f'attachment; filename="report-in-{desk.community.pk}.svg"'
    return response
