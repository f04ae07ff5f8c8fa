"""What the browser tests do on every page: sign in as a demo-like persona, and check that a
phone screen needs no sideways scrolling."""

from playwright.sync_api import expect


def assert_no_horizontal_scroll(page):
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def log_in(page, username):
    """Signs in through the login page (a persona's password is pw-<username>) and waits for
    the dashboard."""
    page.goto("/login/?next=/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"pw-{username}")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#dashboard")).to_be_visible()
