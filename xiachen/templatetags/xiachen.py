"""Navbar and figure helpers: `{% load xiachen %}`.

A template tag instead of a context processor, so that only pages that show the navbar pay for
it, and a page rendered without a request (500.html) needs nothing at all.
"""

import datetime as dt
import itertools
from functools import cache, lru_cache

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms, template
from django.conf import settings
from django.db import connections, router
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import unordered_list
from django.template.loader_tags import BlockNode
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from activities import figures
from activities.models import Activity
from communities import permissions
from communities.models import StaffRole
from communities.permissions import scope_of
from members.models import member_of
from notifications.models import Notification

register = template.Library()

NO_FIGURE = figures.NO_FIGURE


# Widgets whose crispy markup is more than a label, the widget and its errors: crispy writes them.
CRISPY_ONLY = (forms.CheckboxInput, forms.RadioSelect, forms.FileInput, forms.MultiWidget)


@register.filter
def filter_field(field):
    """A field of a list's filter bar as crispy's bootstrap5 `as_crispy_field` writes it — the
    same elements, ids and classes — without its templates: a filter bar rendered through
    crispy's field.html cost about 2 ms a field, as much as some pages' queries. Anything but a
    plain input or select (a checkbox, radios, a file, a hidden field) goes to crispy."""
    widget = field.field.widget
    if widget.is_hidden or isinstance(widget, CRISPY_ONLY) or field.use_fieldset:
        return as_crispy_field(field)
    # The classes crispy gives the widget: its class name, then Bootstrap's.
    kind = widget.__class__.__name__.lower()
    classes = widget.attrs.get("class", "")
    if not classes:
        classes = kind
    elif kind not in classes:
        classes = f"{classes} {kind}"
    bootstrap = ["form-select" if isinstance(widget, forms.Select) else "form-control"]
    if field.errors:
        bootstrap.append("is-invalid")
    classes = " ".join([classes, *(name for name in bootstrap if name not in classes.split())])
    widget.attrs["class"] = classes  # crispy sets it on the widget too
    required = field.field.required
    wrapper = " ".join(name for name in ["mb-3", field.css_classes()] if name)
    parts = [format_html('<div id="div_{}" class="{}">', field.auto_id, wrapper)]
    if field.label:
        parts.append(
            format_html(
                '<label{} class="form-label{}">{}{}</label>',
                format_html(' for="{}"', field.id_for_label) if field.id_for_label else "",
                " requiredField" if required else "",
                field.label,
                mark_safe('<span class="asteriskField">*</span>') if required else "",
            )
        )
    parts.append(conditional_escape(str(field)))
    if field.errors:
        parts.append(
            format_html(
                '<div id="{}_error" class="invalid-feedback">{}</div>',
                field.errors.field_id,
                format_html_join(
                    "",
                    '<p id="error_{}_{}"><strong>{}</strong></p>',
                    ((n, field.auto_id, error) for n, error in enumerate(field.errors, 1)),
                ),
            )
        )
    if field.help_text:
        parts.append(
            format_html(
                '<div {}class="form-text">{}</div>',
                format_html('id="{}_helptext" ', field.auto_id) if field.auto_id else "",
                mark_safe(field.help_text),
            )
        )
    parts.append(mark_safe("</div>"))
    return mark_safe("".join(parts))


@register.filter
def plain_form(form):
    """`form|crispy` (bootstrap5, a form without a FormHelper), its fields written by
    filter_field: the same elements, without crispy's templates (the door-to-door page's form
    of four fields through crispy cost about as much as its list of buildings)."""
    parts = []
    errors = form.non_field_errors()
    if errors:
        parts.append(
            format_html(
                '<div class="alert alert-block alert-danger"><ul class="m-0">{}</ul></div>',
                unordered_list(errors, autoescape=True),
            )
        )
    parts.extend(filter_field(field) for field in form)
    return mark_safe("".join(parts))


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
    return figures.format_hours(value)


# The addresses of the pages without arguments that the navbar links (nav_url): the same for
# every request of a process, for as long as its URL conf and script prefix are.
_NAV_URLS: dict[tuple, str] = {}


