"""Issue 11, point 4: no page breaks the Content Security Policy in a real browser.

Each role signs in (tests/e2e/browser.py's `log_in`, the door every other browser test uses)
in a context of its own and opens every page the bench finds for it (xiachen.bench.pages.plan:
every URL of the project the persona may open, with objects it sees); the city administrator
also every page of the admin (index, lists, add and change forms, a history, the signing desk);
a visitor who is not signed in the pages open to anyone. Any `securitypolicyviolation` event,
or a console message of a refusal, fails the test with the page and what was refused.

The same walk reads each page as its user does: no English left on a page of the Chinese site
(a msgid without its translation) and no value meant for the code (None, True, an enum's key,
an ISO timestamp); and every link a page offers opens for that user (no 403 or 404 behind a
link shown to them)."""

import re
import time

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from activities.models import DoorToDoorUnit
from activities.services.doors import door_unit_record
from communities.models import Agreement
from tests.e2e.browser import log_in
from tests.e2e.conftest import SCREENS
from tests.xiachen.test_admin import everything  # noqa: F401 (a fixture: a row of each model)
from xiachen.bench import pages

pytestmark = [
    pytest.mark.browser,
    # What the browser refuses comes from the templates and the headers, not from the
    # database: CI walks the pages in its PostgreSQL leg only (pyproject.toml, `any_database`).
    pytest.mark.any_database,
    # live_server needs committed data (see activity_types in conftest.py).
    pytest.mark.django_db(transaction=True),
]

# Downloads (a workbook, a scan): files, not pages with a policy to break.
DOWNLOADS = pages.EXPORTS | {"reports:export_download", "communities:agreement_scan"}

# Links not followed: signing out, the language switch, the admin (walked apart), files.
LINK_SKIP = re.compile(r"^/(logout|i18n|admin)/|\.(csv|xlsx|svg|ics|json|pdf)(\?|$)|/export")

