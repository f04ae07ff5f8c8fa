"""`minute_date` writes a moment as the `date` filter does, each minute once."""

import datetime as dt
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from xiachen.templatetags.xiachen import _minute_text

MOMENTS = [
    dt.datetime(2026, 12, 7, 9, 5, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 7, 9, 5, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 7, 16, 0, 1, tzinfo=dt.UTC),  # midnight in Shanghai
    dt.datetime(2026, 3, 8, 10, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    None,
    "",
]


def _both(value, fmt=None):
    arg = f':"{fmt}"' if fmt else ""
    ours = Template(f"{{% load xiachen %}}{{{{ v|minute_date{arg} }}}}")
    django = Template(f'{{{{ v|date:"{fmt or "SHORT_DATETIME_FORMAT"}" }}}}')
    return ours.render(Context({"v": value})), django.render(Context({"v": value}))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_it_writes_what_the_date_filter_writes(language, zone):
    with translation.override(language), timezone.override(zone):
        for value in MOMENTS:
            for fmt in (None, "n月j日 D H:i", "H:i", "DATE_FORMAT", "P"):
                ours, django = _both(value, fmt)
                assert ours == django, (value, fmt, ours, django)


def test_the_same_minute_is_written_once_and_other_zones_and_languages_apart():
    _minute_text.cache_clear()
    first = dt.datetime(2026, 12, 7, 1, 2, 3, tzinfo=dt.UTC)
    with translation.override("zh-hans"), timezone.override("Asia/Shanghai"):
        _both(first)
        _both(first + dt.timedelta(seconds=30))
        assert _minute_text.cache_info().misses == 1
    with translation.override("en"), timezone.override("Asia/Shanghai"):
        assert _both(first)[0] == _both(first)[1]
    with translation.override("zh-hans"), timezone.override("UTC"):
        assert _both(first)[0] == _both(first)[1]
    assert _minute_text.cache_info().misses == 3


def test_a_format_with_seconds_is_written_by_the_date_filter_itself(monkeypatch):
    # No language here shows seconds in its short format; one that did must not be remembered
    # by the minute.
    import xiachen.templatetags.xiachen as tags

    monkeypatch.setattr(tags, "get_format", lambda arg: "Y-m-d H:i:s")
    monkeypatch.setattr(tags, "date_filter", lambda value, arg: f"date filter {value.second}")
    _minute_text.cache_clear()
    moment = dt.datetime(2026, 12, 7, 1, 2, 3, tzinfo=dt.UTC)
    with timezone.override("UTC"):
        assert _both(moment)[0] == "date filter 3"
    assert _minute_text.cache_info().misses == 0
