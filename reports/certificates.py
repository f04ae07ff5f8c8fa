"""Service-hour certificates (志愿服务证明, issue 12 point 4): a member, or the agency office for a
member of its roster, issues one for a period; it is numbered from the register
(`Certificate`, the log of every issue), its figures frozen at issue by DESIGN.md's definitions
(the two ledgers of 我的记录, reports.me.period_ledgers): each activity served is a line of the
certificate, kept in the register with it, and the figures are their sums. It is written as a
PDF (reportlab's platypus: the list runs over as many pages as it takes) in reportlab's
built-in CID font STSong-Light, so Chinese renders with no font file. "谁记录谁证明": the PDF
names the issuer and the person responsible, and a public page (no sign-in, rate-limited) tells
anyone whether a number is genuine, showing the number and the holder's masked name only (issue
12): numbers run in order, so anything more would be read off the register by a guesser.

A member reaches their own certificates only, an office those of its roster's members: any
other id is a 404.
"""

import datetime as dt
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from activities.figures import format_number
from activities.models import Activity, Participation
from communities.dates import local_midnight
from communities.filters import DateInput
from communities.permissions import can_keep_roster
from communities.throttle import Door, too_often
from communities.validators import FIRST_YEAR, LAST_YEAR
from members.models import Member, Registration, member_of

from .me import in_period
from .models import Certificate, CertificateCounter

NUMBER_PREFIX = "XC"
# Lookups on the public page, per address, in a window: numbers run in order, so a guesser
# would otherwise read the register's masked names one after another.
VERIFY_DOOR = Door("certificate-verify", 30, 15 * 60)
LIST_LIMIT = 20


