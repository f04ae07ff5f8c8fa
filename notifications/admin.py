from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from communities.admin import CitySizeList
from communities.validators import mask_mobile

from .models import Notification, NotificationPreference
from .services import notification_retry


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "inapp", "email", "webhook", "sms"]
    list_filter = ["inapp", "email", "webhook", "sms"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]


@admin.register(Notification)
class NotificationAdmin(CitySizeList, admin.ModelAdmin):
    """The outbox, to read: rows are written by the reminder code, never by hand."""

    list_display = [
        "subject",
        "kind",
        "channel",
        "state",
        "recipient_shown",
        "created_at",
        "due_at",
        "sent_at",
        "attempts",
        "failure",
        "sms_parts",
    ]
    list_filter = [
        "state",
        "kind",
        "channel",
        "failure",
        # Not date_hierarchy: its links of years read the date of every row to list them.
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["recipient"]
    # Newest first (the model's order), read backwards along notification_newest.
    ordering = ["-created_at", "-pk"]
    search_fields = [
        "subject",
        "recipient__username",
        "recipient_name",
    ]
    actions = ["send_again"]
    fieldsets = [
        (None, {"fields": ["subject", "body", "url", ("kind", "channel", "state")]}),
        (
            _("Recipient"),
            {
                "fields": [
                    "recipient",
                    "recipient_name",
                    "recipient_mobile_shown",
                    "recipient_key",
                    "address",
                    ("robot_owner", "robot_kind"),
                ]
            },
        ),
        (_("About"), {"fields": [("content_type", "object_id"), "slot", ("community", "agency")]}),
        (
            _("Delivery"),
            {
                "fields": [
                    ("created_at", "due_at"),
                    ("enqueued_at", "claimed_at", "claimed_by"),
                    ("sent_at", "read_at"),
                    ("attempts", "sms_parts"),
                    ("failure", "last_error"),
                    "unreachable_reason",
                ]
            },
        ),
    ]
    readonly_fields = [
        field
        for _title, options in fieldsets
        for entry in options["fields"]
        for field in (entry if isinstance(entry, tuple) else (entry,))
    ]

    def has_add_permission(self, request):
        return False

    # Masked like every list (communities.permissions.sees_full_mobiles): the outbox is read to
    # see what was sent, not to call anyone.
    @admin.display(description=_("recipient mobile"))
    def recipient_mobile_shown(self, obj):
        return mask_mobile(obj.recipient_mobile)

    @admin.display(description=_("recipient"), ordering="recipient_key")
    def recipient_shown(self, obj):
        if obj.recipient_name:
            return obj.recipient_name
        return obj.recipient.get_username() if obj.recipient else "—"

    @admin.action(description=_("Send failed messages again"), permissions=["change"])
    def send_again(self, request, queryset):
        queued = skipped = 0
        for notification in queryset.order_by("pk"):
            try:
                notification_retry(notification=notification)
            except ValidationError:
                skipped += 1
            else:
                queued += 1
        if queued:
            messages.success(
                request,
                ngettext(
                    "%(count)d message is queued to be sent again.",
                    "%(count)d messages are queued to be sent again.",
                    queued,
                )
                % {"count": queued},
            )
        if skipped:
            messages.warning(
                request,
                ngettext(
                    "%(count)d message was left alone: only failed messages are sent again.",
                    "%(count)d messages were left alone: only failed messages are sent again.",
                    skipped,
                )
                % {"count": skipped},
            )
