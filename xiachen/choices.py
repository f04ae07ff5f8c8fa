"""`get_FOO_display()` without rebuilding the field's choices on every call.

Django's `Model._get_FIELD_display` makes a dict of the field's choices each time it is called,
hashing every label on the way; our labels are lazy translations, so each call translates all
of them to show one (a notification's kind has some twenty). Lists of a page call it on every
row: an inbox page spent a few milliseconds there. `use_cached_choice_displays` (run once
the models are loaded, from XiachenConfig.ready) gives each such method the same answer from a
dict built once per field; the label is still translated when it is shown, in the language of
the request.
"""

from functools import partialmethod

from django.apps import apps
from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

_LABELS: dict = {}


def _display(self, field):
    value = getattr(self, field.attname)
    labels = _LABELS.get(field)
    if labels is None:
        labels = _LABELS[field] = dict(make_hashable(field.flatchoices))
    return force_str(labels.get(make_hashable(value), value), strings_only=True)


def use_cached_choice_displays() -> int:
    """Swaps Django's `get_FOO_display` for `_display` on every model field with fixed choices
    (a list, not a callable evaluated each time); returns how many were swapped."""
    swapped = 0
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if not isinstance(getattr(field, "choices", None), (list, tuple)):
                continue
            name = f"get_{field.name}_display"
            method = model.__dict__.get(name)
            # Only Django's own: a model that writes its get_FOO_display keeps it.
            if isinstance(method, partialmethod) and method.func is models.Model._get_FIELD_display:
                setattr(model, name, partialmethod(_display, field=field))
                swapped += 1
    return swapped
