"""The signing desk: agreements signed, terminated and followed in admin."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..forms import AgreementAdminForm, AgreementSignForm, AgreementTerminateForm
from ..models import Agreement
from ..services import agreement_sign, agreement_terminate
from .autocomplete import AutocompleteFilter, AutocompleteFilterMedia
from .history import ReadOnlyHistoryAdmin


class EffectiveStatusFilter(admin.SimpleListFilter):
    """Status as it is today: a signed agreement is not yet in force before its start, and
    shows as expired past its end at once, before the nightly task stores it."""

    title = _("status")
    parameter_name = "effective_status"

    def lookups(self, request, model_admin):
        return Agreement.EffectiveStatus.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value not in Agreement.EffectiveStatus.values:
            return queryset
        # A subquery, because instances cannot carry the annotation (it shares its name with
        # the model's effective_status property).
        matching = (
            Agreement.objects.with_effective_status().filter(effective_status=value).values("pk")
        )
        return queryset.filter(pk__in=matching)


class TermFilter(admin.SimpleListFilter):
    title = _("term")
    parameter_name = "term"

    def lookups(self, request, model_admin):
        return [
            ("current", _("In force today")),
            ("upcoming", _("Starts later")),
            ("ended", _("Ended")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        match self.value():
            case "current":
                return queryset.in_force(today)
            case "upcoming":
                return queryset.filter(starts_on__gt=today)
            case "ended":
                return queryset.filter(ends_on__lt=today)
        return queryset


def status_badge_html(agreement):
    """The status as a coloured badge; its colours are in static/css/admin.css (no style
    attribute: the Content Security Policy refuses those)."""
    status = Agreement.EffectiveStatus(agreement.effective_status)
    return format_html(
        '<span class="agreement-status agreement-status-{}">{}</span>', status.value, status.label
    )


@admin.register(Agreement)
class AgreementAdmin(AutocompleteFilterMedia, ReadOnlyHistoryAdmin):
    form = AgreementAdminForm

    class Media:
        css = {"all": ["css/admin.css"]}

    list_display = [
        "number",
        "agency",
        "community",
        "street",
        "term",
        "status_badge",
        "daily_quota",
        "signed_on",
    ]
    list_filter = [
        EffectiveStatusFilter,
        TermFilter,
        "community__street",
        ("agency", AutocompleteFilter),
    ]
    list_select_related = ["agency", "community__street"]
    search_fields = ["number", "agency__name", "agency__short_name", "community__name"]
    autocomplete_fields = ["agency", "community"]
    date_hierarchy = "starts_on"
    actions = ["sign_selected"]
    view_on_site = False  # its absolute URL is this admin page

    # Fixed once signed: the terms both sides put their names to.
    SIGNED_TERMS = ("number", "agency", "community", "starts_on", "ends_on", "daily_quota")
    # Written only by the services in communities/services.py.
    RECORD = (
        "status_badge",
        "signed_on",
        "signed_by",
        "signed_at",
        "terminated_on",
        "termination_reason",
        "terminated_by",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        # Its name shows both parties, in autocomplete results (activities) too. The changelist
        # keeps this and skips list_select_related, so it covers the street column as well.
        return super().get_queryset(request).select_related("agency", "community__street")

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "number",
                        ("agency", "community"),
                        ("starts_on", "ends_on"),
                        "daily_quota",
                    ]
                },
            ),
            (
                _("Commitments and contacts"),
                {
                    "fields": [
                        "commitments",
                        ("agency_contact", "agency_contact_phone"),
                        ("community_contact", "community_contact_phone"),
                    ]
                },
            ),
            (_("Signed copy"), {"fields": ["scan"]}),
        ]
        if obj is not None:
            fieldsets.append(
                (_("Signing"), {"fields": ["status_badge", "signed_on", "signed_by", "signed_at"]})
            )
            if obj.status == Agreement.Status.TERMINATED:
                fieldsets.append(
                    (
                        _("Termination"),
                        {"fields": ["terminated_on", "termination_reason", "terminated_by"]},
                    )
                )
            fieldsets.append((_("Record"), {"fields": ["created_at", "updated_at"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Agreement.Status.DRAFT:
            return [*self.SIGNED_TERMS, *self.RECORD]
        return list(self.RECORD)

    def get_actions(self, request):
        # Signed agreements are records; a draft is deleted from its own page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != Agreement.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("street"), ordering="community__street__name")
    def street(self, obj):
        return obj.community.street

    @admin.display(description=_("term"), ordering="starts_on")
    def term(self, obj):
        return "{} – {}".format(
            formats.date_format(obj.starts_on, "SHORT_DATE_FORMAT"),
            formats.date_format(obj.ends_on, "SHORT_DATE_FORMAT"),
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return status_badge_html(obj)

    @admin.action(description=_("Sign selected drafts (signed today)"), permissions=["change"])
    def sign_selected(self, request, queryset):
        signed = 0
        for agreement in queryset.order_by("number"):
            try:
                agreement_sign(agreement=agreement, by=request.user)
            except ValidationError as exc:
                messages.error(
                    request,
                    _("%(number)s was not signed: %(reason)s")
                    % {"number": agreement.number, "reason": " ".join(exc.messages)},
                )
            else:
                signed += 1
        if signed:
            messages.success(
                request,
                ngettext("Signed %(count)d agreement.", "Signed %(count)d agreements.", signed)
                % {"count": signed},
            )

    # The signing desk: two small pages beside the change form.

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        desk = [
            path(
                "<path:object_id>/sign/",
                self.admin_site.admin_view(self.sign_view),
                name="{}_{}_sign".format(*info),
            ),
            path(
                "<path:object_id>/terminate/",
                self.admin_site.admin_view(self.terminate_view),
                name="{}_{}_terminate".format(*info),
            ),
        ]
        return desk + super().get_urls()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            if obj.status == Agreement.Status.DRAFT:
                context["sign_url"] = reverse("admin:communities_agreement_sign", args=[obj.pk])
            if obj.can_be_terminated:
                context["terminate_url"] = reverse(
                    "admin:communities_agreement_terminate", args=[obj.pk]
                )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _agreement_to_change(self, request, object_id):
        agreement = self.get_object(request, unquote(object_id))
        if agreement is None:
            raise Http404
        if not self.has_change_permission(request, agreement):
            raise PermissionDenied
        return agreement

    def _change_url(self, agreement):
        return reverse("admin:communities_agreement_change", args=[agreement.pk])

    def _render_desk(self, request, agreement, form, *, title, intro, submit):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": agreement,
            "status_badge": status_badge_html(agreement),
            "title": title,
            "intro": intro,
            "submit": submit,
            "form": form,
            "media": self.media + form.media,
            "change_url": self._change_url(agreement),
            "has_view_permission": self.has_view_permission(request, agreement),
        }
        return TemplateResponse(request, "admin/communities/agreement/desk_form.html", context)

    def sign_view(self, request, object_id):
        agreement = self._agreement_to_change(request, object_id)
        if agreement.status != Agreement.Status.DRAFT:
            messages.error(request, _("Only a draft can be signed."))
            return redirect(self._change_url(agreement))
        form = AgreementSignForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                agreement_sign(
                    agreement=agreement, by=request.user, signed_on=form.cleaned_data["signed_on"]
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _("Agreement %(number)s is signed and now active.")
                    % {"number": agreement.number},
                )
                return redirect(self._change_url(agreement))
        return self._render_desk(
            request,
            agreement,
            form,
            title=_("Sign agreement %(number)s") % {"number": agreement.number},
            intro=_(
                "Signing makes this agreement the active one between the agency and the "
                "community. Its number, parties, term and quota can no longer be changed."
            ),
            submit=_("Sign"),
        )

    def terminate_view(self, request, object_id):
        agreement = self._agreement_to_change(request, object_id)
        if not agreement.can_be_terminated:
            messages.error(request, _("Only an active agreement can be terminated."))
            return redirect(self._change_url(agreement))
        form = AgreementTerminateForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                agreement_terminate(
                    agreement=agreement,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    on=form.cleaned_data["terminated_on"],
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _("Agreement %(number)s is terminated.") % {"number": agreement.number},
                )
                return redirect(self._change_url(agreement))
        return self._render_desk(
            request,
            agreement,
            form,
            title=_("Terminate agreement %(number)s") % {"number": agreement.number},
            intro=_(
                "Terminating ends this agreement before its term. The reason is kept on its "
                "record. This cannot be undone."
            ),
            submit=_("Terminate"),
        )
