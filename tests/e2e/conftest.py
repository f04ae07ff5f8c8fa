"""Playwright with the system Chromium against pytest-django's live server.

One browser for all browser tests; each test gets a fresh context (cookies, screen size).
"""

import importlib
import os
from pathlib import Path

import pytest

from tests.conftest import require_or_skip

# Playwright's sync API runs an event loop in this thread; the live server's data is set up
# from the same thread, which Django would otherwise refuse as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SCREENS = {
    # An ordinary phone held upright, as in WeChat's browser.
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture(scope="package")
def browser(django_db_setup, django_db_blocker):
    """One Chromium for all the browser tests; it stops when they are done.

    Playwright's sync API keeps an asyncio loop running in this thread. While it runs,
    Django's connection handler (an asgiref Local) hands out other connection objects than
    before, so the package scope keeps that state away from the tests that run later.
    """
    if not CHROMIUM.exists():
        require_or_skip("chromium", f"{CHROMIUM} is not installed")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
        # Let the test database be dropped at the end (PostgreSQL refuses while in use).
        with django_db_blocker.unblock():
            for conn in connections.all(initialized_only=True):
                conn.close()


@pytest.fixture(autouse=True)
def activity_types(transactional_db):
    """The live server needs committed data, so these tests flush the database afterwards,
    and with it the activity types of the data migration: put them back first. (Not
    serialized_rollback: it clashes with content types re-created by earlier flushes.)"""
    from django.apps import apps

    migration = importlib.import_module("activities.migrations.0002_activity_types")
    migration.create_types(apps, None)


@pytest.fixture(params=list(SCREENS))
def screen(request):
    return request.param


@pytest.fixture
def page(browser, live_server, screen):
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **SCREENS[screen],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page_without_script(browser, live_server):
    """A phone with JavaScript off: every form must still work."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        java_script_enabled=False,
        **SCREENS["phone"],
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
