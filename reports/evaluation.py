"""The annual evaluation's pages (年度评价).

- `evaluation_list`: a community's staff rate the members reported in to them for a year, a page
  at a time, each member's evidence beside their rating (one save for the page).
- `evaluation_member`: one member's evidence, rating, its history and objections.
- `objection_answer`: the staff answer a member's objection, keeping or changing the rating.
- `agency_evaluations`: the agency office's members' ratings from every community.
- `evaluations_mine` / `objection_raise`: a member's own ratings, and an objection to one.
- `summary_member` / `summary_agency`: the printable half-year summary of a member (双报告) and
  the yearly summary of an agency.

Every page starts from a scoped QuerySet: a member not reported in to the viewer's community, a
rating or objection they may not see is a 404; a role that has no such page is a 403.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from communities.history import timelines
from communities.models import Agency, Community
from communities.pagination import Paginator
from communities.permissions import (
    any_of,
    can_see_agency_evaluations,
    evaluation_community_ids,
    own,
    scope_of,
)
from members.models import Member, PersonalDataView, member_of
from members.privacy import personal_data_page

from . import services
from .evidence import NO_EVIDENCE, Period, agency_totals, evidence_of, evidence_shown
from .models import Evaluation, EvaluationObjection
from .svg import escape as _text

PAGE_SIZE = 20
Rating = Evaluation.Rating


def _year(request, default=None) -> int:
    """The year asked for (`?year=`), else `default` (this year); a bad one falls back."""
    today = timezone.localdate()
    try:
        return services.check_year(request.GET.get("year"), today)
    except ValidationError:
        return default or today.year


def _years() -> list[int]:
    this_year = timezone.localdate().year
    return [this_year, this_year - 1, this_year - 2]


def _errors(exc: ValidationError) -> list[str]:
    return [str(message) for message in exc.messages]


# --- The community rates -------------------------------------------------------------------


def _communities(request) -> tuple[Community, list[Community]]:
    """The community whose members the viewer rates — `?community=` among theirs, else the
    first of theirs by name — and all of theirs. 403 for anyone who rates nobody; 404 for a
    community not theirs."""
    community_ids = evaluation_community_ids(request.user)
    if not community_ids:
        raise PermissionDenied
    communities = list(Community.objects.filter(pk__in=community_ids).order_by("name", "pk"))
    wanted = request.POST.get("community") or request.GET.get("community")
    if not wanted:
        return communities[0], communities
    for community in communities:
        if str(community.pk) == str(wanted).strip():
            return community, communities
    raise Http404


def _community(request) -> Community:
    return _communities(request)[0]


def _with_rating(members, community, year):
    """`members` with their rating by `community` for `year` (rating, comment), in the rows'
    own query."""
    # Unordered: one row at most, and the model's ordering joined four tables to sort it.
    rated = Evaluation.objects.filter(
        community=community, year=year, member=OuterRef("pk")
    ).order_by()
    return members.annotate(
        rating=Subquery(rated.values("rating")[:1]),
        comment=Subquery(rated.values("comment")[:1]),
    )


def _totals(community, year) -> dict:
    totals = Evaluation.objects.filter(community=community, year=year).aggregate(
        rated=Count("pk"), excellent=Count("pk", filter=Q(rating=Rating.EXCELLENT))
    )
    totals["allowed"] = services.excellent_allowed(totals["rated"])
    totals["share"] = services.share_label()
    return totals


# The ratings' buttons, each with its Bootstrap colour.
RATING_STYLES = {Rating.EXCELLENT: "success", Rating.UNQUALIFIED: "danger", Rating.BASIC: "warning"}
RATING_BUTTONS = [
    (value, label, RATING_STYLES.get(value, "primary")) for value, label in Rating.choices
]


def _member_url_maker():
    """A function giving a member's evaluation page from one reversed path: the URL resolver is
    asked once a page, not once a row."""
    head, tail = reverse("reports:evaluation_member", args=[1]).rsplit("1", 1)
    return lambda pk: f"{head}{pk}{tail}"


def _posted_ratings(post) -> tuple[dict, dict]:
    """The ratings of a page's form: `member` ids, each with `rating-<id>` (blank: left as
    it is) and `comment-<id>`. Returns (ratings, everything posted, to show again)."""
    ratings, posted = {}, {}
    for value in post.getlist("member")[: services.MAX_BULK + 1]:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            continue
        if not 0 < pk < 2**63:
            continue
        rating = post.get(f"rating-{pk}", "")
        comment = post.get(f"comment-{pk}", "")
        posted[pk] = (rating, comment)
        if rating:
            ratings[pk] = (rating, comment)
    return ratings, posted


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@personal_data_page(PersonalDataView.Page.EVALUATIONS)
def evaluation_list(request):
    """The members reported in to the community, by name, a page at a time: each one's
    evidence for the year and their rating, all saved at once."""
    community, communities = _communities(request)
    year = _year(request)
    errors, posted = [], {}
    if request.method == "POST":
        year = _posted_year(request)
        ratings, posted = _posted_ratings(request.POST)
        try:
            # The year as posted: a bad one is refused, never taken for another year.
            saved = services.evaluations_save(
                by=request.user,
                community=community,
                year=request.POST.get("year"),
                ratings=ratings,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            if saved.count:
                messages.success(
                    request,
                    ngettext("%(count)d rating saved.", "%(count)d ratings saved.", saved.count)
                    % {"count": saved.count},
                )
            else:
                messages.info(request, _("Nothing has changed."))
            return redirect(_list_url(community, year, request.POST.get("page")))
    # NUL is no character of a name, and PostgreSQL refuses it in a query.
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:50]
    members = services.rateable_members(community)
    # Without a search, the list is every member rated here: counted on the report-ins alone.
    count = None
    if query:
        members = members.matching(query)
    else:
        count = services.rateable_count(community)
    members = _with_rating(members.select_related("agency").order_by("name", "pk"), community, year)
    page = Paginator(members, PAGE_SIZE, count=count).get_page(
        request.POST.get("page") or request.GET.get("page")
    )
    rows = list(page.object_list)
    evidence = evidence_of([m.pk for m in rows], Period.year(year), community)
    # What each row's template would otherwise work out again for every row: the member's
    # page (reversed once), the rating shown (as posted, else as saved) and its buttons.
    member_url = _member_url_maker()
    shown = {}  # evidence → its figures' text: the many members without any share one
    for member in rows:
        member.evidence = evidence.get(member.pk, NO_EVIDENCE)
        if member.evidence not in shown:
            shown[member.evidence] = evidence_shown(member.evidence)
        member.figures = shown[member.evidence]
        member.posted = posted.get(member.pk)
        chosen, member.shown_comment = member.posted or (member.rating, member.comment)
        # The id as text: a number is localized each time a template writes it (15 a row).
        member.key = key = str(member.pk)
        member.url = member_url(key)
        member.buttons = [
            (f"r{key}-{value}", value, label, style, value == chosen)
            for value, label, style in RATING_BUTTONS
        ]
        member.rating_label = _("Rating of %(name)s") % {"name": member.name}
        member.comment_label = _("Comment on %(name)s") % {"name": member.name}
    rows_html = _rows_html(rows, community_key=str(community.pk), year_key=str(year))
    open_objections = list(
        EvaluationObjection.objects.open()
        .filter(evaluation__community=community)
        .select_related("evaluation__member")
        .order_by("raised_at", "pk")[:10]
    )
    context = {
        "community": community,
        "communities": communities,
        "year": year,
        "years": _years(),
        "extra": f"&community={community.pk}",
        "query": query,
        "page": page,
        "rows": rows,
        "rows_html": rows_html,
        "community_key": str(community.pk),
        "year_key": str(year),
        "totals": _totals(community, year),
        "errors": errors,
        "open_objections": open_objections,
    }
    return render(request, "reports/evaluation_list.html", context, status=400 if errors else 200)


def _rows_html(rows, *, community_key: str, year_key: str):
    """The members' rows, written here: their figures, buttons and labels are prepared above,
    and through the template's tags each of the 20 rows still cost about 0.25 ms. The words
    the rows share are translated once; every value is escaped."""
    words = {
        name: _text(gettext(text))
        for name, text in (
            ("participations", "Participations"),
            ("rate", "Attendance rate"),
            ("duty-hours", "Duty"),
            ("volunteer-hours", "Volunteer"),
            ("concerns", "Concerns"),
            ("coverage", "Door-to-door"),
        )
    }
    placeholder = _text(gettext("Comment (optional)"))
    figure_keys = [
        ("participations", "participations"),
        ("rate", "rate"),
        ("duty-hours", "duty_hours"),
        ("volunteer-hours", "volunteer_hours"),
        ("concerns", "concerns"),
        ("coverage", "coverage"),
    ]
    query = f"?community={_text(community_key)}&year={_text(year_key)}"
    items = []
    for m in rows:
        key = _text(m.key)
        agency = m.agency.short_name or m.agency.name
        evidence = "\n".join(
            f'<span>{words[name]} <b class="text-body" data-figure="{name}">'
            f"{_text(m.figures[figure])}</b></span>"
            for name, figure in figure_keys
        )
        buttons = "\n".join(
            f'<input type="radio" class="btn-check" name="rating-{key}" id="{_text(id_)}"'
            f' value="{_text(value)}" autocomplete="off"{" checked" if checked else ""}>\n'
            f'<label class="btn btn-sm btn-outline-{_text(style)} px-1" for="{_text(id_)}">'
            f"{_text(label)}</label>"
            for id_, value, label, style, checked in m.buttons
        )
        items.append(
            f'<li class="list-group-item" data-testid="member" data-pk="{key}"'
            f' data-rating="{_text(m.rating or "")}">\n'
            f'<input type="hidden" name="member" value="{key}">\n'
            '<div class="d-flex flex-wrap justify-content-between gap-1">\n'
            f'<a class="fw-semibold" href="{_text(m.url)}{query}">{_text(m.name)}</a>\n'
            f'<span class="small text-body-secondary text-break">{_text(agency)}</span>\n'
            "</div>\n"
            '<div class="small text-body-secondary d-flex flex-wrap column-gap-2"'
            f' data-testid="evidence">\n{evidence}\n</div>\n'
            f'<div class="btn-group w-100 mt-2" role="radiogroup"'
            f' aria-label="{_text(m.rating_label)}">\n{buttons}\n</div>\n'
            f'<input type="text" class="form-control form-control-sm mt-2" name="comment-{key}"'
            f' value="{_text(m.shown_comment or "")}" maxlength="300"'
            f' placeholder="{placeholder}" aria-label="{_text(m.comment_label)}">\n'
            "</li>"
        )
    return mark_safe("\n".join(items))


def _posted_year(request) -> int:
    try:
        return services.check_year(request.POST.get("year"))
    except ValidationError:
        return timezone.localdate().year


def _list_url(community, year, page=None) -> str:
    url = reverse("reports:evaluations") + f"?community={community.pk}&year={year}"
    if page and str(page).isdigit():
        url += f"&page={page}"
    return url


class EvaluationForm(forms.Form):
    rating = forms.ChoiceField(label=_("Rating"), choices=Rating.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=services.COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _history(evaluation) -> list:
    if evaluation is None:
        return []
    versions = list(
        evaluation.history.select_related("history_user").order_by("-history_date", "-history_id")[
            :20
        ]
    )
    for version in versions:
        user = version.history_user
        version.who = (user.get_full_name() or user.get_username()) if user else "—"
        version.reason = services.HistoryReason.label(version.history_change_reason)
    return versions


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def evaluation_member(request, pk):
    """One member's evidence for the year, their rating by the community (saved alone), its
    history and the objections to it."""
    community = _community(request)
    member = get_object_or_404(services.rateable_members(community).select_related("agency"), pk=pk)
    year = _posted_year(request) if request.method == "POST" else _year(request)
    evaluation = (
        Evaluation.objects.filter(community=community, year=year, member=member)
        .select_related("rated_by")
        .first()
    )
    initial = {"rating": evaluation.rating, "comment": evaluation.comment} if evaluation else {}
    form = EvaluationForm(request.POST or None, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            services.evaluations_save(
                by=request.user,
                community=community,
                year=request.POST.get("year"),
                ratings={member.pk: (form.cleaned_data["rating"], form.cleaned_data["comment"])},
            )
        except ValidationError as exc:
            for message in _errors(exc):
                form.add_error(None, message)
        else:
            messages.success(request, _("Rating saved."))
            return redirect(
                reverse("reports:evaluation_member", args=[member.pk])
                + f"?community={community.pk}&year={year}"
            )
    objections = (
        list(
            evaluation.objections.select_related("raised_by", "answered_by").order_by(
                "-raised_at", "-pk"
            )
        )
        if evaluation
        else []
    )
    return render(
        request,
        "reports/evaluation_member.html",
        {
            "community": community,
            "member": member,
            "year": year,
            "years": _years(),
            "extra": f"&community={community.pk}",
            "evaluation": evaluation,
            "evidence": evidence_of([member.pk], Period.year(year), community).get(
                member.pk, NO_EVIDENCE
            ),
            "form": form,
            "history": _history(evaluation),
            "objections": objections,
            "totals": _totals(community, year),
        },
        status=400 if form.is_bound else 200,
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Answer"),
        max_length=services.REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    rating = forms.ChoiceField(
        label=_("Rating after the answer"), choices=Rating.choices, widget=forms.RadioSelect
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def objection_answer(request, pk):
    """A member's objection to the community's rating: the staff answer it, keeping the rating
    or changing it."""
    community_ids = evaluation_community_ids(request.user)
    if not community_ids:
        raise PermissionDenied
    objection = get_object_or_404(
        EvaluationObjection.objects.filter(evaluation__community__in=community_ids).select_related(
            "evaluation__member__agency", "evaluation__community", "raised_by", "answered_by"
        ),
        pk=pk,
    )
    evaluation = objection.evaluation
    form = AnswerForm(request.POST or None, initial={"rating": evaluation.rating})
    if form.is_bound and form.is_valid():
        try:
            answered = services.objection_answer(
                by=request.user,
                objection=objection,
                answer=form.cleaned_data["answer"],
                rating=form.cleaned_data["rating"],
            )
        except ValidationError as exc:
            for message in _errors(exc):
                form.add_error(None, message)
        else:
            messages.success(request, _("Answered; the member is told."))
            if answered.notified.unreached:
                messages.warning(request, answered.notified.warning())
            return redirect("reports:objection_answer", pk=objection.pk)
    return render(
        request,
        "reports/objection_answer.html",
        {
            "objection": objection,
            "objection_list": [objection],
            "evaluation": evaluation,
            "form": form,
            "evidence": evidence_of(
                [evaluation.member_id], Period.year(evaluation.year), evaluation.community
            ).get(evaluation.member_id, NO_EVIDENCE),
            "history": _history(evaluation),
        },
        status=400 if form.is_bound else 200,
    )


# --- The agency office ---------------------------------------------------------------------


def _office_agency_ids(user) -> frozenset:
    if not can_see_agency_evaluations(user):
        raise PermissionDenied
    return scope_of(user).agency_ids


@login_required
@require_http_methods(["GET", "HEAD"])
def agency_evaluations(request):
    """The office's members' ratings for a year from every community, by member, with the
    count of each rating; `?rating=` narrows the list."""
    agency_ids = _office_agency_ids(request.user)
    year = _year(request)
    ratings = Evaluation.objects.visible_to(request.user).filter(
        year=year, member__in=Member.objects.filter(agency__in=agency_ids).values("pk")
    )
    counts = dict(
        ratings.order_by().values_list("rating").annotate(n=Count("pk")).values_list("rating", "n")
    )
    wanted = request.GET.get("rating")
    listed = ratings.filter(rating=wanted) if wanted in Rating.values else ratings
    open_objection = EvaluationObjection.objects.open().filter(evaluation=OuterRef("pk"))
    page = Paginator(
        listed.select_related("member", "community", "rated_by")
        .annotate(objection_open=Subquery(open_objection.values("pk")[:1]))
        .order_by("member__name", "member_id", "community__name", "pk"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/evaluation_agency.html",
        {
            "year": year,
            "years": _years(),
            "page": page,
            "counts": [(value, label, counts.get(value, 0)) for value, label in Rating.choices],
            "rating": wanted if wanted in Rating.values else "",
        },
    )


# --- The member ----------------------------------------------------------------------------


class ObjectionForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you object?"),
        max_length=services.REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def evaluations_mine(request):
    """The member's own ratings, every year and community, with their objections."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    evaluations = list(
        Evaluation.objects.filter(member=member)
        .select_related("community")
        .order_by("-year", "community__name", "pk")
    )
    objections = {}
    for objection in EvaluationObjection.objects.filter(
        evaluation__in=[e.pk for e in evaluations]
    ).order_by("-raised_at", "-pk"):
        objections.setdefault(objection.evaluation_id, []).append(objection)
    # Each rating's history (who rated or changed it, when and why) from one query.
    history = timelines(
        Evaluation,
        Evaluation.history.filter(id__in=[e.pk for e in evaluations]).select_related(
            "history_user"
        ),
        ["rating", "comment"],
        label=services.HistoryReason.label,
    )
    for evaluation in evaluations:
        evaluation.entries = history.get(evaluation.pk, [])
        evaluation.objection_list = objections.get(evaluation.pk, [])
        evaluation.can_object = not any(o.answered_at is None for o in evaluation.objection_list)
    return render(
        request,
        "reports/evaluations_mine.html",
        {"member": member, "evaluations": evaluations, "form": ObjectionForm()},
    )


