"""The rows of the community dashboard's three long lists (templates/reports/fragments/
community.html): `{% load dashboard_rows %}`.

Each tag writes its list's rows with f-strings, every name and text escaped, in the very markup
the template's loop wrote for each, whitespace included: that loop's tags and filters cost
115–125 µs a row of the week's activities and of the agreements (a staff dashboard's 20 and
20: 4–5 ms at city size), 30 µs an agency's. A change to a row's markup is made here.
"""

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from activities.figures import format_rate
from reports.svg import escape as _text

from .xiachen import minute_date, place_count

register = template.Library()


@register.simple_tag
def week_activity_rows(activities, several: bool) -> SafeString:
    """The week's activities as community.html lists them, each row linking to its activity."""
    my_grid = _text(_("My grid"))
    rows = []
    for activity in activities:
        mine = activity["in_my_grids"]
        place = f" · {_text(activity['place'])}" if activity["place"] else ""
        community = f" · {_text(activity['community_name'])}" if several else ""
        grid = f" · {_text(activity['grid_name'])}" if activity["grid_name"] else ""
        title = _text(activity["title"])
        starts = minute_date(timezone.localtime(activity["starts_at"]))
        ends = minute_date(timezone.localtime(activity["ends_at"]), "H:i")
        rows.append(
            f'\n        <li class="list-group-item{" xc-mine" if mine else ""}">'
            '\n          <div class="d-flex flex-wrap justify-content-between gap-2">'
            f'\n            <span class="fw-semibold text-break">{title}</span>'
            '\n            <span class="badge text-bg-secondary align-self-start">'
            f"{_text(activity['status_label'])}</span>"
            "\n          </div>"
            '\n          <div class="small text-body-secondary text-break">'
            f"\n            {_text(starts)}–{_text(ends)}"
            f"\n            · {_text(activity['type_name'])} · {_text(activity['nature_label'])}"
            f"\n            {place}"
            f"\n            {community}"
            f"\n            {grid}"
            f"\n            {place_count(activity, lead='· ')}"
            "\n            "
            + (f'<span class="badge text-bg-warning ms-1">{my_grid}</span>' if mine else "")
            + "\n          </div>"
            # The whole row opens the activity (list-group-item is positioned).
            "\n          "
            f'\n          <a class="stretched-link" href="{_text(activity["url"])}"'
            ' data-testid="activity-link">'
            f'<span class="visually-hidden">{title}</span></a>'
            "\n        </li>\n      "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)


@register.simple_tag
def agency_rows(by_agency) -> SafeString:
    """The agencies of the members reported in, each linking to its members and its count."""
    return mark_safe(  # noqa: S308 (every value is escaped)
        "".join(
            '\n        <li class="list-group-item d-flex justify-content-between'
            ' align-items-center gap-2">'
            f'\n          <a class="text-break" href="{_text(row["url"])}">'
            f"{_text(row['member__agency__name'])}</a>"
            '\n          <span class="badge rounded-pill text-bg-light border"'
            f' data-agency-count="{row["member__agency"]}">{row["members"]}</span>'
            "\n        </li>\n      "
            for row in by_agency
        )
    )


@register.simple_tag
def agreement_rows(agreements, several: bool) -> SafeString:
    """The agreements in force with their duty fulfilment this month and since each started."""
    fulfilment_title = _text(
        _("Days with at least the quota of members present on duty activities ÷ days in the period")
    )
    fulfilment, this_month, since_start = (
        _text(word) for word in (_("Duty fulfilment"), _("this month"), _("since it started"))
    )
    rows = []
    for agreement in agreements:
        number = _text(agreement["number"])
        community = f" · {_text(agreement['community_name'])}" if several else ""
        month, total = agreement["fulfilment_month"], agreement["fulfilment_total"]
        rows.append(
            f'\n        <li class="list-group-item" data-agreement="{number}">'
            '\n          <div class="d-flex flex-wrap justify-content-between gap-2">'
            '\n            <span class="text-break"><a class="fw-semibold"'
            f' href="{_text(agreement["url"])}"'
            f' data-testid="agreement-link">{_text(agreement["agency_name"])}</a>'
            '\n              <span class="small text-body-secondary">'
            f"{number}{community}</span></span>"
            f'\n            <span class="small">{_text(agreement["quota_text"])}'
            f"\n              · {_text(agreement['until_text'])}</span>"
            "\n          </div>"
            f'\n          <div class="small text-body-secondary" title="{fulfilment_title}">'
            f"\n            {fulfilment}:"
            "\n            "
            f'\n              <span class="text-nowrap">{this_month} <strong class="text-body"'
            f' data-fulfilment="month">{_text(format_rate(month.rate))}</strong>'
            f"\n                ({_text(agreement['month_days_text'])})</span>"
            f'\n              · <span class="text-nowrap">{since_start} <strong class="text-body"'
            f' data-fulfilment="total">{_text(format_rate(total.rate))}</strong>'
            f"\n                ({_text(agreement['total_days_text'])})</span>"
            "\n            "
            "\n          </div>"
            "\n        </li>\n      "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)
