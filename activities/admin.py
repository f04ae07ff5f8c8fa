from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from communities.admin import (
    AutocompleteFilter,
    AutocompleteFilterMedia,
    CitySizeList,
    ReadOnlyHistoryAdmin,
)
from notifications.notify import Notified

from .forms.activity import ActivityCancelForm
from .models import (
    Activity,
    ActivityType,
    Concern,
    Dispute,
    DutyAssignment,
    Participation,
    WorkUpdate,
)
from .services import activity_cancel, activity_notify_changed, is_news


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "default_nature", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["default_nature", "is_active"]
    search_fields = ["name", "code"]


# What a confirmed record keeps: attendance changes after the office's confirmation are
# backfills (补录) with a reason, on the community's page (services.review).
ATTENDANCE_FIELDS = [
    "status",
    "hours",
    "checked_in_at",
    "checked_out_at",
    "leave_reason",
    "leave_decision",
]


class ParticipationAdminForm(forms.ModelForm):
    """Refuses a change to the attendance of a record the agency office has confirmed."""

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        if instance.pk and instance.is_locked:
            if set(self.changed_data) & set(ATTENDANCE_FIELDS):
                raise ValidationError(Participation.LOCKED)
        return cleaned


class ParticipationInline(admin.TabularInline):
    model = Participation
    form = ParticipationAdminForm
    extra = 0
    fields = ["member", "status", "hours", "source", "review"]
    # Reviewed by the agency office on its page (reports.review), never here.
    readonly_fields = ["review"]
    autocomplete_fields = ["member"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")


@admin.register(Activity)
class ActivityAdmin(CitySizeList, AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["title", "community", "type", "starts_at", "nature", "current_status"]
    list_filter = [
        "status",
        "nature",
        # Not date_hierarchy: its links of years read the date of every row to list them.
        ("starts_at", admin.DateFieldListFilter),
        "type",
        "community__street",
        ("community", AutocompleteFilter),
    ]
    list_select_related = ["community", "type"]
    # Latest first, read backwards along activities_activity_admin_sort (starts_at, id).
    ordering = ["-starts_at", "-pk"]
    search_fields = ["title", "place", "community__name"]
    autocomplete_fields = ["community", "grid", "type", "organizer", "agreement"]
    inlines = [ParticipationInline]
    actions = ["cancel_selected"]

    def get_readonly_fields(self, request, obj=None):
        # Cancelling tells everyone signed up, so it goes through the "cancel" action only.
        if obj is not None and obj.status == Activity.Status.CANCELLED:
            return ["status", "cancel_reason"]
        return ["cancel_reason"]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            kwargs["choices"] = [
                (value, label)
                for value, label in Activity.Status.choices
                if value != Activity.Status.CANCELLED
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    # What the clock says (a recruiting activity that has ended is finished), not what is stored.
    @admin.display(description=_("status"), ordering="status")
    def current_status(self, obj):
        return obj.get_current_status_display()

    def save_related(self, request, form, formsets, change):
        # After the inline participations are saved too, so that someone put on leave in the
        # same save is not told about the change.
        super().save_related(request, form, formsets, change)
        if change and is_news(form.instance, form.changed_data):
            notified = activity_notify_changed(activity=form.instance)
            if notified.queued:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d message about the change is queued.",
                        "%(count)d messages about the change are queued.",
                        notified.queued,
                    )
                    % {"count": notified.queued},
                )
            if notified.unreached:
                messages.warning(request, notified.warning())

    @admin.action(description=_("Cancel selected activities"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        """Asks for the reason on a small page, then cancels each activity and tells those
        signed up; an activity that cannot be cancelled is reported and skipped."""
        form = ActivityCancelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            cancelled, notified = 0, Notified()
            for activity in queryset.select_related("community").order_by("starts_at", "pk"):
                try:
                    notified += activity_cancel(
                        activity=activity, reason=form.cleaned_data["reason"]
                    ).notified
                except ValidationError as exc:
                    messages.error(
                        request,
                        _("%(activity)s was not cancelled: %(reason)s")
                        % {"activity": activity, "reason": " ".join(exc.messages)},
                    )
                else:
                    cancelled += 1
            if cancelled and notified.unreached:
                messages.success(
                    request,
                    ngettext(
                        "Cancelled %(count)d activity.",
                        "Cancelled %(count)d activities.",
                        cancelled,
                    )
                    % {"count": cancelled},
                )
                messages.warning(request, notified.warning())
            elif cancelled:
                messages.success(
                    request,
                    ngettext(
                        "Cancelled %(count)d activity; those signed up are told.",
                        "Cancelled %(count)d activities; those signed up are told.",
                        cancelled,
                    )
                    % {"count": cancelled},
                )
            return None  # back to the list
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Cancel activities"),
            "activities": queryset.select_related("community").order_by("starts_at", "pk"),
            "form": form,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/activities/activity/cancel_selected.html", context)


class DisputeInline(admin.TabularInline):
    """The office's disputes and the community's answers, to read: they are written on their
    pages (reports.review, activities.views.review)."""

    model = Dispute
    extra = 0
    fields = [
        "reason",
        "raised_by",
        "raised_at",
        "answer",
        "corrected",
        "answered_by",
        "answered_at",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Participation)
class ParticipationAdmin(CitySizeList, AutocompleteFilterMedia, ReadOnlyHistoryAdmin):
    list_display = [
        "activity",
        "member",
        "member_agency",
        "status",
        "hours",
        "source",
        "review",
    ]
    list_filter = [
        "status",
        "source",
        "review",
        ("member__agency", AutocompleteFilter),
        ("activity__community", AutocompleteFilter),
    ]
    list_select_related = ["activity", "member__agency"]
    search_fields = ["member__name", "activity__title"]
    # Newest records first, along the primary key: the model's order (by activity, then
    # member) sorts 1.5 million rows joined to their activities and members on every page.
    ordering = ["-pk"]
    autocomplete_fields = [
        "activity",
        "member",
        "leave_decided_by",
        "recorded_by",
    ]

    form = ParticipationAdminForm
    # Reviewed by the agency office (reports.review) and answered by the community: the
    # services keep who and when.
    readonly_fields = ["review", "reviewed_by", "reviewed_at"]
    inlines = [DisputeInline]

    @admin.display(description=_("agency"), ordering="member__agency__name")
    def member_agency(self, obj):
        return obj.member.agency


@admin.register(WorkUpdate)
class WorkUpdateAdmin(AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["summary", "community", "activity", "author", "created_at"]
    list_filter = ["community__street", ("community", AutocompleteFilter)]
    list_select_related = ["community", "activity", "author"]
    ordering = ["-pk"]  # newest first, along the primary key
    search_fields = ["body", "community__name", "activity__title"]
    autocomplete_fields = ["community", "activity", "author"]
    date_hierarchy = "created_at"

    @admin.display(description=_("text"))
    def summary(self, obj):
        return Truncator(obj.body).chars(60)


@admin.register(Concern)
class ConcernAdmin(AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["title", "community", "grid", "state", "reported_by", "handler", "created_at"]
    list_filter = ["state", "community__street", ("community", AutocompleteFilter)]
    ordering = ["-pk"]  # newest first, along the primary key
    list_select_related = ["community", "grid__community", "reported_by", "handler"]
    search_fields = ["title", "description", "location", "community__name"]
    autocomplete_fields = ["community", "grid", "activity", "reported_by", "handler"]
    date_hierarchy = "created_at"


@admin.register(DutyAssignment)
class DutyAssignmentAdmin(AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["date", "member", "agency", "community", "note"]
    list_filter = [
        ("agreement__community", AutocompleteFilter),
        ("agreement__agency", AutocompleteFilter),
    ]
    # Latest days first, along dutyassignment_date; the model's order joins the agreements.
    ordering = ["-date", "-pk"]
    list_select_related = ["member", "agreement__agency", "agreement__community"]
    search_fields = ["member__name", "agreement__number", "agreement__community__name"]
    autocomplete_fields = ["member", "agreement"]
    date_hierarchy = "date"

    @admin.display(description=_("agency"), ordering="agreement__agency__name")
    def agency(self, obj):
        return obj.agreement.agency

    @admin.display(description=_("community"), ordering="agreement__community__name")
    def community(self, obj):
        return obj.agreement.community
