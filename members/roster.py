"""The agency party office's roster (党员名册): the list, adding and editing members, a member
leaving (and coming back), and importing a spreadsheet.

A separate set of pages from the community's list of reported-in members (members:member_list):
that one lists report-ins to a community with their grids; this one lists an agency's members,
whatever they reported in to, and changes them. Only the office keeps a roster
(permissions.can_keep_roster): anyone else gets a 403, and a member of another agency is a 404
whatever the URL or the form says, because every page starts from
`Member.objects.on_roster_of(user)`. The member's own page, with their record, and the export
are in reports (they read attendance).
"""

import secrets
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communities.models import Agency
from communities.pagination import Paginator
from communities.permissions import can_keep_roster, roster_agency_ids

from .activation import activation_issue, activation_send
from .filters import RosterFilterSet
from .forms import ActivationChoiceForm, MemberForm, MemberLeaveForm, RosterImportForm
from .imports import XLSX_TYPE, check_rows, read_rows, template_workbook
from .models import Member, PersonalDataView, has_liaison_report_in
from .privacy import personal_data_page
from .services import member_leave, member_rejoin, member_save, members_import
from .slips import render_slips

PAGE_SIZE = 20
# The session's pending import: the rows read (not the file), whose agency and login.
PENDING_IMPORT = "roster_import"
# Shown in the preview; the rest is counted.
PREVIEW_ROWS = 50


def _require_office(request):
    if not can_keep_roster(request.user):
        raise PermissionDenied


def _agencies(request):
    """The agencies whose roster the viewer keeps, read once."""
    return list(_agency_choices(request))


def _agency_choices(request):
    return Agency.objects.filter(pk__in=roster_agency_ids(request.user)).order_by("name")


def _on_roster(request, pk) -> Member:
    """A member of the viewer's roster (else 404; a viewer without a roster: 403)."""
    _require_office(request)
    return get_object_or_404(
        Member.objects.on_roster_of(request.user).select_related("agency"), pk=pk
    )


def _shown(ids):
    """A page of the roster with what the list shows, joined for that page only."""
    return (
        Member.objects.filter(pk__in=ids)
        .select_related("agency", "residence_community")
        .annotate(liaison_reported_in=has_liaison_report_in())
        .order_by("name", "pk")
    )


@login_required
@personal_data_page(PersonalDataView.Page.ROSTER)
def roster_list(request):
    _require_office(request)
    agencies = _agencies(request)
    filters = RosterFilterSet(request.GET, Member.objects.on_roster_of(request.user))
    rows = filters.qs.order_by("name", "pk")
    page = Paginator(rows, PAGE_SIZE, read=_shown).get_page(request.GET.get("page"))
    in_use = filters.in_use
    return render(
        request,
        "members/roster_list.html",
        {
            "agencies": agencies,
            "several_agencies": len(agencies) > 1,
            "form": filters.form,
            "page": page,
            "filtered": set(in_use) - {"status"} or in_use.get("status") != Member.Status.ACTIVE,
            "more_filters": bool({"party", "reported"} & set(in_use)) or bool(filters.form.errors),
        },
    )


def _member_form_page(request, form, member=None, activation_form=None):
    return render(
        request,
        "members/roster_member_form.html",
        {
            "form": form,
            "member": member,
            "agency": form.agency,
            "activation_form": activation_form,
        },
    )


def _activate_added(request, members, choice):
    """Logins and activation links for members just added, as the office chose: sent (then
    back to `None`, the caller redirects) or printed (the slips' page)."""
    if choice == ActivationChoiceForm.SLIP:
        issued = [activation_issue(member=member, by=request.user) for member in members]
        return render_slips(request, issued)
    if choice == ActivationChoiceForm.SEND:
        reached = 0
        for member in members:
            _issued, notified = activation_send(member=member, by=request.user)
            reached += bool(notified.queued)
        if reached < len(members):
            messages.warning(
                request,
                _(
                    "%(missed)s of %(count)s activation links could not be sent (no group robot "
                    "or e-mail reaches them): print their slips from their pages."
                )
                % {"missed": len(members) - reached, "count": len(members)},
            )
        else:
            messages.info(request, _("The activation links are on their way."))
    return None