@login_required
@require_POST
def objection_raise(request, pk):
    """The member objects to one of their ratings; someone else's rating is a 404."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    evaluation = get_object_or_404(Evaluation.objects.filter(member=member), pk=pk)
    form = ObjectionForm(request.POST)
    if form.is_valid():
        try:
            objection = services.objection_raise(
                by=request.user, evaluation=evaluation, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            for message in _errors(exc):
                messages.error(request, message)
        else:
            messages.success(request, _("Objection sent; the community's staff will answer."))
            if objection.notified.unreached:
                messages.warning(request, objection.notified.warning())
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    return redirect("reports:evaluations_mine")


# --- Summaries -----------------------------------------------------------------------------


def _half(request) -> int:
    return 2 if request.GET.get("half") == "2" else 1


@login_required
@require_http_methods(["GET", "HEAD"])
def summary_member(request, pk):
    """A member's half-year summary (the 双报告 material): participations, hours, concerns and
    the year's ratings. For their agency's office and themselves."""
    scope = scope_of(request.user)
    members = Member.objects.all()
    if not scope.city:
        members = members.filter(any_of(agency__in=scope.agency_ids, **own(scope, member="")))
    member = get_object_or_404(members.select_related("agency"), pk=pk)
    year, half = _year(request), _half(request)
    period = Period.half(year, half)
    return render(
        request,
        "reports/summary_member.html",
        {
            "member": member,
            "year": year,
            "half": half,
            "years": _years(),
            "period": period,
            "evidence": evidence_of([member.pk], period).get(member.pk, NO_EVIDENCE),
            "evaluations": list(
                Evaluation.objects.filter(member=member, year=year)
                .select_related("community")
                .order_by("community__name")
            ),
            "printed_at": timezone.now(),
        },
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def summary_agency(request):
    """An agency's yearly summary: its members' totals and the ratings they received, by
    community. For the agency's office."""
    agency_ids = _office_agency_ids(request.user)
    agencies = Agency.objects.filter(pk__in=agency_ids).order_by("name")
    wanted = request.GET.get("agency")
    agency = None
    if wanted and wanted.isdigit() and len(wanted) < 19:
        agency = agencies.filter(pk=int(wanted)).first()
    agency = agency or agencies.first()
    year = _year(request)
    period = Period.year(year)
    members = Member.objects.filter(agency=agency)
    by_community = {}
    for row in (
        Evaluation.objects.filter(year=year, member__in=members.values("pk"))
        .order_by()
        .values("community", "community__name", "rating")
        .annotate(n=Count("pk"))
    ):
        counts = by_community.setdefault(
            row["community"], {"name": row["community__name"], "counts": {}, "total": 0}
        )
        counts["counts"][row["rating"]] = row["n"]
        counts["total"] += row["n"]
    communities = sorted(by_community.values(), key=lambda c: c["name"])
    for community in communities:
        community["cells"] = [community["counts"].get(value, 0) for value in Rating.values]
    totals = [sum(c["counts"].get(value, 0) for c in communities) for value in Rating.values]
    objections = EvaluationObjection.objects.filter(
        evaluation__year=year, evaluation__member__in=members.values("pk")
    ).aggregate(raised=Count("pk"), open=Count("pk", filter=Q(answered_at__isnull=True)))
    return render(
        request,
        "reports/summary_agency.html",
        {
            "agency": agency,
            "agencies": list(agencies),
            "year": year,
            "years": _years(),
            "period": period,
            "members": members.filter(status=Member.Status.ACTIVE).count(),
            "evidence": agency_totals(agency, period),
            "communities": communities,
            "rating_labels": Rating.labels,
            "totals": totals,
            "rated": sum(totals),
            "objections": objections,
            "printed_at": timezone.now(),
        },
    )
