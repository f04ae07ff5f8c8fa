"""get_FOO_display() answers as Django's own, from choices read once per field (xiachen.choices)."""

from unittest import mock

import pytest
from django.apps import apps
from django.db import models
from django.db.models import base
from django.utils import translation

from notifications.models import Notification


def fields_with_choices():
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if isinstance(field.choices, (list, tuple)):
                yield model, field


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_display_answers_as_djangos_own(language):
    checked = 0
    with translation.override(language):
        for model, field in fields_with_choices():
            values = [value for value, _label in field.flatchoices] + ["no-such-choice", None]
            for value in values:
                try:
                    row = model(**{field.attname: value})
                except Exception:  # a field that refuses a value outside its choices (a time zone)
                    continue
                ours = getattr(row, f"get_{field.name}_display")()
                djangos = models.Model._get_FIELD_display(row, field)
                assert ours == djangos, (model, field.name, value)
                checked += 1
    assert checked > 100


def test_a_display_translates_one_label_not_all_of_the_fields():
    """Django's rebuilds the choices (make_hashable over every lazy label) on each call."""
    row = Notification(kind=Notification._meta.get_field("kind").flatchoices[0][0])
    row.get_kind_display()
    with mock.patch.object(base, "make_hashable", wraps=base.make_hashable) as rebuilt:
        with translation.override("zh-hans"):
            label = row.get_kind_display()
    assert rebuilt.call_count == 0
    assert label == str(Notification._meta.get_field("kind").flatchoices[0][1])
