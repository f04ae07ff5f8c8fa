"""What the browser tests do on every page: sign in as a demo-like persona, and check that a
phone screen needs no sideways scrolling."""

import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from communities.permissions import needs_second_factor
from tests.second_factor import enrol, next_code


def assert_no_horizontal_scroll(page):
    # A page still arriving has no document to measure yet: wait for it to be whole (not with
    # wait_for_function, whose string the pages' CSP refuses to evaluate).
    page.wait_for_load_state("load")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def authenticator_of(username):
    """The persona's authenticator (enrolled with the tests' secret) when their role needs a
    second factor, else None."""
    user = get_user_model().objects.get(username=username)
    return enrol(user) if needs_second_factor(user) else None


def type_code(page, device):
    """On the code page after the password: types the code the authenticator shows now."""
    if device is not None:
        page.get_by_label("验证码").fill(next_code(device))
        page.get_by_role("button", name="验证").click()


def log_in(page, username):
    """Signs in through the login page (a persona's password is pw-<username>), with the code
    of an authenticator for the roles that need a second factor, and waits for the dashboard."""
    device = authenticator_of(username)
    page.goto("/login/?next=/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()
    type_code(page, device)
    expect(page.locator("#dashboard")).to_be_visible()


def open_menu(page):
    """Unfolds the main menu when a phone folds it behind the toggler, and waits for the end of
    Bootstrap's opening transition: a link clicked while the menu still grows can land on
    nothing, and the page stays where it was."""
    menu = page.locator("#main-nav")
    # Whether the toggler shows is the stylesheet's to say: asked before the page has loaded
    # (a busy machine), a desktop's toggler could look visible, then hide, and never be clicked.
    page.wait_for_load_state("load")
    if page.locator(".navbar-toggler").is_visible():
        if "show" not in (menu.get_attribute("class") or "").split():
            page.locator(".navbar-toggler").click()
        expect(menu).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(menu).to_be_visible()
    return menu


def follow_menu(page, name=None, test_id=None):
    """Opens the main menu's entry (by its name or its test id) on any screen, and waits for the
    page it leads to."""
    menu = open_menu(page)
    link = menu.get_by_test_id(test_id) if test_id else menu.get_by_role("link", name=name)
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(re.compile(re.escape(href) + r"(\?|#|$)"))
