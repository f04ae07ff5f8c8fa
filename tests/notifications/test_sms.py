"""Text messages (issue 12, point 3): a channel a member chooses, printed by the console backend
on a laptop and sent through Tencent Cloud SMS's HTTP API — tested here against a fake provider
that this test starts on localhost, which checks the TC3-HMAC-SHA256 signature by its own
reading of Tencent's rules and answers as Tencent does. Each message's billed parts are kept."""

import contextlib
import datetime as dt
import hashlib
import hmac
import http.server
import io
import json
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from communities.models import StaffRole
from notifications import delivery, sms
from notifications.models import Notification, NotificationPreference
from notifications.notify import notify
from tests.conftest import role

pytestmark = pytest.mark.django_db

SMS, PENDING, SENT, FAILED = (
    Notification.Channel.SMS,
    Notification.State.PENDING,
    Notification.State.SENT,
    Notification.State.FAILED,
)
SECRET_ID, SECRET_KEY = "AKIDtest", "test-secret-key"


# --- The fake provider ------------------------------------------------------------------------


def expected_signature(headers, body: bytes, host: str) -> str:
    """TC3-HMAC-SHA256 as Tencent Cloud documents it, written apart from notifications.sms."""
    timestamp = int(headers["X-TC-Timestamp"])
    day = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    request = (
        f"POST\n/\n\ncontent-type:{headers['Content-Type']}\nhost:{host}\n\n"
        f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
    )
    scope = f"{day}/sms/tc3_request"
    string = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    )
    key = ("TC3" + SECRET_KEY).encode()
    for part in (day, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string.encode(), hashlib.sha256).hexdigest()


class FakeTencent:
    """Answers SendSms as Tencent does: the `answer` for each request (Ok with a Fee by default),
    after a signature check; records what it was sent."""

    def __init__(self):
        self.requests = []
        self.answer = lambda payload: {
            "SendStatusSet": [{"Code": "Ok", "Fee": 1, "PhoneNumber": payload["PhoneNumberSet"][0]}]
        }
        self.delay = 0.0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                host = self.headers["Host"]
                authorization = self.headers["Authorization"]
                good = authorization.startswith(
                    f"TC3-HMAC-SHA256 Credential={SECRET_ID}/"
                ) and authorization.endswith(
                    "Signature=" + expected_signature(self.headers, body, host)
                )
                payload = json.loads(body)
                fake.requests.append((self.headers, payload, good))
                if fake.delay:
                    time.sleep(fake.delay)
                if not good:
                    response = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "x"}}
                else:
                    response = fake.answer(payload)
                response["RequestId"] = "test-request"
                data = json.dumps({"Response": response}).encode()
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tencent():
    fake = FakeTencent()
    with override_settings(
        SMS_BACKEND="tencent",
        SMS_TENCENT_ENDPOINT=fake.url,
        SMS_TENCENT_SECRET_ID=SECRET_ID,
        SMS_TENCENT_SECRET_KEY=SECRET_KEY,
        SMS_TENCENT_APP_ID="1400000001",
        SMS_TENCENT_TEMPLATE_ID="2000001",
        SMS_SIGN_NAME="下沉社区",
        SMS_TIMEOUT=1.0,
    ):
        yield fake
    fake.close()


# --- Who gets a text message ------------------------------------------------------------------


def _choose_sms(user, **others):
    return NotificationPreference.objects.create(
        user=user, inapp=others.get("inapp", False), email=False, webhook=False, sms=True
    )


def _queue(world, user):
    notify(
        kind=Notification.Kind.UPCOMING,
        recipients=[user],
        obj=world.shenzhen_activity,
        context={"activity": world.shenzhen_activity},
        enqueue=False,
    )
    return Notification.objects.filter(recipient=user, channel=SMS)


def test_a_member_who_chose_text_messages_gets_one_to_their_mobile(world, member_user):
    _choose_sms(member_user)
    rows = _queue(world, member_user)
    assert [(n.address, n.state) for n in rows] == [("13900000001", PENDING)]


def test_nobody_gets_text_messages_without_choosing_them(world, member_user):
    assert not _queue(world, member_user).exists()
    assert Notification.objects.filter(recipient=member_user).exists()


def test_a_login_without_a_mobile_who_chose_only_text_messages_is_unreachable(
    world, community_staff
):
    _choose_sms(community_staff)
    _queue(world, community_staff)
    row = Notification.objects.get(recipient=community_staff)
    assert row.state == Notification.State.UNREACHABLE
    assert row.unreachable_reason == Notification.Unreachable.NO_MOBILE


