from django.contrib import admin

from .models import ExportLog


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    """Read-only for the city administrator: a log is written by exports alone."""

    list_display = ["made_at", "what", "format", "user", "agency", "rows", "full_mobiles"]
    list_filter = ["what", "format", "full_mobiles"]
    list_select_related = ["user", "agency"]
    ordering = ["-pk"]  # newest first, along the primary key
    fields = list_display[:5] + ["filters", "rows", "full_mobiles"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
