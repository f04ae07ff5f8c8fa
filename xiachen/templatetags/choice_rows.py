"""A field's radio buttons or check boxes as crispy-bootstrap5 writes them, one option at a time
in Python instead of its template (templates/bootstrap5/layout/radio_checkbox_select.html).

The template's loop cost about 0.3 ms an option: a street officer's call-out form, with the
street's communities and their grids (150-odd check boxes), took 73 ms of CPU at city size, and
31 ms written here. The HTML is crispy-bootstrap5's own, character for character
(tests/xiachen/test_choice_rows.py compares them).
"""

from django import template
from django.template.base import render_value_in_context
from django.template.loader import get_template
from django.templatetags.l10n import unlocalize
from django.utils.safestring import SafeString

from xiachen.renderers import _attrs

register = template.Library()

ERRORS = "bootstrap5/layout/field_errors_block.html"


@register.simple_tag(takes_context=True)
def choice_options(context, field, options, inline_class, last_group):
    """The options of one group of `field` (crispy's `field|optgroups`): each in its
    form-check div, the field's errors under the last option of the last group when the
    options are not inline, as the template wrote them."""
    invalid = " is-invalid" if field.errors else ""
    inline = " form-check-inline" if inline_class else ""
    name = render_value_in_context(field.html_name, context)
    errors_after = bool(field.errors and not inline_class and last_group)
    parts = []
    for number, option in enumerate(options, start=1):
        target = render_value_in_context(option["attrs"].get("id", ""), context)
        errors = ""
        if errors_after and number == len(options):
            errors = (
                "\n            " + get_template(ERRORS).render(context.flatten()) + "\n        "
            )
        parts.append(
            f'\n      <div class="form-check{inline}">'
            f'\n        <input type="{render_value_in_context(option["type"], context)}"'
            f' class="form-check-input{invalid}"  name="{name}"'
            f' value="{render_value_in_context(unlocalize(option["value"]), context)}"'
            f" {_attrs(option['attrs'])}>"
            f'\n        <label for="{target}"'
            f' class="form-check-label">'
            f"\n            {render_value_in_context(unlocalize(option['label']), context)}"
            f"\n        </label>\n        {errors}\n     </div>\n    "
        )
    return SafeString("".join(parts))
