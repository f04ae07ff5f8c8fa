"""Attendance review (考勤审核) by the agency party office: its members' records, filtered; confirm
one or many, dispute one with a reason, read the community's answer and the record's history.

Only an agency office reviews (anyone else: 403); a record of another agency's member is a 404,
and its id in a POST changes nothing. The list counts and pages on the participations alone and
joins activities, communities and members for the page's rows only (communities.pagination).
"""

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from activities.figures import agency_records_count
from activities.models import Activity, ActivityType, Participation
from activities.services.review import (
    MAX_BULK,
    participation_confirm,
    participation_dispute,
    reviewable_by,
)
from communities.dates import local_midnight
from communities.filters import DateInput, FilterForm, NamedModelChoiceField
from communities.models import Community
from communities.navigation import redirect_next
from communities.pagination import Paginator, SortedPk
from communities.permissions import can_review_attendance, scope_of
from communities.validators import validate_year
from members.models import Member, PersonalDataView
from members.privacy import personal_data_page

from .jobs import export_options

PAGE_SIZE = 20
Review = Participation.Review
# "Answered": disputed, and the community has answered since; the office acts on it next.
ANSWERED = "answered"


def _require_office(user) -> None:
    if not can_review_attendance(user):
        raise PermissionDenied


class ReviewFilterForm(FilterForm):
    """The list's filters: period (the activity's day), community, activity type, status and
    review state. A bad value is reported and left out; the others still apply."""

    on_activity = False  # whether `narrow` filtered on the activity (its period, place, type)
    narrowed = False  # whether `narrow` filtered at all
    date_from = forms.DateField(
        label=_("From"), required=False, widget=DateInput(), validators=[validate_year]
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=DateInput(), validators=[validate_year]
    )
    community = NamedModelChoiceField(
        label=capfirst(_("community")),
        queryset=Community.objects.none(),
        required=False,
        empty_label=_("All communities"),
    )
    type = NamedModelChoiceField(
        label=capfirst(_("type")),
        queryset=ActivityType.objects.order_by("order", "name"),
        required=False,
        empty_label=_("All types"),
    )
    status = forms.ChoiceField(
        label=capfirst(_("status")),
        required=False,
        choices=[
            ("", _("All statuses")),
            *(
                (value, label)
                for value, label in Participation.Status.choices
                if value in Participation.RECORDED
            ),
        ],
    )
    nature = forms.ChoiceField(
        label=capfirst(_("nature")),
        required=False,
        choices=[("", _("Duty and volunteer service")), *Activity.Nature.choices],
    )
    # One member's records (the attendance report's figures link here). An id, not a list of
    # thousands of members; another agency's member finds nothing, the list being the office's.
    member = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    review = forms.ChoiceField(
        label=_("Review"),
        required=False,
        choices=[("", _("All")), *Review.choices, (ANSWERED, _("Answered by the community"))],
    )

    def __init__(self, data, *, user):
        super().__init__(data)
        self.fields["community"].queryset = Community.objects.visible_to(user).order_by("name")

    def value(self, name):
        return self.cleaned_data.get(name) if hasattr(self, "cleaned_data") else None

    def narrow(self, records):
        """`records` narrowed by every valid filter. The activity's conditions are one subquery
        on the row's activity column: the list is counted on its own table."""
        self.is_valid()
        on_activity = {}
        if self.value("date_from"):
            on_activity["starts_at__gte"] = local_midnight(self.value("date_from"))
        if self.value("date_to"):
            on_activity["starts_at__lt"] = local_midnight(
                self.value("date_to") + dt.timedelta(days=1)
            )
        if self.value("community"):
            on_activity["community"] = self.value("community")
        if self.value("type"):
            on_activity["type"] = self.value("type")
        if self.value("nature"):
            on_activity["nature"] = self.value("nature")
        self.on_activity = bool(on_activity)
        if on_activity:
            records = records.filter(
                activity__in=Activity.objects.filter(**on_activity).values("pk")
            )
        if self.value("member"):
            records = records.filter(member=self.value("member"))
        if self.value("status"):
            records = records.filter(status=self.value("status"))
        review = self.value("review")
        if review == ANSWERED:
            records = records.answered()
        elif review:
            records = records.filter(review=review)
        self.narrowed = bool(on_activity or self.value("member") or self.value("status") or review)
        return records


