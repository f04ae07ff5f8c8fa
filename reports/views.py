"""The dashboard (工作台): one section for each role the user holds.

Every section starts from a `visible_to(user)` QuerySet narrowed to the role's places and runs
a fixed number of queries, whatever the amount of data (tests/reports/test_views.py and
tests/xiachen/test_pages.py count them).
"""

import datetime as dt

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    Subquery,
    Value,
    When,
    Window,
)
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from activities import figures
from activities.models import Activity, Concern, DutyAssignment, Participation
from activities.models.activity import live_status_sql
from activities.models.callouts import CallOutAnswer, answer_path, answer_token
from activities.services.callouts import open_calls_of
from activities.services.leave import pending_leave_requests
from communities.models import Agency, Agreement, Community, Street
from communities.permissions import in_array, scope_of
from communities.rows import Row
from members.models import Member, Registration, member_of

# Dashboards show the first few rows of a list; the pages behind them will paginate.
LIST_LIMIT = 20
INACTIVE_LIST_LIMIT = 10
ROLL_CALL_LIMIT = 5
# The columns figures.with_duty_fulfilment annotates for each period it is named by.
FULFILMENT_PARTS = ("first", "last", "days_met")


def _limited(queryset, limit):
    """The first `limit` rows and whether there are more, in one query."""
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


def _count_of(rows):
    """How many rows `rows` holds, as a column of another query: an uncorrelated subquery
    (COUNT without GROUP BY, so 0 for none), counted once whatever the rows of that query.
    COUNT(*) as `.count()` counts: an index that answers the rows' filter answers it alone."""
    return Subquery(
        rows.order_by()
        .annotate(count=Func(template="COUNT(*)", output_field=IntegerField()))
        .values("count"),
        output_field=IntegerField(),
    )


def _urls_of(name):
    """`reverse(name, args=[pk])` for each row of a list at the price of one reverse: the
    dashboards link their 40-odd rows (each reverse 40–60 µs at city size)."""
    marker = "2147483647"
    head, _marker, tail = reverse(name, args=[int(marker)]).partition(marker)
    return lambda pk: f"{head}{pk}{tail}"


def _quota_text(quota):
    """An agreement's daily quota as its row says it. The rows' sentences are written here, not
    by a blocktranslate tag per row (35 µs each: four on each of 20 agreements)."""
    return _("%(quota)s member(s) a day") % {"quota": quota}


def _admin_url(name):
    """The admin page's URL, or None while that model is not registered in the admin."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def city_section(user):
    return {
        "agreement_admin_url": (
            _admin_url("admin:communities_agreement_changelist") if user.is_staff else None
        ),
        "streets": Street.objects.visible_to(user).count(),
        "communities": Community.objects.visible_to(user).count(),
        "agencies": Agency.objects.visible_to(user).count(),
        "members": Member.objects.visible_to(user).active().count(),
        "agreements": figures.agreement_counts(Agreement.objects.visible_to(user)),
    }


def street_section(user, scope):
    communities = figures.with_month_figures(
        Community.objects.visible_to(user).filter(street__in=scope.street_ids)
    ).values("name", "reported_in", "activities_this_month", street_name=F("street__name"))
    return {"communities": list(communities)}


def _year_bounds(today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[1 January 00:00, next 1 January 00:00) in local time, like figures.month_bounds."""
    first = timezone.make_aware(dt.datetime(today.year, 1, 1))
    return first, timezone.make_aware(dt.datetime(today.year + 1, 1, 1))


