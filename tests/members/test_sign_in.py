"""Signing in with a mobile or a username, and forgotten passwords (issue 10, point 1)."""

import re

import pytest
from django.conf import settings
from django.core import mail

from members.auth import typed_mobile
from members.models import Member


def sign_in(client, username, password, address="10.0.0.1", **extra):
    return client.post(
        "/login/", {"username": username, "password": password, **extra}, REMOTE_ADDR=address
    )


@pytest.mark.parametrize(
    "typed, mobile",
    [
        ("13900000001", "13900000001"),
        (" 139 0000 0001 ", "13900000001"),
        ("139-0000-0001", "13900000001"),
        ("+8613900000001", "13900000001"),
        ("008613900000001", "13900000001"),
        ("12900000001", None),
        ("1390000000", None),
        ("sanxia_member", None),
        ("", None),
        (None, None),
    ],
)
def test_a_mobile_is_read_as_people_type_it(typed, mobile):
    assert typed_mobile(typed) == mobile


@pytest.mark.parametrize("typed", ["13900000001", "139 0000 0001", "+86 139-0000-0001"])
def test_a_member_signs_in_with_their_mobile(client, member_user, typed):
    response = sign_in(client, typed, "pw-sanxia_member")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member_user.pk)


def test_the_username_still_works(client, member_user):
    assert sign_in(client, "sanxia_member", "pw-sanxia_member").status_code == 302
    assert client.session["_auth_user_id"] == str(member_user.pk)


def test_a_wrong_password_with_a_mobile_says_so_in_chinese(client, member_user):
    response = sign_in(client, "13900000001", "wrong")
    assert response.status_code == 200
    assert "用户名（或手机号）与密码不匹配" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_form_asks_for_a_username_or_a_mobile(client, db):
    page = client.get("/login/").content.decode()
    assert "用户名或手机号" in page
    assert 'href="/password/reset/"' in page


def test_a_member_without_a_login_or_an_inactive_login_is_not_signed_in(client, world, member_user):
    # 王海燕 has no login at all.
    assert sign_in(client, "13900000002", "pw-sanxia_member").status_code == 200
    member_user.is_active = False
    member_user.save()
    assert sign_in(client, "13900000001", "pw-sanxia_member").status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_mobile_shared_by_two_logins_signs_in_the_one_whose_password_it_is(
    client, world, django_user_model
):
    # A mobile is unique within an agency only: the same number in another agency.
    other = django_user_model.objects.create_user(username="twin", password="pw-twin")
    Member.objects.create(agency=world.yuanlin, name="李建华", mobile="13900000001", user=other)
    assert sign_in(client, "13900000001", "pw-twin").status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)
    client.logout()
    assert sign_in(client, "13900000001", "pw-sanxia_member").status_code == 302
    assert client.session["_auth_user_id"] == str(world.sanxia_member.user.pk)


def test_a_mobile_shared_by_two_logins_with_one_password_signs_in_neither(
    client, world, django_user_model
):
    other = django_user_model.objects.create_user(username="twin", password="pw-sanxia_member")
    Member.objects.create(agency=world.yuanlin, name="李建华", mobile="13900000001", user=other)
    assert sign_in(client, "13900000001", "pw-sanxia_member").status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_by_mobile_and_by_username_count_together(client, member_user):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        typed = "13900000001" if attempt % 2 else "sanxia_member"
        assert sign_in(client, typed, "wrong").status_code == 200
    assert sign_in(client, "139 0000 0001", "wrong").status_code == 429
    # Locked: the right password by either name is refused.
    assert sign_in(client, "sanxia_member", "pw-sanxia_member").status_code == 429
    assert sign_in(client, "13900000001", "pw-sanxia_member").status_code == 429


def test_signing_in_from_a_notifications_link_returns_there(client, world, member_user):
    # A reminder links to the activity it is about.
    target = f"/activities/{world.shengli_activity.pk}/"
    response = client.get(target)
    assert response.status_code == 302
    assert response.url == f"/login/?next={target}"
    response = sign_in(client, "13900000001", "pw-sanxia_member", next=target)
    assert response.status_code == 302
    assert response.url == target
    assert client.get(target).status_code == 200


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_a_hostile_next_after_sign_in_goes_home(client, member_user, next_url):
    response = sign_in(client, "13900000001", "pw-sanxia_member", next=next_url)
    assert response.status_code == 302
    assert response.url == "/"


# Forgotten passwords.


def ask_reset(client, typed, address="10.0.0.1"):
    return client.post("/password/reset/", {"email": typed}, REMOTE_ADDR=address)


def link_in(message) -> str:
    return re.search(r"https?://\S+/password/reset/\S+/", message.body).group(0)


