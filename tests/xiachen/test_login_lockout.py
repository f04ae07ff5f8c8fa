"""Repeated wrong passwords lock a username out from that address for a while (django-axes)."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command


def log_in(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def locked(client, community_staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = log_in(client, "shengli_staff", "wrong")
        assert response.status_code == 200  # the login page again, with its error
    # The last allowed mistake locks the account at once.
    assert log_in(client, "shengli_staff", "wrong").status_code == 429
    return community_staff


def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(client, locked):
    response = log_in(client, "shengli_staff", "pw-shengli_staff")
    assert response.status_code == 429
    page = response.content.decode()
    assert 'data-testid="locked-out"' in page
    assert "锁定" in page  # in Chinese, like every page
    assert "_auth_user_id" not in client.session


def test_others_behind_the_same_address_can_still_log_in(client, locked, grid_worker):
    response = log_in(client, "shengli_grid", "pw-shengli_grid")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(grid_worker.pk)


def test_the_same_username_from_another_address_is_not_locked(client, locked):
    response = log_in(client, "shengli_staff", "pw-shengli_staff", address="10.0.0.2")
    assert response.status_code == 302


def test_an_administrator_can_unlock_at_once(client, locked):
    call_command("axes_reset_username", "shengli_staff")
    response = log_in(client, "shengli_staff", "pw-shengli_staff")
    assert response.status_code == 302


def test_a_successful_login_forgets_earlier_mistakes(client, community_staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "shengli_staff", "wrong")
    assert log_in(client, "shengli_staff", "pw-shengli_staff").status_code == 302
    assert not AccessAttempt.objects.filter(username="shengli_staff").exists()