@pytest.mark.parametrize(
    ("length", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_billed_parts_as_operators_count_them(length, parts):
    assert sms.parts_of("字" * length) == parts


# --- The console backend ------------------------------------------------------------------------


def test_the_console_backend_prints_the_message_and_counts_its_parts(world, member_user):
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    out = io.StringIO()
    parts = sms.ConsoleBackend(out).send(row.address, row)
    text = out.getvalue()
    assert text.startswith("SMS to 13900000001: 【下沉社区】")
    assert row.url in text
    assert parts == sms.parts_of(sms.rendered(row))


def test_delivery_marks_the_message_sent_with_its_parts_and_cost(world, member_user, capsys):
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    outcome = delivery.deliver_sms([row.pk], token="t1")
    row.refresh_from_db()
    assert row.state == SENT and row.attempts == 1
    assert row.sms_parts >= 1
    assert row.sms_cost == row.sms_parts * Decimal(settings.SMS_PRICE_PER_PART)
    assert outcome[(Notification.Kind.UPCOMING, "sent")] == 1
    assert "SMS to 13900000001" in capsys.readouterr().out


def test_the_outbox_shows_a_text_messages_cost(client, world, member_user, community_staff):
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    Notification.objects.filter(pk=row.pk).update(
        state=SENT, sms_parts=2, community=world.shenzhen, sent_at=timezone.now()
    )
    staff = role(
        get_user_model(), "sz_staff", StaffRole.Kind.COMMUNITY_STAFF, community=world.shenzhen
    )
    client.force_login(staff)
    html = client.get(reverse("notifications:outbox")).content.decode()
    assert 'data-testid="sms-cost"' in html
    assert "2 条" in html and "0.090" in html


# --- Tencent Cloud SMS, against the fake ---------------------------------------------------------


def test_tencent_gets_a_signed_request_of_the_template_and_its_fee_is_kept(
    tencent, world, member_user
):
    tencent.answer = lambda payload: {"SendStatusSet": [{"Code": "Ok", "Fee": 2}]}
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    delivery.deliver_sms([row.pk], token="t1")
    row.refresh_from_db()
    assert (row.state, row.sms_parts) == (SENT, 2)
    [(headers, payload, signed)] = tencent.requests
    assert signed
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert payload["PhoneNumberSet"] == ["+8613900000001"]
    assert payload["SmsSdkAppId"] == "1400000001"
    assert payload["TemplateId"] == "2000001"
    assert payload["SignName"] == "下沉社区"
    assert payload["TemplateParamSet"] == sms.template_params(row)
    assert payload["TemplateParamSet"][1] == row.url


def test_a_wrong_key_is_refused_and_tried_again_later(tencent, world, member_user):
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    with override_settings(SMS_TENCENT_SECRET_KEY="wrong"):
        delivery.deliver_sms([row.pk], token="t1")
    row.refresh_from_db()
    assert [signed for *_, signed in tencent.requests] == [False]
    assert row.state == PENDING and row.attempts == 1
    assert row.failure == Notification.Failure.SMS_REFUSED
    assert "AuthFailure.SignatureFailure" in row.last_error
    assert row.due_at > timezone.now()


def test_a_number_the_provider_refuses_fails_for_good_at_once(tencent, world, member_user):
    tencent.answer = lambda payload: {
        "SendStatusSet": [{"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "x"}]
    }
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    delivery.deliver_sms([row.pk], token="t1")
    row.refresh_from_db()
    assert (row.state, row.failure) == (FAILED, Notification.Failure.MOBILE_REFUSED)
    assert row.sms_parts is None


def _two_messages(world, member_user):
    _choose_sms(member_user)
    first = _queue(world, member_user).get()
    notify(
        kind=Notification.Kind.UPCOMING,
        recipients=[member_user],
        obj=world.shengli_activity,
        context={"activity": world.shengli_activity},
        enqueue=False,
    )
    second = Notification.objects.exclude(pk=first.pk).get(recipient=member_user, channel=SMS)
    return first, second


def test_a_provider_that_cannot_be_reached_holds_the_rest_without_using_their_attempts(
    tencent, world, member_user
):
    first, second = _two_messages(world, member_user)
    tencent.close()
    delivery.deliver_sms([first.pk, second.pk], token="t1")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.failure == Notification.Failure.SMS_UNREACHABLE and first.attempts == 1
    assert second.state == PENDING and second.attempts == 0
    assert second.due_at >= first.due_at - dt.timedelta(seconds=1)


def test_a_provider_that_does_not_answer_in_time_is_a_timeout(tencent, world, member_user):
    tencent.delay = 2.0
    _choose_sms(member_user)
    row = _queue(world, member_user).get()
    delivery.deliver_sms([row.pk], token="t1")
    row.refresh_from_db()
    assert row.failure == Notification.Failure.SMS_TIMEOUT and row.state == PENDING


def test_tencent_without_its_keys_says_which_are_missing():
    with (
        override_settings(SMS_BACKEND="tencent", SMS_TENCENT_SECRET_ID="", SMS_TENCENT_APP_ID=""),
        pytest.raises(ImproperlyConfigured, match="SMS_TENCENT_SECRET_ID"),
    ):
        sms.backend()


def test_the_keys_come_from_the_environment_only():
    source = open(settings.BASE_DIR / "xiachen" / "settings.py", encoding="utf-8").read()
    for name in ("SMS_TENCENT_SECRET_ID", "SMS_TENCENT_SECRET_KEY"):
        assert f'{name} = env.str("{name}", default="")' in source


def test_text_messages_go_on_a_queue_a_worker_listens_to():
    from xiachen.management.commands.runlocal import worker_queues

    queue = settings.CELERY_TASK_ROUTES["notifications.deliver_sms"]["queue"]
    robots, others = worker_queues()
    assert queue in others


# --- The member's choice --------------------------------------------------------------------------


def test_a_member_chooses_text_messages_on_the_settings_page(client, member_user):
    client.force_login(member_user)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert 'name="sms"' in page and 'data-testid="sms-warning"' not in page
    response = client.post(
        reverse("notifications:preferences"), {"inapp": "on", "sms": "on", "address-email": ""}
    )
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=member_user).sms is True


def test_someone_without_a_mobile_is_warned_that_text_messages_cannot_reach_them(
    client, community_staff
):
    client.force_login(community_staff)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert 'data-testid="sms-warning"' in page
