from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from communities.admin import (
    AutocompleteFilter,
    AutocompleteFilterMedia,
    CitySizeList,
    ReadOnlyHistoryAdmin,
)

from .models import Member, PersonalDataView, PrivacyAcceptance, Registration


class RegistrationInline(admin.TabularInline):
    model = Registration
    extra = 0
    fields = ["community", "kind", "status", "grid", "applied_on", "ended_on"]
    autocomplete_fields = ["community", "grid"]
    show_change_link = True


@admin.register(Member)
class MemberAdmin(CitySizeList, AutocompleteFilterMedia, admin.ModelAdmin):
    list_display = ["name", "agency", "masked_mobile", "is_party_member", "position", "status"]
    list_filter = [("agency", AutocompleteFilter), "status", "is_party_member"]
    list_select_related = ["agency"]
    # Newest first, along the primary key: the model's order (agency name, then name) sorts
    # 60,000 members joined to their agencies on every page.
    ordering = ["-pk"]
    search_fields = ["name", "mobile", "agency__name", "agency__short_name"]
    autocomplete_fields = ["agency", "residence_community", "user"]
    inlines = [RegistrationInline]

    # Lists show the masked number (PIPL); the full one is on the member's own page.
    @admin.display(description=_("mobile"), ordering="mobile")
    def masked_mobile(self, obj):
        return obj.masked_mobile


@admin.register(Registration)
class RegistrationAdmin(CitySizeList, AutocompleteFilterMedia, ReadOnlyHistoryAdmin):
    list_display = [
        "member",
        "member_agency",
        "community",
        "kind",
        "status",
        "grid",
        "applied_on",
    ]
    list_filter = [
        "status",
        "kind",
        # Not date_hierarchy: its links of years read the date of every row to list them.
        ("applied_on", admin.DateFieldListFilter),
        "community__street",
        ("community", AutocompleteFilter),
    ]
    list_select_related = ["member__agency", "community", "grid__community"]
    ordering = ["-pk"]  # newest first, along the primary key
    search_fields = ["member__name", "community__name", "member__agency__name"]
    autocomplete_fields = ["member", "community", "grid", "reviewer"]
    view_on_site = False  # its absolute URL is this admin page

    @admin.display(description=_("agency"), ordering="member__agency__name")
    def member_agency(self, obj):
        return obj.member.agency


class ReadOnlyLogAdmin(admin.ModelAdmin):
    """A log to read: written by the pages alone (members.privacy), never by hand."""

    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PersonalDataView)
class PersonalDataViewAdmin(ReadOnlyLogAdmin):
    list_display = ["day", "user", "page", "views", "first_at", "last_at"]
    list_filter = ["page", ("day", admin.DateFieldListFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    ordering = ["-day", "-last_at"]  # newest first, along personaldataview_newest


@admin.register(PrivacyAcceptance)
class PrivacyAcceptanceAdmin(ReadOnlyLogAdmin):
    list_display = ["user", "version", "accepted_at"]
    list_filter = ["version"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    ordering = ["-accepted_at"]
