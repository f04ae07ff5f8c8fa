"""Importing a roster from a spreadsheet (.xlsx): reading it, checking every row, the template.

openpyxl reads the cells; each row is then checked by `MemberRowForm`, the same rules as adding
one member by hand. A file is imported whole or not at all: `check_rows` reports every bad cell
by row, column and reason, and only a file without any goes on to the preview and
`members_import`.
"""

import io
import zipfile
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from communities.models import Community

from .forms import DUPLICATE_IN_FILE, MemberRowForm
from .models import Member

# The template's columns, in order: the form field and its header. A file's columns are found
# by their headers (Chinese or English), in any order; the name and the mobile are required.
COLUMNS = [
    ("name", pgettext_lazy("roster", "Name"), 12),
    ("mobile", pgettext_lazy("roster", "Mobile"), 14),
    ("is_party_member", pgettext_lazy("roster", "Party member (是/否)"), 14),
    ("position", pgettext_lazy("roster", "Position"), 16),
    ("party_branch", pgettext_lazy("roster", "Party branch"), 20),
    ("residence_community", pgettext_lazy("roster", "Residence community"), 18),
    ("skills", pgettext_lazy("roster", "Skills"), 24),
]
REQUIRED = ("name", "mobile")
# Columns read from a row: a few more than the template's, for columns moved about; anything
# further right is not read at all (a sheet can claim 16,384 columns).
MAX_COLUMNS = 30
# Blank rows allowed among the members (rows someone formatted read as blank ones).
MAX_BLANK_ROWS = 1000
XLSX_SIGNATURE = b"PK\x03\x04"
# What a workbook may unpack to: a roster of ROSTER_IMPORT_MAX_ROWS rows unpacks to a few
# megabytes; a "zip bomb" of a few hundred kilobytes to gigabytes, which openpyxl would read
# into memory (its shared strings are read whole).
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class CellError:
    row: int  # the spreadsheet's row number, as Excel shows it
    column: str  # "B · 手机号", or "—" for the row as a whole
    message: str


@dataclass
class CheckedFile:
    rows: list  # [(row number, {field: text})], as read
    errors: list[CellError] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)  # unsaved; only when no errors

    @property
    def valid(self) -> bool:
        return not self.errors


def _headers(name, label) -> set[str]:
    """What a column may be headed: its label in Chinese or English, or its field name."""
    names = {name}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            names.add(str(label).strip())
    return names


