"""Exports: one class per sheet, serving .xlsx and .csv from one definition (pretix's
ListExporter).

A sheet says its title, its columns (header and width) and its rows; `ListExporter` writes them
as an .xlsx (openpyxl's write-only mode: rows are streamed to the file, never all held as cells;
a title line with the time it was made, the headers frozen below it, columns as wide as their
content) or as a .csv (UTF-8 with a BOM, so that Excel opens it in Chinese). Cells that a
spreadsheet would run as a formula are neutralised. Mobiles are masked unless the export is
asked for with full numbers.

Each sheet is also built from a list's query string (`for_office`): the office, the list's
filters as given, the agency chosen (or all of the office's) and whether mobiles are full. That
is what lets the same export run in the request when it is small and in a Celery worker when it
is large (reports.jobs): a job keeps only the name of the exporter and the raw filters, and the
worker builds the sheet again in the office's scope of the time.
"""

import contextlib
import csv
import datetime as dt
import io
from dataclasses import dataclass
from urllib.parse import quote

from django.db import connections
from django.http import HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from communities.validators import mask_mobile
from members.filters import RosterFilterSet
from members.models import Member

from .models import ExportLog

XLSX = "xlsx"
CSV = "csv"
FORMATS = (XLSX, CSV)
CONTENT_TYPES = {
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv; charset=utf-8",
}
# What a spreadsheet would start a formula with (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
# A writer reports its progress (to a job's progress bar) every this many rows.
PROGRESS_EVERY = 2000


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # in characters of a Latin font; a Chinese character counts two


def streamed(queryset, chunk_size=CHUNK):
    """The rows of `queryset` from a server-side cursor, `chunk_size` at a time. PostgreSQL
    plans a cursor for its first rows (cursor_tuple_fraction 0.1): for a sorted year of records
    that walked every activity in the order of its start, five years of them, and took three
    times as long as the plan for all the rows (hash joins and a sort), which an export reads
    anyway. The setting is the connection's for the time of the read, then restored."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        yield from queryset.iterator(chunk_size=chunk_size)
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        yield from queryset.iterator(chunk_size=chunk_size)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def neutralised(value):
    """A text cell that would run as a formula, kept as text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def display_width(text: str) -> int:
    """How many Latin characters wide `text` shows: a Chinese character takes two."""
    return sum(2 if ord(char) > 0x2E7F else 1 for char in str(text))


