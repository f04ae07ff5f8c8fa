"""A member's own record (我的记录, issue 10 point 6): what they signed up for, what they did
and its hours in two ledgers — assigned duty (下沉任务) and voluntary service (志愿服务) — with
their attendance rate, by DESIGN.md's definitions; their report-ins; their contact details; a
private calendar address (iCal) for the phone; and a download of everything held about them.

Every page here starts from the signed-in member: nothing takes an id of a member, and another
member's row is never in reach (their report-in or record ids give a 404 where ids are taken).
"""

import csv
import datetime as dt
import io
import json
import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from icalendar import Calendar, Event

from activities import figures
from activities.models import Activity, Participation
from communities.dates import local_midnight
from communities.pagination import Paginator
from communities.throttle import Door
from communities.validators import FIRST_YEAR, LAST_YEAR, mobile_validator
from members.models import CalendarFeed, Member, PrivacyAcceptance, Registration, member_of
from members.privacy import account_delete_view
from members.services import member_save
from notifications.models import Notification, NotificationPreference

from .models import ExportLog

PAGE_SIZE = 20
UPCOMING_LIMIT = 10
# The calendar shows what is coming and what was done lately.
CALENDAR_PAST_DAYS = 90
FEED_DOOR = Door("calendar-feed", 20, 15 * 60)


def _member(request) -> Member:
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied
    return member


class YearForm(forms.Form):
    year = forms.IntegerField(
        label=gettext_lazy("Year"),
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        required=False,
        error_messages={
            "invalid": gettext_lazy("Choose a year between 2000 and 2099."),
            "min_value": gettext_lazy("Choose a year between 2000 and 2099."),
            "max_value": gettext_lazy("Choose a year between 2000 and 2099."),
        },
    )


def _year(request) -> tuple[int, YearForm]:
    form = YearForm(request.GET)
    this_year = timezone.localdate().year
    if form.is_valid() and form.cleaned_data["year"]:
        return form.cleaned_data["year"], form
    return this_year, form


def _year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    return local_midnight(dt.date(year, 1, 1)), local_midnight(dt.date(year + 1, 1, 1))


def ledgers(participations, year: int) -> dict:
    """The year's figures of `participations` in one query: per nature (duty, voluntary
    service) and both together, by DESIGN.md's definitions (figures.attendance). Activities
    count in the year they start; drafts are plans, not service."""
    return period_ledgers(participations, *_year_bounds(year))


def in_period(participations, start: dt.datetime, end: dt.datetime):
    """The rows of `participations` whose activity starts in [start, end), drafts left out
    (plans, not service): what the ledgers of a period count, and the lines a certificate
    lists (reports.certificates.service_lines)."""
    rows = participations.filter(activity__starts_at__gte=start, activity__starts_at__lt=end)
    return rows.exclude(activity__status=Activity.Status.DRAFT)


def period_ledgers(participations, start: dt.datetime, end: dt.datetime) -> dict:
    """`ledgers` of the activities starting in [start, end) (a certificate's period)."""
    rows = in_period(participations, start, end)
    by_nature = figures.attendance_by(rows, "activity__nature")
    duty = by_nature.get(Activity.Nature.DUTY, figures.NO_ATTENDANCE)
    volunteer = by_nature.get(Activity.Nature.VOLUNTEER, figures.NO_ATTENDANCE)
    total = figures.Attendance(
        present=duty.present + volunteer.present,
        absent=duty.absent + volunteer.absent,
        leaves=duty.leaves + volunteer.leaves,
        hours=duty.hours + volunteer.hours,
    )
    return {"duty": duty, "volunteer": volunteer, "total": total}


@login_required
def my_record(request):
    member = _member(request)
    now = timezone.now()
    year, form = _year(request)
    mine = Participation.objects.filter(member=member)
    upcoming = list(
        mine.filter(status=Participation.Status.SIGNED_UP, activity__ends_at__gt=now)
        .exclude(activity__status__in=[Activity.Status.CANCELLED, Activity.Status.DRAFT])
        .select_related("activity__community", "activity__type", "activity__grid")
        .order_by("activity__starts_at", "pk")[: UPCOMING_LIMIT + 1]
    )
    start, end = _year_bounds(year)
    history = (
        mine.filter(
            status__in=Participation.RECORDED,
            activity__starts_at__gte=start,
            activity__starts_at__lt=end,
        )
        .exclude(activity__status=Activity.Status.DRAFT)
        .select_related("activity__community", "activity__type")
        .order_by("-activity__starts_at", "-pk")
    )
    page = Paginator(history, PAGE_SIZE).get_page(request.GET.get("page"))
    registrations = list(
        Registration.objects.filter(member=member)
        .select_related("community")
        .order_by("-applied_on", "-pk")
    )
    return render(
        request,
        "reports/my_record.html",
        {
            "member": member,
            "year": year,
            "form": form,
            "years": range(timezone.localdate().year, timezone.localdate().year - 5, -1),
            "ledgers": ledgers(mine, year),
            "upcoming": upcoming[:UPCOMING_LIMIT],
            "now": now,
            "more_upcoming": len(upcoming) > UPCOMING_LIMIT,
            "page": page,
            "registrations": registrations,
            "has_feed": CalendarFeed.objects.filter(member=member).exists(),
        },
    )


