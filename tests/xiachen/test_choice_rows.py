"""Radio buttons and check boxes are written by choice_options (xiachen/templatetags/
choice_rows.py) exactly as crispy-bootstrap5's own template writes them, one option at a time in
Python instead of a template loop per option."""

import pytest
from crispy_forms import utils as crispy_utils
from crispy_forms.bootstrap import InlineCheckboxes, InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from crispy_forms.templatetags import crispy_forms_filters, crispy_forms_tags
from django import forms
from django.conf import settings
from django.template import engines
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from activities.forms.callouts import CallOutForm
from communities.models import Community

ORIGINAL = "bootstrap5/layout/radio_checkbox_select.html"

# crispy-bootstrap5's templates alone: the project's folder (and its override) left out.
CRISPYS_OWN = [{**settings.TEMPLATES[0], "DIRS": []}]

GROUPED = [
    ("第一组", [(1, "一 <b>&amp;</b>"), (1000, '千 "引号"')]),
    ("<第二组>", [(2500, "二千五百"), (7, "七")]),
]


class Choices(forms.Form):
    many = forms.MultipleChoiceField(
        label="多选", choices=GROUPED, widget=forms.CheckboxSelectMultiple, help_text="可多选"
    )
    one = forms.ChoiceField(
        label="单选", choices=[("a", "甲 <i>"), ("b", "乙 & 丙")], widget=forms.RadioSelect
    )
    plain = forms.MultipleChoiceField(
        label="不分组",
        choices=[(n, f"第{n}项") for n in range(1, 6)],
        widget=forms.CheckboxSelectMultiple(attrs={"data-x": 'y"<'}),
        required=False,
    )


def _forget_crispys_templates():
    """crispy keeps the templates it loaded (lru_cache), and they include others through the
    engine that loaded them: forgotten, they are loaded again from the engine in force."""
    for cached in (
        crispy_forms_filters.uni_form_template,
        crispy_forms_filters.uni_formset_template,
        crispy_forms_tags.whole_uni_form_template,
        crispy_forms_tags.whole_uni_formset_template,
        crispy_utils.default_field_template,
    ):
        cached.cache_clear()


def _render(form, helper=None):
    template = engines["django"].from_string(
        "{% load crispy_forms_tags %}{% if helper %}{% crispy form helper %}"
        "{% else %}{{ form|crispy }}{% endif %}"
    )
    return template.render({"form": form, "helper": helper})


def _both(make_form, helper=None):
    """The HTML with the project's templates, and with crispy-bootstrap5's alone, of a new
    form each time (a bound field keeps what it rendered)."""
    ours = _render(make_form(), helper)
    _forget_crispys_templates()
    try:
        with override_settings(TEMPLATES=CRISPYS_OWN):
            theirs = _render(make_form(), helper)
    finally:
        _forget_crispys_templates()
    return ours, theirs


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "data",
    [
        None,
        {"many": ["1000", "7"], "one": "b", "plain": ["2"]},
        {"many": ["999"], "plain": ["x"]},  # errors on every field
    ],
    ids=["unbound", "valid", "errors"],
)
def test_choices_are_written_as_crispys_template_writes_them(language, data):
    with translation.override(language):
        ours, theirs = _both(lambda: Choices(data, initial={"many": [1, 2500]}))
    assert ours == theirs
    assert ours.count('class="form-check-input') == 11
    assert "一 &lt;b&gt;&amp;amp;&lt;/b&gt;" in ours and "&lt;第二组&gt;" in ours
    if data and "one" not in data:
        assert "is-invalid" in ours and "invalid-feedback" in ours


@pytest.mark.parametrize("data", [None, {"many": ["5"], "plain": ["9"]}], ids=["unbound", "errors"])
def test_inline_choices_are_written_as_crispys_template_writes_them(data):
    helper = FormHelper()
    helper.form_tag = False
    helper.layout = Layout(InlineCheckboxes("many"), InlineRadios("one"), "plain")
    ours, theirs = _both(lambda: Choices(data), helper)
    assert ours == theirs
    assert "form-check-inline" in ours


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", [None, {"communities": ["1", "999999"], "grids": ["x"]}], ids=["new", "refused"]
)
def test_a_street_officers_call_out_form_is_unchanged(world, data):
    communities = Community.objects.filter(street=world.wanshouqiao).order_by("name")
    if data:
        data = {**data, "communities": [str(communities[0].pk), "999999"]}
    ours, theirs = _both(lambda: CallOutForm(data, communities=communities))
    assert ours == theirs
    assert ours.count('type="checkbox"') >= communities.count()


@pytest.mark.django_db
def test_the_call_out_page_writes_its_check_boxes_without_a_template_per_option(
    client, world, street_officer
):
    client.force_login(street_officer)
    response = client.get(reverse("activities:callout_create"))
    assert response.status_code == 200
    names = [template.name for template in response.templates]
    assert ORIGINAL in names
    assert "bootstrap5/layout/attrs.html" not in names
    for community in Community.objects.filter(street=world.wanshouqiao):
        assert f'value="{community.pk}"' in response.content.decode()
