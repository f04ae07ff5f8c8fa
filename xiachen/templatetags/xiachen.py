"""Navbar and figure helpers: `{% load xiachen %}`.

A template tag instead of a context processor, so that only pages that show the navbar pay for
it, and a page rendered without a request (500.html) needs nothing at all.
"""

from django import template
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from activities import figures
from activities.models import Activity
from communities import permissions
from communities.models import StaffRole
from communities.permissions import scope_of
from members.models import member_of
from notifications.models import Notification

register = template.Library()

NO_FIGURE = figures.NO_FIGURE


@register.simple_tag
def roles_of(user):
    """The user's roles as labels, in the order of StaffRole.Kind, a member last."""
    if not getattr(user, "is_authenticated", False):
        return []
    scope = scope_of(user)
    kinds = set(scope.kinds)
    if scope.city:
        kinds.add(StaffRole.Kind.CITY_ADMIN)
    labels = [kind.label for kind in StaffRole.Kind if kind in kinds]
    if member_of(user) is not None:
        labels.append(_("Member"))
    return labels


@register.filter
def display_name(user):
    """The member's name if the login is a member's, else the full name, else the username."""
    if not getattr(user, "is_authenticated", False):
        return ""
    member = member_of(user)
    if member is not None:
        return member.name
    return user.get_full_name() or user.get_username()


@register.filter
def percent(value):
    """A rate (a fraction from activities.figures) as "66.7%"; None (0 ÷ 0) as "—"."""
    return figures.format_rate(value)


@register.filter
def figure(value):
    """A count or a number of hours without a useless ".0"; None as "—"."""
    return figures.format_number(value)


@register.filter
def hours(value):
    """Hours with their unit as people write them: "2 小时", "1.5 小时" (never "2.0 h")."""
    number = figures.format_number(value)
    if number == NO_FIGURE:
        return number
    return ngettext("%(hours)s hour", "%(hours)s hours", 1 if number == "1" else 2) % {
        "hours": number
    }


@register.simple_tag
def unread_notifications(user):
    """How many inbox messages the user has not read: the navbar bell. One COUNT, kept on the
    user object so that a page asking again (the inbox) does not count twice."""
    if not getattr(user, "is_authenticated", False):
        return 0
    cached = getattr(user, "_xiachen_unread", None)
    if cached is None:
        cached = Notification.objects.inbox(user).filter(read_at__isnull=True).count()
        user._xiachen_unread = cached
    return cached


@register.simple_tag
def workspace_nav(user):
    """Which entries the navigation offers (communities.permissions.menu); each page checks
    again."""
    if not getattr(user, "is_authenticated", False):
        return {}
    # The scope first: with it read, member_of needs no query for staff without a member record.
    scope_of(user)
    return permissions.menu(user, is_member=member_of(user) is not None)


@register.inclusion_tag("activities/fragments/place_count.html")
def place_count(activity, lead=""):
    """What an activity's places hold, by its phase — the one place that decides it for the
    list, the week, the activity page and the dashboards. Before and while it runs: those
    taking a place of the capacity (已报名 8/12); once it has ended: those who attended
    (已参加 7), and those still waiting for the roll call; cancelled: nothing. The counts are
    the activity's own, whoever looks (Activity.objects.with_place_counts())."""
    status = activity.current_status
    if status == Activity.Status.CANCELLED:
        return {"phase": None}
    return {
        "phase": "after" if status == Activity.Status.FINISHED else "before",
        "lead": lead,
        "signed_up": activity.signed_up,
        "present": activity.present,
        "pending": activity.signed_up - activity.present,
        "capacity": activity.capacity,
    }


@register.filter
def query_pairs(query, leave_out=""):
    """(name, value) of each parameter of a query string (request.GET) but those named in
    `leave_out` (comma-separated): the hidden fields that carry a list's filters into a form."""
    left_out = set(leave_out.split(","))
    return [
        (name, value) for name, values in query.lists() if name not in left_out for value in values
    ]
