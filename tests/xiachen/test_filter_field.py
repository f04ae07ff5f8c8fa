"""`filter_field` (xiachen/templatetags/xiachen.py): a filter bar's field as crispy writes it,
without crispy's templates."""

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field, as_crispy_form
from django import forms
from django.test.html import parse_html
from django.test.signals import template_rendered

from activities.forms.doors import DoorUnitsAddForm
from activities.forms.rollcall import RollCallForm
from communities.filters import DateInput
from communities.models import Compound
from xiachen.templatetags.xiachen import filter_field, plain_form


class Filters(forms.Form):
    q = forms.CharField(label="名字", required=False, max_length=50)
    day = forms.DateField(label="从", required=False, widget=DateInput())
    kind = forms.ChoiceField(label="类型 <&>", required=False, choices=[("", "全部"), ("a", "甲")])
    grid = forms.ChoiceField(
        label="网格",
        choices=[("1", "紫林苑")],
        help_text="只看<b>自己</b>的网格",
        widget=forms.Select(attrs={"class": "w-auto"}),
    )
    note = forms.CharField(label="", required=False, widget=forms.TextInput(attrs={"class": "x"}))
    on = forms.BooleanField(label="仅我", required=False)
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)


def _rendered(render):
    names = []

    def note(sender, template, **kwargs):
        names.append(template.name)

    template_rendered.connect(note)
    try:
        return render(), names
    finally:
        template_rendered.disconnect(note)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"q": "x" * 60, "day": "bad", "kind": "zz", "grid": "9"},
        {"q": "王", "day": "2026-05-01", "kind": "a", "grid": "1", "on": "on"},
    ],
)
def test_each_field_is_the_same_html_as_crispys(data):
    for name in Filters.base_fields:
        # A form each, as a page has: crispy and this both set the widget's classes.
        ours, rendered = _rendered(lambda: filter_field(Filters(data)[name]))  # noqa: B023
        theirs = as_crispy_field(Filters(data)[name])
        assert parse_html(ours) == parse_html(theirs), (name, ours, theirs)
        if name not in ("on", "hidden"):
            assert not [n for n in rendered if n.startswith("bootstrap5/")], (name, rendered)


def test_errors_are_shown_on_the_field():
    html = filter_field(Filters({"day": "bad"})["day"])
    assert 'class="dateinput form-control is-invalid"' in html
    assert 'aria-invalid="true"' in html
    assert '<div id="id_day_error" class="invalid-feedback"><p id="error_1_id_day">' in html


class Checked(Filters):
    def clean(self):
        raise forms.ValidationError(["两个 <错误>", "第二个"])


@pytest.mark.parametrize(
    "form",
    [
        Filters(),
        Filters({"q": "x" * 60, "day": "bad", "kind": "zz", "grid": "9"}),
        Checked({"q": "王", "grid": "1"}),
        RollCallForm(),
        RollCallForm({"resident_volunteers": "-1"}),
    ],
    ids=["unbound", "field-errors", "form-errors", "roll-call", "roll-call-error"],
)
def test_a_plain_form_is_the_same_html_as_crispys(form):
    ours, rendered = _rendered(lambda: plain_form(form))
    theirs = as_crispy_form(type(form)(form.data if form.is_bound else None))
    assert parse_html(ours) == parse_html(theirs), (ours, theirs)
    if "on" not in form.fields:  # a checkbox is crispy's to write
        assert not [n for n in rendered if n.startswith("bootstrap5/")], rendered


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", [None, {"building": "9-1", "households": "0"}, {"building": "3", "households": "12"}]
)
@pytest.mark.parametrize("compounds", [0, 2])
def test_the_door_to_door_form_is_the_same_html_as_crispys(world, data, compounds):
    for name in ["紫林苑", "翰林苑"][:compounds]:
        Compound.objects.create(community=world.shengli, name=name)
    ours = plain_form(DoorUnitsAddForm(data, community=world.shengli))
    theirs = as_crispy_form(DoorUnitsAddForm(data, community=world.shengli))
    assert parse_html(ours) == parse_html(theirs), (ours, theirs)
    assert ("紫林苑" in ours) is bool(compounds)
