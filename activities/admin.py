from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import Activity, ActivityType, Concern, Participation, WorkUpdate


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "default_nature", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["default_nature", "is_active"]
    search_fields = ["name", "code"]


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    fields = ["member", "status", "hours", "source", "review"]
    autocomplete_fields = ["member"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["title", "community", "type", "starts_at", "nature", "current_status"]
    list_filter = ["status", "nature", "type", "community__street", "community"]
    list_select_related = ["community", "type"]
    search_fields = ["title", "place", "community__name"]
    autocomplete_fields = ["community", "grid", "type", "organizer", "agreement"]
    date_hierarchy = "starts_at"
    inlines = [ParticipationInline]

    # What the clock says (a recruiting activity that has ended is finished), not what is stored.
    @admin.display(description=_("status"), ordering="status")
    def current_status(self, obj):
        return obj.get_current_status_display()


@admin.register(Participation)
class ParticipationAdmin(SimpleHistoryAdmin):
    list_display = [
        "activity",
        "member",
        "member_agency",
        "status",
        "hours",
        "source",
        "review",
    ]
    list_filter = ["status", "source", "review", "member__agency", "activity__community"]
    list_select_related = ["activity__community", "member__agency"]
    search_fields = ["member__name", "activity__title"]
    autocomplete_fields = [
        "activity",
        "member",
        "leave_decided_by",
        "recorded_by",
        "reviewed_by",
    ]

    @admin.display(description=_("agency"), ordering="member__agency__name")
    def member_agency(self, obj):
        return obj.member.agency


@admin.register(WorkUpdate)
class WorkUpdateAdmin(admin.ModelAdmin):
    list_display = ["summary", "community", "activity", "author", "created_at"]
    list_filter = ["community__street", "community"]
    list_select_related = ["community", "activity", "author"]
    search_fields = ["body", "community__name", "activity__title"]
    autocomplete_fields = ["community", "activity", "author"]
    date_hierarchy = "created_at"

    @admin.display(description=_("text"))
    def summary(self, obj):
        return Truncator(obj.body).chars(60)


@admin.register(Concern)
class ConcernAdmin(admin.ModelAdmin):
    list_display = ["title", "community", "grid", "state", "reported_by", "handler", "created_at"]
    list_filter = ["state", "community__street", "community"]
    list_select_related = ["community", "grid__community", "reported_by", "handler"]
    search_fields = ["title", "description", "location", "community__name"]
    autocomplete_fields = ["community", "grid", "activity", "reported_by", "handler"]
    date_hierarchy = "created_at"
