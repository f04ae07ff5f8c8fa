"""Admin of the places of the city, the agencies and the staff roles."""

from django.contrib import admin
from django.db import models
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from ..models import Agency, Community, Compound, Grid, StaffRole, Street
from .autocomplete import AutocompleteFilter, AutocompleteFilterMedia


@admin.register(Street)
class StreetAdmin(admin.ModelAdmin):
    list_display = ["name", "community_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(community_count=Count("communities"))

    @admin.display(description=_("communities"), ordering="community_count")
    def community_count(self, obj):
        return obj.community_count


class CompoundInline(admin.TabularInline):
    model = Compound
    extra = 0


class GridInline(admin.TabularInline):
    model = Grid
    extra = 0


# URLs typed without a scheme are taken as https (Django 6's default, without its warning).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}

ROBOT_FIELDSET = (
    _("Group robot"),
    {
        "fields": ["robot_webhook_url", "robot_kind"],
        "description": _(
            "Reminders to people who chose the group robot are posted to this group chat."
        ),
    },
)


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = ["name", "street", "address", "phone", "has_robot"]
    list_filter = ["street"]
    list_select_related = ["street"]
    search_fields = ["name", "street__name"]
    inlines = [CompoundInline, GridInline]
    fieldsets = [(None, {"fields": ["street", "name", "address", "phone"]}), ROBOT_FIELDSET]
    formfield_overrides = URL_FIELDS

    @admin.display(description=_("group robot"), boolean=True)
    def has_robot(self, obj):
        return bool(obj.robot_webhook_url)


@admin.register(Grid)
class GridAdmin(AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["name", "community", "area"]
    list_filter = ["community__street", ("community", AutocompleteFilter)]
    list_select_related = ["community"]
    search_fields = ["name", "community__name"]
    autocomplete_fields = ["community"]

    def get_queryset(self, request):
        # A grid's name includes its community's, in autocomplete results too.
        return super().get_queryset(request).select_related("community")


@admin.register(Compound)
class CompoundAdmin(AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["name", "community"]
    list_filter = ["community__street", ("community", AutocompleteFilter)]
    list_select_related = ["community"]
    search_fields = ["name", "community__name"]
    autocomplete_fields = ["community"]


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "kind", "is_active", "has_robot"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "short_name"]
    fieldsets = [
        (None, {"fields": ["name", "short_name", "kind", "address", "is_active"]}),
        ROBOT_FIELDSET,
    ]
    formfield_overrides = URL_FIELDS

    @admin.display(description=_("group robot"), boolean=True)
    def has_robot(self, obj):
        return bool(obj.robot_webhook_url)


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "place"]
    list_filter = ["kind"]
    list_select_related = ["user", "street", "community", "agency"]
    search_fields = [
        "user__username",
        "user__first_name",
        "user__last_name",
        "street__name",
        "community__name",
        "agency__name",
    ]
    autocomplete_fields = ["user", "street", "community", "agency", "grids"]

    @admin.display(description=_("place"))
    def place(self, obj):
        return obj.street or obj.community or obj.agency or "—"