@login_required
def member_add(request):
    _require_office(request)
    agencies = _agencies(request)
    # An office of several agencies says which one (?agency=); one of its own, or a 404.
    agency = agencies[0] if agencies else None
    wanted = request.GET.get("agency") or request.POST.get("agency")
    if wanted:
        agency = next((a for a in agencies if str(a.pk) == wanted), None)
    if agency is None:
        raise Http404
    form = MemberForm(request.POST or None, agency=agency)
    activation_form = ActivationChoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and activation_form.is_valid():
        try:
            member = member_save(member=form.save(commit=False), by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(name)s is on the roster.") % {"name": member.name})
            slips = _activate_added(request, [member], activation_form.cleaned_data["activation"])
            return slips or redirect(member.get_absolute_url())
    return _member_form_page(request, form, activation_form=activation_form)


@login_required
def member_edit(request, pk):
    member = _on_roster(request, pk)
    form = MemberForm(request.POST or None, instance=member, agency=member.agency)
    if request.method == "POST" and form.is_valid():
        try:
            member_save(member=form.save(commit=False), by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            text = _("The changes to %(name)s are saved.") % {"name": member.name}
            messages.success(request, text)
            return redirect(member.get_absolute_url())
    return _member_form_page(request, form, member)


@login_required
def member_leave_view(request, pk):
    """The date a member left the agency (GET), and recording it (POST)."""
    member = _on_roster(request, pk)
    form = MemberLeaveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member_leave(member=member, left_on=form.cleaned_data["left_on"], by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("%(name)s is marked as having left the agency.") % {"name": member.name}
            )
        return redirect(member.get_absolute_url())
    return render(request, "members/roster_member_leave.html", {"member": member, "form": form})


@login_required
@require_POST
def member_rejoin_view(request, pk):
    member = _on_roster(request, pk)
    try:
        member_rejoin(member=member, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("%(name)s is back on the active roster.") % {"name": member.name}
        )
    return redirect(member.get_absolute_url())


# --- Import --------------------------------------------------------------------------------


@login_required
def import_template(request):
    _require_office(request)
    response = HttpResponse(template_workbook(), content_type=XLSX_TYPE)
    filename = _("roster-template") + ".xlsx"
    response["Content-Disposition"] = _attachment(filename)
    return response


def _attachment(filename: str) -> str:
    """A download named in Chinese where the browser can (RFC 6266), in ASCII elsewhere."""
    return f"attachment; filename=\"roster-template.xlsx\"; filename*=UTF-8''{quote(filename)}"


@login_required
def roster_import(request):
    """Upload (GET, POST): a file with any bad cell is shown with every error and imports
    nothing; a good one is kept in the session (its rows, not the file) for the preview."""
    _require_office(request)
    agencies = _agency_choices(request)
    form = RosterImportForm(request.POST or None, request.FILES or None, agencies=agencies)
    checked = None
    if request.method == "POST" and form.is_valid():
        agency = form.cleaned_data["agency"]
        try:
            rows = read_rows(form.cleaned_data["file"])
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            checked = check_rows(agency, rows)
            if checked.valid:
                request.session[PENDING_IMPORT] = {
                    "token": secrets.token_urlsafe(16),
                    "user": request.user.pk,
                    "agency": agency.pk,
                    "filename": form.cleaned_data["file"].name[:100],
                    "rows": rows,
                }
                return redirect("roster:import_preview")
    return render(
        request,
        "members/roster_import.html",
        {"form": form, "checked": checked, "several_agencies": len(agencies) > 1},
    )


def _pending(request):
    """The session's pending import with its agency and rows checked again now, or None when
    there is none, it is another login's, or its agency is no longer the viewer's."""
    pending = request.session.get(PENDING_IMPORT)
    if not pending or pending.get("user") != request.user.pk:
        return None, None, None
    if pending["agency"] not in roster_agency_ids(request.user):
        return None, None, None
    agency = Agency.objects.get(pk=pending["agency"])
    rows = [(number, data) for number, data in pending["rows"]]
    return pending, agency, check_rows(agency, rows)


@login_required
def import_preview(request):
    """What the file will add (GET), and adding it (POST, with the preview's token). The rows
    are checked again before either: the roster may have changed since the upload."""
    _require_office(request)
    pending, agency, checked = _pending(request)
    if pending is None:
        messages.info(request, _("There is no import waiting: upload a file first."))
        return redirect("roster:import")
    if request.method == "POST":
        if request.POST.get("token") != pending["token"]:
            messages.error(request, _("This preview is out of date; check it again."))
            return redirect("roster:import_preview")
        if request.POST.get("cancel"):
            del request.session[PENDING_IMPORT]
            messages.info(request, _("The import is cancelled; nothing was added."))
            return redirect("roster:list")
        activation_form = ActivationChoiceForm(request.POST)
        if checked.valid and activation_form.is_valid():
            try:
                created = members_import(agency=agency, members=checked.members, by=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                del request.session[PENDING_IMPORT]
                messages.success(
                    request,
                    _("%(count)s members were added to the roster of %(agency)s.")
                    % {"count": len(created), "agency": agency.name},
                )
                choice = activation_form.cleaned_data["activation"]
                slips = _activate_added(request, created, choice)
                return slips or redirect("roster:list")
    return render(
        request,
        "members/roster_import_preview.html",
        {
            "pending": pending,
            "agency": agency,
            "checked": checked,
            "shown": checked.members[:PREVIEW_ROWS],
            "more": max(0, len(checked.members) - PREVIEW_ROWS),
            "activation_form": ActivationChoiceForm(),
        },
    )
