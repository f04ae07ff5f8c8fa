"""Read-only history in admin, in Chinese: records whose changes go through a service
(agreements, report-ins, participations) are never reverted from their history."""

from django.contrib.admin.utils import display_for_field
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from ..history import NOTHING


class ReadableChanges(HistoricalRecordContextHelper):
    """The history's "changes" column as the change form shows values: labels of choices,
    local dates, a file's name, "—" for nothing."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if field.many_to_many:
            return super().prepare_delta_change_value(change, value)
        if isinstance(value, DeletedObject):
            # The library's stand-in for a related row it cannot load, an empty one included.
            if value.pk is None:
                return NOTHING
            return _("deleted %(kind)s (%(pk)s)") % {
                "kind": value.model._meta.verbose_name,
                "pk": value.pk,
            }
        return display_for_field(value, field, NOTHING, avoid_link=True)


class _ReadOnlyForm:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.disabled = True


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """History to read, never to revert, for records that change only through a service (the
    signing desk, report-in review, roll call), which checks the rules and says why.

    Reverting saves an old version straight back: it set a terminated agreement back to draft
    without its termination and scan, and reviving one beside the pair's active agreement broke
    a constraint (a 500). SIMPLE_HISTORY_REVERT_DISABLED takes the Revert button away, but the
    library still saves what is posted to a version's page; here nothing is."""

    object_history_list_template = "admin/history/list.html"
    object_history_form_template = "admin/history/version.html"

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # The library's version page builds its form here too: there, every field is disabled.
        version_page = f"{self.opts.app_label}_{self.opts.model_name}_simple_history"
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == version_page:
            return type(form.__name__, (_ReadOnlyForm, form), {})
        return form

    def get_historical_record_context_helper(self, request, historical_record):
        return ReadableChanges(self.model, historical_record)


# Badge colours by effective status; the CSS class lets people (and tests) tell them apart
# without reading the colour.