class ListExporter:
    """One sheet. Subclasses give `identifier`, `title`, `columns()` and `rows()`."""

    identifier = "export"
    title = ""
    # The names of the list's filters (its form's or filter set's fields): the only parameters
    # a job keeps.
    filter_names: tuple[str, ...] = ()

    def __init__(self, *, full_mobiles: bool = False, now=None):
        self.full_mobiles = full_mobiles
        self.now = now or timezone.now()
        self.rows_written = 0
        self.extension = None  # the format `response` served, for the log
        # The filters as cleaned, for the log, and as given, for a job: set by `for_office`.
        self.filters_in_use = {}
        self.raw_filters = {}

    @classmethod
    def for_office(cls, *, user, data, agency_ids=None, full_mobiles=False, now=None):
        """The sheet of `user`'s list narrowed by `data` (a query string or a job's filters),
        of `agency_ids` among the user's agencies (None: all of them). Subclasses build it."""
        raise NotImplementedError

    @classmethod
    def raw(cls, data) -> dict:
        """The list's filters given in `data`, as text: an empty one too (an empty status is
        "everyone", where a missing one is the list's starting status)."""
        return {name: str(data.get(name))[:100] for name in cls.filter_names if name in data}

    def count(self) -> int:
        """How many rows `rows()` will give: whether the export runs in the request or in a
        worker, and a job's progress bar."""
        raise NotImplementedError

    def totals(self):
        """A last row summing the sheet (after `rows()` ran), or None."""
        return None

    def columns(self) -> list[Column]:
        raise NotImplementedError

    def rows(self):
        """Each row as a list of values, in the order of `columns()`."""
        raise NotImplementedError

    def mobile(self, mobile: str) -> str:
        return mobile if self.full_mobiles else mask_mobile(mobile)

    def made_at(self) -> str:
        return date_format(timezone.localtime(self.now), "DATETIME_FORMAT")

    def heading(self) -> str:
        return _("%(title)s · made %(time)s") % {"title": self.title, "time": self.made_at()}

    def filename(self, extension: str) -> str:
        stamp = timezone.localtime(self.now).strftime("%Y%m%d-%H%M")
        return f"{self.title}-{stamp}.{extension}"

    def _rows(self, progress=None):
        for row in self.rows():
            self.rows_written += 1
            if progress is not None and self.rows_written % PROGRESS_EVERY == 0:
                progress(self.rows_written)
            yield [neutralised(value) for value in row]

    def write(self, extension: str, output, progress=None) -> None:
        """Writes the sheet in `extension` to the binary file `output`, row by row; calls
        `progress(rows written)` every PROGRESS_EVERY rows."""
        self.extension = extension
        if extension == XLSX:
            self._write_xlsx(output, progress)
        else:
            self._write_csv(output, progress)

    def xlsx(self) -> bytes:
        output = io.BytesIO()
        self._write_xlsx(output)
        return output.getvalue()

    def csv(self) -> bytes:
        output = io.BytesIO()
        self._write_csv(output)
        return output.getvalue()

    def _write_xlsx(self, output, progress=None) -> None:
        columns = self.columns()
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(str(self.title)[:31])
        # Write-only: widths and the frozen panes are set before the first row is written.
        for index, column in enumerate(columns, start=1):
            width = max(column.width, display_width(column.header)) + 2
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A3"
        title = WriteOnlyCell(sheet, value=self.heading())
        title.font = Font(bold=True, size=13)
        sheet.append([title])
        headers = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=column.header)
            cell.font = Font(bold=True)
            headers.append(cell)
        sheet.append(headers)
        try:
            for row in self._rows(progress):
                sheet.append(row)
        except BaseException:
            # The sheet streams to a temporary file as it goes: finish it, so that a failed
            # export leaves no half-written writer behind for the garbage collector.
            with contextlib.suppress(Exception):
                sheet.close()
            raise
        totals = self.totals()
        if totals is not None:
            cells = []
            for value in totals:
                cell = WriteOnlyCell(sheet, value=value)
                cell.font = Font(bold=True)
                cells.append(cell)
            sheet.append(cells)
        workbook.save(output)

    def _write_csv(self, output, progress=None) -> None:
        output.write("\ufeff".encode())
        text = io.TextIOWrapper(output, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow([self.heading()])
        writer.writerow([column.header for column in self.columns()])
        writer.writerows(self._rows(progress))
        totals = self.totals()
        if totals is not None:
            writer.writerow(totals)
        text.flush()
        text.detach()  # the caller's file stays open

    def response(self, extension: str) -> HttpResponse:
        self.extension = extension
        content = self.xlsx() if extension == XLSX else self.csv()
        response = HttpResponse(content, content_type=CONTENT_TYPES[extension])
        response["Content-Disposition"] = (
            f'attachment; filename="{self.identifier}.{extension}"; '
            f"filename*=UTF-8''{quote(self.filename(extension))}"
        )
        return response

    def log(self, *, user, filters: dict, agency_id: int | None = None):
        """The export's line in the export log (issue 9, point 5): who, when, what, the filters
        the filter form cleaned (model choices by their id), how many rows were written and
        whether mobiles were full. Called once the file is built: an export that failed has
        no line, and each one that was served has exactly one."""
        return ExportLog.objects.create(
            user=user,
            agency_id=agency_id,
            made_at=self.now,
            what=self.identifier,
            format=self.extension,
            filters={name: getattr(value, "pk", value) for name, value in filters.items()},
            rows=self.rows_written,
            full_mobiles=self.full_mobiles,
        )


class RosterExporter(ListExporter):
    """An agency's roster (党员名册): the members of `members` (already scoped and filtered), by
    name."""

    identifier = "roster"
    title = gettext_lazy("Roster")
    filter_names = tuple(RosterFilterSet.base_filters)

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        self.members = members

    @classmethod
    def for_office(cls, *, user, data, agency_ids=None, **kwargs):
        members = Member.objects.on_roster_of(user)
        if agency_ids is not None:
            members = members.filter(agency__in=agency_ids)
        filters = RosterFilterSet(data, members)
        exporter = cls(filters.qs, **kwargs)
        exporter.filters_in_use = filters.in_use
        exporter.raw_filters = cls.raw(data)
        return exporter

    def count(self) -> int:
        return self.members.count()

    def columns(self):
        field = Member._meta.get_field
        return [
            Column(pgettext("roster", "Name"), field("name").max_length // 3),
            Column(pgettext("roster", "Mobile"), 11),
            Column(pgettext("roster", "Agency"), 24),
            Column(pgettext("roster", "Party member"), 4),
            Column(pgettext("roster", "Position"), 16),
            Column(pgettext("roster", "Party branch"), 20),
            Column(pgettext("roster", "Residence community"), 16),
            Column(pgettext("roster", "Skills"), 24),
            Column(pgettext("roster", "Status"), 10),
            Column(pgettext("roster", "Left on"), 10),
        ]

    def rows(self):
        yes, no = _("Yes"), _("No")
        rows = (
            self.members.select_related("agency", "residence_community")
            .order_by("name", "pk")
            .iterator(chunk_size=CHUNK)
        )
        for member in rows:
            yield [
                member.name,
                self.mobile(member.mobile),
                member.agency.name,
                yes if member.is_party_member else no,
                member.position,
                member.party_branch,
                member.residence_community.name if member.residence_community_id else "",
                member.skills,
                member.get_status_display(),
                member.left_on.isoformat() if member.left_on else "",
            ]


class RotaExporter(ListExporter):
    """A month of an agreement's duty rota (排班), a line a day: who is on duty, their mobiles
    (masked unless asked for in full) and whether the day is under quota. One query for the
    month."""

    identifier = "rota"
    title = gettext_lazy("Duty rota")

    def __init__(self, agreement, first, last, **kwargs):
        super().__init__(**kwargs)
        self.agreement, self.first, self.last = agreement, first, last

    def heading(self) -> str:
        return _("%(title)s · %(agency)s — %(community)s · %(month)s · made %(time)s") % {
            "title": self.title,
            "agency": self.agreement.agency.name,
            "community": self.agreement.community.name,
            "month": date_format(self.first, "YEAR_MONTH_FORMAT"),
            "time": self.made_at(),
        }

    def columns(self):
        return [
            Column(pgettext("rota", "Date"), 10),
            Column(pgettext("rota", "Weekday"), 6),
            Column(pgettext("rota", "On duty"), 24),
            Column(pgettext("rota", "Mobile"), 24),
            Column(pgettext("rota", "On duty / quota"), 8),
        ]

    def rows(self):
        by_day = {}
        assignments = (
            self.agreement.duty_assignments.filter(date__gte=self.first, date__lte=self.last)
            .select_related("member")
            .order_by("date", "member__name", "pk")
        )
        for assignment in assignments:
            by_day.setdefault(assignment.date, []).append(assignment.member)
        quota = self.agreement.daily_quota
        day = self.first
        while day <= self.last:
            members = by_day.get(day, [])
            yield [
                day,
                date_format(day, "D"),
                "、".join(member.name for member in members),
                "、".join(self.mobile(member.mobile) for member in members),
                f"{len(members)}/{quota}",
            ]
            day += dt.timedelta(days=1)