# --- Contact details -------------------------------------------------------------------------


class ContactForm(forms.Form):
    mobile = forms.CharField(
        label=gettext_lazy("Mobile"),
        max_length=11,
        validators=[mobile_validator],
        help_text=gettext_lazy("Your agency's roster and the communities' calls use it."),
    )
    email = forms.EmailField(
        label=gettext_lazy("E-mail address"),
        required=False,
        help_text=gettext_lazy("For reminders by e-mail and a forgotten password."),
    )


@login_required
def my_contact(request):
    member = _member(request)
    user = request.user
    initial = {"mobile": member.mobile, "email": user.email}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                member.mobile = form.cleaned_data["mobile"]
                member_save(member=member, by=user)
                user.email = form.cleaned_data["email"]
                user.save(update_fields=["email"])
        except ValidationError as exc:
            member.refresh_from_db()
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        else:
            messages.success(request, _("Your contact details are saved."))
            return redirect("reports:my_record")
    return render(request, "reports/my_contact.html", {"form": form, "member": member})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def my_account_delete(request):
    """The member deletes their own account (issue 11): members.privacy.account_delete."""
    return account_delete_view(request, _member(request))


# --- Calendar (iCal) -------------------------------------------------------------------------


def feed_url(feed: CalendarFeed) -> str:
    return settings.SITE_URL + reverse("reports:calendar_feed", args=[feed.token])


@login_required
def my_calendar(request):
    """The member's private calendar address: make it, renew it (the old one stops working)
    or turn it off."""
    member = _member(request)
    feed = CalendarFeed.objects.filter(member=member).first()
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("create", "renew"):
            CalendarFeed.objects.update_or_create(
                member=member,
                defaults={"token": secrets.token_urlsafe(32), "created_at": timezone.now()},
            )
            messages.success(
                request,
                _("Your calendar address is ready: add it to your phone's calendar.")
                if action == "create" or feed is None
                else _("A new calendar address is made; the old one no longer works."),
            )
        elif action == "revoke":
            CalendarFeed.objects.filter(member=member).delete()
            messages.success(request, _("Your calendar address is turned off."))
        else:
            messages.error(request, _("Choose one of the buttons."))
        return redirect("reports:my_calendar")
    response = render(
        request,
        "reports/my_calendar.html",
        {"feed": feed, "url": feed_url(feed) if feed else ""},
    )
    response["Cache-Control"] = "no-store"
    return response


def _event(participation: Participation) -> Event:
    activity = participation.activity
    event = Event()
    host = settings.SITE_URL.split("://", 1)[-1]
    event.add("uid", f"participation-{participation.pk}@{host}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", activity.starts_at)
    event.add("dtend", activity.ends_at)
    event.add("summary", activity.title)
    place = " · ".join(filter(None, [activity.community.name, activity.place]))
    event.add("location", place)
    url = settings.SITE_URL + reverse("activities:activity_detail", args=[activity.pk])
    event.add("url", url)
    lines = [str(activity.get_nature_display()), str(activity.type)]
    if participation.status == Participation.Status.LEAVE:
        lines.insert(0, _("On leave"))
    event.add("description", "\n".join(lines + [url]))
    cancelled = activity.status == Activity.Status.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


