"""The rows of the door-to-door page's list of buildings (templates/activities/door_units.html):
`{% load door_rows %}`.

door_unit_rows writes each building's row with f-strings, every name and text escaped, in the very
markup the template's loop wrote for each, whitespace included: the loop's tags, each of its
two forms' `{% url %}` and `{% csrf_token %}`, cost 70–80 µs a row, and a manager's page shows
100 (7–8 ms). door_member_rows writes the per-member totals below it the same way. A change
to a row's markup is made here.
"""

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from activities.figures import format_rate
from communities.links import id_url
from reports.svg import escape as _text

register = template.Library()


@register.simple_tag(takes_context=True)
def door_unit_rows(context, units, manager: bool) -> SafeString:
    """The buildings of a page of the list (the view's rows: label, mine, can_record, done…),
    with a tick for managers and the record form for those who may record each."""
    mine_word, unassigned, reached_word, save, remove = (
        _text(word)
        for word in (
            _("Mine"),
            _("Not assigned"),
            _("Households reached"),
            _("Save"),
            _("Remove from the list"),
        )
    )
    csrf = CsrfTokenNode().render(context)
    rows = []
    for unit in units:
        pk, label = unit["pk"], _text(unit["label"])
        reached, households = unit["households_reached"], unit["households"]
        mine, done = unit["mine"], unit["done"]
        if manager:
            tick = (
                '\n              <input class="form-check-input me-1 xc-door-tick" type="checkbox"'
                f' name="units" value="{pk}" form="assign-form" id="tick-{pk}"'
                f"{' checked' if unit['ticked'] else ''}>"
                f'\n              <label class="fw-semibold xc-tick-label" for="tick-{pk}"'
                f' data-testid="unit-label">{label}</label>\n            '
            )
        else:
            tick = (
                '\n              <span class="fw-semibold" data-testid="unit-label">'
                f"{label}</span>\n            "
            )
        if done:
            badge = "text-bg-success"
        elif reached:
            badge = "text-bg-warning"
        else:
            badge = "text-bg-light border"
        if unit["member_id"]:
            member = _text(unit["member__name"])
            if mine:
                member += f' <span class="badge text-bg-warning">{mine_word}</span>'
        else:
            member = unassigned
        recorded = f"· {_text(unit['recorded_text'])}" if unit["recorded_at"] else ""
        record = ""
        if unit["can_record"]:
            errors = unit["record_errors"]
            record = (
                '\n          <form method="post"'
                f' action="{_text(id_url("activities:door_unit_record", pk))}"'
                ' class="d-flex flex-wrap align-items-center gap-2 mt-2"'
                ' data-testid="record-form">'
                f"\n            {csrf}"
                f'\n            <label class="visually-hidden" for="reached-{pk}">'
                f"{reached_word}</label>"
                '\n            <div class="input-group input-group-sm xc-reached-input">'
                '\n              <input type="number" class="form-control'
                f'{" is-invalid" if errors else ""}" id="reached-{pk}"'
                f' name="households_reached" value="{_text(unit["record_value"])}" min="0"'
                f' max="{households}" inputmode="numeric" data-testid="reached-input">'
                f'\n              <span class="input-group-text">/ {households}</span>'
                "\n            </div>"
                '\n            <button type="submit" class="btn btn-sm btn-primary"'
                f' data-testid="record">{save}</button>'
                "\n            "
                + (
                    ""
                    if done
                    else '\n              <button type="submit" name="all" value="1"'
                    ' class="btn btn-sm btn-outline-success" data-testid="record-all">'
                    f"{_text(unit['all_reached_text'])}</button>\n            "
                )
                + "\n            "
                + (
                    '\n              <div class="invalid-feedback d-block w-100"'
                    ' data-testid="record-error">'
                    + "".join(f"{_text(error)} " for error in errors)
                    + "</div>\n            "
                    if errors
                    else ""
                )
                + "\n          </form>\n        "
            )
        removal = ""
        if manager and not unit["recorded_at"] and not reached:
            removal = (
                '\n          <form method="post"'
                f' action="{_text(id_url("activities:door_unit_remove", pk))}" class="mt-1">'
                f"\n            {csrf}"
                '\n            <button type="submit"'
                ' class="btn btn-link btn-sm p-0 text-body-secondary"'
                f' data-testid="remove">{remove}</button>'
                "\n          </form>\n        "
            )
        rows.append(
            f'\n      <li class="list-group-item{" xc-mine" if mine else ""}" id="unit-{pk}"'
            f' data-testid="door-unit" data-pk="{pk}">'
            '\n        <div class="d-flex justify-content-between align-items-start gap-2">'
            '\n          <div class="text-break">'
            f"\n            {tick}"
            "\n          </div>"
            f'\n          <span class="badge {badge} text-nowrap" data-testid="unit-reached">'
            f"{reached}/{households}</span>"
            "\n        </div>"
            f'\n        <progress class="xc-progress my-1{" xc-progress-done" if done else ""}"'
            f' aria-label="{label}" max="100" value="{unit["width"]}">'
            f"{reached}/{households}</progress>"
            '\n        <div class="small text-body-secondary text-break">'
            '\n          <span class="text-nowrap">'
            f"{_text(unit['households_text'])}</span> ·"
            f'\n          <span data-testid="unit-member">{member}</span>'
            f"\n          {recorded}"
            "\n        </div>"
            f"\n        {record}"
            f"\n        {removal}"
            "\n      </li>\n    "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped or a number)


@register.simple_tag
def door_member_rows(by_member) -> SafeString:
    """The per-member totals below the list (door_coverage_by_member's rows, with the view's
    rate, width and units_text): each member's households reached, the unassigned last."""
    unassigned = _text(_("Not assigned"))
    rows = []
    for row in by_member:
        member = row["member"]
        if member:
            name = _text(row["member__name"])
            agency = row["member__agency__short_name"] or row["member__agency__name"]
            who = (
                f'<span class="fw-semibold">{name}</span> <span class="small text-body-secondary">'
                f"{_text(agency)}</span>"
            )
        else:
            name = unassigned
            who = f'<span class="text-body-secondary">{unassigned}</span>'
        reached, households = row["reached"], row["households"]
        done = " xc-progress-done" if reached >= households else ""
        rows.append(
            '\n        <li class="list-group-item" data-testid="member-total"'
            f' data-member="{member or ""}">'
            '\n          <div class="d-flex justify-content-between gap-2">'
            f'\n            <span class="text-break">{who}</span>'
            '\n            <span class="small text-nowrap"><span data-testid="member-reached">'
            f"{reached}/{households}</span> · {_text(format_rate(row['rate']))}</span>"
            "\n          </div>"
            '\n          <div class="small text-body-secondary">'
            f"{_text(row['units_text'])}</div>"
            f'\n          <progress class="xc-progress mt-1{done}" aria-label="{name}"'
            f' max="100" value="{row["width"]}">{reached}/{households}</progress>'
            "\n        </li>\n      "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped or a number)