@pytest.fixture
def with_email(member_user):
    member_user.email = "lijianhua@example.cn"
    member_user.save()
    return member_user


@pytest.mark.parametrize("typed", ["lijianhua@example.cn", "LiJianHua@Example.cn", "13900000001"])
def test_a_login_with_an_email_gets_a_link_by_its_address_or_mobile(
    client, with_email, typed, settings
):
    settings.SITE_URL = "https://xiachen.example.cn"
    response = ask_reset(client, typed)
    assert response.status_code == 302
    assert response.url == "/password/reset/sent/"
    (message,) = mail.outbox
    assert message.to == ["lijianhua@example.cn"]  # the address on record
    assert "设置新密码" in message.subject
    assert "sanxia_member" in message.body
    assert link_in(message).startswith("https://xiachen.example.cn/password/reset/")


def test_the_link_sets_the_password_signs_in_and_works_once(client, with_email):
    ask_reset(client, "13900000001")
    link = link_in(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + link)
    assert response.status_code == 302  # Django moves the token into the session
    form_url = response.url
    page = client.get(form_url).content.decode()
    assert 'data-testid="password-reset-confirm-form"' in page
    response = client.post(
        form_url, {"new_password1": "Changjiang-2020", "new_password2": "Changjiang-2020"}
    )
    assert response.status_code == 302
    assert response.url == "/password/reset/done/"
    assert client.session["_auth_user_id"] == str(with_email.pk)
    assert "密码已设置" in client.get(response.url).content.decode()
    client.logout()
    assert sign_in(client, "13900000001", "Changjiang-2020").status_code == 302
    client.logout()
    again = client.get("/" + link, follow=True).content.decode()
    assert 'data-testid="password-reset-invalid"' in again


def test_every_request_gets_the_same_answer_and_no_mail_without_an_address(
    client, member_user, world
):
    # member_user has no e-mail; 王海燕 has no login; the third is nobody's.
    for typed in ["13900000001", "13900000002", "nobody@example.cn"]:
        response = ask_reset(client, typed)
        assert response.status_code == 302
        assert response.url == "/password/reset/sent/"
    assert mail.outbox == []
    page = client.get("/password/reset/sent/").content.decode()
    assert "激活链接" in page  # what to do without an address
    assert "24 小时" in page


def test_a_login_that_was_never_activated_gets_no_link(client, with_email):
    with_email.set_unusable_password()
    with_email.save()
    ask_reset(client, "13900000001")
    assert mail.outbox == []


@pytest.mark.parametrize("typed", ["", "not-an-address", "1390000", "<script>", "a" * 300])
def test_what_is_neither_an_address_nor_a_mobile_is_refused_plainly(client, db, typed):
    response = ask_reset(client, typed)
    assert response.status_code == 200
    page = response.content.decode()
    said = ["请输入电子邮箱或 11 位手机号", "这个字段是必填项", "不超过 254 字符"]
    assert any(words in page for words in said)
    assert mail.outbox == []


def test_asking_too_often_is_turned_away_in_chinese(client, with_email):
    for _ in range(3):
        assert ask_reset(client, "13900000001").status_code == 302
    response = ask_reset(client, "13900000001")
    assert response.status_code == 429
    assert "过于频繁" in response.content.decode()
    assert len(mail.outbox) == 3
    # Another address of the same person's office is not affected for another account.
    assert ask_reset(client, "nobody@example.cn").status_code == 302


def test_one_address_asking_for_many_accounts_is_turned_away(client, db):
    for n in range(10):
        assert ask_reset(client, f"person{n}@example.cn").status_code == 302
    assert ask_reset(client, "person10@example.cn").status_code == 429
    assert ask_reset(client, "person10@example.cn", address="10.0.0.9").status_code == 302


def test_guessing_links_is_turned_away(client, with_email):
    for n in range(20):
        response = client.get(f"/password/reset/MQ/guess-{n}/")
        assert response.status_code == 200
        assert 'data-testid="password-reset-invalid"' in response.content.decode()
    assert client.get("/password/reset/MQ/guess-21/").status_code == 429


def test_a_reset_unlocks_a_login_locked_by_wrong_passwords(client, with_email):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "sanxia_member", "wrong")
    assert sign_in(client, "sanxia_member", "pw-sanxia_member").status_code == 429
    ask_reset(client, "13900000001")
    link = "/" + link_in(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    form_url = client.get(link).url
    client.post(form_url, {"new_password1": "Changjiang-2020", "new_password2": "Changjiang-2020"})
    client.logout()
    assert sign_in(client, "sanxia_member", "Changjiang-2020").status_code == 302
