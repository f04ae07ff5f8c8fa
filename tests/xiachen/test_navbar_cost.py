"""The navbar on every page: its links reversed once per process (nav_url), the same links."""

import re

import pytest
from django.urls import reverse

from xiachen.templatetags import xiachen as tags


@pytest.fixture
def reversals(monkeypatch):
    """The names the navbar's tag reverses from here on."""
    names = []

    def counted(name, *args, **kwargs):
        names.append(name)
        return reverse(name, *args, **kwargs)

    monkeypatch.setattr(tags, "reverse", counted)
    monkeypatch.setattr(tags, "_NAV_URLS", {})
    monkeypatch.setattr(tags, "_NAV_HERE_PATHS", {})
    monkeypatch.setattr(tags, "_MEMO", {})
    return names


@pytest.mark.django_db
def test_the_navbar_reverses_its_links_once_per_process(client, community_staff, reversals):
    client.force_login(community_staff)
    first = client.get(reverse("reports:dashboard"))
    assert first.status_code == 200
    assert {"reports:dashboard", "notifications:inbox", "logout", "set_language"} <= set(reversals)
    reversals.clear()
    second = client.get(reverse("activities:activity_list"))
    assert second.status_code == 200
    assert reversals == []  # every link of the navbar came from the process's own list
    html = second.content.decode()
    for name in ("reports:dashboard", "activities:activity_list", "notifications:inbox"):
        assert f'href="{reverse(name)}"' in html
    assert f'action="{reverse("set_language")}"' in html
    assert f'action="{reverse("logout")}"' in html


def test_a_link_follows_the_script_prefix(reversals):
    from django.urls import set_script_prefix

    try:
        set_script_prefix("/xiachen/")
        assert tags.nav_url("reports:dashboard") == "/xiachen/"
    finally:
        set_script_prefix("/")
    assert tags.nav_url("reports:dashboard") == "/"


# The navbar's links are written once per role, page and language ({% memo %}), then copied.


def _memo(source):
    from django.template import engines

    return engines["django"].from_string("{% load xiachen %}" + source)


def test_a_memo_is_written_once_for_each_key(monkeypatch):
    monkeypatch.setattr(tags, "_MEMO", {})
    template = _memo("{% memo key %}{{ text }}{% endmemo %}")
    assert template.render({"key": 1, "text": "first"}) == "first"
    assert template.render({"key": 1, "text": "second"}) == "first"  # copied
    assert template.render({"key": 2, "text": "second"}) == "second"
    assert template.render({"key": {"a": True}, "text": "third"}) == "third"  # a dict is a key
    assert template.render({"key": {"a": True}, "text": "fourth"}) == "third"
    assert template.render({"key": {"a": False}, "text": "fourth"}) == "fourth"


def test_a_memo_is_written_for_each_language(monkeypatch):
    from django.utils import translation

    monkeypatch.setattr(tags, "_MEMO", {})
    template = _memo('{% load i18n %}{% memo %}{% translate "Dashboard" %}{% endmemo %}')
    with translation.override("en"):
        assert template.render({}) == "Dashboard"
    with translation.override("zh-hans"):
        assert template.render({}) != "Dashboard"


def test_a_memo_keeps_the_latest_keys_only(monkeypatch):
    monkeypatch.setattr(tags, "_MEMO", {})
    monkeypatch.setattr(tags, "MEMO_SIZE", 2)
    template = _memo("{% memo key %}{{ text }}{% endmemo %}")
    for key in (1, 2, 3):
        template.render({"key": key, "text": key})
    assert len(tags._MEMO) == 2
    assert template.render({"key": 1, "text": "again"}) == "again"  # the oldest was let go


def test_a_memo_holds_no_block():
    from django.template import TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError):
        _memo("{% memo %}{% block content %}{% endblock %}{% endmemo %}")


NAV_LINK = r'<a class="nav-link( active)?" href="{}"'


def _marked(html, url):
    match = re.search(NAV_LINK.format(re.escape(url)), html)
    assert match, f"no navbar link to {url}"
    return bool(match.group(1))


@pytest.mark.django_db
def test_the_navbar_marks_the_page_it_is_on_page_after_page(client, community_staff):
    client.force_login(community_staff)
    dashboard, activities = reverse("reports:dashboard"), reverse("activities:activity_list")
    for url, current in [
        (dashboard, dashboard),
        (activities, activities),
        (reverse("activities:concern_list"), None),  # not a page of the navbar's own
        (dashboard, dashboard),
    ]:
        html = client.get(url).content.decode()
        assert _marked(html, dashboard) is (current == dashboard)
        assert _marked(html, activities) is (current == activities)
        assert html.count('aria-current="page"') == (current == dashboard)


@pytest.mark.django_db
def test_the_navbar_follows_the_language_and_the_login(client, community_staff, member_user):
    from django.conf import settings

    client.force_login(community_staff)
    chinese = client.get(reverse("reports:dashboard")).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(reverse("reports:dashboard")).content.decode()
    assert ">Activities</a>" in english and ">Activities</a>" not in chinese
    assert "Report-in review" in english  # community staff review report-ins
    client.force_login(member_user)
    member = client.get(reverse("reports:dashboard")).content.decode()
    assert "Report-in review" not in member
    assert 'data-testid="nav-join"' in member  # a member joins activities
    assert 'data-testid="nav-join"' not in english
