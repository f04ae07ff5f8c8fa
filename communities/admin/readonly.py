from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows to read, never to add, change or delete by hand: logs and registers that the pages'
    services write alone (the export log, ratings, certificates, the privacy logs)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
