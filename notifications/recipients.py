"""Who a message is for. The outbox knows logins; other apps turn their people into a
`Recipient` (members do, through `Member.as_recipient()`), so that notifications never needs to
know what a member is."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model


@dataclass(frozen=True)
class Recipient:
    # "u<user id>" for a login, "m<member id>" for a member without one: the outbox's unique key.
    key: str
    user: Any = None
    name: str = ""
    # For the group robot's @-mention: a person without a login is reached only there.
    mobile: str = ""
    agency_id: int | None = None


def recipient_of(person) -> Recipient:
    """A User, a Recipient, or anything with `as_recipient()`, as a Recipient."""
    if isinstance(person, Recipient):
        return person
    if isinstance(person, get_user_model()):
        return Recipient(
            key=f"u{person.pk}", user=person, name=person.get_full_name() or person.get_username()
        )
    as_recipient = getattr(person, "as_recipient", None)
    if as_recipient is None:
        raise TypeError(f"cannot notify {person!r}")
    return as_recipient()