def masked_name(name: str) -> str:
    """李建华 → 李*华, 王五 → 王*, 欧阳小明 → 欧**明: the first and last characters only."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def next_number(year: int) -> str:
    """The year's next number, "XC-2026-000123": the year's counter row is locked while it is
    raised (SELECT … FOR UPDATE on PostgreSQL; SQLite's writes are serial), so numbers issued at
    once are distinct and follow each other. Called inside the issuing transaction: a failed
    issue gives its number back."""
    CertificateCounter.objects.get_or_create(year=year)
    counter = CertificateCounter.objects.select_for_update().get(year=year)
    counter.last = F("last") + 1
    counter.save(update_fields=["last"])
    counter.refresh_from_db(fields=["last"])
    return f"{NUMBER_PREFIX}-{year}-{counter.last:06d}"


def period_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return local_midnight(first), local_midnight(last + dt.timedelta(days=1))


def service_lines(member: Member, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The activities `member` served in [start, end), one line each in the order they
    started: the ledger's present rows (figures.attendance_columns: hours of present) of the
    period's activities (me.in_period), in one query whatever their number. A row recorded
    present without hours counts 0 hours, as the ledger's sum does."""
    rows = (
        in_period(Participation.objects.filter(member=member), start, end)
        .filter(status=Participation.Status.PRESENT)
        .order_by("activity__starts_at", "activity_id", "pk")
        .values_list(
            "activity__starts_at",
            "activity__title",
            "activity__community__name",
            "activity__nature",
            "hours",
        )
    )
    return [
        {
            "day": timezone.localtime(starts_at).date().isoformat(),
            "title": title,
            "community": community,
            "nature": nature,
            "hours": str((hours or Decimal(0)).quantize(Decimal("0.1"))),
        }
        for starts_at, title, community, nature, hours in rows
    ]


def _hours_of(lines: list[dict], nature: str | None = None) -> Decimal:
    return sum(
        (Decimal(line["hours"]) for line in lines if nature in (None, line["nature"])),
        Decimal("0.0"),
    )


def issue(*, member: Member, first: dt.date, last: dt.date, issuer, contact: str, by, now=None):
    """Writes the certificate of `member`'s service from `first` to `last` (activities counted
    on the day they start, as in 我的记录) and returns it; `issuer` is an Agency or a
    Community, the person responsible the issuing login's name. Its figures are the sums of
    its lines (the activities served, kept with it), so that the total is their sum and a
    later correction of the ledger changes neither."""
    start, end = period_bounds(first, last)
    lines = service_lines(member, start, end)
    responsible = by.get_full_name() or getattr(member_of(by), "name", "") or by.get_username()
    is_community = issuer._meta.model_name == "community"
    now = now or timezone.now()
    with transaction.atomic():
        return Certificate.objects.create(
            number=next_number(timezone.localtime(now).year),
            member=member,
            holder_name=member.name,
            holder_agency=member.agency.name,
            first_day=first,
            last_day=last,
            duty_hours=_hours_of(lines, Activity.Nature.DUTY),
            voluntary_hours=_hours_of(lines, Activity.Nature.VOLUNTEER),
            activities=len(lines),
            lines=lines,
            issuer_kind=Certificate.IssuerKind.COMMUNITY
            if is_community
            else Certificate.IssuerKind.AGENCY,
            agency=None if is_community else issuer,
            community=issuer if is_community else None,
            issuer_name=issuer.name,
            responsible=responsible[:100],
            contact=contact,
            issued_at=now,
            issued_by=by,
        )


def verify_url() -> str:
    return settings.SITE_URL + reverse("reports:certificate_verify")


# --- The PDF ---------------------------------------------------------------------------------

FONT = "STSong-Light"


def _font():
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


VERIFY_NOTE = "本证明依据下沉社区（Xiachen）记录出具，谁记录谁证明。真伪可凭证明编号查验："
NATURE_LABELS = {Activity.Nature.DUTY: "下沉任务", Activity.Nature.VOLUNTEER: "志愿服务"}
# The list's columns (millimetres): date, activity, community, ledger, hours; 160 mm in all.
LINE_COLUMNS = (24, 62, 40, 18, 16)


def _styles(font: str) -> dict:
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    def style(name, size, leading, **more):
        # CJK: Chinese has no spaces, so a line may break between any two characters.
        return ParagraphStyle(
            name, fontName=font, fontSize=size, leading=leading, wordWrap="CJK", **more
        )

    return {
        "title": style("title", 24, 30, alignment=TA_CENTER, spaceAfter=14 * 2),
        "body": style("body", 14, 24, firstLineIndent=28, spaceAfter=12),
        "field": style("field", 12, 20),
        "heading": style("heading", 12, 20, spaceBefore=14, spaceAfter=6),
        "cell": style("cell", 9.5, 12),
        "hours": style("hours", 9.5, 12, alignment=TA_RIGHT),
    }


def _lines_table(certificate: Certificate, styles: dict):
    """The activities served as a table over as many pages as it takes, its header row
    repeated at the top of each, and the total (their sum, the certificate's hours) last."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Table, TableStyle

    cell, right = styles["cell"], styles["hours"]
    header = ["日期", "服务活动", "社区", "类别", "小时"]
    rows = [[Paragraph(text, right if n == 4 else cell) for n, text in enumerate(header)]]
    for line in certificate.lines:
        day = dt.date.fromisoformat(line["day"])
        rows.append(
            [
                f"{day.year}-{day.month:02d}-{day.day:02d}",
                Paragraph(escape(line["title"]), cell),
                Paragraph(escape(line["community"]), cell),
                NATURE_LABELS.get(line["nature"], line["nature"]),
                format_number(Decimal(line["hours"])),
            ]
        )
    total = _hours_of(certificate.lines)
    rows.append(["合计", f"{len(certificate.lines)}次", "", "", format_number(total)])
    last = len(rows) - 1
    table = Table(rows, colWidths=[width * mm for width in LINE_COLUMNS], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), styles["cell"].fontName, 9.5),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (4, 0), (4, -1), "RIGHT"),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("SPAN", (1, last), (3, last)),
                ("BACKGROUND", (0, last), (-1, last), colors.HexColor("#f6f6f6")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def certificate_pdf(certificate: Certificate) -> bytes:
    """The certificate, in Chinese whatever the reader's language (a document handed to
    Chinese offices): the statement, the figures and the issuer on the first page, then the
    activities served (as kept in the register at issue) over as many pages as they take. Each
    page carries the number, its page number and where to verify it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font = _font()
    styles = _styles(font)
    width, height = A4
    note = VERIFY_NOTE + verify_url()
    note_style = styles["cell"].clone("note", fontSize=9, leading=12)

    def furniture(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 11)
        canvas.drawRightString(width - 25 * mm, height - 18 * mm, f"证明编号：{certificate.number}")
        canvas.setFont(font, 9)
        canvas.drawCentredString(width / 2, 12 * mm, f"第{doc.page}页")
        paragraph = Paragraph(escape(note), note_style)
        paragraph.wrap(width - 50 * mm, 20 * mm)
        paragraph.drawOn(canvas, 25 * mm, 17 * mm)
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=28 * mm,
        bottomMargin=32 * mm,
        title=f"志愿服务证明 {certificate.number}",
        author=certificate.issuer_name,
        pageCompression=1,
    )
    total = certificate.total_hours
    body = (
        f"兹证明{certificate.holder_name}（{certificate.holder_agency}）"
        f"于{_date(certificate.first_day)}至{_date(certificate.last_day)}期间，"
        f"参加服务活动{certificate.activities}次，"
        f"累计服务时长{format_number(total)}小时，其中下沉任务"
        f"{format_number(certificate.duty_hours)}小时、志愿服务"
        f"{format_number(certificate.voluntary_hours)}小时。"
    )
    fields = [
        ("姓名", certificate.holder_name),
        ("所在单位", certificate.holder_agency),
        ("服务期间", f"{_date(certificate.first_day)}至{_date(certificate.last_day)}"),
        ("下沉任务时长", f"{format_number(certificate.duty_hours)}小时"),
        ("志愿服务时长", f"{format_number(certificate.voluntary_hours)}小时"),
        ("服务活动次数", f"{certificate.activities}次"),
    ]
    issuer = [
        ("证明单位", certificate.issuer_name),
        ("负责人", certificate.responsible),
        *([("联系方式", certificate.contact)] if certificate.contact else []),
        ("出具日期", _date(timezone.localtime(certificate.issued_at).date())),
    ]
    story = [
        Spacer(1, 10 * mm),
        Paragraph("志愿服务证明", styles["title"]),
        Paragraph(escape(body), styles["body"]),
        *(Paragraph(escape(f"{label}：{value}"), styles["field"]) for label, value in fields),
        Spacer(1, 8 * mm),
        *(Paragraph(escape(f"{label}：{value}"), styles["field"]) for label, value in issuer),
    ]
    if certificate.lines is not None:  # issued before the register kept them: no list
        story += [
            Paragraph(f"附：服务活动明细（共{len(certificate.lines)}次）", styles["heading"]),
            _lines_table(certificate, styles),
        ]
    doc.build(story, onFirstPage=furniture, onLaterPages=furniture)
    return buffer.getvalue()


