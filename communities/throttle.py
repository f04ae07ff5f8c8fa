"""Doors that answer without a sign-in (the sign-in's own address count, activation links,
password reset, check-in and report-in links) turn away an address that knocks too often.
Counts live in the cache, per door and address (and, where it matters, per what was asked
for), for a window that starts with the first knock; the door answers 429 in Chinese with a
Retry-After header (`too_often`). Wrong passwords for one login are django-axes'."""

import hashlib
import math
import time
from dataclasses import dataclass

from axes.helpers import get_client_ip_address
from django.core.cache import cache
from django.shortcuts import render


def client_address(request) -> str:
    # The address as django-axes reads it for the sign-in's lockout (the same proxy settings).
    return get_client_ip_address(request) or ""


@dataclass(frozen=True)
class Door:
    name: str
    allowed: int  # knocks counted in one window before the door stays shut
    window: int  # seconds

    def _key(self, request, about: str) -> str:
        # What was asked for is typed by anyone: hashed, so that any text makes a valid key.
        about = hashlib.sha256(about.encode()).hexdigest()[:32] if about else ""
        return f"door:{self.name}:{client_address(request)}:{about}"

    def shut(self, request, about: str = "") -> bool:
        return cache.get(self._key(request, about), 0) >= self.allowed

    def knock(self, request, about: str = "") -> None:
        key = self._key(request, about)
        if cache.add(key, 1, self.window):
            cache.set(f"{key}:since", time.time(), self.window)
            return
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, self.window)

    def retry_after(self, request, about: str = "") -> int:
        """Seconds until the window of this address's knocks is over (the whole window when
        its start is not known)."""
        since = cache.get(f"{self._key(request, about)}:since")
        if since is None:
            return self.window
        return max(1, math.ceil(since + self.window - time.time()))


def too_often(request, door: Door, about: str = "", *, template=None, context=None):
    """The answer of a shut door: 429, when to come back (Retry-After), a page in Chinese."""
    wait = door.retry_after(request, about)
    response = render(
        request,
        template or "registration/too_often.html",
        {"retry_minutes": max(1, math.ceil(wait / 60)), **(context or {})},
        status=429,
    )
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response
