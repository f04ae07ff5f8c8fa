"""Two factors (issue 11, point 3): a code from an authenticator app after the password for city
administrators, street officers and agency offices; enrolment, recovery codes, the reset."""

import datetime as dt
import re
import time
from urllib.parse import quote

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from communities.models import StaffRole
from communities.permissions import needs_second_factor
from members import two_factor
from tests.second_factor import TEST_SECRET, code_of_secret, enrol, next_code

# These tests sign in without the conftest's automatic second factor.
pytestmark = pytest.mark.second_factor


def sign_in(client, username, next_url=None):
    data = {"username": username, "password": f"pw-{username}"}
    url = "/login/" + (f"?next={quote(next_url)}" if next_url else "")
    if next_url:
        data["next"] = next_url
    return client.post(url, data)


def waited(user):
    """As if the person waited after a wrong code: django-otp's hold on their devices is over."""
    past = timezone.now() - dt.timedelta(hours=1)
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=user).update(throttling_failure_timestamp=past)


def secret_on(page: str) -> str:
    return re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)


def codes_on(page: str) -> list[str]:
    return re.findall(r"<li class=\"col\">([a-z2-9]{4}-[a-z2-9]{4})</li>", page)


@pytest.mark.parametrize(
    "persona, needed",
    [
        ("city_admin", True),
        ("street_officer", True),
        ("agency_office", True),
        ("superuser", True),
        ("community_staff", False),
        ("grid_worker", False),
        ("member_user", False),
    ],
)
def test_the_roles_that_need_a_second_factor(world, request, persona, needed):
    assert needs_second_factor(request.getfixturevalue(persona)) is needed


@pytest.mark.parametrize("persona", ["community_staff", "grid_worker", "member_user"])
def test_the_other_roles_sign_in_with_the_password_alone(client, world, request, persona):
    user = request.getfixturevalue(persona)
    response = sign_in(client, user.username)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_an_office_not_enrolled_is_sent_to_enrolment_and_reaches_nothing_else(
    client, agency_office
):
    response = sign_in(client, "sanxia_office", next_url="/review/")
    assert response["Location"] == "/review/"
    for url in ["/review/", "/", "/roster/", "/admin/", "/notifications/", "/second-factor/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/second-factor/enrol/"), url
    # The page asked for is kept through the steps.
    assert client.get("/review/")["Location"] == "/second-factor/enrol/?next=%2Freview%2F"
    # A POST elsewhere is not carried out.
    response = client.post("/second-factor/mine/recovery-codes/")
    assert response.status_code == 302 and not StaticToken.objects.exists()