# Runs in every page before its own scripts, outside the page's policy (Playwright injects it):
# hands each violation to the test as it happens.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
});
"""


# What a page of the workspace may show in Latin letters: names of formats and devices, the
# numbers of agreements and certificates, e-mail addresses; and the logins of the persona
# fixtures (Walk.logins). Anything else in ASCII letters is English left untranslated, or a value
# meant for the code (an enum's key such as signed_up).
LATIN_ALLOWED = re.compile(
    r"^(csv|xlsx|json|svg|Excel|PDF|JPEG|PNG|A4|IP|iPhone|iOS|Android|Linux|Windows|Mac|macOS|Chrome"
    r"|Safari|WeChat|Xiachen"
    r"|[A-Z]{2,3}-[\w-]*|[\w.+-]*@[\w.-]+|[\w.-]+\.(org|com|cn))$"
)
# Read in the page: its visible text's Latin words outside <code>, <kbd>, inputs and addresses
# (links' hrefs are not text); and the values meant for code rather than for people.
READ_TEXT = r"""() => {
  const skip = 'code, kbd, samp, pre, script, style, input, textarea, select, [translate=no]';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const words = new Set();
  const raw = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip) || !el.checkVisibility()) continue;
    // Addresses shown to copy (a poster's link, a check-in code's) are not words.
    const text = node.textContent.replace(/https?:\/\/\S+|\/[\w\-\/.?=&%]+\//g, ' ');
    for (const m of text.matchAll(/[A-Za-z][A-Za-z0-9_@.+'-]*[A-Za-z0-9]/g)) {
      words.add(m[0]);
    }
    const codeValues = /\b(None|True|False|null|undefined|NaN)\b|\d{4}-\d\d-\d\dT\d\d:\d\d/g;
    for (const m of text.matchAll(codeValues)) raw.add(m[0]);
  }
  return { words: [...words], raw: [...raw] };
}"""
# Same-origin links a page offers, as paths with their queries (not downloads' content).
LINKS = """() => [...document.querySelectorAll('main a[href], nav a[href]')]
  .map((a) => new URL(a.href))
  .filter((u) => u.origin === location.origin)
  .map((u) => u.pathname + u.search)"""


class Walk:
    """One role's context: its pages visited one after another, refusals collected."""

    def __init__(self, browser, base_url):
        self.context = browser.new_context(
            base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai", **SCREENS["phone"]
        )
        self.context.set_default_timeout(15_000)
        self.refused = []
        self.url = ""
        self.context.expose_function("cspViolation", self.violation)
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.page.on("console", self.console)
        self.visited = 0
        self.unreadable = []
        self.links = {}
        self.logins = set(get_user_model().objects.values_list("username", flat=True))

    def violation(self, event):
        self.refused.append(f"{self.url}: {event}")

    def console(self, message):
        text = message.text
        if "Content Security Policy" in text or text.startswith("Refused to"):
            self.refused.append(f"{self.url}: console {message.type}: {text[:300]}")

    def visit(self, url):
        self.url = url
        try:
            response = self.page.goto(url)
        except PlaywrightError as error:
            if "Download is starting" in error.message:
                return  # a file (an export, a poster to print), not a page
            raise
        assert response is not None, url
        assert response.status < 500, f"{url} answered {response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, f"{url} came without the policy"
        # Events of the page's last tasks arrive before this round trip returns.
        self.page.evaluate("new Promise((done) => setTimeout(done, 0))")
        self.visited += 1
        if url.startswith("/admin/") or response.status != 200:
            return  # Django's admin is not ours to translate, nor its values to name
        read = self.page.evaluate(READ_TEXT)
        english = sorted(
            w for w in read["words"] if not LATIN_ALLOWED.match(w) and w not in self.logins
        )
        if english or read["raw"]:
            self.unreadable.append(f"{url}: {english} {sorted(read['raw'])}")
        for link in self.page.evaluate(LINKS):
            self.links.setdefault(link, url)

    def dead_links(self, visited):
        """The links shown to this user that refuse them (a 403 or a 404)."""
        dead = []
        for link, on_page in self.links.items():
            if link in visited or LINK_SKIP.search(link):
                continue
            status = self.context.request.get(link, max_redirects=0).status
            if status in (403, 404):
                dead.append(f"{on_page} links to {link}: {status}")
        return dead

    def close(self):
        self.context.close()


def role_urls(username):
    planned, unknown = pages.plan([username])
    assert unknown == []
    urls = []
    for page in planned:
        url = page.url.replace(pages.DEEPEST, "")
        if page.name not in DOWNLOADS and url not in urls and not url.startswith("/admin/"):
            urls.append(url)
    return urls


def admin_urls():
    """The admin's index, and for each model its list and the change form of its first row
    (its add form when it has none); the signing desk and the history of an agreement; the
    add form of django-celery-beat's periodic task, which has a script of its own."""
    urls = [reverse("admin:index")]
    for model in sorted(admin.site._registry, key=lambda model: model._meta.label):
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{name}_changelist"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"{name}_change", args=[first.pk]))
        else:
            urls.append(reverse(f"{name}_add"))
    agreement = Agreement.objects.order_by("pk").first()
    return [
        *urls,
        reverse("admin:communities_agreement_terminate", args=[agreement.pk]),
        reverse("admin:communities_agreement_history", args=[agreement.pk]),
        reverse("admin:django_celery_beat_periodictask_add"),
        reverse("admin:communities_agreement_add"),
    ]


@pytest.fixture
def personas(
    everything,  # noqa: F811
    city_admin,
    street_officer,
    community_staff,
    grid_worker,
    agency_office,
    member_user,
):
    """The roles of the demo, one persona each, with the rows that make their pages full: a
    row of each model, a door-to-door round with buildings (its progress bars)."""
    world = everything
    units = DoorToDoorUnit.objects.bulk_create(
        DoorToDoorUnit(
            activity=world.shengli_activity,
            building="3",
            stairwell=str(n),
            households=10,
            member=world.sanxia_member,
        )
        for n in (1, 2)
    )
    door_unit_record(unit=units[0], households_reached=10, by=grid_worker)
    door_unit_record(unit=units[1], households_reached=4, by=grid_worker)
    return [
        city_admin.username,
        street_officer.username,
        community_staff.username,
        grid_worker.username,
        agency_office.username,
        member_user.username,
    ]


def walk_pages(browser, live_server, walks: dict) -> int:
    """Opens each persona's pages (None: signed out) in a context of its own; fails on any
    refusal, English left on a page, a code value shown, or a dead link. The pages seen."""
    refused, unreadable, dead, visited = [], [], [], 0
    for username, urls in walks.items():
        started = time.monotonic()
        walk = Walk(browser, live_server.url)
        try:
            if username is not None:
                log_in(walk.page, username)
            for url in urls:
                walk.visit(url)
            dead += [f"{username}: {line}" for line in walk.dead_links(set(urls))]
        finally:
            walk.close()
        refused += walk.refused
        unreadable += [f"{username}: {line}" for line in walk.unreadable]
        visited += walk.visited
        print(f"{username}: {walk.visited} pages in {time.monotonic() - started:.1f} s")
    assert refused == []
    assert unreadable + dead == [], "\n".join(unreadable + dead)
    return visited


# The walk is two tests in two files (this one and test_content_security_policy_roles.py), so
# that CI's two test processes share it (pytest-xdist keeps a file's tests in one process): the
# city administrator with the admin, the street officer and the signed-out pages here, the
# other roles there.
def test_no_page_of_the_city_or_street_or_the_admin_breaks_the_content_security_policy(
    browser, live_server, personas, city_admin, street_officer
):
    walks = {user.username: role_urls(user.username) for user in (city_admin, street_officer)}
    # The city administrator in the admin, as the demo's is (after the plan, which would
    # otherwise open every admin list in the test process first).
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save(update_fields=["is_staff", "is_superuser"])
    walks[city_admin.username] += admin_urls()
    # Signed out: the sign-in and password pages, a page that is not there, spent links.
    walks[None] = [
        reverse("login"),
        reverse("password_reset"),
        reverse("password_reset_done"),
        "/no-such-page/",
        reverse("members:activate", args=["not-a-token"]),
        reverse("activities:check_in", args=[1, "not-a-token"]),
    ]
    # The walk saw the workspace and the admin (146 pages when written), not a handful.
    assert walk_pages(browser, live_server, walks) > 120


def test_a_refusal_is_seen(browser, live_server, world):
    """The walk above is not blind: a style attribute written into a page is refused by the
    browser, and both the event and the console report it."""
    walk = Walk(browser, live_server.url)
    try:
        walk.visit(reverse("login"))
        walk.page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')"
        )
        walk.page.evaluate("new Promise((done) => setTimeout(done, 50))")
        color = walk.page.evaluate("getComputedStyle(document.body.lastElementChild).color")
    finally:
        walk.close()
    assert color != "rgb(255, 0, 0)"  # the style was not applied
    assert any("style-src-attr" in line for line in walk.refused), walk.refused


def test_the_handlers_moved_to_files_still_work(browser, live_server, world, city_admin):
    """What inline handlers did, the scripts in static/js do: choosing a street opens its
    overview (autosubmit.js), a Print button prints (print.js)."""
    walk = Walk(browser, live_server.url)
    printed = []
    walk.context.expose_function("printed", lambda: printed.append(walk.page.url))
    walk.context.add_init_script("window.print = () => window.printed();")
    try:
        log_in(walk.page, city_admin.username)
        walk.visit(reverse("reports:overview_street"))
        walk.page.get_by_label("街道").select_option(label=world.dongyuan.name)
        expect(walk.page).to_have_url(re.compile(rf"street={world.dongyuan.pk}"))
        expect(walk.page.get_by_test_id("overview-title")).to_contain_text(world.dongyuan.name)
        walk.visit(reverse("reports:summary_member", args=[world.sanxia_member.pk]))
        walk.page.get_by_role("button", name="打印").click()
        walk.page.wait_for_function("true")
    finally:
        walk.close()
    assert printed and walk.refused == []