def community_section(user, scope, now):
    community_ids = scope.community_ids
    today = timezone.localdate(now)
    week_start, week_end = figures.week_bounds(today)
    several = len(community_ids) > 1
    community_activities = Activity.objects.visible_to(user).filter(community__in=community_ids)
    # The lists' rows are values() of the columns shown, not model instances with their related
    # rows: a staff dashboard read 150-odd columns of 30 rows into 100 objects to show 60 cells.
    activities = (
        community_activities.filter(starts_at__gte=week_start, starts_at__lt=week_end)
        .with_place_counts()
        .with_live_status(now)
        .annotate(
            # A grid worker's own grids come first and are marked.
            in_my_grids=Case(
                When(grid__in=scope.grid_ids, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .order_by("-in_my_grids", "starts_at", "pk")
        .values(
            "pk",
            "title",
            "starts_at",
            "ends_at",
            "nature",
            "place",
            "capacity",
            "signed_up",
            "present",
            "live_status",
            "in_my_grids",
            type_name=F("type__name"),
            grid_name=F("grid__name"),
            **({"community_name": F("community__name")} if several else {}),
        )
    )
    week_activities, more_activities = _limited(activities, LIST_LIMIT)
    week_activities = [Row(activity) for activity in week_activities]
    # Duty fulfilment of each agreement this month and since it started, in the same query.
    in_force = figures.with_duty_fulfilment(
        Agreement.objects.visible_to(user)
        .in_force(today)
        .filter(community__in=community_ids)
        .order_by("community__name", "agency__name"),
        name="month",
        start=today.replace(day=1),
        today=today,
    )
    in_force, more_agreements = _limited(
        figures.with_duty_fulfilment(in_force, name="total", today=today).values(
            "pk",
            "number",
            "daily_quota",
            "ends_on",
            *(f"{name}_{part}" for name in ("month", "total") for part in FULFILMENT_PARTS),
            agency_name=F("agency__name"),
            **({"community_name": F("community__name")} if several else {}),
        ),
        LIST_LIMIT,
    )
    year_start, year_end = _year_bounds(today)
    registrations = Registration.objects.visible_to(user).filter(community__in=community_ids)
    # The section's counts, each its own scoped QuerySet as before, ride on the communities'
    # query as uncorrelated subqueries PostgreSQL counts once: four queries fewer, whose
    # building and round trips cost a staff dashboard 4–5 ms at city size.
    counts = {
        "pending_registrations": registrations.filter(status=Registration.Status.PENDING),
        # Leave requests awaiting the organizers' decision (activities.views.leave).
        "pending_leave": pending_leave_requests(user),
        "open_concerns": Concern.objects.visible_to(user)
        .filter(community__in=community_ids)
        .open(),
        # Counted as figures.with_month_figures counts a month: those that take place.
        "activities_this_year": community_activities.taking_place().filter(
            starts_at__gte=year_start, starts_at__lt=year_end
        ),
    }
    communities = list(
        figures.with_month_figures(
            Community.objects.visible_to(user).filter(pk__in=community_ids).order_by("name"),
            today,
        )
        .annotate(**{name: _count_of(rows) for name, rows in counts.items()})
        .values("name", "reported_in", "activities_this_month", *counts)
    )
    # The oldest few waiting for roll call and how many wait in all, in one query: counted
    # apart, the community's 1,400 finished activities were probed for a signed-up row twice
    # (2 ms each at city size).
    roll_calls = list(
        community_activities.pending_roll_call(now)
        .annotate(waiting=Window(Count("pk")))
        .order_by("ends_at", "pk")
        .values(
            "pk",
            "title",
            "ends_at",
            "waiting",
            **({"community_name": F("community__name")} if several else {}),
        )[:ROLL_CALL_LIMIT]
    )
    pending_roll_call = roll_calls[0]["waiting"] if roll_calls else 0
    activity_url = _urls_of("activities:activity_detail")
    roll_call_url = _urls_of("activities:roll_call")
    agreement_url = _urls_of("communities:agreement_detail")
    status_label = {status: label for status, label in Activity.Status.choices}
    nature_label = {nature: label for nature, label in Activity.Nature.choices}
    for activity in week_activities:
        activity["url"] = activity_url(activity["pk"])
        activity["status_label"] = status_label[activity["live_status"]]
        activity["nature_label"] = nature_label[activity["nature"]]
        activity["current_status"] = activity["live_status"]
    for activity in roll_calls:
        activity["url"], activity["roll_call_url"] = (
            activity_url(activity["pk"]),
            roll_call_url(activity["pk"]),
        )
    for agreement in in_force:
        agreement["url"] = agreement_url(agreement["pk"])
        agreement["quota_text"] = _quota_text(agreement["daily_quota"])
        agreement["until_text"] = _("until %(ends)s") % {
            "ends": date_format(agreement["ends_on"], "SHORT_DATE_FORMAT")
        }
        for name in ("month", "total"):
            fulfilment = figures.annotated_duty_fulfilment(agreement, name)
            agreement[f"fulfilment_{name}"] = fulfilment
            agreement[f"{name}_days_text"] = _("%(met)s/%(days)s days") % {
                "met": fulfilment.days_met,
                "days": fulfilment.days,
            }
    member_list_url = reverse("members:member_list")
    by_agency, more_agencies = _members_by_agency(registrations.reported_in(), LIST_LIMIT)
    for row in by_agency:
        row["url"] = f"{member_list_url}?agency={row['member__agency']}&grid="
    return {
        "names": [community["name"] for community in communities],
        "several_communities": several,
        "member_list_url": member_list_url,
        "week_first": timezone.localdate(week_start),
        "week_last": timezone.localdate(week_end - dt.timedelta(days=1)),
        "activities": week_activities,
        "more_activities": more_activities,
        "pending_roll_call": pending_roll_call,
        "roll_calls": roll_calls,
        "more_roll_calls": pending_roll_call > len(roll_calls),
        # The same on every row; no row, nothing to count.
        **{name: communities[0][name] if communities else 0 for name in counts},
        "reported_in": sum(community["reported_in"] for community in communities),
        "by_agency": by_agency,
        "more_agencies": more_agencies,
        "activities_this_month": sum(c["activities_this_month"] for c in communities),
        "agreements": in_force,
        "more_agreements": more_agreements,
    }


def _members_by_agency(registrations, limit):
    """The agencies of the members of `registrations`, most members first (ties by name), each
    with how many members: the first `limit` rows and whether there are more, in one query.

    Each report-in's agency is the one the database keeps on it (Registration.agency), read
    with its member from the index registration_community_agency in the agencies' order and
    counted there; the agencies' names are joined to the counts afterwards, once per agency.
    Joined to the members, PostgreSQL hashed all 60,000 of them for a community's 3,800
    report-ins; looked up by each member's id, it probed member_agency_by_id 3,800 times
    (shengli 6 → 2 ms at city size). A derived table, which QuerySets do not write, around
    the counts' own QuerySet: the scope is still the caller's."""
    counts = (
        registrations.order_by()
        .values(of_agency=F("agency"))
        .annotate(members=Count("member", distinct=True))
    )
    counts_sql, params = counts.query.sql_with_params()
    quote = connection.ops.quote_name
    table, name, pk = (quote(word) for word in (Agency._meta.db_table, "name", "id"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT counts.of_agency, {table}.{name}, counts.members FROM ({counts_sql}) counts"
            f" INNER JOIN {table} ON {table}.{pk} = counts.of_agency"
            f" ORDER BY counts.members DESC, {table}.{name}, {table}.{pk} LIMIT %s",
            [*params, limit + 1],
        )
        rows = [
            {"member__agency": agency, "member__agency__name": agency_name, "members": members}
            for agency, agency_name, members in cursor.fetchall()
        ]
    return rows[:limit], len(rows) > limit


def on_duty_section(user, scope, now):
    """Who is on duty in the viewer's communities today and tomorrow (排班), in one query."""
    today = timezone.localdate(now)
    days = [today, today + dt.timedelta(days=1)]
    several = len(scope.community_ids) > 1
    rows = (
        DutyAssignment.objects.visible_to(user)
        .on_duty(*days)
        .filter(agreement__community__in=scope.community_ids)
        .order_by("date", "agreement__community__name", "agreement__agency__name", "member__name")
        .values_list(
            "date",
            "member__name",
            "agreement__agency__short_name",
            "agreement__agency__name",
            "agreement__community__name",
        )
    )
    by_day = {day: [] for day in days}
    for date, member, short_name, agency, community in rows:
        # The agency as the rota names it: its short name, or its name.
        by_day[date].append(
            {"member": member, "agency": short_name or agency, "community": community}
        )
    return {
        "days": [{"date": day, "is_today": day == today, "rows": by_day[day]} for day in days],
        "several_communities": several,
    }


def agency_section(user, scope, now):
    members = Member.objects.visible_to(user).filter(agency__in=scope.agency_ids)
    month_start, month_end = figures.month_bounds(timezone.localdate(now))
    # The office sees every participation of its agencies' members (the members it sees are
    # all of theirs), so their month is the figures the database keeps per agency and activity.
    this_month = figures.agency_attendance(scope.agency_ids, month_start, month_end)
    inactive = figures.inactive_members(members, now)
    several = len(scope.agency_ids) > 1
    # values() of the columns shown, each row's link written once per list (_urls_of).
    agreements, more_agreements = _limited(
        Agreement.objects.visible_to(user)
        .filter(agency__in=scope.agency_ids)
        .with_effective_status(timezone.localdate(now))
        .order_by("-starts_on", "number")
        .values(
            "pk",
            "number",
            "starts_on",
            "ends_on",
            "daily_quota",
            "effective_status",
            community_name=F("community__name"),
            **({"agency_name": F("agency__name")} if several else {}),
        ),
        LIST_LIMIT,
    )
    agreement_url = _urls_of("communities:agreement_detail")
    for agreement in agreements:
        agreement["url"] = agreement_url(agreement["pk"])
        agreement["status_label"] = Agreement.EffectiveStatus(agreement["effective_status"]).label
        agreement["quota_text"] = _quota_text(agreement["daily_quota"])
    counts = {
        # Records unreviewed for REVIEW_OVERDUE_DAYS: the office's review list links them.
        # The members' ids read first into an array, each looked up in one scan of the index
        # (participation_review_overdue), not a nested loop rescanning it for every member:
        # sanxia's 8,000 members' 43,000 records with the same 24,000 pages read, 25–30% less
        # time at city size.
        "review_overdue": Participation.objects.review_overdue(now).filter(
            in_array("member", members.values("pk"), agency__in=scope.agency_ids)
        ),
        "inactive_count": inactive,
    }
    # The counts ride on the agencies' names as uncorrelated subqueries, counted once: two
    # queries fewer.
    member_url = _urls_of("reports:roster_member")
    agencies = list(
        Agency.objects.visible_to(user)
        .filter(pk__in=scope.agency_ids)
        .order_by("name")
        .values("name", **{name: _count_of(rows) for name, rows in counts.items()})
    )
    return {
        # The same on every row; no row, nothing to count.
        **{name: agencies[0][name] if agencies else 0 for name in counts},
        "review_overdue_days": settings.REVIEW_OVERDUE_DAYS,
        "names": [agency["name"] for agency in agencies],
        "report_in": figures.report_in(members),
        "this_month": this_month,
        "inactive": [
            {"url": member_url(member["pk"]), **member}
            for member in inactive.order_by("name", "pk").values(
                "pk", "name", **({"agency_name": F("agency__name")} if several else {})
            )[:INACTIVE_LIST_LIMIT]
        ],
        "inactive_days": settings.INACTIVE_AFTER_DAYS,
        "agreements": agreements,
        "more_agreements": more_agreements,
        "several_agencies": several,
    }


def member_section(user, member, now):
    registrations = (
        Registration.objects.visible_to(user)
        .filter(member=member)
        .order_by("-applied_on", "pk")
        .values("kind", "status", community_name=F("community__name"), grid_name=F("grid__name"))
    )
    upcoming, more_upcoming = _limited(
        Participation.objects.visible_to(user)
        .filter(member=member, status=Participation.Status.SIGNED_UP, activity__ends_at__gt=now)
        .order_by("activity__starts_at", "pk")
        .values(
            title=F("activity__title"),
            starts_at=F("activity__starts_at"),
            place=F("activity__place"),
            community_name=F("activity__community__name"),
            live_status=live_status_sql(now, "activity__"),
        ),
        LIST_LIMIT,
    )
    status_label = dict(Activity.Status.choices)
    for participation in upcoming:
        participation["status_label"] = status_label[participation["live_status"]]
    answer_label = dict(CallOutAnswer.Answer.choices)
    kind_label = dict(Registration.Kind.choices)
    registration_status_label = dict(Registration.Status.choices)
    registrations = [
        {
            **registration,
            "kind_label": kind_label[registration["kind"]],
            "status_label": registration_status_label[registration["status"]],
        }
        for registration in registrations
    ]
    # The days of duty to come (排班) the duty-roster reminder points to: under an agreement in
    # force on the day, as the reminder finds them.
    today = timezone.localdate(now)
    duties = list(
        DutyAssignment.objects.visible_to(user)
        .filter(member=member, date__gte=today, agreement__ends_on__gte=today)
        .order_by("date", "pk")
        .values("date", community_name=F("agreement__community__name"))[:LIST_LIMIT]
    )
    return {
        "member": member,
        # Call-outs (吹哨) still waiting for the member or open to change their answer.
        "calls": [
            {
                **call,
                "answer_label": answer_label[call["answer"]],
                "url": answer_path(answer_token(call["pk"])),
            }
            for call in open_calls_of(member, now, LIST_LIMIT).values(
                "pk",
                "answer",
                title=F("call__title"),
                starts_at=F("call__starts_at"),
                place=F("call__place"),
                community_name=F("call__community__name"),
            )
        ],
        "registrations": registrations,
        "duties": duties,
        "upcoming": upcoming,
        "more_upcoming": more_upcoming,
        "totals": figures.attendance(Participation.objects.visible_to(user).filter(member=member)),
    }


@login_required
def dashboard(request):
    user = request.user
    scope = scope_of(user)
    now = timezone.now()
    member = member_of(user)
    context = {
        "city": city_section(user) if scope.city else None,
        "street": street_section(user, scope) if scope.street_ids else None,
        # Only community staff and grid workers have communities in their scope.
        "community": community_section(user, scope, now) if scope.community_ids else None,
        "on_duty": on_duty_section(user, scope, now) if scope.community_ids else None,
        "agency": agency_section(user, scope, now) if scope.agency_ids else None,
        "mine": member_section(user, member, now) if member else None,
    }
    context["no_role"] = not any(context.values())
    return render(request, "reports/dashboard.html", context)
