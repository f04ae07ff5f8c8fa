"""Chinese first: the zh-hans catalogue is complete and compiled by the build."""

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation

from communities.models import Agreement

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_message_of_the_catalogue_is_translated():
    with PO.open("rb") as f:
        catalogue = read_po(f, locale="zh_Hans")
    untranslated = [
        m.id
        for m in catalogue
        if m.id and (not all(m.string) if isinstance(m.string, tuple) else not m.string)
    ]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not untranslated, untranslated
    assert not fuzzy, fuzzy


def test_the_compiled_catalogue_is_used():
    assert PO.with_suffix(".mo").exists(), "make compiles the catalogue before the tests run"
    with translation.override("zh-hans"):
        assert str(Agreement._meta.verbose_name) == "共驻共建协议"
        assert str(Agreement.Status.ACTIVE.label) == "生效中"
    with translation.override("en"):
        assert str(Agreement._meta.verbose_name) == "co-construction agreement"


def test_database_rules_explain_themselves_in_chinese(world):
    agreement = Agreement(
        agency=world.sanxia,
        community=world.shengli,
        number="X",
        starts_on=dt.date(2026, 7, 1),
        ends_on=dt.date(2026, 6, 30),
    )
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        agreement.full_clean()
    assert "协议的结束日期必须晚于开始日期。" in caught.value.messages


def test_a_nul_byte_in_a_field_is_named_in_plain_chinese():
    """Django's own catalogue says "不允许是用空字符串" (empty strings not allowed) for a NUL
    byte typed or pasted into a field; ours names it."""
    from django import forms

    class Form(forms.Form):
        title = forms.CharField()

    with translation.override("zh-hans"):
        form = Form({"title": "巡查\x00"})
        assert not form.is_valid()
        assert form.errors["title"] == ["不能包含空字符（NUL）。"]
