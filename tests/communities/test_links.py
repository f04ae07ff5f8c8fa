"""communities.links.id_url and the template engine's `{% url %}` (xiachen/templatetags/links.py):
a page by its id, its address found once per process, the same address as reverse()'s."""

import pytest
from django.template import engines
from django.urls import (
    NoReverseMatch,
    URLPattern,
    URLResolver,
    get_resolver,
    reverse,
    set_script_prefix,
)

from communities import links


def _names_by_one_id(resolver=None, namespace=""):
    """Each named page of the URL conf whose address takes one argument."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _names_by_one_id(entry, inner)
        elif (
            isinstance(entry, URLPattern)
            and entry.name
            and len(entry.pattern.regex.groupindex) == 1
        ):
            yield f"{namespace}{entry.name}"


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(links, "_PARTS", {})


def test_every_page_by_one_id_has_reverses_address(fresh):
    names = sorted(set(_names_by_one_id()))
    assert "activities:activity_detail" in names and "admin:members_member_change" in names
    checked = 0
    for name in names:
        for pk in (0, 7, 12345):
            try:
                expected = reverse(name, args=[pk])
            except NoReverseMatch:
                with pytest.raises(NoReverseMatch):
                    links.id_url(name, pk)
                continue
            assert links.id_url(name, pk) == expected, name
            checked += 1
    assert checked > 50


def test_the_parts_are_found_once(fresh, monkeypatch):
    calls = []
    real = links.reverse

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(links, "reverse", counted)
    urls = [links.id_url("activities:activity_detail", pk) for pk in range(5)]
    assert urls == [f"/activities/{pk}/" for pk in range(5)]
    assert len(calls) == 2  # the marker, and an id to check it against


def test_what_is_not_an_id_is_reversed_as_given(fresh):
    assert links.id_url("activities:activity_detail", "12") == "/activities/12/"
    token = "a b?c"  # quoted by reverse
    assert links.id_url("activities:callout_answer", token) == reverse(
        "activities:callout_answer", args=[token]
    )
    with pytest.raises(NoReverseMatch):
        links.id_url("activities:activity_detail", -1)
    with pytest.raises(NoReverseMatch):
        links.id_url("reports:dashboard", 3)  # a page without an id


def test_the_address_follows_the_script_prefix(fresh):
    try:
        set_script_prefix("/xiachen/")
        assert links.id_url("activities:activity_detail", 3) == "/xiachen/activities/3/"
    finally:
        set_script_prefix("/")
    assert links.id_url("activities:activity_detail", 3) == "/activities/3/"


def _render(source, **context):
    return engines["django"].from_string(source).render(context)


def test_the_url_tag_writes_reverses_address(fresh):
    assert _render("{% url 'activities:concern_detail' pk %}", pk=5) == "/activities/concerns/5/"
    assert _render("{% url name pk %}", name="activities:concern_detail", pk=6) == (
        "/activities/concerns/6/"
    )
    assert _render("{% url 'activities:concern_detail' pk as u %}[{{ u }}]", pk=7) == (
        "[/activities/concerns/7/]"
    )
    assert _render("{% url 'activities:concern_detail' pk=8 %}") == "/activities/concerns/8/"
    assert _render("{% url 'reports:dashboard' %}") == "/"
    assert (
        _render("{% url 'activities:door_units' 3 as u %}{% url 'nope' 3 as v %}[{{ v }}]") == "[]"
    )
    with pytest.raises(NoReverseMatch):
        _render("{% url 'nope' 3 %}")
