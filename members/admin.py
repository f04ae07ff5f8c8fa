from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from communities.admin import (
    AutocompleteFilter,
    AutocompleteFilterMedia,
    CitySizeList,
    ReadOnlyAdmin,
    ReadOnlyHistoryAdmin,
)

from . import two_factor
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
    # A member's page is the agency office's roster page (403 to a city administrator).
    view_on_site = False
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


class ReadOnlyLogAdmin(ReadOnlyAdmin):
    """A log to read: written by the pages alone (members.privacy), never by hand."""

    list_select_related = ["user"]


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


# --- Second factors (issue 11) ---------------------------------------------------------------

# Devices are reset from the login's row, never edited: django-otp's own device pages would show
# a secret (the authenticator's QR code) to whoever opens them.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)

User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin, with the second factor's state and its reset."""

    list_display = [*auth_admin.UserAdmin.list_display, "second_factor"]
    actions = ["reset_second_factor"]

    def get_queryset(self, request):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_second_factor=Exists(enrolled))

    @admin.display(description=_("second factor"), boolean=True, ordering="has_second_factor")
    def second_factor(self, obj):
        return obj.has_second_factor

    @admin.action(
        description=_("Reset the second factor (they set it up again at their next sign-in)"),
        permissions=["change"],
    )
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            two_factor.second_factor_reset(user=user, by=request.user)
            self.log_change(request, user, [{"changed": {"fields": ["second factor reset"]}}])
        self.message_user(
            request,
            ngettext(
                "The second factor of %(count)d login was reset.",
                "The second factor of %(count)d logins was reset.",
                queryset.count(),
            )
            % {"count": queryset.count()},
            messages.SUCCESS,
        )