def test_enrolment_shows_a_qr_code_and_the_secret_and_a_code_confirms_it(client, agency_office):
    sign_in(client, "sanxia_office")
    response = client.get("/second-factor/enrol/?next=/review/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "绑定双因素认证" in page
    assert "<svg" in page and 'data-testid="otp-qr"' in page  # drawn on the server
    secret = secret_on(page)
    assert len(secret) == 32
    # The same secret until confirmed.
    assert secret_on(client.get("/second-factor/enrol/").content.decode()) == secret
    device = TOTPDevice.objects.get(user=agency_office)
    assert not device.confirmed and two_factor.base32_secret(device) == secret

    wrong = client.post("/second-factor/enrol/", {"otp_token": "000000", "next": "/review/"})
    assert "验证码不正确或已使用过" in wrong.content.decode()
    assert client.get("/review/").status_code == 302
    waited(agency_office)

    response = client.post(
        "/second-factor/enrol/", {"otp_token": code_of_secret(secret), "next": "/review/"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    codes = codes_on(page)
    assert len(codes) == two_factor.RECOVERY_CODES == len(set(codes))
    assert 'href="/review/"' in page
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/review/").status_code == 200
    # Enrolled: the enrolment page no longer shows a secret.
    assert client.get("/second-factor/enrol/").status_code == 302


def test_an_enrolled_office_types_the_code_after_the_password(client, agency_office):
    device = enrol(agency_office)
    response = sign_in(client, "sanxia_office", next_url="/review/")
    response = client.get(response["Location"])
    assert response["Location"] == "/second-factor/?next=%2Freview%2F"
    page = client.get(response["Location"]).content.decode()
    # A form with one field: what any sign-in script expects after the password.
    form = re.search(r'<form method="post" action="/second-factor/".*?</form>', page, re.S)
    fields = re.findall(r'<input type="(?:text|number)" name="(\w+)"', form.group(0))
    assert fields == ["otp_token"]
    assert 'name="next" value="/review/"' in page
    assert "身份验证器" in page

    response = client.post("/second-factor/", {"otp_token": next_code(device), "next": "/review/"})
    assert response.status_code == 302 and response["Location"] == "/review/"
    assert client.get("/review/").status_code == 200


def test_a_code_works_once(client, agency_office):
    device = enrol(agency_office)
    code = next_code(device)
    sign_in(client, "sanxia_office")
    assert client.post("/second-factor/", {"otp_token": code}).status_code == 302
    other = Client()
    sign_in(other, "sanxia_office")
    response = other.post("/second-factor/", {"otp_token": code})
    assert response.status_code == 200
    assert "验证码不正确或已使用过" in response.content.decode()


@pytest.mark.parametrize("hostile", ["https://evil.example/", "//evil.example/", "javascript:1"])
def test_a_hostile_next_goes_to_the_dashboard(client, agency_office, hostile):
    device = enrol(agency_office)
    sign_in(client, "sanxia_office")
    page = client.get("/second-factor/", {"next": hostile}).content.decode()
    form = re.search(r'<form method="post" action="/second-factor/".*?</form>', page, re.S)
    assert re.findall(r'name="next" value="([^"]*)"', form.group(0)) == ["/"]
    response = client.post("/second-factor/", {"otp_token": next_code(device), "next": hostile})
    assert response["Location"] == "/"


def test_wrong_codes_are_limited_with_a_chinese_answer(client, agency_office):
    device = enrol(agency_office)
    sign_in(client, "sanxia_office")
    for _ in range(two_factor.WRONG_CODES_ALLOWED):
        page = client.post("/second-factor/", {"otp_token": "123456"}).content.decode()
        assert "验证码不正确" in page
        waited(agency_office)
    # Now even the right code is turned away, and the session stays unverified.
    response = client.post("/second-factor/", {"otp_token": next_code(device)})
    assert "验证码错误次数过多" in response.content.decode()
    assert client.get("/").status_code == 302


def test_after_a_wrong_code_the_device_waits_a_moment(client, agency_office):
    device = enrol(agency_office)
    sign_in(client, "sanxia_office")
    client.post("/second-factor/", {"otp_token": "123456"})
    response = client.post("/second-factor/", {"otp_token": next_code(device)})
    assert re.search(r"连续输错验证码：请等待 \d+ 秒后再试", response.content.decode())
    assert client.get("/").status_code == 302
    waited(agency_office)
    assert client.post("/second-factor/", {"otp_token": next_code(device)}).status_code == 302


def test_a_recovery_code_works_once(client, agency_office):
    enrol(agency_office)
    codes = two_factor.recovery_codes_issue(user=agency_office)
    sign_in(client, "sanxia_office")
    page = client.get("/second-factor/?recovery=1").content.decode()
    assert "恢复码" in page and 'inputmode="numeric"' not in page
    response = client.post("/second-factor/", {"otp_token": codes[0].upper(), "recovery": "1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert two_factor.recovery_codes_left(agency_office) == two_factor.RECOVERY_CODES - 1

    again = Client()
    sign_in(again, "sanxia_office")
    response = again.post("/second-factor/", {"otp_token": codes[0]})
    assert "验证码不正确或已使用过" in response.content.decode()
    waited(agency_office)
    assert again.post("/second-factor/", {"otp_token": codes[1]}).status_code == 302


def test_ones_own_page_shows_the_state_and_gives_new_recovery_codes(client, agency_office):
    device = enrol(agency_office)
    old = two_factor.recovery_codes_issue(user=agency_office)
    sign_in(client, "sanxia_office")
    client.post("/second-factor/", {"otp_token": next_code(device)})
    page = client.get("/second-factor/mine/").content.decode()
    assert "已绑定" in page
    assert re.search(r'data-testid="codes-left">10<', page)

    page = client.post("/second-factor/mine/recovery-codes/").content.decode()
    new = codes_on(page)
    assert len(new) == two_factor.RECOVERY_CODES and not set(new) & set(old)
    # The session verified before stays verified; the old codes no longer work.
    assert client.get("/").status_code == 200
    other = Client()
    sign_in(other, "sanxia_office")
    assert other.post("/second-factor/", {"otp_token": old[0]}).status_code == 200
    waited(agency_office)
    assert other.post("/second-factor/", {"otp_token": new[0]}).status_code == 302


def test_ones_own_page_says_when_no_second_factor_is_needed(client, community_staff):
    sign_in(client, "shengli_staff")
    page = client.get("/second-factor/mine/").content.decode()
    assert "无需双因素认证" in page
    assert client.get("/second-factor/enrol/")["Location"] == "/second-factor/mine/"
    assert not TOTPDevice.objects.exists()


def test_the_pages_need_a_sign_in(client, db):
    for url in ["/second-factor/", "/second-factor/enrol/", "/second-factor/mine/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_code_without_csrf_token_is_refused(agency_office):
    device = enrol(agency_office)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_office)
    response = client.post("/second-factor/", {"otp_token": next_code(device)})
    assert response.status_code == 403


def test_the_admin_needs_the_second_factor(client, superuser):
    device = enrol(superuser)
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    # The admin's sign-in is the site's.
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"] == "/login/?next=/admin/"
    sign_in(client, "root", next_url="/admin/")
    assert client.get("/admin/")["Location"] == "/second-factor/?next=%2Fadmin%2F"
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith("/second-factor/")
    client.post("/second-factor/", {"otp_token": next_code(device)})
    assert client.get("/admin/").status_code == 200


def test_the_admin_site_itself_refuses_an_unverified_session(rf, superuser):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = superuser
    superuser.is_verified = lambda: False
    assert not admin.site.has_permission(request)
    superuser.is_verified = lambda: True
    assert admin.site.has_permission(request)


def test_an_administrator_resets_a_persons_second_factor(client, superuser, agency_office):
    office_device = enrol(agency_office)
    two_factor.recovery_codes_issue(user=agency_office)
    office = Client()
    sign_in(office, "sanxia_office")
    office.post("/second-factor/", {"otp_token": next_code(office_device)})
    assert office.get("/").status_code == 200

    admin_device = enrol(superuser)
    sign_in(client, "root")
    client.post("/second-factor/", {"otp_token": next_code(admin_device)})
    changelist = client.get("/admin/auth/user/")
    assert changelist.status_code == 200
    # No admin page shows an authenticator's secret (django-otp's device pages are left out).
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404
    response = client.post(
        "/admin/auth/user/",
        {"action": "reset_second_factor", "_selected_action": [agency_office.pk]},
        follow=True,
    )
    assert "已重置 1 个账号的双因素认证" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=agency_office).exists()
    assert not StaticToken.objects.filter(device__user=agency_office).exists()
    entry = LogEntry.objects.get(object_id=str(agency_office.pk))
    assert entry.user == superuser and "second factor reset" in entry.change_message
    # The office's session is no longer verified: enrolment again.
    assert office.get("/")["Location"].startswith("/second-factor/enrol/")
    # The administrator's own factor is untouched.
    assert client.get("/admin/").status_code == 200


def test_a_street_officer_and_a_city_administrator_are_asked_too(
    client, street_officer, city_admin
):
    for user in (street_officer, city_admin):
        device = enrol(user)
        c = Client()
        sign_in(c, user.username)
        assert c.get("/")["Location"] == "/second-factor/"
        c.post("/second-factor/", {"otp_token": next_code(device)})
        assert c.get("/").status_code == 200


def test_a_role_given_later_asks_for_the_factor_at_once(client, world, member_user):
    sign_in(client, "sanxia_member")
    assert client.get("/").status_code == 200
    StaffRole.objects.create(
        user=member_user, kind=StaffRole.Kind.AGENCY_OFFICE, agency=world.sanxia
    )
    assert client.get("/")["Location"].startswith("/second-factor/enrol/")


def test_the_demo_secret_helpers_agree_with_an_app():
    # RFC 6238's test vector: the ASCII secret "12345678901234567890", 59 s → 94287082 (8 digits).
    device = TOTPDevice(key="3132333435363738393031323334353637383930", digits=8)
    assert two_factor.code_for(device, at=59) == "94287082"
    assert two_factor.hex_key(two_factor.base32_secret(device)) == device.key
    at = time.time()
    assert code_of_secret(TEST_SECRET, at=at) == code_of_secret(TEST_SECRET.lower(), at=at)
