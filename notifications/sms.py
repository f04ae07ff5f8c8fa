"""Text messages (短信) for members who have neither the app open nor a group robot: a backend
that prints them (the laptop's default, as Django's console e-mail backend does) and Tencent
Cloud SMS (腾讯云短信, API 3.0, action SendSms). A backend sends one message to one mobile and
answers how many billed parts it took; it raises SmsError with a reason a person
understands otherwise.

Mainland operators bill a text of up to 70 characters as one message and a longer one in parts
of 67, the signature (【签名】) included. Providers send only approved templates: Xiachen's
template takes two parameters, the subject and the link (SMS_TENCENT_TEMPLATE_ID). Keys come
from the environment only (settings)."""

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import math
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .models import Notification

log = logging.getLogger(__name__)
Failure = Notification.Failure

SINGLE_PART = 70
PART = 67


def parts_of(text: str) -> int:
    """Billed messages for `text` as mainland operators count them."""
    length = len(text)
    return 1 if length <= SINGLE_PART else math.ceil(length / PART)


def template_params(notification: Notification) -> list[str]:
    """The template's parameters: the subject (cut to what a parameter takes) and the link."""
    subject = notification.subject
    limit = settings.SMS_PARAM_MAX_LENGTH
    if len(subject) > limit:
        subject = subject[: limit - 1] + "…"
    return [subject, notification.url]


def rendered(notification: Notification) -> str:
    """The text as the phone shows it, for the console and for counting parts."""
    subject, url = template_params(notification)
    text = f"{subject}：{url}" if url else subject
    return f"【{settings.SMS_SIGN_NAME}】{text}"


class SmsError(Exception):
    """Why a text message did not go (a Notification.Failure) and the technical detail;
    `retry` False when no later try can work (the number is wrong)."""

    def __init__(self, failure, detail: str, *, retry: bool = True):
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.retry = retry


class ConsoleBackend:
    """Writes each message to standard output: `make run` and a laptop send nothing."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, mobile: str, notification: Notification) -> int:
        text = rendered(notification)
        self.stream.write(f"SMS to {mobile}: {text}\n")
        self.stream.flush()
        return parts_of(text)


# Tencent's error codes that no retry will cure for this number.
TENCENT_BAD_NUMBER = (
    "InvalidParameterValue.IncorrectPhoneNumber",
    "FailedOperation.PhoneNumberInBlacklist",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
    "UnsupportedOperation.UnsupportedRegion",
)


def tc3_signature(
    secret_key: str, *, service: str, host: str, payload: bytes, timestamp: int
) -> tuple[str, str]:
    """Tencent Cloud API 3.0's TC3-HMAC-SHA256 for a JSON POST to `/`: (credential scope,
    signature). The fake provider in the tests checks it with the same function's rules."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{day}/{service}/tc3_request"
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:application/json; charset=utf-8\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentBackend:
    """Tencent Cloud SMS, SendSms of API version 2021-01-11, one number per request (each
    message has its own outcome and retry). Needs SMS_TENCENT_SECRET_ID, SMS_TENCENT_SECRET_KEY,
    SMS_TENCENT_APP_ID, SMS_SIGN_NAME and SMS_TENCENT_TEMPLATE_ID."""

    SERVICE = "sms"
    ACTION = "SendSms"
    VERSION = "2021-01-11"

    def __init__(self):
        missing = [
            name
            for name in (
                "SMS_TENCENT_SECRET_ID",
                "SMS_TENCENT_SECRET_KEY",
                "SMS_TENCENT_APP_ID",
                "SMS_TENCENT_TEMPLATE_ID",
                "SMS_SIGN_NAME",
            )
            if not getattr(settings, name)
        ]
        if missing:
            raise ImproperlyConfigured(
                "Tencent Cloud SMS needs these settings from the environment: " + ", ".join(missing)
            )
        self.endpoint = settings.SMS_TENCENT_ENDPOINT
        self.host = urlsplit(self.endpoint).netloc

    def payload(self, mobile: str, notification: Notification) -> dict:
        number = mobile if mobile.startswith("+") else f"+86{mobile}"
        return {
            "PhoneNumberSet": [number],
            "SmsSdkAppId": settings.SMS_TENCENT_APP_ID,
            "SignName": settings.SMS_SIGN_NAME,
            "TemplateId": settings.SMS_TENCENT_TEMPLATE_ID,
            "TemplateParamSet": template_params(notification),
            "SessionContext": f"xiachen-notification-{notification.pk}",
        }

    def send(self, mobile: str, notification: Notification) -> int:
        body = json.dumps(self.payload(mobile, notification), ensure_ascii=False).encode()
        timestamp = int(time.time())
        scope, signature = tc3_signature(
            settings.SMS_TENCENT_SECRET_KEY,
            service=self.SERVICE,
            host=self.host,
            payload=body,
            timestamp=timestamp,
        )
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Authorization": (
                    f"TC3-HMAC-SHA256 Credential={settings.SMS_TENCENT_SECRET_ID}/{scope}, "
                    f"SignedHeaders=content-type;host, Signature={signature}"
                ),
                "Content-Type": "application/json; charset=utf-8",
                "Host": self.host,
                "X-TC-Action": self.ACTION,
                "X-TC-Version": self.VERSION,
                "X-TC-Timestamp": str(timestamp),
                "X-TC-Region": settings.SMS_TENCENT_REGION,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.SMS_TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise SmsError(Failure.SMS_REFUSED, f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise SmsError(Failure.SMS_TIMEOUT, str(exc)) from exc
            raise SmsError(Failure.SMS_UNREACHABLE, str(exc)) from exc
        except TimeoutError as exc:
            raise SmsError(Failure.SMS_TIMEOUT, f"{type(exc).__name__}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise SmsError(Failure.SMS_UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
        return self.parts(raw)

    @staticmethod
    def parts(raw: bytes) -> int:
        """The billed parts from Tencent's answer, or the SmsError it says."""
        try:
            answer = json.loads(raw)["Response"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SmsError(
                Failure.SMS_REFUSED, f"not Tencent Cloud's answer: {raw[:200]!r}"
            ) from exc
        error = answer.get("Error")
        if error:
            raise SmsError(Failure.SMS_REFUSED, f"{error.get('Code')}: {error.get('Message')}")
        statuses = answer.get("SendStatusSet") or [{}]
        status = statuses[0]
        code = status.get("Code")
        if code != "Ok":
            detail = f"{code}: {status.get('Message')}"
            if code in TENCENT_BAD_NUMBER:
                raise SmsError(Failure.MOBILE_REFUSED, detail, retry=False)
            raise SmsError(Failure.SMS_REFUSED, detail)
        return int(status.get("Fee") or 1)


BACKENDS = {
    "console": "notifications.sms.ConsoleBackend",
    "tencent": "notifications.sms.TencentBackend",
}


def backend():
    """The configured backend (SMS_BACKEND: console, tencent or a dotted path)."""
    name = settings.SMS_BACKEND
    return import_string(BACKENDS.get(name, name))()