def _text(value) -> str:
    """A cell's value as a form reads it: numbers without a stray ".0" (a mobile typed into a
    number cell), dates as ISO, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _not_xlsx():
    return ValidationError(
        _(
            "This is not an Excel workbook (.xlsx) that can be read. Save it as .xlsx and try "
            "again, or start from the template."
        ),
        code="not_xlsx",
    )


def read_rows(upload) -> list[tuple[int, dict]]:
    """The data rows of the first sheet of `upload` as [(row number, {field: text})], blank rows
    left out. Raises ValidationError, never anything else, for a file that is too big, not an
    .xlsx, corrupt, without the required columns or with too many rows."""
    max_bytes, max_rows = settings.ROSTER_IMPORT_MAX_BYTES, settings.ROSTER_IMPORT_MAX_ROWS
    if upload.size > max_bytes:
        raise ValidationError(
            _("The file is %(size)s; the limit is %(limit)s.")
            % {"size": filesizeformat(upload.size), "limit": filesizeformat(max_bytes)},
            code="too_large",
        )
    upload.seek(0)
    if not upload.name.lower().endswith(".xlsx") or upload.read(4) != XLSX_SIGNATURE:
        raise _not_xlsx()
    upload.seek(0)
    content = io.BytesIO(upload.read())
    try:
        # The sizes the archive declares: zipfile reads no more than them.
        unpacked = sum(info.file_size for info in zipfile.ZipFile(content).infolist())
    except Exception as exc:  # not a zip at all
        raise _not_xlsx() from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise ValidationError(
            _("The workbook unpacks to %(size)s; the limit is %(limit)s.")
            % {"size": filesizeformat(unpacked), "limit": filesizeformat(MAX_UNPACKED_BYTES)},
            code="too_large",
        )
    content.seek(0)
    try:
        workbook = load_workbook(content, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise _not_xlsx() from exc
    try:
        return _rows_of(workbook, max_rows)
    except ValidationError:
        raise
    except Exception as exc:  # a damaged sheet can fail only while it is read
        raise _not_xlsx() from exc
    finally:
        workbook.close()


def _too_many(max_rows):
    return ValidationError(
        _("The file has more than %(max)s members; import at most %(max)s at a time.")
        % {"max": max_rows},
        code="too_many_rows",
    )


def _rows_of(workbook, max_rows) -> list[tuple[int, dict]]:
    if not workbook.worksheets:
        raise _not_xlsx()
    cells = workbook.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True)
    header = [_text(value) for value in next(cells, ())]
    positions = {}
    for name, label, _width in COLUMNS:
        accepted = _headers(name, label)
        for index, text in enumerate(header):
            if text in accepted:
                positions[name] = index
                break
    missing = [
        str(label) for name, label, _width in COLUMNS if name in REQUIRED and name not in positions
    ]
    if missing:
        raise ValidationError(
            _(
                "The first row must hold the column headers; %(columns)s is missing. Start from "
                "the template."
            )
            % {"columns": "、".join(missing)},
            code="no_header",
        )
    rows = []
    for number, values in enumerate(cells, start=2):
        if number > max_rows + 1 + MAX_BLANK_ROWS:
            # Blank rows are skipped, not counted: this bounds a sheet of a million of them.
            raise _too_many(max_rows)
        data = {
            name: _text(values[index]) if index < len(values) else ""
            for name, index in positions.items()
        }
        if not any(data.values()):
            continue
        if len(rows) == max_rows:
            raise _too_many(max_rows)
        rows.append((number, data))
    if not rows:
        raise ValidationError(_("The file holds no members below its headers."), code="empty")
    return rows


def _column(name) -> str:
    for index, (field_name, label, _width) in enumerate(COLUMNS):
        if field_name == name:
            return f"{get_column_letter(index + 1)} · {label}"
    return "—"


def check_rows(agency, rows) -> CheckedFile:
    """Checks every row for `agency`'s roster: each cell by the member form's rules, and each
    mobile against the agency's roster and the rows above it. A constant number of queries."""
    mobiles = {data.get("mobile", "") for _number, data in rows}
    taken = set(
        Member.objects.filter(agency=agency, mobile__in=mobiles).values_list("mobile", flat=True)
    )
    communities = dict(Community.objects.values_list("name", "pk"))
    checked = CheckedFile(rows=rows)
    first_row_of = {}
    for number, data in rows:
        form = MemberRowForm(data, agency=agency, taken=taken, communities=communities)
        valid = form.is_valid()
        for name, errors in form.errors.as_data().items():
            column = _column(name) if name != "__all__" else "—"
            for error in errors:
                for message in error.messages:
                    checked.errors.append(CellError(number, column, message))
        mobile = form.cleaned_data.get("mobile")
        if mobile:
            if mobile in first_row_of:
                checked.errors.append(
                    CellError(
                        number,
                        _column("mobile"),
                        str(DUPLICATE_IN_FILE) % {"row": first_row_of[mobile]},
                    )
                )
            else:
                first_row_of[mobile] = number
        if valid:
            checked.members.append(form.instance)
    if checked.errors:
        checked.members = []
    return checked


def template_workbook() -> bytes:
    """The template to fill in: the headers, and a sheet of notes (no example row, which would
    be imported if left in)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Members")
    sheet.append([str(label) for _name, label, _width in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, (_name, _label, width) in enumerate(COLUMNS, start=1):
        column = sheet.column_dimensions[get_column_letter(index)]
        column.width = width
        # Text columns (the style of the whole column, no cells made), so that Excel keeps
        # every digit of a mobile as typed.
        column.number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet(_("Notes"))
    for line in [
        _("One member a row, below the headers. Name and mobile are required."),
        _("Mobile: 11 digits; each mobile only once, and not one already on the roster."),
        _("Party member: 是 or 否 (empty means 是)."),
        _("Residence community: its full name as Xiachen shows it, or empty."),
        _("At most %(max)s members a file; nothing is imported until every row is right.")
        % {"max": settings.ROSTER_IMPORT_MAX_ROWS},
    ]:
        notes.append([line])
    notes.column_dimensions["A"].width = 90
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