def _page_rows(ids):
    # The columns the list shows, not the six tables' 73: a page's 20 rows made 100 instances
    # of every column, about a tenth of the page's CPU time.
    return (
        Participation.objects.filter(pk__in=ids)
        .select_related("activity__community", "activity__type", "member")
        .only(
            "review",
            "status",
            "hours",
            "source",
            "activity__title",
            "activity__starts_at",
            "activity__community__name",
            "activity__type__name",
            "member__name",
        )
        .with_latest_dispute()
        .order_by("-pk")
    )


@login_required
@require_http_methods(["GET", "HEAD"])
@personal_data_page(PersonalDataView.Page.REVIEW)
def review_list(request):
    """The office's members' records, newest first, by review state and the filters."""
    _require_office(request.user)
    form = ReviewFilterForm(request.GET, user=request.user)
    # Newest records first, along the primary key: at city size an office's 150,000 records
    # sorted by any other column took 400 ms a page; its count and the rows by review state
    # come from participation_member_review alone. Filtered on the activity (its period,
    # community or type), the rows that match are found through that index and sorted: the
    # primary key walked from the newest end met a community's records only at its stretch of
    # ids (the demo's community: 1.4 million rows, 1.8 s).
    listed = form.narrow(reviewable_by(request.user))
    listed = listed.order_by(SortedPk().desc() if form.on_activity else "-pk")
    # All of the office's records: their count is the one the database keeps per agency and
    # activity. Counted from the records themselves, sanxia's 150,000 took 60–100 ms a page.
    count = None if form.narrowed else agency_records_count(scope_of(request.user).agency_ids)
    page = Paginator(listed, PAGE_SIZE, read=_page_rows, count=count).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    member = form.value("member")
    context = {
        "form": form,
        # The member whose records these are, named above the list (nobody's outside the
        # office's agencies: the list is then empty, and so is this).
        "member": (
            Member.objects.on_roster_of(request.user).filter(pk=member).first() if member else None
        ),
        "page": page,
        "states": Review.choices,
        "to_confirm": [p.pk for p in page.object_list if not p.is_locked],
        "max_bulk": MAX_BULK,
        **export_options(request),
    }
    return render(request, "reports/review_list.html", context)


def _ids(values) -> list[int]:
    ids = []
    for value in values[:MAX_BULK]:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if 0 < number < 2**63:
            ids.append(number)
    return ids


@login_required
@require_POST
def review_confirm(request):
    """Confirms the records ticked (`ids`), or every unconfirmed one of the page (`page_ids`
    with `all`): one UPDATE, limited to the office's own members' records."""
    _require_office(request.user)
    field = "page_ids" if request.POST.get("all") else "ids"
    ids = _ids(request.POST.getlist(field))
    back = reverse("reports:review")
    if not ids:
        messages.warning(request, _("Tick the records to confirm first."))
        return redirect_next(request, back)
    confirmed = participation_confirm(by=request.user, ids=ids)
    if confirmed:
        messages.success(
            request,
            ngettext("%(count)d record confirmed.", "%(count)d records confirmed.", confirmed)
            % {"count": confirmed},
        )
    if confirmed < len(set(ids)):
        messages.info(
            request,
            _("Records already confirmed, or not your agency's members', were left as they are."),
        )
    return redirect_next(request, back)


class DisputeForm(forms.Form):
    reason = forms.CharField(
        label=_("What is wrong with the record?"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def review_record(request, pk):
    """One record: what was recorded and by whom, the dispute and the community's answer, the
    history; confirm it, or dispute it (again) with a reason."""
    _require_office(request.user)
    record = get_object_or_404(
        reviewable_by(request.user)
        .select_related(
            "activity__community",
            "activity__type",
            "member__agency",
            "recorded_by",
            "reviewed_by",
        )
        .with_disputes(),
        pk=pk,
    )
    form = DisputeForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            dispute = participation_dispute(
                by=request.user, participation=record, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Disputed; the community is told and will answer."))
            if dispute.notified.unreached:
                messages.warning(request, dispute.notified.warning())
            return redirect_next(request, reverse("reports:review_record", args=[record.pk]))
    history = list(
        record.history.select_related("history_user").order_by("-history_date", "-history_id")[:20]
    )
    return render(
        request,
        "reports/review_record.html",
        {"record": record, "form": form, "history": history},
        status=400 if form.is_bound else 200,
    )