@never_cache
def calendar_feed(request, token):
    """The member's calendar (public: the token is the key): what they signed up for, are on
    leave from or did, from 90 days ago on. Cancelled activities stay, marked cancelled, so that
    the phone takes them off."""
    if FEED_DOOR.shut(request):
        response = HttpResponse(status=429)  # read by calendar apps, not people: no page
        response["Retry-After"] = str(FEED_DOOR.retry_after(request))
        return response
    feed = CalendarFeed.objects.select_related("member").filter(token=token).first()
    if feed is None or feed.member.user_id is None:
        FEED_DOOR.knock(request)
        raise Http404
    since = timezone.now() - dt.timedelta(days=CALENDAR_PAST_DAYS)
    participations = (
        Participation.objects.filter(member=feed.member, activity__ends_at__gte=since)
        .exclude(activity__status=Activity.Status.DRAFT)
        # Nor a waitlist place (候补): it holds no seat until one is given, and is told then.
        .exclude(status__in=[Participation.Status.ABSENT, Participation.Status.WAITLISTED])
        .select_related("activity__community", "activity__type")
        .order_by("activity__starts_at", "pk")
    )
    calendar = Calendar()
    calendar.add("prodid", "-//Xiachen//下沉社区//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", _("Xiachen: %(name)s") % {"name": feed.member.name})
    calendar.add("x-wr-timezone", settings.TIME_ZONE)
    for participation in participations.iterator(chunk_size=500):
        calendar.add_component(_event(participation))
    CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=timezone.now())
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="xiachen.ics"'
    return response


# --- My data ---------------------------------------------------------------------------------


def my_data(member: Member) -> dict:
    """Everything Xiachen holds about the member, by section (each a list of flat rows)."""
    user = member.user
    person = {
        "name": member.name,
        "mobile": member.mobile,
        "agency": member.agency.name,
        "party_member": member.is_party_member,
        "position": member.position,
        "party_branch": member.party_branch,
        "residence_community": member.residence_community.name
        if member.residence_community_id
        else "",
        "skills": member.skills,
        "status": member.status,
        "left_on": member.left_on,
        "created_at": member.created_at,
    }
    if user is not None:
        person.update(
            username=user.username,
            email=user.email,
            date_joined=user.date_joined,
            last_login=user.last_login,
        )
    registrations = list(
        Registration.objects.filter(member=member)
        .order_by("applied_on", "pk")
        .values(
            "community__name",
            "kind",
            "status",
            "grid__name",
            "applied_on",
            "reviewed_at",
            "return_reason",
            "ended_on",
        )
    )
    participations = list(
        Participation.objects.filter(member=member)
        .order_by("activity__starts_at", "pk")
        .values(
            "activity__title",
            "activity__community__name",
            "activity__starts_at",
            "activity__ends_at",
            "activity__nature",
            "status",
            "hours",
            "source",
            "checked_in_at",
            "leave_reason",
            "leave_decision",
            "leave_decided_at",
            "leave_decision_note",
            "review",
        )
    )
    preferences = list(NotificationPreference.objects.filter(user=user).values() if user else [])
    notifications = list(
        Notification.objects.inbox(user)
        .order_by("created_at", "pk")
        .values("created_at", "kind", "subject", "read_at")
        if user
        else []
    )
    acceptances = list(
        PrivacyAcceptance.objects.filter(user=user)
        .order_by("accepted_at", "pk")
        .values("version", "accepted_at")
        if user
        else []
    )
    return {
        "person": [person],
        "registrations": registrations,
        "participations": participations,
        "notification_settings": preferences,
        "messages": notifications,
        "privacy_notice_accepted": acceptances,
    }


def _csv(data: dict) -> bytes:
    output = io.StringIO()
    writer = csv.writer(output)
    for section, rows in data.items():
        writer.writerow([f"# {section}"])
        if rows:
            writer.writerow(rows[0].keys())
            for row in rows:
                writer.writerow(["" if value is None else value for value in row.values()])
        writer.writerow([])
    return "\ufeff".encode() + output.getvalue().encode("utf-8")


def _my_data_download(request, extension):
    """Everything held about the member, as .json or .csv; logged like every export of
    personal data (the city administrator reads the log)."""
    member = _member(request)
    if extension not in ("json", "csv"):
        raise Http404
    data = my_data(member)
    if extension == "json":
        content = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()
        content_type = "application/json; charset=utf-8"
    else:
        content = _csv(data)
        content_type = "text/csv; charset=utf-8"
    ExportLog.objects.create(
        user=request.user,
        agency=None,
        what=ExportLog.What.MY_DATA,
        format=extension,
        filters={"member": member.pk},
        rows=sum(len(rows) for rows in data.values()),
    )
    response = HttpResponse(content, content_type=content_type)
    stamp = timezone.localtime().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="my-data-{stamp}.{extension}"'
    return response


@login_required
@require_POST
def my_data_json(request):
    return _my_data_download(request, "json")


@login_required
@require_POST
def my_data_csv(request):
    return _my_data_download(request, "csv")
