"""Service-hour certificates (志愿服务证明, issue 12 point 4): a member, or the agency office for a
member of its roster, issues one for a period; it is numbered from the register
(`Certificate`, the log of every issue), its figures frozen at issue by DESIGN.md's definitions
(the two ledgers of 我的记录, reports.me.period_ledgers), and written as a PDF in reportlab's
built-in CID font STSong-Light, so Chinese renders with no font file. "谁记录谁证明": the PDF
names the issuer and the person responsible, and a public page (no sign-in, rate-limited) tells
anyone whether a number is genuine, showing the number and the holder's masked name only (issue
12): numbers run in order, so anything more would be read off the register by a guesser.

A member reaches their own certificates only, an office those of its roster's members: any
other id is a 404.
"""

import datetime as dt
import io

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
from activities.models import Participation
from communities.dates import local_midnight
from communities.filters import DateInput
from communities.permissions import can_keep_roster
from communities.throttle import Door, too_often
from communities.validators import FIRST_YEAR, LAST_YEAR
from members.models import Member, Registration, member_of

from .me import period_ledgers
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


def issue(*, member: Member, first: dt.date, last: dt.date, issuer, contact: str, by, now=None):
    """Writes the certificate of `member`'s service from `first` to `last` (activities counted
    on the day they start, as in 我的记录) and returns it; `issuer` is an Agency or a
    Community, the person responsible the issuing login's name."""
    start, end = period_bounds(first, last)
    figures = period_ledgers(Participation.objects.filter(member=member), start, end)
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
            duty_hours=figures["duty"].hours,
            voluntary_hours=figures["volunteer"].hours,
            activities=figures["total"].present,
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


def _wrapped(text: str, width: float, size: float) -> list[str]:
    """`text` cut into lines of at most `width` points (Chinese has no spaces to break at)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, line = [], ""
    for char in text:
        if stringWidth(line + char, FONT, size) > width and line:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines


def certificate_pdf(certificate: Certificate) -> bytes:
    """The certificate on one A4 page, in Chinese whatever the reader's language (a document
    handed to Chinese offices)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = _font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"志愿服务证明 {certificate.number}")
    pdf.setAuthor(certificate.issuer_name)
    width, height = A4
    left, right = 25 * mm, width - 25 * mm
    pdf.setFont(font, 11)
    pdf.drawRightString(right, height - 25 * mm, f"证明编号：{certificate.number}")
    pdf.setFont(font, 24)
    pdf.drawCentredString(width / 2, height - 50 * mm, "志愿服务证明")
    total = certificate.total_hours
    body = (
        f"兹证明{certificate.holder_name}（{certificate.holder_agency}）"
        f"于{_date(certificate.first_day)}至{_date(certificate.last_day)}期间，"
        f"参加服务活动{certificate.activities}次，"
        f"累计服务时长{format_number(total)}小时，其中下沉任务"
        f"{format_number(certificate.duty_hours)}小时、志愿服务"
        f"{format_number(certificate.voluntary_hours)}小时。"
    )
    y = height - 75 * mm
    pdf.setFont(font, 14)
    for line in _wrapped("　　" + body, right - left, 14):
        pdf.drawString(left, y, line)
        y -= 24
    y -= 12
    rows = [
        ("姓名", certificate.holder_name),
        ("所在单位", certificate.holder_agency),
        ("服务期间", f"{_date(certificate.first_day)}至{_date(certificate.last_day)}"),
        ("下沉任务时长", f"{format_number(certificate.duty_hours)}小时"),
        ("志愿服务时长", f"{format_number(certificate.voluntary_hours)}小时"),
        ("服务活动次数", f"{certificate.activities}次"),
    ]
    pdf.setFont(font, 12)
    for label, value in rows:
        pdf.drawString(left, y, f"{label}：")
        for line in _wrapped(value, right - left - 32 * mm, 12):
            pdf.drawString(left + 32 * mm, y, line)
            y -= 20
    y -= 20
    issuer_rows = [
        f"证明单位：{certificate.issuer_name}",
        f"负责人：{certificate.responsible}",
    ]
    if certificate.contact:
        issuer_rows.append(f"联系方式：{certificate.contact}")
    issuer_rows.append(f"出具日期：{_date(timezone.localtime(certificate.issued_at).date())}")
    for line in issuer_rows:
        for part in _wrapped(line, right - left, 12):
            pdf.drawString(left, y, part)
            y -= 20
    pdf.setFont(font, 10)
    note = (
        f"本证明依据下沉社区（Xiachen）记录出具，谁记录谁证明。真伪可凭证明编号查验：{verify_url()}"
    )
    y = 30 * mm
    for line in _wrapped(note, right - left, 10):
        pdf.drawString(left, y, line)
        y -= 15
    pdf.showPage()
    pdf.save()
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
        Certificate.objects.filter(member=member).order_by("-issued_at", "-pk")[:LIST_LIMIT]
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
        certificate = Certificate.objects.filter(number=form.cleaned_data["number"]).first()
        context.update(
            asked=True,
            number=form.cleaned_data["number"],
            certificate=certificate,
            masked_name=masked_name(certificate.holder_name) if certificate else "",
        )
    return render(request, "reports/certificate_verify.html", context)