@register.simple_tag
def nav_url(name):
    """`{% url name %}` of a page without arguments, reversed once per process: the navbar
    links some twenty pages on every page, and reversing each again cost about a quarter of the
    navbar's rendering."""
    key = (name, settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
    url = _NAV_URLS.get(key)
    if url is None:
        url = _NAV_URLS[key] = reverse(name)
    return url


# The navbar's pages that mark their own link as the current one (base.html: `here == …_url`).
NAV_HERE = (
    "reports:dashboard",
    "activities:activity_list",
    "activities:callout_list",
    "activities:open_activities",
    "reports:my_record",
    "members:report_in",
    "roster:list",
    "reports:attendance",
    "reports:charts",
    "reports:overview_street",
    "reports:overview_city",
)


@register.simple_tag
def nav_here(request):
    """The request's path if it is one of the navbar's own pages (NAV_HERE), else "": all that
    the navbar needs of the path, so that its memo (below) is one for every other page."""
    path = getattr(request, "path", "")
    key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
    paths = _NAV_HERE_PATHS.get(key)
    if paths is None:
        paths = _NAV_HERE_PATHS[key] = frozenset(nav_url(name) for name in NAV_HERE)
    return path if path in paths else ""


_NAV_HERE_PATHS: dict[tuple, frozenset] = {}


def _frozen(value):
    """A key's value as something hashable: a dict or a list as a tuple of its items."""
    if isinstance(value, dict):
        return tuple((name, _frozen(item)) for name, item in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


# What `{% memo %}`s wrote, by memo and key; the latest MEMO_SIZE kept.
_MEMO: dict[tuple, str] = {}
MEMO_SIZE = 1024
_memo_ids = itertools.count()


class MemoNode(template.Node):
    """What `{% memo %}` writes: its content rendered once per process for each key (the
    language, the URL conf and script prefix, the static files' address, and the values it
    names)."""

    # Not searched for {% block %}s (ExtendsNode looks through the whole base layout on every
    # page for them): a memo holds none.
    child_nodelists = ()

    def __init__(self, nodelist, keys):
        self.nodelist = nodelist
        self.keys = keys
        self.id = next(_memo_ids)

    def render(self, context):
        key = (
            self.id,
            get_language(),
            get_urlconf(),
            get_script_prefix(),
            settings.STATIC_URL,
            *(_frozen(name.resolve(context)) for name in self.keys),
        )
        html = _MEMO.get(key)
        if html is None:
            html = self.nodelist.render(context)
            if len(_MEMO) >= MEMO_SIZE:
                try:
                    _MEMO.pop(next(iter(_MEMO)), None)
                except (RuntimeError, StopIteration):  # another thread changed it meanwhile
                    pass
            _MEMO[key] = html
        return html


@register.tag
def memo(parser, token):
    """`{% memo a b|f … %}…{% endmemo %}`: the content written once per process for each value
    of the names given (and language), then copied: the navbar's links, the same on every page
    of a role, cost a tenth of a list page's CPU to render each time. The content may use
    nothing else that changes (no request, no CSRF token, no time), and may set no variable the
    rest of the page reads."""
    keys = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    if nodelist.get_nodes_by_type(BlockNode):
        raise template.TemplateSyntaxError("A {% memo %} cannot hold a {% block %}.")
    return MemoNode(nodelist, keys)


@register.simple_tag
def unread_notifications(user):
    """How many inbox messages the user has not read: the navbar bell. One COUNT, kept on the
    user object so that a page asking again (the inbox) does not count twice."""
    if not getattr(user, "is_authenticated", False):
        return 0
    cached = getattr(user, "_xiachen_unread", None)
    if cached is None:
        cached = user._xiachen_unread = unread_count(user)
    return cached


@cache
def _unread_sql(alias: str) -> str:
    meta = Notification._meta
    quote = connections[alias].ops.quote_name

    def column(name):
        return quote(meta.get_field(name).column)

    return (
        f"SELECT COUNT(*) FROM {quote(meta.db_table)} WHERE {column('channel')} = %s"
        f" AND {column('read_at')} IS NULL AND {column('recipient')} = %s"
        f" AND {column('state')} = %s"
    )


def unread_count(user) -> int:
    """`Notification.objects.inbox(user, read_at__isnull=True).count()` (the same statement,
    tests/xiachen/test_base_layout.py compares them), its SQL written once per process: built
    by the ORM on every page it cost half a millisecond of CPU."""
    alias = router.db_for_read(Notification)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            _unread_sql(alias),
            [Notification.Channel.INAPP.value, user.pk, Notification.State.SENT.value],
        )
        return cursor.fetchone()[0]


@register.simple_tag
def workspace_nav(user):
    """Which entries the navigation offers (communities.permissions.menu); each page checks
    again."""
    if not getattr(user, "is_authenticated", False):
        return {}
    # The scope first: with it read, member_of needs no query for staff without a member record.
    scope_of(user)
    return permissions.menu(user, is_member=member_of(user) is not None)


@register.simple_tag
def place_count(activity, lead=""):
    """What an activity's places hold, by its phase — the one place that decides it for the
    list, the week, the activity page and the dashboards. Before and while it runs: those
    taking a place of the capacity (已报名 8/12); once it has ended: those who attended
    (已参加 7), and those still waiting for the roll call; cancelled: nothing. The counts are
    the activity's own, whoever looks (Activity.objects.with_place_counts()).

    Written here rather than by an inclusion template: lists show it on every row, and
    rendering a template for each cost about 60 µs a row (a list's page of 20: 1.3 ms)."""
    status = activity.current_status
    if status == Activity.Status.CANCELLED:
        return ""
    if status == Activity.Status.FINISHED:
        pending = activity.signed_up - activity.present
        return format_html(
            '{}<span class="xc-place-count" data-testid="place-count" data-phase="after">{} '
            '<span data-figure="present">{}</span>{}</span>',
            lead,
            _("Present"),
            activity.present,
            format_html(
                ' · {} <span data-figure="pending">{}</span>', _("Pending roll call"), pending
            )
            if pending
            else "",
        )
    return format_html(
        '{}<span class="xc-place-count" data-testid="place-count" data-phase="before">{} '
        '<span data-figure="signed_up">{}</span>{}</span>',
        lead,
        _("Signed up"),
        activity.signed_up,
        f"/{activity.capacity}" if activity.capacity else "",
    )


@register.filter
def query_pairs(query, leave_out=""):
    """(name, value) of each parameter of a query string (request.GET) but those named in
    `leave_out` (comma-separated): the hidden fields that carry a list's filters into a form."""
    left_out = set(leave_out.split(","))
    return [
        (name, value) for name, values in query.lists() if name not in left_out for value in values
    ]


# Format characters finer than the minute (seconds, microseconds, the epoch, ISO 8601, RFC 5322):
# a format with none of them writes every moment of a minute alike.
FINER_THAN_A_MINUTE = frozenset("suUcr")


@lru_cache(maxsize=4096)
def _minute_text(minute: dt.datetime, wall: dt.datetime, zone: str, language: str, fmt: str):
    """`minute` written in `fmt`; the key names its wall time, zone and language, since two
    aware datetimes of the same instant are equal whatever their zone."""
    return date_format(minute, fmt)


@register.filter(expects_localtime=True)
def minute_date(value, arg="SHORT_DATETIME_FORMAT"):
    """`value|date:arg` (SHORT_DATETIME_FORMAT by default), each minute written once per format,
    language and zone, and remembered: a list's rows come in batches (a reminder for everyone
    signed up is queued at once: the outbox's 50 rows wrote 150 times what was 6 different
    minutes, about 60 µs each), and a page shown again shows the same moments."""
    fmt = get_format(arg)
    if not isinstance(value, dt.datetime) or FINER_THAN_A_MINUTE & set(fmt):
        return date_filter(value, arg)
    minute = value.replace(second=0, microsecond=0)
    zone = f"{value.tzname()}{value.utcoffset()}"
    return _minute_text(minute, minute.replace(tzinfo=None), zone, get_language(), fmt)