def _pdf_response(certificate: Certificate) -> HttpResponse:
    response = HttpResponse(certificate_pdf(certificate), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificate.number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# --- Issuing ---------------------------------------------------------------------------------


class CertificateForm(forms.Form):
    first_day = forms.DateField(label=gettext_lazy("First day"), widget=DateInput())
    last_day = forms.DateField(label=gettext_lazy("Last day"), widget=DateInput())
    issuer = forms.ChoiceField(label=gettext_lazy("Issued by"))
    contact = forms.CharField(
        label=gettext_lazy("Contact"),
        max_length=30,
        required=False,
        help_text=gettext_lazy("A phone number the reader can call to ask about the certificate."),
    )

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        self.issuers = {f"agency-{member.agency_id}": member.agency}
        communities = [
            registration.community
            for registration in Registration.objects.filter(
                member=member, status=Registration.Status.ACTIVE
            )
            .select_related("community")
            .order_by("community__name")
        ]
        for community in communities:
            self.issuers[f"community-{community.pk}"] = community
        self.fields["issuer"].choices = [(key, value.name) for key, value in self.issuers.items()]

    def clean(self):
        data = super().clean()
        first, last = data.get("first_day"), data.get("last_day")
        if first and last:
            if not (FIRST_YEAR <= first.year <= LAST_YEAR and FIRST_YEAR <= last.year <= LAST_YEAR):
                raise forms.ValidationError(_("Choose days between 2000 and 2099."))
            if first > last:
                raise forms.ValidationError(_("The first day comes after the last day."))
            if last > timezone.localdate():
                raise forms.ValidationError(_("The last day is in the future."))
        if data.get("issuer") in self.issuers:
            data["issuer"] = self.issuers[data["issuer"]]
        return data


def _initial(member: Member, by) -> dict:
    today = timezone.localdate()
    issuing_member = member_of(by)
    return {
        "first_day": dt.date(today.year, 1, 1),
        "last_day": today,
        "issuer": f"agency-{member.agency_id}",
        "contact": issuing_member.mobile if issuing_member else "",
    }


def _certificate_page(request, member: Member, *, template_context: dict):
    form = CertificateForm(
        request.POST or None, member=member, initial=_initial(member, request.user)
    )
    if request.method == "POST" and form.is_valid():
        certificate = issue(
            member=member,
            first=form.cleaned_data["first_day"],
            last=form.cleaned_data["last_day"],
            issuer=form.cleaned_data["issuer"],
            contact=form.cleaned_data["contact"],
            by=request.user,
        )
        return _pdf_response(certificate)
    issued = list(
        Certificate.objects.filter(member=member)
        .defer("lines")  # hundreds of activities each: the list shows none of them
        .order_by("-issued_at", "-pk")[:LIST_LIMIT]
    )
    response = render(
        request,
        "reports/certificate_issue.html",
        {"form": form, "member": member, "issued": issued, **template_context},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def my_certificate(request):
    """我的记录 → a certificate of the member's own service."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    return _certificate_page(request, member, template_context={"own": True})


@login_required
def roster_certificate(request, pk):
    """The roster's member page → a certificate the office issues for the member."""
    if not can_keep_roster(request.user):
        raise PermissionDenied
    member = get_object_or_404(
        Member.objects.on_roster_of(request.user).select_related("agency"), pk=pk
    )
    return _certificate_page(request, member, template_context={"own": False})


@login_required
@require_GET
def certificate_pdf_download(request, pk):
    """An issued certificate again, as it was issued (its figures are the register's)."""
    certificate = get_object_or_404(Certificate.objects.visible_to(request.user), pk=pk)
    return _pdf_response(certificate)


# --- Verification ----------------------------------------------------------------------------


class VerifyForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("Certificate number"), max_length=20)

    def clean_number(self):
        return self.cleaned_data["number"].strip().upper()


@never_cache
@require_GET
def certificate_verify(request):
    """Anyone types a number and reads whether it is in the register: the number and the
    holder's masked name — nothing else (the holder shows the certificate itself)."""
    if request.GET.get("number") is None:
        form = VerifyForm()
        return render(request, "reports/certificate_verify.html", {"form": form})
    if VERIFY_DOOR.shut(request):
        return too_often(request, VERIFY_DOOR)
    VERIFY_DOOR.knock(request)
    form = VerifyForm(request.GET)
    context = {"form": form, "asked": False}
    if form.is_valid():
        certificate = (
            Certificate.objects.filter(number=form.cleaned_data["number"])
            .only("number", "holder_name")
            .first()
        )
        context.update(
            asked=True,
            number=form.cleaned_data["number"],
            certificate=certificate,
            masked_name=masked_name(certificate.holder_name) if certificate else "",
        )
    return render(request, "reports/certificate_verify.html", context)
