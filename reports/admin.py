from django.contrib import admin

from communities.admin import ReadOnlyAdmin

from .models import Certificate, Evaluation, EvaluationObjection, ExportLog


@admin.register(ExportLog)
class ExportLogAdmin(ReadOnlyAdmin):
    """Read-only for the city administrator: a log is written by exports alone."""

    list_display = ["made_at", "what", "format", "user", "agency", "rows", "full_mobiles"]
    list_filter = ["what", "format", "full_mobiles"]
    list_select_related = ["user", "agency"]
    ordering = ["-pk"]  # newest first, along the primary key
    fields = list_display[:5] + ["filters", "rows", "full_mobiles"]
    readonly_fields = fields
    # Its page is the agency offices' export log (403 to a city administrator).
    view_on_site = False


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    """Read-only: ratings are the communities' word, written by their pages
    (reports.services); the admin shows them with their history."""

    list_display = ["year", "member", "community", "rating", "rated_by", "rated_at"]
    list_filter = ["year", "rating"]
    list_select_related = ["member", "community", "rated_by"]
    search_fields = ["member__name", "community__name"]
    ordering = ["-pk"]
    fields = list_display[:4] + ["comment", "rated_by", "rated_at"]
    readonly_fields = fields
    # Its page is the rating community's (403 to a city administrator).
    view_on_site = False


@admin.register(EvaluationObjection)
class EvaluationObjectionAdmin(ReadOnlyAdmin):
    """Read-only: objections are raised by members and answered by the community's staff."""

    list_display = ["evaluation", "raised_by", "raised_at", "answered_by", "answered_at"]
    list_select_related = [
        "evaluation__member",
        "evaluation__community",
        "raised_by",
        "answered_by",
    ]
    ordering = ["-pk"]
    # Its page is the answering community's (403 to a city administrator).
    view_on_site = False
    fields = [
        "evaluation",
        "reason",
        "raised_by",
        "raised_at",
        "rating_before",
        "answer",
        "rating_after",
        "answered_by",
        "answered_at",
    ]
    readonly_fields = fields


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """The register of service-hour certificates, read-only: it is the log of every issue,
    written by reports.certificates.issue alone."""

    list_display = ["number", "holder_name", "first_day", "last_day", "issuer_name", "issued_at"]
    list_filter = ["issuer_kind"]
    list_select_related = ["member", "issued_by"]
    search_fields = ["number", "holder_name", "issuer_name"]
    ordering = ["-pk"]
    # Its PDF is served to the holder and their office only (404 to a city administrator).
    view_on_site = False
    fields = [
        "number",
        "member",
        "holder_name",
        "holder_agency",
        "first_day",
        "last_day",
        "duty_hours",
        "voluntary_hours",
        "activities",
        "issuer_kind",
        "agency",
        "community",
        "issuer_name",
        "responsible",
        "contact",
        "issued_at",
        "issued_by",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # The activities it lists (hundreds each) are the PDF's, not the register's page.
        return super().get_queryset(request).defer("lines")
