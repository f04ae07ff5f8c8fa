"""The form renderer (settings.FORM_RENDERER): widgets render with the project's templates
(templates/django/forms/ overrides Django's), except a select and a plain input (a text box,
a number, a radio or check box alone), which are written here.

A select's template loop cost about 0.1 ms an option: a filter bar with a community's 140
agencies, or an office's 200 communities and its members, spent more time writing options than
the whole page spent on its queries (the office's review list: 54 ms of 98 ms of CPU at city
size). An input costs three templates (input.html, attrs.html and a loop over its attributes),
about 0.25 ms; a roll call's row has five (three marks, its hours, its note), which made the
templates of widgets half of the roll call's CPU time. The HTML is the same as Django's own
templates make of it, character for character (tests/xiachen/test_project.py compares them).
"""

from django.forms.renderers import TemplatesSetting
from django.template.base import render_value_in_context
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, SafeString, mark_safe

SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"
# The widgets whose template is input.html alone ({% include %} of it, nothing else).
INPUTS = {
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "search",
        "tel",
        "date",
        "datetime",
        "time",
        "color",
        "checkbox",
    )
}
# One radio or check box of a choice (`{{ choice.tag }}`): input_option.html around input.html.
INPUT_OPTIONS = {
    f"django/forms/widgets/{name}.html"
    for name in ("input_option", "radio_option", "checkbox_option")
}


def _formatted(value) -> str:
    """`{{ value|stringformat:'s' }}`: the value as text, escaped unless it is safe already."""
    text = str(value)
    return conditional_escape(mark_safe(text) if isinstance(value, SafeData) else text)


def _attrs(attrs) -> str:
    """Django's django/forms/widgets/attrs.html: ` name="value"` each, a True value as its
    name alone, a False one left out."""
    written = []
    for name, value in attrs.items():
        if value is False:
            continue
        written.append(f" {conditional_escape(name)}")
        if value is not True:
            written.append(f'="{_formatted(value)}"')
    return "".join(written)


def render_select(widget: dict) -> str | None:
    """A select widget's HTML from its template context, as Django's select.html and
    select_option.html write it; None when an option has a template of its own."""
    text = Context()  # how a template writes {{ value }}: localized and escaped
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{render_value_in_context(group_name, text)}">')
        for option in options:
            if option["template_name"] != OPTION:
                return None
            parts.append(
                f'\n  <option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
                f"{render_value_in_context(option['label'], text)}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return SafeString("".join(parts))


def render_input(widget: dict) -> str:
    """Django's input.html: `<input type=... name=...` with the value unless it is None."""
    text = Context()
    value = widget["value"]
    shown = "" if value is None else f' value="{_formatted(value)}"'
    return (
        f'<input type="{render_value_in_context(widget["type"], text)}"'
        f' name="{render_value_in_context(widget["name"], text)}"{shown}{_attrs(widget["attrs"])}>'
    )


def render_input_option(widget: dict) -> str:
    """Django's input_option.html: the input, inside its label when `wrap_label`."""
    html = render_input(widget)
    if not widget.get("wrap_label"):
        return html
    text = Context()
    target = widget["attrs"].get("id")
    label_for = f' for="{render_value_in_context(target, text)}"' if target else ""
    # input.html ends with a line break, which its include keeps inside the label.
    label = render_value_in_context(widget["label"], text)
    return f"<label{label_for}>{html}\n {label}</label>"


class FormRenderer(TemplatesSetting):
    """TemplatesSetting, with selects and plain inputs written in Python."""

    def render(self, template_name, context, request=None):
        if template_name == SELECT:
            html = render_select(context["widget"])
            if html is not None:
                return html
        elif template_name in INPUTS:
            return SafeString(render_input(context["widget"]))
        elif template_name in INPUT_OPTIONS:
            return SafeString(render_input_option(context["widget"]))
        return super().render(template_name, context, request)
