from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

# The first bytes of each accepted kind of file: what the file is, whatever its name says.
SCAN_SIGNATURES = {
    b"%PDF-": "pdf",
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
}


def sniff_scan_kind(head: bytes) -> str | None:
    for signature, kind in SCAN_SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return None


def validate_scan(upload):
    """A signed agreement scan must be a PDF, PNG or JPEG by content, within the size limit."""
    if getattr(upload, "_committed", False):
        return  # already stored and checked when it was uploaded
    limit = settings.AGREEMENT_SCAN_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("The file is %(size)s; the limit is %(limit)s."),
            code="scan_too_large",
            params={"size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
        )
    position = upload.tell() if hasattr(upload, "tell") else 0
    upload.seek(0)
    head = upload.read(16)
    upload.seek(position)
    if sniff_scan_kind(head) is None:
        raise ValidationError(
            _("Only a PDF, JPEG or PNG scan can be uploaded; this file is something else."),
            code="scan_wrong_type",
        )


mobile_validator = RegexValidator(
    r"^1[3-9]\d{9}$", _("Enter an 11-digit mainland mobile number, e.g. 13812345678.")
)


def mask_mobile(mobile: str) -> str:
    """138****5678: lists and exports show this unless the viewer needs the number."""
    if len(mobile) == 11:
        return f"{mobile[:3]}****{mobile[-4:]}"
    return "****" if mobile else ""


# A date typed into a page falls in these years; anything else is a typo (and would overflow
# when moved by a day or a week).
FIRST_YEAR, LAST_YEAR = 2000, 2099


def validate_year(value):
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(
            _("Choose a date between %(first)s and %(last)s."),
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
