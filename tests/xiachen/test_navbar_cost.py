"""The navbar on every page: its links reversed once per process (nav_url), the same links."""

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
