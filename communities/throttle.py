"""Doors that answer without a sign-in (activation links, password reset) turn away an address
that knocks too often. Counts live in the cache, per door and address (and, where it matters,
per what was asked for), for a window; the sign-in itself is django-axes'."""

import hashlib
from dataclasses import dataclass

from axes.helpers import get_client_ip_address
from django.core.cache import cache


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
        if not cache.add(key, 1, self.window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, self.window)
